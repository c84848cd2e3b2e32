/**
 * TestSummaryReporter in real vitest runs: a fixture folder per case, run by a vitest child
 * process with the reporter, and what it left behind read back (the exit status, the counts it
 * appended to KONTENA_TEST_SUMMARY, the tests it listed as not run).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';

const reporter = fileURLToPath(new URL('../test-summary-reporter.ts', import.meta.url));
const vitestBin = join(
  createRequire(import.meta.url).resolve('vitest/package.json'),
  '..',
  'vitest.mjs',
);
const folders: string[] = [];
afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

interface Run {
  code: number;
  stderr: string;
  /** The JSON lines the reporter appended, parsed. */
  counts: unknown[];
  project: string;
}

/** runFixture writes `files` (test files using vitest's globals) to a new folder and runs them. */
async function runFixture(files: Record<string, string>): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'kontena-reporter-'));
  folders.push(dir);
  writeFileSync(
    join(dir, 'vitest.config.mjs'),
    `import { TestSummaryReporter } from ${JSON.stringify(reporter)};\n` +
      `export default { test: { include: ['*.test.js'], globals: true, reporters: [new TestSummaryReporter()] } };\n`,
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const summary = join(dir, 'summary.jsonl');
  writeFileSync(summary, '');
  // The child's summary file is the fixture's own, never the one of the run around this test.
  const env = { ...process.env, KONTENA_TEST_SUMMARY: summary, NO_COLOR: '1' };
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((done) => {
    execFile(
      process.execPath,
      [vitestBin, 'run', '--configLoader', 'runner', '--root', dir],
      { cwd: dir, env },
      (error, _stdout, stderr) => {
        const status = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
        done({ code: status, stderr });
      },
    );
  });
  const counts = readFileSync(summary, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown);
  return { code, stderr, counts, project: basename(dir) };
}

test('a run where every test passed: its counts appended, exit status 0, nothing listed', async () => {
  const run = await runFixture({
    'pass.test.js': "test('one', () => {});\ntest('two', () => {});\n",
  });
  expect(run.counts).toEqual([{ project: run.project, passed: 2, failed: 0, skipped: 0 }]);
  expect(run.code).toBe(0);
  expect(run.stderr).not.toContain('did not run');
});

test('a skip and a todo, which vitest alone passes: exit status 1 and both listed', async () => {
  const run = await runFixture({
    'skip.test.js':
      "test.skip('skipped', () => {});\ntest.todo('later');\ntest('runs', () => {});\n",
  });
  expect(run.counts).toEqual([{ project: run.project, passed: 1, failed: 0, skipped: 2 }]);
  // Only the reporter makes this run fail: nothing in it failed.
  expect(run.code).toBe(1);
  expect(run.stderr).toContain('2 test(s) did not run');
  expect(run.stderr).toContain('skip.test.js > skipped (skip, skipped)');
  expect(run.stderr).toContain('skip.test.js > later (todo, skipped)');
});

test('a failed beforeAll skips its tests: they are counted and listed as not run', async () => {
  const run = await runFixture({
    'hook.test.js':
      "beforeAll(() => { throw new Error('no etcd'); });\ntest('needs etcd', () => {});\n",
    'fail.test.js': "test('fails', () => { throw new Error('boom'); });\n",
  });
  expect(run.counts).toEqual([{ project: run.project, passed: 0, failed: 1, skipped: 1 }]);
  expect(run.code).toBe(1);
  expect(run.stderr).toContain('1 test(s) did not run');
  expect(run.stderr).toContain('hook.test.js > needs etcd (run, skipped)');
});
