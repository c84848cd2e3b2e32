/**
 * The closing check of `.ci/run`'s test step: sums the counts each vitest run appended to
 * KONTENA_TEST_SUMMARY (test-summary-reporter.ts) and fails unless every workspace package that
 * has tests reported, at least one test ran in each, every test passed and none was skipped.
 *
 * turbo runs `test` only in the packages whose package.json has that script and says nothing of
 * the others, so a package whose script went missing (or was never added) would drop out of CI
 * without a word. The packages expected to report therefore come from the tree: every workspace
 * package with a `test/` folder or a `*.test.*` file of its own.
 *
 * Usage (from the repository root): `node --import tsx testing/test-summary.ts SUMMARY_FILE`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestCounts } from './test-summary-reporter.js';

/** WorkspacePackage is one package of the workspace that is expected to report, or not. */
export interface WorkspacePackage {
  /** name as the reporter spells it: the basename of the package's folder. */
  name: string;
  dir: string;
  /** Whether its package.json has a `test` script (what turbo runs). */
  testScript: boolean;
}

/** Folders never searched for test files: dependencies and build output. */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'coverage']);
const TEST_FILE = /\.test\.[cm]?[jt]sx?$/;

/**
 * hasTests tells whether `dir` holds tests of its own: a `test/` folder, or a test file anywhere
 * below it outside dependencies, build output, dot folders and the folders of `others` (nested
 * workspace packages, which report for themselves).
 */
export function hasTests(dir: string, others: ReadonlySet<string> = new Set()): boolean {
  if (existsSync(join(dir, 'test'))) return true;
  const search = (at: string): boolean =>
    readdirSync(at, { withFileTypes: true }).some((entry) => {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        if (SKIPPED_DIRS.has(entry.name) || entry.name.startsWith('.') || others.has(path)) {
          return false;
        }
        return search(path);
      }
      return entry.isFile() && TEST_FILE.test(entry.name);
    });
  return search(dir);
}

/** expectedPackages are the packages of `dirs` that have tests, so must report. */
export function expectedPackages(dirs: readonly string[]): WorkspacePackage[] {
  const all = new Set(dirs.map((d) => resolve(d)));
  return dirs
    .map((d) => resolve(d))
    .filter((dir) => hasTests(dir, new Set([...all].filter((o) => o !== dir))))
    .map((dir) => {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        scripts?: Record<string, string>;
      };
      return { name: basename(dir), dir, testScript: Boolean(manifest.scripts?.test) };
    });
}

/** parseCounts reads the summary file: one JSON line of TestCounts per vitest run. */
export function parseCounts(text: string): TestCounts[] {
  return text
    .split('\n')
    .map((line, i) => [line.trim(), i + 1] as const)
    .filter(([line]) => line !== '')
    .map(([line, n]) => {
      let value: Partial<TestCounts>;
      try {
        value = JSON.parse(line) as Partial<TestCounts>;
      } catch {
        throw new Error(`test summary line ${n} is not JSON: ${line.slice(0, 120)}`);
      }
      const { project, passed, failed, skipped } = value;
      if (
        typeof project !== 'string' ||
        ![passed, failed, skipped].every((c) => Number.isInteger(c) && (c as number) >= 0)
      ) {
        throw new Error(`test summary line ${n} is not a count of tests: ${line.slice(0, 120)}`);
      }
      return { project, passed, failed, skipped } as TestCounts;
    });
}

/** Verdict is what the check prints, and what makes it fail (problems non-empty). */
export interface Verdict {
  totals: { passed: number; failed: number; skipped: number };
  /** The packages that reported, in order. */
  reported: string[];
  problems: string[];
}

/** judge sums the counts and names every way the run falls short of "every test ran and passed". */
export function judge(
  counts: readonly TestCounts[],
  expected: readonly WorkspacePackage[],
): Verdict {
  const totals = { passed: 0, failed: 0, skipped: 0 };
  const perPackage = new Map<string, number>();
  for (const c of counts) {
    totals.passed += c.passed;
    totals.failed += c.failed;
    totals.skipped += c.skipped;
    perPackage.set(c.project, (perPackage.get(c.project) ?? 0) + c.passed + c.failed + c.skipped);
  }
  const problems: string[] = [];
  if (counts.length === 0 || totals.passed === 0) problems.push('no test ran');
  for (const p of expected) {
    if (perPackage.has(p.name)) continue;
    problems.push(
      p.testScript
        ? `${p.name} has tests but reported nothing (did its vitest run use the shared reporter, vitestDefaults?)`
        : `${p.name} has tests but reported nothing: its package.json has no "test" script, so turbo skipped it`,
    );
  }
  for (const [name, tests] of perPackage) {
    if (tests === 0) problems.push(`${name} ran no test`);
  }
  if (totals.failed > 0 || totals.skipped > 0) {
    problems.push('CI needs every test run and passed: none skipped, none todo');
  }
  return { totals, reported: counts.map((c) => c.project), problems };
}

/** workspaceDirs asks pnpm for the workspace's package folders (the root included). */
function workspaceDirs(root: string): string[] {
  const out = execFileSync('pnpm', ['ls', '-r', '--depth', '-1', '--json'], {
    cwd: root,
    encoding: 'utf8',
  });
  return (JSON.parse(out) as Array<{ path: string }>).map((p) => p.path);
}

/** main prints the sums and the problems; exit status 1 when there is one. */
function main(argv: readonly string[]): number {
  const file = argv[0];
  if (!file) {
    console.error('usage: node --import tsx testing/test-summary.ts SUMMARY_FILE');
    return 2;
  }
  const root = resolve(import.meta.dirname, '..');
  const counts = parseCounts(readFileSync(file, 'utf8'));
  const expected = expectedPackages(workspaceDirs(root));
  const { totals, reported, problems } = judge(counts, expected);
  console.log(`\n${reported.length} packages tested (${reported.join(', ')})`);
  console.log(
    `tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped; expected from ${expected.length} packages with tests (${expected.map((p) => p.name).join(', ')})`,
  );
  for (const p of problems) console.error(p);
  return problems.length > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
