/**
 * publint (package.json against the files shipped: exports, types, bin, module format) and
 * Are the Types Wrong (how TypeScript resolves the types under each module mode), both on the
 * packed tarball. attw runs with its esm-only profile: the packages are ESM only on purpose, so
 * "CommonJS resolves to ESM" under node16-cjs is expected (require(esm) needs Node 20.19, which
 * `engines` states, and the consumer check below requires each package for real).
 */
import { join } from 'node:path';
import type { PackedPackage } from './pack.js';
import { runAsync } from './run.js';

/** lint runs both linters on one tarball and returns their complaints (empty when clean). */
export async function lint(pkg: PackedPackage, root: string): Promise<string[]> {
  const bin = (name: string) => join(root, 'node_modules', '.bin', name);
  const problems: string[] = [];
  // --strict: publint's warnings fail too; its suggestions are printed but do not.
  // --no-definitely-typed: the packages ship their own types; never ask the registry for @types.
  const [publint, attw] = await Promise.all([
    runAsync(bin('publint'), ['run', pkg.tarball, '--strict'], { cwd: root }),
    runAsync(
      bin('attw'),
      [pkg.tarball, '--profile', 'esm-only', '--no-definitely-typed', '--format', 'ascii'],
      { cwd: root, env: { ...process.env, NO_COLOR: '1' } },
    ),
  ]);
  if (publint.status !== 0) problems.push(`publint:\n${publint.stdout}${publint.stderr}`);
  else if (!publint.stdout.includes('All good!')) console.log(publint.stdout.trim());
  if (attw.status !== 0) problems.push(`attw:\n${attw.stdout}${attw.stderr}`);
  return problems;
}
