/**
 * What every package's vitest.config.ts shares: where tests live, generous timeouts (real etcd
 * and dockerd start inside hooks), and the reporters, one of which fails a run that skipped
 * anything (see test-summary-reporter.ts).
 */
import type { ViteUserConfig } from 'vitest/config';
import { TestSummaryReporter } from './test-summary-reporter.js';

/** vitestDefaults returns the shared `test` options; `overrides` win. */
export function vitestDefaults(
  overrides: NonNullable<ViteUserConfig['test']> = {},
): NonNullable<ViteUserConfig['test']> {
  return {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', new TestSummaryReporter()],
    ...overrides,
  };
}
