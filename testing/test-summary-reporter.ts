/**
 * TestSummaryReporter makes a skipped or todo test a failure, and keeps count for `.ci/run`.
 *
 * A test file whose `beforeAll` throws reports its tests as skipped, and vitest itself exits 0
 * for a `.skip`: either way CI would look green while testing nothing (issue: the managed-plugin
 * file once "passed" on a new machine with its three tests skipped). So after every run this
 * lists each test that did not run, sets a failing exit code when there is one, and, when
 * KONTENA_TEST_SUMMARY names a file, appends one JSON line of counts to it for `.ci/run` to sum.
 */
import { appendFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/** TestCounts is one vitest run's tally, as appended to KONTENA_TEST_SUMMARY. */
export interface TestCounts {
  project: string;
  passed: number;
  failed: number;
  skipped: number;
}

/** TestSummaryReporter: see the file comment. */
export class TestSummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const counts: TestCounts = {
      project: basename(process.cwd()),
      passed: 0,
      failed: 0,
      skipped: 0,
    };
    const notRun: string[] = [];
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else {
          counts.skipped++;
          const file = relative(process.cwd(), module.moduleId);
          notRun.push(`${file} > ${test.fullName} (${test.options.mode}, ${state})`);
        }
      }
    }
    if (notRun.length > 0) {
      process.stderr.write(
        `\n${notRun.length} test(s) did not run; every test must run (a failed hook skips its tests):\n` +
          notRun.map((line) => `  - ${line}\n`).join(''),
      );
      process.exitCode = 1;
    }
    const file = process.env.KONTENA_TEST_SUMMARY;
    if (file) appendFileSync(file, `${JSON.stringify(counts)}\n`);
  }
}
