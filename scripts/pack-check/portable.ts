/**
 * Packages meant to run anywhere JavaScript runs (cidr: subnet math, no I/O): no runtime
 * dependencies, only relative imports in the shipped code, and sources that compile with no
 * Node.js type definitions at all, so any use of Buffer, process, timers or `node:` modules
 * is a compile error here rather than a surprise in a browser or a worker.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PackedPackage } from './pack.js';
import { run } from './run.js';

/** The packages held to this rule, by name. */
export const PORTABLE_PACKAGES: ReadonlySet<string> = new Set(['@kontena-ipam/cidr']);

const RUNTIME_DEPENDENCY_FIELDS = [
  'dependencies',
  'peerDependencies',
  'optionalDependencies',
] as const;

// Static `import … from '…'`, `export … from '…'`, bare `import '…'` and dynamic `import('…')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

/** checkPortable returns the problems of one portable package (empty when it is fine). */
export function checkPortable(pkg: PackedPackage, root: string, work: string): string[] {
  const problems: string[] = [];
  for (const field of RUNTIME_DEPENDENCY_FIELDS) {
    const names = Object.keys(pkg.manifest[field] ?? {});
    if (names.length > 0) problems.push(`has ${field}: ${names.join(', ')}`);
  }
  for (const file of pkg.files.filter((f) => /\.m?js$/.test(f))) {
    const code = readFileSync(join(pkg.unpacked, 'package', file), 'utf8');
    for (const [, specifier] of code.matchAll(SPECIFIER)) {
      if (!specifier?.startsWith('./') && !specifier?.startsWith('../')) {
        problems.push(`${file} imports ${specifier}`);
      }
    }
  }
  problems.push(...compileWithoutNode(pkg, root, work));
  return problems;
}

/** compileWithoutNode type-checks the package's sources with `types: []` and ES2022 only. */
function compileWithoutNode(pkg: PackedPackage, root: string, work: string): string[] {
  const config = join(work, `tsconfig.${pkg.folder.replaceAll('/', '-')}.portable.json`);
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(root, pkg.folder, 'tsconfig.build.json'),
      compilerOptions: { noEmit: true, types: [], lib: ['ES2022'] },
      include: [join(root, pkg.folder, 'src')],
    }),
  );
  const tsc = run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', config], { cwd: root });
  if (tsc.status === 0) return [];
  return [`src does not compile without Node.js types:\n${tsc.stdout}${tsc.stderr}`];
}
