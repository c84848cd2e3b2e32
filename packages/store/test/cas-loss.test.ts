/**
 * What the compare-and-swap loop does after a lost commit (etcd/cas-loss.ts), for every
 * combination of what the Else reads can say; no etcd. The rules end to end, on a real etcd:
 * addresses.test.ts (a re-sent call that had committed counts once), registration.test.ts (an
 * instance whose lease lapsed commits nothing), concurrency.test.ts (CONFLICT after the rounds).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type AfterLoss, firstLook, nextRound } from '../src/etcd/cas-loss.js';

const afterLoss: fc.Arbitrary<AfterLoss<string>> = fc.oneof(
  fc.constantFrom<AfterLoss<string>>('retry', 'retry-now'),
  fc.string().map((answer) => ({ answer })),
);
const roundsLeft = fc
  .record({ rounds: fc.integer({ min: 1, max: 20 }), expired: fc.boolean() })
  .chain(({ rounds, expired }) =>
    fc.record({
      round: fc.integer({ min: 1, max: rounds }),
      rounds: fc.constant(rounds),
      expired: fc.constant(expired),
    }),
  );

describe('firstLook', () => {
  test('an earlier attempt of mine answers, even when the fence has moved since', () => {
    fc.assert(
      fc.property(fc.string(), fc.boolean(), (ours, refused) => {
        expect(firstLook({ ours, refused })).toEqual({ answer: ours });
      }),
    );
  });

  test('else a refused fence ends the call; else `lost` is asked', () => {
    expect(firstLook<string>({ ours: undefined, refused: true })).toBe('refused');
    expect(firstLook<string>({ ours: undefined, refused: false })).toBe('ask');
  });
});

describe('nextRound', () => {
  test("`lost`'s answer is the answer, whatever rounds or time are left", () => {
    fc.assert(
      fc.property(fc.string(), roundsLeft, (answer, left) => {
        expect(nextRound({ answer }, left)).toEqual({ answer });
      }),
    );
  });

  test('another round only while rounds and time are left; the last round is CONFLICT before the budget', () => {
    fc.assert(
      fc.property(afterLoss, roundsLeft, (next, left) => {
        if (typeof next === 'object') return;
        const got = nextRound(next, left);
        if (left.round >= left.rounds) expect(got).toBe('exhausted');
        else if (left.expired) expect(got).toBe('out-of-time');
        else expect(got).toBe(next === 'retry' ? 'after-pause' : 'at-once');
      }),
    );
  });
});
