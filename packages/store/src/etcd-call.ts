/**
 * Every etcd call the store makes goes through EtcdCalls: it gets a deadline (a hung etcd
 * must not hang Docker, which has no timeout of its own), and etcd3/gRPC errors come out as
 * StoreError UNAVAILABLE naming the endpoint. Also the small op/response helpers the
 * transactions are written with.
 *
 * Retries: etcd3 1.1 retries a failed call (up to 3 attempts, on "recoverable" gRPC errors)
 * through a cockatiel policy that is fixed when the client is built (`faultHandling.global`);
 * there is no per-call switch (node_modules/etcd3/lib/connection-pool.js `exec`). The client
 * belongs to the app, so the store cannot turn retries off for its transactions. Instead every
 * write carries a random token, and a transaction whose compare failed reads back what is
 * there: finding our own token means an earlier attempt of this very call committed.
 */
import { performance } from 'node:perf_hooks';
import type {
  ComparatorBuilder,
  Etcd3,
  IKeyValue,
  IRequestOp,
  ITxnRequest,
  ITxnResponse,
} from 'etcd3';
import type { Budget } from './budget.js';
import { StoreError } from './errors.js';
import { prefixEnd } from './keys.js';
import type { StoreObserver } from './types.js';

/**
 * EtcdOp is the kind of a round trip as the observer sees it: few values, so a metrics label
 * made of it stays small. `txn` compare-and-swap, `get` a few keys, `load` a pool view's
 * read, `list` listings for operators and cleanup.
 */
export type EtcdOp = 'txn' | 'get' | 'load' | 'list';

/** CallOptions are the gRPC options every call gets: an absolute deadline. */
export interface CallOptions {
  deadline: Date;
}

function looksLikeEtcdFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // etcd3 error classes (GRPC*Error, Etcd*Error, ClientClosedError, …) and cockatiel's
  // open-circuit error: all mean "etcd did not do it", so all become UNAVAILABLE.
  const name = error.constructor.name;
  return (
    name.startsWith('GRPC') ||
    name.startsWith('Etcd') ||
    name.startsWith('Client') ||
    'isBrokenCircuitError' in error ||
    name === 'TaskCancelledError'
  );
}

/** EtcdCalls runs etcd calls with a deadline and error translation. */
export class EtcdCalls {
  readonly client: Etcd3;
  readonly deadlineMs: number;
  readonly endpoint: string;
  /** Told of each round trip and each lost compare (see StoreObserver). */
  readonly observer: StoreObserver | undefined;

  constructor(client: Etcd3, deadlineMs: number, endpoint: string, observer?: StoreObserver) {
    this.client = client;
    this.deadlineMs = deadlineMs;
    this.endpoint = endpoint;
    this.observer = observer;
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

  private observed(op: EtcdOp, started: number, ok: boolean, error: unknown): void {
    const observer = this.observer;
    if (!observer?.etcdCall) return;
    try {
      observer.etcdCall({
        op,
        durationMs: performance.now() - started,
        ok,
        ...(!ok && error instanceof StoreError ? { code: error.code } : {}),
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
   * run is the one place every etcd round trip goes through: it makes the attempt (below) and
   * tells the observer how it went. `op` is the kind of call the observer is told.
   */
  async run<T>(
    what: string,
    op: EtcdOp,
    call: (options: CallOptions) => Promise<T>,
    budget?: Budget,
  ): Promise<T> {
    const started = performance.now();
    let ok = false;
    let failure: unknown;
    try {
      const result = await this.attempt(what, call, budget);
      ok = true;
      return result;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      this.observed(op, started, ok, failure);
    }
  }

  /**
   * attempt gives `call` a gRPC deadline and also races it against a timer of the same length:
   * the gRPC deadline stops the request on the wire, the timer covers time spent before the
   * request is sent (auth, circuit breaker, reconnect).
   */
  private async attempt<T>(
    what: string,
    call: (options: CallOptions) => Promise<T>,
    budget?: Budget,
  ): Promise<T> {
    const ms = Math.min(this.deadlineMs, budget?.remainingMs() ?? this.deadlineMs);
    if (ms <= 0) throw this.unavailable(what, "the call's time ran out before etcd was asked");
    const deadline = new Date(Date.now() + ms);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.unavailable(what, `no answer within ${ms} ms`)), ms);
    });
    const attempt = call({ deadline });
    // After a timeout nobody awaits the attempt; its late failure must not go unhandled.
    attempt.catch(() => undefined);
    try {
      return await Promise.race([attempt, timeout]);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      if (looksLikeEtcdFailure(error)) {
        throw this.unavailable(what, (error as Error).message, error);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** txn commits a transaction built by `build` (which must not call commit itself). */
  txn(what: string, build: (client: Etcd3) => ComparatorBuilder): Promise<ITxnResponse> {
    // Always .commit(): the builder has a `then` method, so awaiting it would never settle.
    return this.run(what, 'txn', (options) => build(this.client).options(options).commit());
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
   * commit sends one raw transaction (compares, success and failure ops as etcd takes them):
   * the compare-and-swap primitive (cas.ts) builds it, range compares included, which the
   * client's builder cannot express.
   */
  commit(what: string, txn: ITxnRequest, budget?: Budget): Promise<ITxnResponse> {
    return this.run(what, 'txn', (options) => this.client.kv.txn(txn, options), budget);
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
    },
  };
}

/**
 * readPrefix reads every key under `prefix` at one revision, `pageSize` keys per call, so that
 * a big pool never needs one response larger than gRPC's message limit. `first` is the first
 * page when it came with other reads in one transaction (then `revision` is that one's).
 */
export async function readPrefix(
  calls: EtcdCalls,
  what: string,
  prefix: string,
  options: { keysOnly?: boolean; pageSize: number; op?: EtcdOp },
  first?: { res: ITxnResponse; index: number },
): Promise<{ kvs: IKeyValue[]; revision: bigint }> {
  const limit = options.pageSize;
  const op = options.op ?? 'get';
  const range = { keysOnly: options.keysOnly, limit };
  let res = first?.res ?? (await calls.read(what, [rangeOp(prefix, range)], op));
  let index = first?.index ?? 0;
  const revision = revisionOf(res);
  const kvs: IKeyValue[] = [];
  for (;;) {
    const page = kvsAt(res, index);
    kvs.push(...page);
    const last = page[page.length - 1];
    if (!res.responses[index]?.response_range?.more || !last) return { kvs, revision };
    res = await calls.read(what, [rangeOp(prefix, { ...range, revision, after: last.key })], op);
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
