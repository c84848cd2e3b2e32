/**
 * Cell formats shared by the operator commands: usage bars and percentages (BigInt-safe, as
 * IPv6 pools hold 2^64 addresses), ages, and the dash for "none".
 */

/** NONE is what an empty cell shows. */
export const NONE = '-';

/** ratio is used / total as a number in 0..1 (0 for an empty total), exact enough for display. */
export function ratio(used: bigint, total: bigint): number {
  if (total <= 0n) return 0;
  // Scale first: Number(used) / Number(total) loses everything for /64 totals.
  return Number((used * 1_000_000n) / total) / 1_000_000;
}

/** percent formats a ratio with one decimal ("12.5%"), and "<0.1%" for tiny non-zero use. */
export function percent(value: number): string {
  if (value > 0 && value < 0.001) return '<0.1%';
  return `${(value * 100).toFixed(1)}%`;
}

/** bar draws a ratio as `[###.......]` of `width` cells; any use shows at least one mark. */
export function bar(value: number, width = 10): string {
  const clamped = Math.min(1, Math.max(0, value));
  let marks = Math.round(clamped * width);
  if (marks === 0 && clamped > 0) marks = 1;
  return `[${'#'.repeat(marks)}${'.'.repeat(width - marks)}]`;
}

/** age says how long ago `at` (ISO time) was, in the largest whole unit: 42s, 5m, 3h, 12d. */
export function age(at: string, now: number = Date.now()): string {
  const then = Date.parse(at);
  if (Number.isNaN(then)) return '?';
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}
