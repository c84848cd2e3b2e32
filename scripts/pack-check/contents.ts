/**
 * What a stranger needs in each tarball besides code: where it comes from (repository with its
 * folder, homepage, bugs), its license text, a README, an `engines` that tells the truth about
 * require(), no workspace: ranges left, no tests, and source maps whose sources are shipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { Manifest, PackedPackage } from './pack.js';

/**
 * The Node.js versions every package declares: ESM only, so CommonJS callers need require(esm),
 * on by default from 20.19 and 22.12 (it is missing from 21.x and from 22.0 to 22.11).
 */
export const NODE_ENGINES = '^20.19.0 || >=22.12.0';

/** What every package must agree on: the root's license and one repository. */
export interface Expected {
  /** The repository root, where the LICENSE every package copies lives. */
  root: string;
  license: string;
  licenseText: string;
}

const DEPENDENCY_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'] as const;

/** checkContents returns the problems of one packed package (empty when it is fine). */
export function checkContents(pkg: PackedPackage, expected: Expected): string[] {
  const problems: string[] = [];
  const { manifest, files } = pkg;
  const shipped = new Set(files);
  const read = (path: string) => readFileSync(join(pkg.unpacked, 'package', path), 'utf8');

  if (manifest.license !== expected.license) {
    problems.push(`license is ${manifest.license}, the repository's is ${expected.license}`);
  }
  // pnpm pack falls back to the root LICENSE; npm and other tools do not, so each folder has one.
  const own = join(expected.root, pkg.folder, 'LICENSE');
  if (!existsSync(own)) problems.push(`${pkg.folder} has no LICENSE file of its own`);
  else if (readFileSync(own, 'utf8') !== expected.licenseText) {
    problems.push(`${pkg.folder}/LICENSE differs from the root LICENSE`);
  }
  if (!shipped.has('LICENSE')) problems.push('LICENSE is not in the tarball');
  else if (read('LICENSE') !== expected.licenseText) {
    problems.push('the LICENSE in the tarball differs from the root LICENSE');
  }
  if (!shipped.has('README.md')) problems.push('README.md is not in the tarball');

  problems.push(...checkOrigin(pkg));
  if (manifest.engines?.node !== NODE_ENGINES) {
    problems.push(
      `engines.node is ${JSON.stringify(manifest.engines?.node)}, want "${NODE_ENGINES}"`,
    );
  }
  for (const field of DEPENDENCY_FIELDS) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (range.startsWith('workspace:')) problems.push(`${field}.${name} is still ${range}`);
    }
  }
  for (const file of files) {
    if (/(^|\/)(test|tests|__tests__)\/|\.test\.[cm]?[jt]s$/.test(file)) {
      problems.push(`ships a test file: ${file}`);
    }
  }
  problems.push(...checkSourceMaps(pkg, shipped, read));
  return problems;
}

/** checkOrigin: repository (git, with this package's folder), homepage and bugs are set. */
function checkOrigin(pkg: PackedPackage): string[] {
  const { repository, homepage, bugs } = pkg.manifest;
  const problems: string[] = [];
  if (typeof repository !== 'object' || repository.type !== 'git' || !repository.url) {
    problems.push('repository must be { type: "git", url, directory }');
  } else if (repository.directory !== pkg.folder) {
    problems.push(
      `repository.directory is ${repository.directory}, the package is in ${pkg.folder}`,
    );
  }
  if (!homepage?.startsWith('https://')) problems.push('homepage is missing');
  const bugsUrl = typeof bugs === 'string' ? bugs : bugs?.url;
  if (!bugsUrl?.startsWith('https://')) problems.push('bugs.url is missing');
  return problems;
}

/**
 * checkSourceMaps: every map named by a shipped file is shipped, and every source a map names
 * is shipped too, so a debugger or "go to definition" lands on real code.
 */
function checkSourceMaps(
  pkg: PackedPackage,
  shipped: ReadonlySet<string>,
  read: (path: string) => string,
): string[] {
  const missingMaps: string[] = [];
  const missingSources: string[] = [];
  for (const file of pkg.files) {
    if (/\.(m?js|d\.m?ts)$/.test(file)) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(read(file))?.[1];
      if (url && !url.startsWith('data:') && !shipped.has(normalize(join(dirname(file), url)))) {
        missingMaps.push(`${file} → ${url}`);
      }
    }
    if (!file.endsWith('.map')) continue;
    const map = JSON.parse(read(file)) as { sources?: string[]; sourceRoot?: string };
    for (const source of map.sources ?? []) {
      const path = normalize(join(dirname(file), map.sourceRoot ?? '', source));
      if (!shipped.has(path)) missingSources.push(`${file} → ${path}`);
    }
  }
  return [
    ...summarise('files name source maps that are not shipped', missingMaps),
    ...summarise('source maps name sources that are not shipped', missingSources),
  ];
}

/** summarise reports a list of like failures as one problem with a few examples. */
function summarise(what: string, cases: readonly string[]): string[] {
  if (cases.length === 0) return [];
  const more = cases.length > 3 ? `, and ${cases.length - 3} more` : '';
  return [`${cases.length} ${what}: ${cases.slice(0, 3).join(', ')}${more}`];
}

/** checkSameRepository: every package points at one repository URL. */
export function checkSameRepository(packages: readonly PackedPackage[]): string[] {
  const urls = new Set(packages.map((pkg) => repositoryUrl(pkg.manifest)));
  return urls.size === 1 ? [] : [`packages name different repositories: ${[...urls].join(', ')}`];
}

function repositoryUrl(manifest: Manifest): string | undefined {
  const { repository } = manifest;
  return typeof repository === 'object' ? repository.url : repository;
}
