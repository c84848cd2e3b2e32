/**
 * What an allocation does after a lost compare, as a function of what the commit's Else read
 * (allocation-run.ts applies it). Kept apart from the I/O so each rule has a test of its own
 * (test/allocation-loss.test.ts) beside the real-etcd ones.
 */

/** LossReads is what the Else branch of a lost allocation found. */
export interface LossReads {
  pool: boolean;
  /** The address key the round wanted is there (someone took it). */
  address: boolean;
  /** This host's hold key is there. */
  hold: boolean;
}

/** LossState is what the run knew when it decided the lost round. */
export interface LossState {
  /** The round wrote the hold too (the host held no reference). */
  rehold: boolean;
  /** The caller asked for this very address (static). */
  static: boolean;
  /** A CNI extra rides on the run (its own compares decide first). */
  extra: boolean;
  /** Addresses lost to other hosts so far, this one included. */
  conflicts: number;
}

/** LossStep is the decision; see lossStep. */
export type LossStep =
  /** The pool is gone: POOL_NOT_FOUND. */
  | { kind: 'pool-gone' }
  /** The hold is not as the round assumed: write (or not) the hold, at once, same address. */
  | { kind: 'flip-hold' }
  /** The address is free but our compare failed: the pool was made again; reload the view. */
  | { kind: 'recreated' }
  /** The asked-for address is someone else's now. */
  | { kind: 'static-taken' }
  /**
   * Another host took the address: mark it and go on, jumping ahead after two losses, looking
   * at etcd itself every fourth (a view lagging a crowded window), pausing from the third.
   */
  | { kind: 'taken'; jump: boolean; reload: boolean; pause: boolean };

/**
 * lossStep decides a lost allocation round from its reads (`state.conflicts` counts this loss
 * when the address was taken).
 */
export function lossStep(reads: LossReads, state: LossState): LossStep {
  if (!reads.pool) return { kind: 'pool-gone' };
  if (!reads.address && !state.extra && state.rehold === reads.hold) return { kind: 'flip-hold' };
  if (!reads.address) return { kind: 'recreated' };
  if (state.static) return { kind: 'static-taken' };
  return {
    kind: 'taken',
    jump: state.conflicts >= 2,
    reload: state.conflicts % 4 === 0,
    pause: state.conflicts >= 3,
  };
}
