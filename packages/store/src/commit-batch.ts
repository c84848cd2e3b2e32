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
 */
import type { ITxnRequest, ITxnResponse } from 'etcd3';
import type { Budget } from './budget.js';

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
  private readonly lanes = new Map<string, Lane>();

  constructor(send: Commit) {
    this.send = send;
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

  private async together(what: string, batch: Batch, waited: Member[]): Promise<void> {
    // A caller whose time ran out while it waited fails alone (its own UNAVAILABLE), and must
    // not cut short the merged call of the others.
    const late = waited.filter((m) => m.budget?.expired());
    const members = waited.filter((m) => !m.budget?.expired());
    const merged = members.length > 1 ? mergeOf(members, batch.shared) : undefined;
    if (!merged) {
      await Promise.all([...late, ...members].map((m) => this.alone(what, m)));
      return;
    }
    const lateDone = Promise.all(late.map((m) => this.alone(what, m)));
    let res: ITxnResponse;
    try {
      res = await this.send(what, merged, earliest(members), members.length);
    } catch (error) {
      for (const m of members) m.reject(error);
      await lateDone;
      return;
    }
    if (!res.succeeded) {
      // Nothing committed. Each goes alone, so each reads back what its own compares need.
      await Promise.all([lateDone, ...members.map((m) => this.alone(what, m))]);
      return;
    }
    let at = 0;
    for (const m of members) {
      const n = m.txn.success?.length ?? 0;
      m.resolve({ ...res, responses: res.responses.slice(at, at + n) });
      at += n;
    }
    await lateDone;
  }

  private alone(what: string, m: Member): Promise<void> {
    return this.send(what, m.txn, m.budget, 1).then(m.resolve, m.reject);
  }
}

/**
 * mergeOf is one transaction for all members: the shared compares once, then each member's
 * own compares and writes. Undefined when two members write one key (etcd refuses that).
 */
function mergeOf(members: readonly Member[], shared: number): ITxnRequest | undefined {
  const first = members[0] as Member;
  const compare = [...(first.txn.compare ?? []).slice(0, shared)];
  const success = [];
  const written = new Set<string>();
  for (const m of members) {
    compare.push(...(m.txn.compare ?? []).slice(shared));
    for (const op of m.txn.success ?? []) {
      const key = op.request_put?.key?.toString('latin1');
      if (key !== undefined) {
        if (written.has(key)) return undefined;
        written.add(key);
      }
      success.push(op);
    }
  }
  return { compare, success, failure: [] };
}

/** earliest is the budget that ends first: the merged call must end within every member's. */
function earliest(members: readonly Member[]): Budget | undefined {
  let out: Budget | undefined;
  for (const m of members) {
    if (m.budget && (!out || m.budget.deadline < out.deadline)) out = m.budget;
  }
  return out;
}
