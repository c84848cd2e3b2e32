/** Latency statistics and the two load shapes the scenarios use (sequential, N in flight). */
import { performance } from 'node:perf_hooks';

/** Summary of a latency sample, in milliseconds. */
export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** percentile of an ascending array, nearest-rank. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

/** summarize computes mean, p50, p99 and max of samples in ms. */
export function summarize(samples: readonly number[]): Summary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const s of sorted) sum += s;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/** timed runs `op` and returns its duration in ms. */
export async function timed(op: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await op();
  return performance.now() - start;
}

/**
 * inFlight runs `op(i)` for i = 0 .. total-1 with `concurrency` calls outstanding at all times
 * and returns the wall time in ms. The first error stops handing out work and is rethrown.
 */
export async function inFlight(
  total: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  let failure: unknown;
  const start = performance.now();
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < total) {
      const i = next++;
      try {
        await op(i);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  if (failure !== undefined) throw failure;
  return performance.now() - start;
}

/** ratio a / b, NaN-safe for the table. */
export function ratio(a: number, b: number): number {
  return b > 0 ? a / b : Number.NaN;
}
