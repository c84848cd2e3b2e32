/**
 * pack-check: are the packages a stranger installs whole? Run after `pnpm build` (from .ci/run,
 * or `pnpm pack-check`). Packs every publishable package, checks each tarball's metadata and
 * files, runs publint and attw on it, keeps cidr free of dependencies and Node-only APIs, then
 * installs all tarballs into a scratch project that imports them (ESM and CJS), runs their
 * bins and the README examples. Exits 1 listing every problem found.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConsumer, installConsumer } from './consumer.js';
import { checkContents, checkSameRepository } from './contents.js';
import { EXAMPLES, type Example, readExample } from './examples.js';
import { lint } from './linters.js';
import { type PackedPackage, packAll, publishableFolders, readManifest } from './pack.js';
import { checkPortable, PORTABLE_PACKAGES } from './portable.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Problems found so far, each prefixed with what it is about. */
const problems: string[] = [];
const report = (scope: string, found: readonly string[]): boolean => {
  for (const problem of found) problems.push(`${scope}: ${problem}`);
  return found.length === 0;
};

/** requireEsmWorks: this Node can require() an ES module by default (what engines promises). */
function requireEsmWorks(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major >= 23 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
}

/** checkTarballs: each tarball's metadata and files, the linters, the portability rule. */
async function checkTarballs(packages: readonly PackedPackage[], work: string): Promise<void> {
  const expected = {
    root,
    license: readManifest(join(root, 'package.json')).license ?? '',
    licenseText: readFileSync(join(root, 'LICENSE'), 'utf8'),
  };
  report('repository', checkSameRepository(packages));
  // The linters run side by side (each is a short node process); the rest is quick.
  const lints = await Promise.all(packages.map((pkg) => lint(pkg, root)));
  packages.forEach((pkg, i) => {
    const name = pkg.manifest.name;
    const ok = [
      report(name, checkContents(pkg, expected)),
      report(name, lints[i] ?? []),
      !PORTABLE_PACKAGES.has(name) || report(name, checkPortable(pkg, root, work)),
    ].every(Boolean);
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${name}@${pkg.manifest.version}: ${pkg.files.length} files`,
    );
  });
}

/** checkAsConsumer: install every tarball into a scratch project and use it from there. */
function checkAsConsumer(packages: readonly PackedPackage[], work: string): void {
  const examples: Example[] = [];
  for (const spec of EXAMPLES) {
    const pkg = packages.find((p) => p.manifest.name === spec.pkg);
    const example = pkg ? readExample(spec, pkg) : `${spec.pkg} is not packed`;
    if (typeof example === 'string') report('examples', [example]);
    else examples.push(example);
  }
  const consumer = {
    root,
    dir: join(work, 'consumer'),
    packages,
    examples,
    nodeTypes: readManifest(join(root, 'package.json')).devDependencies?.['@types/node'] ?? '*',
  };
  mkdirSync(consumer.dir);
  installConsumer(consumer);
  const ok = report('consumer', checkConsumer(consumer));
  console.log(
    `${ok ? 'ok  ' : 'FAIL'} consumer: import and require of ${packages.length} packages, their bins, ${examples.length} README examples`,
  );
}

const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'kontena-pack-check-'));
try {
  if (!requireEsmWorks()) {
    throw new Error(
      `Node ${process.versions.node} cannot require() ES modules; the packages' engines ask for 20.19+ or 22.12+, and the CommonJS check needs one of those`,
    );
  }
  const packages = packAll(root, publishableFolders(root), work);
  await checkTarballs(packages, work);
  checkAsConsumer(packages, work);
} catch (error) {
  problems.push(error instanceof Error ? error.message : String(error));
} finally {
  rmSync(work, { recursive: true, force: true });
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (problems.length > 0) {
  console.error(`\npack-check: ${problems.length} problem(s) in ${seconds} s`);
  for (const problem of problems) console.error(`- ${problem}`);
  process.exit(1);
}
console.log(`pack-check: every package is whole (${seconds} s)`);
