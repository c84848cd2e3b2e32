/**
 * What a leaving host's block return writes (block-return.ts), without etcd: each affinity key
 * read names one block, and both go; a page fits etcd's 128 operations with the leave's hold
 * delete. The return itself, on a real etcd: blocks.test.ts.
 */
import type { IKeyValue } from 'etcd3';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { KeyLayout } from '../src/layout/keys.js';
import { BLOCKS_PER_TXN, returnOps } from '../src/transitions/block-return.js';
import { node, pool } from './harness.js';

const keys = new KeyLayout('/t/');
const K = pool('kontena');
const A = node('host-a');
const kv = (key: string) => ({ key: Buffer.from(key) }) as IKeyValue;

test('each claim read gives two deletes: its block and its affinity key, nothing else', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.nat(4095), { maxLength: BLOCKS_PER_TXN }), (indexes) => {
      const ops = returnOps(
        keys,
        K,
        indexes.map((i) => kv(keys.affinity(K, A, i))),
      );
      const deleted = ops.map((op) => op.request_delete_range?.key?.toString());
      expect(deleted).toEqual(indexes.flatMap((i) => [keys.block(K, i), keys.affinity(K, A, i)]));
      expect(ops.every((op) => op.request_delete_range?.range_end === undefined)).toBe(true);
    }),
  );
});

test("a full page and the leave's hold delete fit one transaction (etcd's --max-txn-ops 128)", () => {
  const page = Array.from({ length: BLOCKS_PER_TXN }, (_, i) => kv(keys.affinity(K, A, i)));
  expect(returnOps(keys, K, page).length + 1).toBeLessThanOrEqual(128);
});
