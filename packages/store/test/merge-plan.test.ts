/**
 * Group commit's decisions (merge-plan.ts) without etcd: who goes together and who alone, the
 * merged transaction, its budget, and each member's slice of the answer. The same rules on a
 * real etcd: commit-batch.test.ts.
 */
import type { ICompare, IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  mergedDeadline,
  mergeTxns,
  planMerge,
  sliceResponses,
  type Waiting,
  writtenKeys,
} from '../src/etcd/merge-plan.js';

const ATTEMPT_MS = 700;

const put = (key: string): IRequestOp => ({
  request_put: { key: Buffer.from(key), value: Buffer.from('v') },
});
const get = (key: string): IRequestOp => ({ request_range: { key: Buffer.from(key) } });
const absent = (key: string): ICompare => ({
  key: Buffer.from(key),
  target: 'Create',
  result: 'Equal',
  create_revision: '0',
});
const SHARED: ICompare[] = [absent('pool'), absent('hold')];

/** An allocation-like member: the shared compares, its own compare, its puts. */
function txnOf(keys: readonly string[], reads = 0): ITxnRequest {
  return {
    compare: [...SHARED, ...keys.map(absent)],
    success: [...keys.map(put), ...Array.from({ length: reads }, (_, i) => get(`r${i}`))],
    failure: [],
  };
}

const memberArb: fc.Arbitrary<Waiting> = fc.record({
  txn: fc
    .record({
      keys: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), {
        maxLength: 2,
      }),
      reads: fc.nat(2),
    })
    .map(({ keys, reads }) => txnOf(keys, reads)),
  remainingMs: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
});

describe('planMerge', () => {
  test('every member goes exactly once, never together alone, never sharing a written key, never with less than an attempt left', () => {
    fc.assert(
      fc.property(fc.array(memberArb, { maxLength: 12 }), (waiting) => {
        const { together, alone } = planMerge(waiting, ATTEMPT_MS);
        expect([...together, ...alone].sort((a, b) => a - b)).toEqual(waiting.map((_, i) => i));
        expect(together.length).not.toBe(1);
        const written = together.flatMap((i) => writtenKeys((waiting[i] as Waiting).txn));
        expect(new Set(written).size).toBe(written.length);
        for (const i of together) {
          const left = (waiting[i] as Waiting).remainingMs;
          expect(left === undefined || left >= ATTEMPT_MS).toBe(true);
        }
      }),
    );
  });

  test('members with time for an attempt and keys of their own all go together', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 2, maxLength: 10 }),
        fc.array(fc.option(fc.integer({ min: ATTEMPT_MS, max: 9000 }), { nil: undefined }), {
          minLength: 10,
          maxLength: 10,
        }),
        (keys, budgets) => {
          const waiting = keys.map((k, i) => ({ txn: txnOf([k]), remainingMs: budgets[i] }));
          expect(planMerge(waiting, ATTEMPT_MS)).toEqual({
            together: keys.map((_, i) => i),
            alone: [],
          });
        },
      ),
    );
  });

  test('one member with 2 ms left goes alone; the 31 with seconds go together', () => {
    const waiting = Array.from({ length: 32 }, (_, i) => ({
      txn: txnOf([`k${i}`]),
      remainingMs: i === 5 ? 2 : 9000,
    }));
    const plan = planMerge(waiting, ATTEMPT_MS);
    expect(plan.alone).toEqual([5]);
    expect(plan.together).toHaveLength(31);
  });

  test('a member writing a key an earlier member writes goes alone; the earlier one stays', () => {
    const waiting = [
      { txn: txnOf(['x']), remainingMs: 5000 },
      { txn: txnOf(['y']), remainingMs: 5000 },
      { txn: txnOf(['x']), remainingMs: 5000 },
    ];
    expect(planMerge(waiting, ATTEMPT_MS)).toEqual({ together: [0, 1], alone: [2] });
  });

  test('a range delete is never merged, nor is a lone survivor', () => {
    const ranged: ITxnRequest = {
      compare: SHARED,
      success: [{ request_delete_range: { key: Buffer.from('p/'), range_end: Buffer.from('p0') } }],
    };
    const waiting = [
      { txn: ranged, remainingMs: 5000 },
      { txn: txnOf(['y']), remainingMs: 5000 },
      { txn: txnOf(['z']), remainingMs: 100 },
    ];
    expect(planMerge(waiting, ATTEMPT_MS)).toEqual({ together: [], alone: [0, 1, 2] });
  });
});

describe('mergeTxns and sliceResponses', () => {
  test('the merged transaction has the shared compares once, then each member in order', () => {
    const txns = [txnOf(['a']), txnOf(['b', 'c']), txnOf(['d'])];
    const merged = mergeTxns(txns, SHARED.length);
    expect(merged.compare?.map((c) => c.key?.toString())).toEqual([
      'pool',
      'hold',
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(merged.success?.map((op) => op.request_put?.key?.toString())).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(merged.failure).toEqual([]);
  });

  test('slicing gives each member exactly the responses of its own ops', () => {
    fc.assert(
      fc.property(fc.array(memberArb, { minLength: 1, maxLength: 12 }), (waiting) => {
        const txns = waiting.map((w) => w.txn);
        const merged = mergeTxns(txns, SHARED.length);
        // etcd answers each op in order: name each response after the op it answers.
        const res = {
          header: { revision: '42' },
          succeeded: true,
          responses: (merged.success ?? []).map((op) => ({
            response_range: {
              kvs: [
                {
                  key: op.request_put?.key ?? op.request_range?.key,
                },
              ],
            },
          })),
        } as unknown as ITxnResponse;
        const slices = sliceResponses(res, txns);
        expect(slices).toHaveLength(txns.length);
        slices.forEach((own, i) => {
          expect(own.succeeded).toBe(true);
          expect(own.header.revision).toBe('42');
          const answered = own.responses.map((r) => r.response_range?.kvs[0]?.key.toString());
          const asked = (txns[i]?.success ?? []).map((op) =>
            (op.request_put?.key ?? op.request_range?.key)?.toString(),
          );
          expect(answered).toEqual(asked);
        });
      }),
    );
  });
});

describe('mergedDeadline', () => {
  test('the latest deadline, or none when a member has none', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 10 }), (deadlines) => {
        const d = mergedDeadline(deadlines);
        expect(d).toBe(Math.max(...deadlines));
        expect(mergedDeadline([...deadlines, undefined])).toBeUndefined();
      }),
    );
  });
});
