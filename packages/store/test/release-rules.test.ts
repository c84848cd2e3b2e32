/**
 * What a last hold's release does after its removal lost its compare (release-rules.ts), for
 * every combination of what the Else reads can say; no etcd. The race itself, forced on a real
 * etcd: pools.test.ts "pool removal and an allocation in between".
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { afterLostRemoval, type LostRemoval } from '../src/transitions/release-rules.js';

const lostArb: fc.Arbitrary<LostRemoval> = fc.record({
  fenced: fc.boolean(),
  addressWritten: fc.boolean(),
  poolAsRead: fc.boolean(),
  holdAsRead: fc.boolean(),
  otherHolder: fc.boolean(),
});

test('a fenced caller (cleanup) gets "nothing released" whatever changed', () => {
  fc.assert(
    fc.property(lostArb, (r) => {
      if (r.fenced) expect(afterLostRemoval(r)).toBe('unchanged');
    }),
  );
});

test('the pool is kept in use only when an address was taken under this very hold and nothing else changed', () => {
  fc.assert(
    fc.property(lostArb, (r) => {
      const inUse = !r.fenced && r.addressWritten && r.poolAsRead && r.holdAsRead && !r.otherHolder;
      expect(afterLostRemoval(r) === 'in-use').toBe(inUse);
    }),
  );
});

test('anything else is decided again from fresh reads (a join, a decrement, another holder, a new pool)', () => {
  expect(
    afterLostRemoval({
      fenced: false,
      addressWritten: true,
      poolAsRead: true,
      holdAsRead: true,
      otherHolder: true,
    }),
  ).toBe('retry');
  expect(
    afterLostRemoval({
      fenced: false,
      addressWritten: false,
      poolAsRead: true,
      holdAsRead: false,
      otherHolder: false,
    }),
  ).toBe('retry');
});
