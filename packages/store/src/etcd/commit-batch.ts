/**
 * Group commit. A busy host has many allocations of one pool in flight, and each is a small
 * transaction whose cost is mostly the call itself (gRPC, HTTP/2, a raft entry, an fsync):
 * while MAX_IN_FLIGHT of them are on the wire, the next ones wait and then go to etcd together,
 * as one transaction. An idle host never waits: a lone allocation is sent at once, as before.
 *
 * Only transactions that share their first `shared` compares (the same pool incarnation and
 * the same host's hold, see allocation-run.ts) are merged; each member adds its own compares
 * (its address is absent) and its own writes. etcd applies the merged transaction whole or not
 * at all, so nothing of its meaning changes:
 *   - it commits: every member committed, at one revision, and gets its own slice of the
 *     responses as if it had gone alone;
 *   - a compare fails (somebody took one member's address): no member committed, and each is
 *     sent again alone, so it reads back exactly what it would have read on its own;
 *   - the call fails (UNAVAILABLE): every member fails, and each member's undo (undo.ts) takes
 *     back its own write should the merged one land late.
 *
 * Every member keeps its own budget: one with less time left than an attempt goes alone, the
 * merged call runs under the latest budget of the rest, and a member whose budget ends first
 * is answered then, on its own (planMerge in merge-plan.ts, and `merged` below).
 */
import type { ITxnRequest, ITxnResponse } from 'etcd3';
import { Budget } from './budget.js';
import { mergedDeadline, mergeTxns, planMerge, sliceResponses } from './merge-plan.js';

/** Batch says a transaction may be merged with others of the same key. */
export interface Batch {
  /** key names what the shared compares are about; equal keys mean equal shared compares. */
  key: string;
  /** shared is how many compares, from the first, are the same for every member. */
  shared: number;
}

/** How many transactions of one key may be on the wire before the next ones wait to merge. */
const MAX_IN_FLIGHT = 4;
/** How many members one merged transaction takes (etcd allows 128 operations per branch). */
const MAX_MEMBERS = 32;

/** Commit sends one transaction carrying `members` transactions (1: not merged). */
type Commit = (
  what: string,
  txn: ITxnRequest,
  budget: Budget | undefined,
  members: number,
) => Promise<ITxnResponse>;

/** BatcherOptions: how a merge is judged, and the error of a member whose budget ran out. */
export interface BatcherOptions {
  /** attemptMs is how long one etcd attempt may take (EtcdCalls.attemptMs). */
  attemptMs: number;
  /** expired is the error of a member whose budget ended before the merged call answered. */
  expired(what: string, detail: string): Error;
}

interface Member {
  txn: ITxnRequest;
  budget: Budget | undefined;
  resolve(res: ITxnResponse): void;
  reject(error: unknown): void;
}

/** Lane is one key's transactions: how many are on the wire, and who waits to go together. */
interface Lane {
  inFlight: number;
  queue: Member[];
}

/** CommitBatcher merges waiting transactions of one key (see the module comment). */
export class CommitBatcher {
  private readonly send: Commit;
  private readonly options: BatcherOptions;
  private readonly lanes = new Map<string, Lane>();

  constructor(send: Commit, options: BatcherOptions) {
    this.send = send;
    this.options = options;
  }

  commit(what: string, txn: ITxnRequest, batch: Batch, budget?: Budget): Promise<ITxnResponse> {
    let lane = this.lanes.get(batch.key);
    if (!lane) {
      lane = { inFlight: 0, queue: [] };
      this.lanes.set(batch.key, lane);
    }
    if (lane.inFlight < MAX_IN_FLIGHT) {
      lane.inFlight++;
      const sent = this.send(what, txn, budget, 1);
      const after = () => this.next(what, batch, lane);
      sent.then(after, after);
      return sent;
    }
    const waiting = lane;
    return new Promise((resolve, reject) => {
      waiting.queue.push({ txn, budget, resolve, reject });
    });
  }

  /** next runs when one of the lane's transactions answered: the waiting ones go, merged. */
  private next(what: string, batch: Batch, lane: Lane): void {
    lane.inFlight--;
    if (lane.queue.length === 0) {
      if (lane.inFlight === 0 && this.lanes.get(batch.key) === lane) this.lanes.delete(batch.key);
      return;
    }
    const members = lane.queue.splice(0, MAX_MEMBERS);
    lane.inFlight++;
    const after = () => this.next(what, batch, lane);
    this.together(what, batch, members).then(after, after);
  }

  /** together sends the waiting members as planMerge decides: some merged, the rest alone. */
  private async together(what: string, batch: Batch, waited: Member[]): Promise<void> {
    const plan = planMerge(
      waited.map((m) => ({ txn: m.txn, remainingMs: m.budget?.remainingMs() })),
      this.options.attemptMs,
    );
    const pick = (indexes: number[]) => indexes.map((i) => waited[i] as Member);
    const alone = Promise.all(pick(plan.alone).map((m) => this.alone(what, m)));
    if (plan.together.length > 0) await this.merged(what, batch, pick(plan.together));
    await alone;
  }

  /**
   * merged sends `members` as one transaction under the latest of their budgets (mergedDeadline),
   * so that a member with less time cannot fail the others. Each member with an earlier
   * deadline is answered at that deadline with its own UNAVAILABLE, as it would have been alone:
   * its caller (the plugin answers Docker at the budget's end) must not wait past it, and should
   * the merged call commit later, the member's undo (undo.ts, scheduled on UNAVAILABLE) takes
   * its write back. The members still waiting get the merged call's answer.
   */
  private async merged(what: string, batch: Batch, members: Member[]): Promise<void> {
    const deadline = mergedDeadline(members.map((m) => m.budget?.deadline));
    const open = new Set(members);
    const timers = members.flatMap((m) => {
      const own = m.budget;
      if (!own || (deadline !== undefined && own.deadline >= deadline)) return [];
      const ms = own.remainingMs();
      const fire = () => {
        if (!open.delete(m)) return;
        const others = members.length - 1;
        m.reject(
          this.options.expired(
            what,
            `no answer within the call's budget of ${ms} ms (sent merged with ${others} other transactions whose budgets are longer)`,
          ),
        );
      };
      return [setTimeout(fire, ms)];
    });
    let res: ITxnResponse;
    try {
      const txn = mergeTxns(
        members.map((m) => m.txn),
        batch.shared,
      );
      const budget = deadline === undefined ? undefined : Budget.until(deadline);
      res = await this.send(what, txn, budget, members.length);
    } catch (error) {
      for (const m of open) m.reject(error);
      return;
    } finally {
      for (const t of timers) clearTimeout(t);
    }
    if (!res.succeeded) {
      // Nothing committed. Each goes alone, so each reads back what its own compares need.
      await Promise.all([...open].map((m) => this.alone(what, m)));
      return;
    }
    const own = sliceResponses(
      res,
      members.map((m) => m.txn),
    );
    members.forEach((m, i) => {
      if (open.has(m)) m.resolve(own[i] as ITxnResponse);
    });
  }

  private alone(what: string, m: Member): Promise<void> {
    return this.send(what, m.txn, m.budget, 1).then(m.resolve, m.reject);
  }
}
