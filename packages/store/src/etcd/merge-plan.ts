/**
 * What group commit (commit-batch.ts) decides, apart from sending anything: which waiting
 * transactions go to etcd together and which alone, the one transaction the merged ones make,
 * the budget it runs under, and each member's slice of its answer. Plain functions of what the
 * members are, so their rules are tested in milliseconds (test/merge-plan.test.ts) beside the
 * real-etcd tests of group commit (test/commit-batch.test.ts).
 */
import type { IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';

/** Waiting is what the plan needs of one waiting transaction. */
export interface Waiting {
  txn: ITxnRequest;
  /** remainingMs is what is left of its caller's budget (undefined: it has none). */
  remainingMs: number | undefined;
}

/** MergePlan says which members (indexes into the waiting list) go together, which alone. */
export interface MergePlan {
  /** together go as one transaction: never exactly one (a lone member is in `alone`). */
  together: number[];
  alone: number[];
}

/**
 * writtenKey is the one key an op writes, `undefined` for a read, and `null` for a range
 * delete (which may meet any key: such a member is never merged).
 */
function writtenKey(op: IRequestOp): string | undefined | null {
  if (op.request_put) return op.request_put.key?.toString('latin1') ?? null;
  const del = op.request_delete_range;
  if (del) return del.range_end === undefined ? (del.key?.toString('latin1') ?? null) : null;
  return undefined;
}

/** writtenKeys are the keys a transaction's success branch writes (null: a range delete). */
export function writtenKeys(txn: ITxnRequest): Array<string | null> {
  const out: Array<string | null> = [];
  for (const op of txn.success ?? []) {
    const key = writtenKey(op);
    if (key !== undefined) out.push(key);
  }
  return out;
}

/**
 * planMerge decides who goes together, in queue order:
 *   - a member with less time left than one attempt (`attemptMs`, see EtcdCalls) goes alone.
 *     The merged call's first attempt lasts attemptMs; such a member could not wait for it, and
 *     cutting that attempt short for it would fail the others too (one member with 2 ms left
 *     failed all 32). Alone, it ends at its own deadline with its own answer.
 *   - a member that writes a key an earlier merged member writes (etcd refuses one key twice in
 *     one transaction), or deletes a range, goes alone.
 *   - everyone else goes together; a "together" of one goes alone.
 */
export function planMerge(waiting: readonly Waiting[], attemptMs: number): MergePlan {
  const together: number[] = [];
  const alone: number[] = [];
  const written = new Set<string>();
  waiting.forEach((m, i) => {
    if (m.remainingMs !== undefined && m.remainingMs < attemptMs) {
      alone.push(i);
      return;
    }
    const keys = writtenKeys(m.txn);
    if (keys.some((k) => k === null || written.has(k)) || new Set(keys).size < keys.length) {
      alone.push(i);
      return;
    }
    for (const k of keys) written.add(k as string);
    together.push(i);
  });
  if (together.length === 1) {
    alone.push(together[0] as number);
    alone.sort((a, b) => a - b);
    return { together: [], alone };
  }
  return { together, alone };
}

/**
 * mergeTxns is one transaction for all `txns`: their first `shared` compares once (they are the
 * same for every member, see Batch), then each member's own compares and writes, in order.
 */
export function mergeTxns(txns: readonly ITxnRequest[], shared: number): ITxnRequest {
  const compare = [...(txns[0]?.compare ?? []).slice(0, shared)];
  const success: IRequestOp[] = [];
  for (const txn of txns) {
    compare.push(...(txn.compare ?? []).slice(shared));
    success.push(...(txn.success ?? []));
  }
  return { compare, success, failure: [] };
}

/**
 * mergedDeadline is the deadline (epoch ms) the merged call runs under: the latest of its
 * members', so that no member's short budget cuts the call short for the others; undefined
 * (the store's own per-call deadline) when a member has no budget of its own. A member whose
 * deadline comes first is answered at its deadline on its own (commit-batch.ts).
 */
export function mergedDeadline(deadlines: ReadonlyArray<number | undefined>): number | undefined {
  let latest: number | undefined;
  for (const d of deadlines) {
    if (d === undefined) return undefined;
    if (latest === undefined || d > latest) latest = d;
  }
  return latest;
}

/**
 * sliceResponses gives each member of a committed merged transaction its own answer: the same
 * header and outcome, and the responses of its own success ops (`txns` in merge order).
 */
export function sliceResponses(res: ITxnResponse, txns: readonly ITxnRequest[]): ITxnResponse[] {
  let at = 0;
  return txns.map((txn) => {
    const n = txn.success?.length ?? 0;
    const own = { ...res, responses: res.responses.slice(at, at + n) };
    at += n;
    return own;
  });
}
