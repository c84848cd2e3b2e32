/**
 * The retry engine of one etcd call. Why retry here: one member that died, froze or lost its
 * leader must not fail a Docker call while the others have a quorum. The attempt on the bad
 * member ends at its own deadline (ATTEMPT_MS, doubling), and the next attempt goes to another
 * member (etcd3 shuffles them per call, and the host policy of client-options.ts skips one that
 * just did not answer). etcd3's own retry is off (`faultHandling.global` = noop in those
 * options): it would reuse the first attempt's deadline.
 *
 * Retrying a write is safe: every write carries a random token, and a transaction whose compare
 * failed reads back what is there; tokens.ts says how a transition recognises that an earlier
 * attempt of its own committed (its answer was lost).
 */

import { ETCD_RETRY, jitterMs, pause } from './backoff.js';
import type { Budget } from './budget.js';
import {
  AttemptTimeout,
  isEtcdFailure,
  isTransient,
  noLeader,
  outOfTime,
  unavailable,
} from './failures.js';

/** CallOptions are the gRPC options every attempt gets: an absolute deadline. */
export interface CallOptions {
  deadline: Date;
}

/**
 * ATTEMPT_MS is the first attempt's deadline (each retry's doubles) when the budget leaves
 * more. Long enough for a loaded etcd to commit (a healthy txn takes a few ms), short enough
 * that a frozen member costs a call well under a second before it goes to another one.
 */
export const ATTEMPT_MS = 700;

/** Attempts says how one call is tried: its name, its first attempt's deadline, its endpoints. */
export interface Attempts {
  what: string;
  attemptMs: number;
  endpoint: string;
}

/**
 * attempts tries `call` until it answers, fails for good, or the budget is spent. Without
 * quorum every member says "no leader" (require-leader, see client-options.ts) or nothing, and
 * the call ends when its budget does with that reason and the endpoints.
 */
export async function attempts<T>(
  how: Attempts,
  call: (options: CallOptions) => Promise<T>,
  budget: Budget,
): Promise<T> {
  const { what, endpoint } = how;
  const budgetMs = budget.remainingMs();
  // Nothing left before the first attempt: etcd never heard of this call, so the error must
  // not read "no member answered within 0 ms (0 attempts)".
  if (budgetMs === 0) throw outOfTime(what, `before it reached etcd at ${endpoint}`);
  let last: unknown;
  let tries = 0;
  for (;;) {
    if (budget.remainingMs() === 0) break;
    tries += 1;
    try {
      // The deadline doubles with each attempt: the first one on a dead or frozen member
      // costs little, while an etcd that is merely slow (an overloaded machine) still gets
      // an attempt long enough to answer instead of a storm of short ones.
      return await attempt(call, how.attemptMs * 2 ** (tries - 1), budget.deadline);
    } catch (error) {
      if (!isTransient(error)) {
        if (isEtcdFailure(error))
          throw unavailable(endpoint, what, (error as Error).message, error);
        throw error;
      }
      last = error;
    }
    const wait = jitterMs(ETCD_RETRY, tries);
    if (wait >= budget.remainingMs()) break;
    await pause(wait);
  }
  const reason = noLeader(last) ? 'no leader' : 'no member answered';
  const lastMessage = last instanceof Error ? `; last: ${last.message}` : '';
  throw unavailable(
    endpoint,
    what,
    `${reason} within ${budgetMs} ms (${tries} attempts${lastMessage})`,
    last,
  );
}

/**
 * attempt gives `call` a gRPC deadline and also races it against a timer of the same length:
 * the gRPC deadline stops the request on the wire, the timer covers time spent before the
 * request is sent (auth, reconnect).
 */
async function attempt<T>(
  call: (options: CallOptions) => Promise<T>,
  longest: number,
  notAfter: number,
): Promise<T> {
  // One clock reading for both ends: the attempt never outlives the budget, not even by the
  // millisecond two readings could drift apart.
  const now = Date.now();
  const deadline = new Date(Math.min(now + longest, notAfter));
  const ms = Math.max(0, deadline.getTime() - now);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AttemptTimeout(`no answer within ${ms} ms`)), ms);
  });
  const pending = call({ deadline });
  // After a timeout nobody awaits the attempt; its late failure must not go unhandled.
  pending.catch(() => undefined);
  try {
    return await Promise.race([pending, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
