/** The allocation's decision after a lost compare, from its reads alone (no etcd). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LossReads, type LossState, lossStep } from '../src/transitions/allocation-loss.js';

const reads = (over: Partial<LossReads> = {}): LossReads => ({
  pool: true,
  address: true,
  hold: true,
  ...over,
});
const state = (over: Partial<LossState> = {}): LossState => ({
  rehold: false,
  static: false,
  extra: false,
  conflicts: 1,
  ...over,
});

describe('lossStep', () => {
  it('a gone pool comes first, whatever else was read', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (address, hold, rehold, st) => {
          expect(
            lossStep(reads({ pool: false, address, hold }), state({ rehold, static: st })),
          ).toEqual({
            kind: 'pool-gone',
          });
        },
      ),
    );
  });

  it('a free address with the hold not as assumed flips the hold; otherwise the pool was made again', () => {
    // The round wrote no hold (rehold false) but the hold is gone: write it next time.
    expect(lossStep(reads({ address: false, hold: false }), state({ rehold: false }))).toEqual({
      kind: 'flip-hold',
    });
    // The round wrote the hold (rehold true) but one is there now: do not write it.
    expect(lossStep(reads({ address: false, hold: true }), state({ rehold: true }))).toEqual({
      kind: 'flip-hold',
    });
    expect(lossStep(reads({ address: false, hold: true }), state({ rehold: false }))).toEqual({
      kind: 'recreated',
    });
    // A CNI extra's own compares were judged already: no flip.
    expect(
      lossStep(reads({ address: false, hold: false }), state({ rehold: false, extra: true })),
    ).toEqual({ kind: 'recreated' });
  });

  it("a taken static address is the caller's answer; a taken dynamic one moves on, faster then slower", () => {
    expect(lossStep(reads(), state({ static: true }))).toEqual({ kind: 'static-taken' });
    const steps = [1, 2, 3, 4, 8].map((conflicts) => lossStep(reads(), state({ conflicts })));
    expect(steps).toEqual([
      { kind: 'taken', jump: false, reload: false, pause: false },
      { kind: 'taken', jump: true, reload: false, pause: false },
      { kind: 'taken', jump: true, reload: false, pause: true },
      { kind: 'taken', jump: true, reload: true, pause: true },
      { kind: 'taken', jump: true, reload: true, pause: true },
    ]);
  });
});
