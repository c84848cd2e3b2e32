import { CleanupError } from './errors.js';

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const whole = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/**
 * parseDuration reads Go-style durations as operators type them for Docker tools
 * ("90s", "5m", "1h30m", "250ms", "0"), in milliseconds. A bare number other than 0 is
 * refused: "5" could mean seconds or minutes, and a wrong guess changes what is freed.
 */
export function parseDuration(text: string, flag = 'duration'): number {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  if (!whole.test(trimmed)) {
    throw new CleanupError(
      'INVALID_ARGUMENT',
      `${flag}: "${text}" is not a duration (use e.g. 30s, 5m, 1h30m, 250ms)`,
    );
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(part)) {
    total += Number(amount) * (unitMs[unit as string] ?? Number.NaN);
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) {
    throw new CleanupError('INVALID_ARGUMENT', `${flag}: "${text}" is too long`);
  }
  return Math.round(total);
}

/** formatDuration prints milliseconds back in the largest whole units ("5m", "1h30m", "250ms"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
