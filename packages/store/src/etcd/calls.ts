/**
 * Every etcd call the store makes goes through EtcdCalls: it runs inside a Budget (a hung etcd
 * must not hang Docker, which has no timeout of its own), its attempts are attempts.ts's (each
 * with a deadline much shorter than the budget, transient failures tried again after a short
 * jittered pause), etcd3/gRPC errors come out as StoreError UNAVAILABLE naming the endpoints,
 * and the observer hears of every round trip. The etcd layer's files, one job each: calls.ts
 * (this), attempts.ts (retries), failures.ts (what an error means), backoff.ts (the one
 * jittered pause), ops.ts and replies.ts (ops and their responses), paging.ts (big reads),
 * guards.ts, fences.ts, tokens.ts, cas.ts and cas-loss.ts (the compare-and-swap rounds),
 * merge-plan.ts and commit-batch.ts (group commit), undo.ts.
 */
import { performance } from 'node:perf_hooks';
import type {
  ComparatorBuilder,
  Etcd3,
  ICompare,
  IRequestOp,
  ITxnRequest,
  ITxnResponse,
} from 'etcd3';
import { StoreError } from '../errors.js';
import type { MergedCall, StoreObserver } from '../types.js';
import { ATTEMPT_MS, attempts, type CallOptions } from './attempts.js';
import { Budget } from './budget.js';
import { type Batch, CommitBatcher } from './commit-batch.js';
import { outOfTime, unavailable } from './failures.js';

/**
 * EtcdOp is the kind of a round trip as the observer sees it: few values, so a metrics label
 * made of it stays small. `txn` compare-and-swap, `get` a few keys, `load` a pool view's
 * read, `list` listings for operators and cleanup.
 */
export type EtcdOp = 'txn' | 'get' | 'load' | 'list';

/** EtcdCalls runs etcd calls inside a budget, with per-attempt deadlines and retries. */
export class EtcdCalls {
  readonly client: Etcd3;
  /** The budget of a call made without one. */
  readonly deadlineMs: number;
  /** The first attempt's deadline (doubling with each retry) when the budget leaves more. */
  readonly attemptMs: number;
  readonly endpoint: string;
  /** Told of each round trip and each lost compare (see StoreObserver). */
  readonly observer: StoreObserver | undefined;
  /** Merges waiting transactions that allow it (commit-batch.ts). */
  private readonly batcher: CommitBatcher;

  constructor(
    client: Etcd3,
    deadlineMs: number,
    endpoint: string,
    observer?: StoreObserver,
    attemptMs = ATTEMPT_MS,
  ) {
    this.client = client;
    this.deadlineMs = deadlineMs;
    this.endpoint = endpoint;
    this.observer = observer;
    this.attemptMs = Math.min(attemptMs, deadlineMs);
    this.batcher = this.newBatcher();
  }

  /**
   * conflict tells the observer that a compare failed and the store retries or moves on. An
   * observer that throws is ignored: metrics must never break a request.
   */
  conflict(event: Parameters<NonNullable<StoreObserver['casConflict']>>[0]): void {
    try {
      this.observer?.casConflict?.(event);
    } catch {
      // ignored on purpose (see above)
    }
  }

  private observed(
    op: EtcdOp,
    started: number,
    ok: boolean,
    error: unknown,
    merged: MergedCall | undefined,
  ): void {
    const observer = this.observer;
    if (!observer?.etcdCall) return;
    try {
      observer.etcdCall({
        op,
        durationMs: performance.now() - started,
        ok,
        ...(!ok && error instanceof StoreError ? { code: error.code } : {}),
        ...(merged ? { merged } : {}),
      });
    } catch {
      // ignored on purpose: metrics must never break a request
    }
  }

  /** unavailable builds the one message shape operators grep for. */
  unavailable(what: string, detail: string, cause?: unknown): StoreError {
    return unavailable(this.endpoint, what, detail, cause);
  }

  /**
   * outOfTime is the UNAVAILABLE of a call whose budget was spent before it could ask etcd
   * (waiting locally, or between rounds): it says so instead of blaming etcd, which may be fine.
   */
  outOfTime(what: string, when: string): StoreError {
    return outOfTime(what, when);
  }

  /**
   * run is the one place every etcd round trip goes through: it makes the attempts (below)
   * inside `budget` (default: deadlineMs from now) and tells the observer how it went. `op` is
   * the kind of call the observer is told.
   */
  async run<T>(
    what: string,
    op: EtcdOp,
    call: (options: CallOptions) => Promise<T>,
    budget?: Budget,
    merged?: (result: T | undefined) => MergedCall,
  ): Promise<T> {
    const started = performance.now();
    let ok = false;
    let failure: unknown;
    let result: T | undefined;
    try {
      // One etcd call gets deadlineMs at most, retries included, and never more than what is
      // left of the caller's budget: without quorum it fails in deadlineMs, not in the budget.
      const own = Budget.within(this.deadlineMs);
      const bounded = budget && budget.deadline < own.deadline ? budget : own;
      result = await attempts(
        { what, attemptMs: this.attemptMs, endpoint: this.endpoint },
        call,
        bounded,
      );
      ok = true;
      return result;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      this.observed(op, started, ok, failure, merged?.(result));
    }
  }

  /** txn commits a transaction built by `build` (which must not call commit itself). */
  txn(
    what: string,
    build: (client: Etcd3) => ComparatorBuilder,
    budget?: Budget,
  ): Promise<ITxnResponse> {
    // Always .commit(): the builder has a `then` method, so awaiting it would never settle.
    return this.run(what, 'txn', (options) => build(this.client).options(options).commit(), budget);
  }

  /**
   * read runs `ops` in one compare-less transaction: several gets at one revision in one
   * round trip. The builder needs a compare, so this goes to the KV client directly.
   */
  read(
    what: string,
    ops: IRequestOp[],
    op: EtcdOp = 'get',
    budget?: Budget,
  ): Promise<ITxnResponse> {
    return this.run(
      what,
      op,
      (options) => this.client.kv.txn({ compare: [], success: ops, failure: [] }, options),
      budget,
    );
  }

  /**
   * readIf reads `then` if every compare holds, else `otherwise`, in one round trip: a read whose
   * extent depends on what is there (a join of an existing pool reads less than a creation).
   */
  readIf(
    what: string,
    compare: ICompare[],
    then: IRequestOp[],
    otherwise: IRequestOp[],
    budget?: Budget,
  ): Promise<ITxnResponse> {
    return this.run(
      what,
      'get',
      (options) => this.client.kv.txn({ compare, success: then, failure: otherwise }, options),
      budget,
    );
  }

  /**
   * commit sends one raw transaction (compares, success and failure ops as etcd takes them):
   * the compare-and-swap primitive (cas.ts) builds it, range compares included, which the
   * client's builder cannot express.
   */
  commit(what: string, txn: ITxnRequest, budget?: Budget, batch?: Batch): Promise<ITxnResponse> {
    if (batch) return this.batcher.commit(what, txn, batch, budget);
    return this.run(what, 'txn', (options) => this.client.kv.txn(txn, options), budget);
  }

  /** batcher merges waiting transactions that allow it (commit-batch.ts). */
  private newBatcher(): CommitBatcher {
    return new CommitBatcher(
      (what, txn, budget, members) =>
        members === 1
          ? this.commit(what, txn, budget)
          : this.run(
              what,
              'txn',
              (options) => this.client.kv.txn(txn, options),
              budget,
              (res) => ({
                transactions: members,
                committed: res?.succeeded === true,
              }),
            ),
      {
        attemptMs: this.attemptMs,
        expired: (what, detail) => this.unavailable(what, detail),
      },
    );
  }
}
