import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/duration.js';
import { CleanupError } from '../src/errors.js';

describe('parseDuration', () => {
  it('reads the units operators type', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1d')).toBe(86_400_000);
  });

  it('refuses bare numbers and junk, naming the flag and the value', () => {
    for (const bad of ['5', '', 'm', '5 m', '-5m', '5x', '1h-3m', 'soon']) {
      expect(() => parseDuration(bad, '--grace')).toThrow(CleanupError);
      try {
        parseDuration(bad, '--grace');
      } catch (error) {
        expect((error as CleanupError).code).toBe('INVALID_ARGUMENT');
        expect((error as CleanupError).kind).toBe('invalid');
        expect((error as Error).message).toContain('--grace');
        expect((error as Error).message).toContain(`"${bad}"`);
      }
    }
  });

  it('round-trips through formatDuration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});
