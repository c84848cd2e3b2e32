/**
 * Reading every key under a prefix at one revision, page by page, so that a big pool (or the
 * whole key space, for `check`) never needs one response larger than gRPC's message limit.
 */
import type { IKeyValue, ITxnResponse } from 'etcd3';
import { Budget } from './budget.js';
import type { EtcdCalls, EtcdOp } from './calls.js';
import { isCompacted } from './failures.js';
import { kvsAt, rangeOp, revisionOf } from './ops.js';

/** PageOptions: keys only or with values, keys per call, and the observer's label of the calls. */
export interface PageOptions {
  keysOnly?: boolean;
  pageSize: number;
  op?: EtcdOp;
}

/**
 * readPrefix reads every key under `prefix` at one revision, `pageSize` keys per call. `first`
 * is the first page when it came with other reads in one transaction (then `revision` is that
 * one's). When etcd compacts that revision away between two pages, the read starts over at a
 * fresh one (without `first`), inside the same budget.
 */
export async function readPrefix(
  calls: EtcdCalls,
  what: string,
  prefix: string,
  options: PageOptions,
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
  options: PageOptions,
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
