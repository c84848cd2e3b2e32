/**
 * The store's one jittered pause. Two loops wait between tries: the etcd retries of one call
 * (attempts.ts) and the compare-and-swap rounds of one transition (cas.ts). Both use full
 * jitter, a random wait in [0, min(cap, base·2^n)) ms, so that callers that collided (hosts
 * comparing one guard key, clients whose member died at once) spread out instead of colliding
 * again in lock step.
 */

/** Jitter is one loop's pause curve: the first step and the longest pause (ms). */
export interface Jitter {
  readonly baseMs: number;
  readonly capMs: number;
}

/** ETCD_RETRY: the pause before etcd retry n of one call (10 ms doubling, at most 200). */
export const ETCD_RETRY: Jitter = { baseMs: 10, capMs: 200 };

/**
 * CAS_ROUND: the pause after lost compare n of one transition (1 ms doubling, at most 100): a
 * dozen hosts creating pools at once spread out instead of colliding round after round.
 */
export const CAS_ROUND: Jitter = { baseMs: 1, capMs: 100 };

/** jitterMs is the pause before try `n` on `curve`: random in [0, min(cap, base·2^n)). */
export function jitterMs(curve: Jitter, n: number): number {
  return Math.random() * Math.min(curve.capMs, curve.baseMs * 2 ** n);
}

/** pause waits `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** backoff pauses after lost compare `round` of a transition (CAS_ROUND). */
export function backoff(round: number): Promise<void> {
  return pause(jitterMs(CAS_ROUND, round));
}
