/**
 * The closing check of `.ci/run`'s test step (test-summary.ts): which packages must report,
 * how their counts are judged, and the script itself on this workspace, run as CI runs it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import {
  expectedPackages,
  hasTests,
  judge,
  parseCounts,
  type WorkspacePackage,
} from '../test-summary.js';
import type { TestCounts } from '../test-summary-reporter.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const folders: string[] = [];

/** workspace is this workspace's package folders, as pnpm lists them (the root included). */
function workspace(): Promise<string[]> {
  return new Promise<string>((done, fail) =>
    execFile('pnpm', ['ls', '-r', '--depth', '-1', '--json'], { cwd: root }, (e, stdout) =>
      e ? fail(e) : done(stdout),
    ),
  ).then((out) => (JSON.parse(out) as Array<{ path: string }>).map((p) => p.path));
}
afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

/** tree writes `files` (path → text) under a new folder and returns it. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kontena-summary-'));
  folders.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const withTest = JSON.stringify({ scripts: { test: 'vitest run' } });
const withoutTest = JSON.stringify({ scripts: { build: 'tsc' } });
const pkg = (name: string, testScript = true): WorkspacePackage => ({
  name,
  dir: `/x/${name}`,
  testScript,
});
const counts = (project: string, passed: number, failed = 0, skipped = 0): TestCounts => ({
  project,
  passed,
  failed,
  skipped,
});

describe('which packages must report', () => {
  test('a test/ folder or a test file of its own; not the tests of a nested package', () => {
    const dir = tree({
      'package.json': withTest,
      'packages/a/package.json': withTest,
      'packages/a/test/one.test.ts': '',
      'packages/b/package.json': withoutTest,
      'packages/b/src/deep/two.test.ts': '',
      'packages/c/package.json': withTest,
      'packages/c/src/c.ts': '',
      'packages/c/node_modules/dep/x.test.js': '',
      'packages/c/dist/y.test.js': '',
    });
    const dirs = [dir, ...['a', 'b', 'c'].map((p) => join(dir, 'packages', p))];
    const expected = expectedPackages(dirs);
    expect(expected.map((p) => [p.name, p.testScript])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(hasTests(dir, new Set(dirs.slice(1)))).toBe(false);
    // Without knowing its nested packages, the root would claim their tests.
    expect(hasTests(dir)).toBe(true);
  });

  test('this workspace: every package with a test folder, the test harness included', async () => {
    const dirs = await workspace();
    const expected = expectedPackages(dirs).map((p) => p.name);
    // Every package folder with a test/ folder (six at least: the five packages of the design,
    // and this harness), and not the root, whose tests are its packages'.
    const withTestFolder = dirs.filter((d) => existsSync(join(d, 'test'))).map((d) => basename(d));
    expect(expected.sort()).toEqual(withTestFolder.sort());
    expect(expected).toEqual(
      expect.arrayContaining(['app', 'cidr', 'cleanup', 'plugin', 'store', 'testing']),
    );
    expect(expected).not.toContain(basename(root));
    // Each has the script turbo runs.
    expect(expectedPackages(dirs).filter((p) => !p.testScript)).toEqual([]);
  });
});

describe('judge', () => {
  test('every package reported, everything passed: no problem, the counts summed', () => {
    const verdict = judge([counts('a', 3), counts('b', 2), counts('a', 1)], [pkg('a'), pkg('b')]);
    expect(verdict).toEqual({
      totals: { passed: 6, failed: 0, skipped: 0 },
      reported: ['a', 'b', 'a'],
      problems: [],
    });
  });

  test('a package with tests that did not report is named, with the likely reason', () => {
    const verdict = judge([counts('a', 3)], [pkg('a'), pkg('b', false), pkg('c', true)]);
    expect(verdict.problems).toEqual([
      'b has tests but reported nothing: its package.json has no "test" script, so turbo skipped it',
      'c has tests but reported nothing (did its vitest run use the shared reporter, vitestDefaults?)',
    ]);
  });

  test('a failure, a skip, a package that ran nothing, or no report at all fail the check', () => {
    expect(judge([counts('a', 3, 1)], [pkg('a')]).problems).toEqual([
      'CI needs every test run and passed: none skipped, none todo',
    ]);
    expect(judge([counts('a', 3, 0, 1)], [pkg('a')]).problems).toEqual([
      'CI needs every test run and passed: none skipped, none todo',
    ]);
    expect(judge([counts('a', 3), counts('b', 0)], [pkg('a'), pkg('b')]).problems).toEqual([
      'b ran no test',
    ]);
    expect(judge([], []).problems).toEqual(['no test ran']);
  });

  test('parseCounts reads one JSON line per run and names a line that is not one', () => {
    expect(parseCounts('{"project":"a","passed":1,"failed":0,"skipped":0}\n\n')).toEqual([
      counts('a', 1),
    ]);
    expect(() => parseCounts('{"project":"a","passed":1}\n')).toThrow(
      'test summary line 1 is not a count of tests',
    );
    expect(() => parseCounts('\nnot json\n')).toThrow('test summary line 2 is not JSON');
  });
});

describe('the script, as .ci/run runs it', () => {
  const run = (lines: TestCounts[]) => {
    const dir = tree({ 'summary.jsonl': lines.map((l) => `${JSON.stringify(l)}\n`).join('') });
    return new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', 'testing/test-summary.ts', join(dir, 'summary.jsonl')],
        { cwd: root },
        (error, stdout, stderr) =>
          done({
            code: error ? Number((error as { code?: unknown }).code ?? 1) : 0,
            stdout,
            stderr,
          }),
      ),
    );
  };
  const all = async () => expectedPackages(await workspace()).map((p) => p.name);

  test('every package reported and passed: exit 0 and the sums printed', async () => {
    const names = await all();
    const result = await run(names.map((p) => counts(p, 2)));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${names.length} packages tested`);
    expect(result.stdout).toContain(`tests: ${2 * names.length} passed, 0 failed, 0 skipped`);
  });

  test('one package missing: exit 1, naming it', async () => {
    const result = await run((await all()).filter((p) => p !== 'cleanup').map((p) => counts(p, 2)));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cleanup has tests but reported nothing');
  });
});
