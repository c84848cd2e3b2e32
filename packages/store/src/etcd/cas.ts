/**
 * The store's one compare-and-swap mechanism. Every state transition is rounds of
 *
 *   read    named ops in one compare-less transaction (one revision)
 *   decide  from what was read: an answer with nothing to write, or a guarded write
 *   commit  If(compares) Then(writes) Else(the same named reads)
 *
 * until a commit succeeds, a decision needs no write, the attempts run out (CONFLICT) or the
 * caller's Budget is spent (UNAVAILABLE). The Else branch reads again exactly what the round
 * read, so the next round decides on fresh data without another round trip; and since the
 * store's own retries (etcd/attempts.ts; etcd3's are off) re-send a transaction whose answer was
 * lost, though it may have committed, each transition writes a random token and `mine` finds
 * it in those reads: our own earlier attempt won. Shaped after etcd's
 * client/v3/concurrency/stm.go, which writes its loop once.
 */
import type { IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { StoreError } from '../errors.js';
import type { NodeId, PoolId, StoreLogger, StoreObserver } from '../types.js';
import { backoff } from './backoff.js';
import type { Budget } from './budget.js';
import { type AfterLoss, firstLook, nextRound } from './cas-loss.js';
import type { Batch } from './commit-batch.js';
import { type Guard, toCompare } from './guards.js';
import { getOp, kvsAt, revisionOf } from './ops.js';

export type { AfterLoss } from './cas-loss.js';

import type { EtcdCalls } from './calls.js';
import type { NodeFences } from './fences.js';
import type { Undo, UndoQueue } from './undo.js';

export type { Guard } from './guards.js';

/**
 * TransactContext is what the loop needs of the store (StoreContext has it): the etcd calls,
 * how many rounds, the log, the undo queue for failed writes, and each host's fence.
 */
export interface TransactContext {
  readonly calls: EtcdCalls;
  readonly maxAttempts: number;
  readonly logger: StoreLogger;
  readonly undo: UndoQueue;
  readonly fences: NodeFences;
}

/** Snapshot is one round's named reads, all at one revision. */
export class Snapshot<K extends string> {
  private readonly res: ITxnResponse;
  private readonly index: ReadonlyMap<string, number>;

  constructor(res: ITxnResponse, names: readonly K[]) {
    this.res = res;
    this.index = new Map(names.map((name, i) => [name, i]));
  }

  /** revision is the store revision the reads were served at. */
  get revision(): bigint {
    return revisionOf(this.res);
  }

  /** kvs are the key-values read by `name` (a get gives at most one). */
  kvs(name: K): IKeyValue[] {
    return kvsAt(this.res, this.at(name));
  }

  /** kv is the one key-value a get read by `name`, if the key exists. */
  kv(name: K): IKeyValue | undefined {
    return this.kvs(name)[0];
  }

  private at(name: K): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`no read named ${name}`);
    return i;
  }
}

/** Write is a decision to commit `ops` if every guard holds; `done` gives the answer then. */
export interface Write<K extends string, T> {
  guards: Guard[];
  ops: IRequestOp[];
  /** done is the answer once the commit succeeded at `revision` (`res` holds what Then read). */
  done(revision: bigint, res: ITxnResponse): T;
  /** reread replaces the transition's reads as what a failed commit reads (and `lost` sees). */
  reread?: Partial<Record<K, IRequestOp>>;
  /** settled runs once the commit answered or failed (to release what the decision held). */
  settled?(outcome: 'committed' | 'lost' | 'failed'): void;
  /** conflict overrides the transition's label for a loss of this write. */
  conflict?: ConflictOp;
  /**
   * batch lets the commit go to etcd merged with others of its key (commit-batch.ts): `shared`
   * are the guards every member of that key has alike, compared once, ahead of `guards`.
   */
  batch?: { key: string; shared: Guard[] };
  /**
   * undo reverts this write if its commit fails with its outcome unknown: etcd may apply it
   * after the call gave up, and the caller (Docker) will never use or release it (undo.ts).
   */
  undo?: Undo;
}

/** Decision is what a round decides: an answer as it stands, or a guarded write. */
export type Decision<K extends string, T> = { answer: T } | { write: Write<K, T> };

/** ConflictOp labels a lost compare for the observer (see StoreObserver.casConflict). */
export type ConflictOp = Parameters<NonNullable<StoreObserver['casConflict']>>[0]['op'];

/** Transition is one state change, as the rounds of `transact` run it. */
export interface Transition<K extends string, T> {
  /** what names the call in messages and logs ("request pool"). */
  what: string;
  /** conflict labels a lost compare for the observer; `pool` goes with it. */
  conflict: ConflictOp;
  pool?: PoolId;
  /** reads are the named ops read before the first round and again by every failed commit. */
  reads?: Partial<Record<K, IRequestOp>>;
  /**
   * start decides the first round without reading anything first, for a transition whose
   * guards need nothing read (an allocation: one round trip when uncontended). Used instead of
   * `reads` for round 1; later rounds decide on what the failed commit read.
   */
  start?(): Decision<K, T> | Promise<Decision<K, T>>;
  /** decide chooses from one round's reads; it may throw a StoreError to refuse. */
  decide(snap: Snapshot<K>, round: number): Decision<K, T> | Promise<Decision<K, T>>;
  /**
   * mine looks at the reads after a lost compare for this call's token: an earlier attempt of
   * this very call committed (a re-sent transaction), and this is its answer.
   */
  mine?(snap: Snapshot<K>): NoInfer<T> | undefined;
  /** lost decides what follows a lost compare (default: retry after a pause); may throw. */
  lost?(snap: Snapshot<K>, round: number): AfterLoss<NoInfer<T>> | Promise<AfterLoss<NoInfer<T>>>;
  /**
   * node is the host this transition writes for: each commit then carries that host's fence
   * (fences.ts), and a commit refused by it fails with the fence's error instead of a retry.
   */
  node?: NodeId;
  /** rounds caps the rounds (default: the store's maxAttempts). */
  rounds?: number;
  /** exhausted is the CONFLICT message once the rounds ran out. */
  exhausted?: string;
}

/** FENCE names the read of the host's fence a failed commit makes (after the transition's own). */
const FENCE = '#fence';

function named<K extends string>(reads: Partial<Record<K, IRequestOp>>): [K[], IRequestOp[]] {
  const names = Object.keys(reads) as K[];
  return [names, names.map((name) => reads[name] as IRequestOp)];
}

/**
 * transact runs `t` to its answer: at most `t.rounds` rounds, all inside `budget` when one is
 * given (the plugin gives Docker's call's); without one, each etcd call still has its deadline.
 */
export async function transact<K extends string, T>(
  ctx: TransactContext,
  t: Transition<K, T>,
  budget?: Budget,
): Promise<T> {
  const rounds = t.rounds ?? ctx.maxAttempts;
  const readAll = async (): Promise<Snapshot<K>> => {
    const [names, ops] = named(t.reads ?? {});
    return new Snapshot(await ctx.calls.read(t.what, ops, 'get', budget), names);
  };
  let snap: Snapshot<K> | undefined = t.start ? undefined : await readAll();
  for (let round = 1; ; round++) {
    const decision = snap
      ? await t.decide(snap, round)
      : await (t.start as NonNullable<typeof t.start>)();
    if ('answer' in decision) return decision.answer;
    const { write } = decision;
    const [own, failure] = named<K>(write.reread ?? t.reads ?? {});
    const names: Array<K | typeof FENCE> = own;
    const fence = t.node === undefined ? undefined : ctx.fences.of(t.node);
    const shared = write.batch?.shared ?? [];
    let res: ITxnResponse;
    try {
      // The host's fence goes first, then the guards merged members share, then the write's own.
      const guards = [...(fence ? [await fence.guard()] : []), ...shared, ...write.guards];
      const batch: Batch | undefined = write.batch && {
        key: write.batch.key,
        shared: guards.length - write.guards.length,
      };
      if (fence) {
        names.push(FENCE);
        failure.push(getOp(fence.key));
      }
      res = await ctx.calls.commit(
        t.what,
        { compare: guards.map(toCompare), success: write.ops, failure },
        budget,
        batch,
      );
    } catch (error) {
      write.settled?.('failed');
      if (write.undo && error instanceof StoreError && error.code === 'UNAVAILABLE') {
        ctx.undo.schedule(write.undo);
      }
      throw error;
    }
    write.settled?.(res.succeeded ? 'committed' : 'lost');
    if (res.succeeded) return write.done(revisionOf(res), res);
    const read = new Snapshot<K | typeof FENCE>(res, names);
    snap = read;
    // Our own earlier attempt may have committed before the fence moved (`mine`), but a
    // refused fence means this instance may not write as the host: nothing more is tried.
    const refused = fence?.refused(read.kv(FENCE));
    const first = firstLook({ ours: t.mine?.(read), refused: refused !== undefined });
    if (first === 'refused') throw refused;
    if (first !== 'ask') return first.answer;
    const next = nextRound(t.lost ? await t.lost(read, round) : 'retry', {
      round,
      rounds,
      expired: budget?.expired() === true,
    });
    if (typeof next === 'object') return next.answer;
    ctx.calls.conflict({ op: write.conflict ?? t.conflict, ...(t.pool ? { pool: t.pool } : {}) });
    ctx.logger.debug({ pool: t.pool, what: t.what, round }, 'lost a compare-and-swap; retrying');
    if (next === 'exhausted') break;
    if (next === 'out-of-time') {
      throw ctx.calls.unavailable(t.what, `the call's time ran out after ${round} rounds`);
    }
    if (next === 'after-pause') {
      await backoff(round);
      // The pause made the Else reads stale: whoever commits meanwhile (on a hot key such as
      // the subnet guard, somebody always does) beats a decision taken before it. Read again.
      if (t.reads) snap = await readAll();
    }
  }
  throw new StoreError(
    'CONFLICT',
    t.exhausted ??
      `${t.pool ? `network ${t.pool}` : t.what}: gave up after ${rounds} concurrent changes; try again`,
  );
}
