/**
 * What transact (cas.ts) does once a commit lost its compare, decided from what the Else reads
 * showed, apart from any I/O, so the order of its rules is tested in milliseconds
 * (test/cas-loss.test.ts) beside the real-etcd tests of every transition:
 *
 *   1. an earlier attempt of this very call committed (`mine`, etcd/tokens.ts): its answer;
 *   2. the host's fence refused the write (another instance serves the host): that error, even
 *      where a retry could win, since this instance may not write as the host;
 *   3. otherwise the transition's `lost` decides: an answer, or another round;
 *   4. another round only while rounds are left (else CONFLICT) and the budget is not spent
 *      (else UNAVAILABLE, saying it ran out between rounds): after a pause with fresh reads
 *      (`retry`), or at once on the Else reads (`retry-now`).
 */

/** After a lost compare, a transition's `lost` says: try again after a pause, at once, or answer. */
export type AfterLoss<T> = 'retry' | 'retry-now' | { answer: T };

/** SeenFirst is what rules 1 and 2 look at. */
export interface SeenFirst<T> {
  /** ours is `mine`'s answer, when an earlier attempt of this call committed. */
  ours: T | undefined;
  /** refused: the host's fence, read back, no longer passes. */
  refused: boolean;
}

/** firstLook applies rules 1 and 2: an answer, the fence's refusal, or ask `lost` (`ask`). */
export function firstLook<T>(seen: SeenFirst<T>): { answer: T } | 'refused' | 'ask' {
  if (seen.ours !== undefined) return { answer: seen.ours };
  if (seen.refused) return 'refused';
  return 'ask';
}

/** RoundsLeft is what rule 4 looks at. */
export interface RoundsLeft {
  /** round is the round that just lost (1-based); rounds the most there may be. */
  round: number;
  rounds: number;
  /** expired: the call's budget is spent. */
  expired: boolean;
}

/** NextRound is rule 3 and 4's outcome: an answer, a failure, or another round. */
export type NextRound<T> = { answer: T } | 'exhausted' | 'out-of-time' | 'after-pause' | 'at-once';

/** nextRound applies rules 3 and 4 to what `lost` said (a lost compare to report unless an answer). */
export function nextRound<T>(next: AfterLoss<T>, left: RoundsLeft): NextRound<T> {
  if (typeof next === 'object') return next;
  if (left.round >= left.rounds) return 'exhausted';
  if (left.expired) return 'out-of-time';
  return next === 'retry' ? 'after-pause' : 'at-once';
}
