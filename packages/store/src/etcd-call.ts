/**
 * Every etcd call the store makes goes through EtcdCalls: it runs inside a Budget (a hung etcd
 * must not hang Docker, which has no timeout of its own), each attempt gets a deadline of its
 * own that is much shorter than the budget, transient failures are tried again after a short
 * jittered pause, and etcd3/gRPC errors come out as StoreError UNAVAILABLE naming the
 * endpoints. Also the small op/response helpers the transactions are written with.
 *
 * Why retry here: one member that died, froze or lost its leader must not fail a Docker call
 * while the others have a quorum. The attempt on the bad member ends at its own deadline
 * (ATTEMPT_MS), and the next attempt goes to another member (etcd3 shuffles them per call, and
 * the host policy of etcd-client-options.ts skips one that just did not answer). etcd3's own
 * retry is off (`faultHandling.global` = noop in those options): it would reuse the first
 * attempt's deadline.
 *
 * Retrying a write is safe: every write carries a random token, and a transaction whose
 * compare failed reads back what is there: finding our own token means an earlier attempt of
 * this very call committed (its answer was lost), so the transitions take the Else branch of a
 * retried txn as "done".
 */
import { performance } from 'node:perf_hooks';
import { isBrokenCircuitError } from 'cockatiel';
import {
  ClientClosedError,
  ClientRuntimeError,
  type ComparatorBuilder,
  type Etcd3,
  EtcdAuthenticationFailedError,
  EtcdError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCGenericError,
  GRPCOutOfRangeError,
  type ICompare,
  type IKeyValue,
  type IRequestOp,
  type ITxnRequest,
  type ITxnResponse,
  isRecoverableError,
} from 'etcd3';
import { Budget } from './budget.js';
import { type Batch, CommitBatcher } from './commit-batch.js';
import { StoreError } from './errors.js';
import { prefixEnd } from './keys.js';
import type { MergedCall, StoreObserver } from './types.js';

/**
 * EtcdOp is the kind of a round trip as the observer sees it: few values, so a metrics label
 * made of it stays small. `txn` compare-and-swap, `get` a few keys, `load` a pool view's
 * read, `list` listings for operators and cleanup.
 */
export type EtcdOp = 'txn' | 'get' | 'load' | 'list';

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

/** The pause before retry n is random in [0, min(MAX, BASE·2^n)) ms (full jitter). */
const RETRY_BASE_MS = 10;
const RETRY_MAX_MS = 200;

/**
 * AttemptTimeout is an attempt that had no answer by its deadline (our timer, for time spent
 * before the request reached the wire).
 */
class AttemptTimeout extends Error {}

/**
 * isTransient: etcd did not do it, and a moment later or another member may. gRPC's
 * unavailable / deadline / internal family (etcd3 marks them recoverable; "etcdserver: no
 * leader", "leader changed" and "request timed out" arrive as UNAVAILABLE), a member skipped
 * by the host policy, or our own attempt timer.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof AttemptTimeout) return true;
  if (!(error instanceof Error)) return false;
  return isRecoverableError(error) || isBrokenCircuitError(error);
}

/** isCompacted: a read pinned to a revision etcd has compacted away. */
export function isCompacted(error: unknown): boolean {
  const cause = error instanceof StoreError ? error.cause : error;
  return (
    cause instanceof GRPCOutOfRangeError &&
    cause.message.includes('required revision has been compacted')
  );
}

/**
 * isEtcdFailure: any other error etcd3 raised. Its Etcd* classes do not share a base class,
 * so the ones a store call can meet are listed (permissions, auth, a closed client, …).
 */
function isEtcdFailure(error: unknown): boolean {
  return (
    isTransient(error) ||
    error instanceof GRPCGenericError ||
    error instanceof EtcdError ||
    error instanceof EtcdPermissionDeniedError ||
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof ClientClosedError ||
    error instanceof ClientRuntimeError
  );
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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
    return new StoreError(
      'UNAVAILABLE',
      `etcd unavailable at ${this.endpoint}: ${what}: ${detail}`,
      {
        cause,
      },
    );
  }

  /**
   * outOfTime is the UNAVAILABLE of a call whose budget was spent before it could ask etcd
   * (waiting locally, or between rounds): it says so instead of blaming etcd, which may be fine.
   */
  outOfTime(what: string, when: string): StoreError {
    return new StoreError('UNAVAILABLE', `${what}: the call's time ran out ${when}`);
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
      result = await this.attempts(what, call, bounded);
      ok = true;
      return result;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      this.observed(op, started, ok, failure, merged?.(result));
    }
  }

  /**
   * attempts tries `call` until it answers, fails for good, or the budget is spent. Without
   * quorum every member says "no leader" (require-leader, see etcd-client-options.ts) or
   * nothing, and the call ends when its budget does with that reason and the endpoints.
   */
  private async attempts<T>(
    what: string,
    call: (options: CallOptions) => Promise<T>,
    budget: Budget,
  ): Promise<T> {
    const budgetMs = budget.remainingMs();
    // Nothing left before the first attempt: etcd never heard of this call, so the error must
    // not read "no member answered within 0 ms (0 attempts)".
    if (budgetMs === 0) throw this.outOfTime(what, `before it reached etcd at ${this.endpoint}`);
    let last: unknown;
    let tries = 0;
    for (;;) {
      const left = budget.remainingMs();
      if (left === 0) break;
      tries += 1;
      try {
        // The deadline doubles with each attempt: the first one on a dead or frozen member
        // costs little, while an etcd that is merely slow (an overloaded machine) still gets
        // an attempt long enough to answer instead of a storm of short ones.
        return await this.attempt(call, this.attemptMs * 2 ** (tries - 1), budget.deadline);
      } catch (error) {
        if (!isTransient(error)) {
          if (isEtcdFailure(error)) {
            throw this.unavailable(what, (error as Error).message, error);
          }
          throw error;
        }
        last = error;
      }
      const wait = Math.random() * Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** tries);
      if (wait >= budget.remainingMs()) break;
      await pause(wait);
    }
    const reason =
      last instanceof Error && /no leader|leader changed/.test(last.message)
        ? 'no leader'
        : 'no member answered';
    const lastMessage = last instanceof Error ? `; last: ${last.message}` : '';
    throw this.unavailable(
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
  private async attempt<T>(
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
    const attempt = call({ deadline });
    // After a timeout nobody awaits the attempt; its late failure must not go unhandled.
    attempt.catch(() => undefined);
    try {
      return await Promise.race([attempt, timeout]);
    } finally {
      clearTimeout(timer);
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

/** getOp reads one key. */
export function getOp(key: string): IRequestOp {
  return { request_range: { key: Buffer.from(key) } };
}

/** RangeOptions shape a prefix read: counts only, keys only, a fixed revision, a page. */
export interface RangeOptions {
  countOnly?: boolean;
  keysOnly?: boolean;
  revision?: bigint;
  /** At most this many keys; the response's `more` says whether there are others. */
  limit?: number;
  /** Start after this key (the last one of the previous page). */
  after?: Buffer;
  /**
   * Only keys created or changed after this revision. etcd then scans the whole range before
   * it applies `limit`: for rare reads (after a lost compare), not for hot paths.
   */
  changedAfter?: bigint;
}

/** rangeOp reads every key under a prefix (or a page of them, or only counts them). */
export function rangeOp(prefix: string, options: RangeOptions = {}): IRequestOp {
  return {
    request_range: {
      // The smallest key after `after` is `after` + a zero byte.
      key: options.after ? Buffer.concat([options.after, Buffer.from([0])]) : Buffer.from(prefix),
      range_end: prefixEnd(prefix),
      ...(options.countOnly ? { count_only: true } : {}),
      ...(options.keysOnly ? { keys_only: true } : {}),
      ...(options.limit ? { limit: options.limit } : {}),
      ...(options.revision !== undefined ? { revision: options.revision.toString() } : {}),
      ...(options.changedAfter !== undefined
        ? { min_mod_revision: (options.changedAfter + 1n).toString() }
        : {}),
    },
  };
}

/** spanOp reads the keys in [from, to): a run of fixed-width keys, such as block claims. */
export function spanOp(from: string, to: string, options: { keysOnly?: boolean } = {}): IRequestOp {
  return {
    request_range: {
      key: Buffer.from(from),
      range_end: Buffer.from(to),
      ...(options.keysOnly ? { keys_only: true } : {}),
    },
  };
}

/**
 * readPrefix reads every key under `prefix` at one revision, `pageSize` keys per call, so that
 * a big pool never needs one response larger than gRPC's message limit. `first` is the first
 * page when it came with other reads in one transaction (then `revision` is that one's). When
 * etcd compacts that revision away between two pages, the read starts over at a fresh one
 * (without `first`), inside the same budget.
 */
export async function readPrefix(
  calls: EtcdCalls,
  what: string,
  prefix: string,
  options: { keysOnly?: boolean; pageSize: number; op?: EtcdOp },
  first?: { res: ITxnResponse; index: number },
  budget: Budget = Budget.within(calls.deadlineMs),
): Promise<{ kvs: IKeyValue[]; revision: bigint }> {
  let start = first;
  for (;;) {
    try {
      return await readPages(calls, what, prefix, options, start, budget);
    } catch (error) {
      if (!isCompacted(error) || budget.expired()) throw error;
      start = undefined;
    }
  }
}

async function readPages(
  calls: EtcdCalls,
  what: string,
  prefix: string,
  options: { keysOnly?: boolean; pageSize: number; op?: EtcdOp },
  first: { res: ITxnResponse; index: number } | undefined,
  budget: Budget,
): Promise<{ kvs: IKeyValue[]; revision: bigint }> {
  const limit = options.pageSize;
  const op = options.op ?? 'get';
  const range = { keysOnly: options.keysOnly, limit };
  let res = first?.res ?? (await calls.read(what, [rangeOp(prefix, range)], op, budget));
  let index = first?.index ?? 0;
  const revision = revisionOf(res);
  const kvs: IKeyValue[] = [];
  for (;;) {
    const page = kvsAt(res, index);
    kvs.push(...page);
    const last = page[page.length - 1];
    if (!res.responses[index]?.response_range?.more || !last) return { kvs, revision };
    const next = rangeOp(prefix, { ...range, revision, after: last.key });
    res = await calls.read(what, [next], op, budget);
    index = 0;
  }
}

/** putOp writes one key. */
export function putOp(key: string, value: string): IRequestOp {
  return { request_put: { key: Buffer.from(key), value: Buffer.from(value) } };
}

/** deleteOp deletes one key. */
export function deleteOp(key: string): IRequestOp {
  return { request_delete_range: { key: Buffer.from(key) } };
}

/** deletePrefixOp deletes every key under a prefix. */
export function deletePrefixOp(prefix: string): IRequestOp {
  return { request_delete_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix) } };
}

/** kvsAt returns the key-values of the i-th response of a transaction (a range op). */
export function kvsAt(res: ITxnResponse, i: number): IKeyValue[] {
  return res.responses[i]?.response_range?.kvs ?? [];
}

/** countAt returns the count of the i-th response of a transaction (a range op). */
export function countAt(res: ITxnResponse, i: number): number {
  return Number(res.responses[i]?.response_range?.count ?? 0);
}

/** revisionOf is the store revision a response was served at. */
export function revisionOf(res: ITxnResponse): bigint {
  return BigInt(res.header.revision);
}
