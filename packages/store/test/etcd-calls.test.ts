/**
 * EtcdCalls against a real etcd: attempts inside the caller's budget, a retry that outlives a
 * restart, a clear error when nothing answers, and a paged read that meets a compaction.
 */

import { startEtcd } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, test } from 'vitest';
import { ATTEMPT_MS } from '../src/etcd/attempts.js';
import { Budget } from '../src/etcd/budget.js';
import { EtcdCalls } from '../src/etcd/calls.js';
import { getOp, rangeOp } from '../src/etcd/ops.js';
import { readPrefix } from '../src/etcd/paging.js';
import { resilientClientOptions } from '../src/index.js';
import { uniquePrefix } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function lonely() {
  const etcd = await startEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint, ...resilientClientOptions(5000) });
  cleanups.push(
    () => etcd.stop(),
    () => client.close(),
  );
  return { etcd, client, calls: new EtcdCalls(client, 5000, etcd.endpoint) };
}

describe('EtcdCalls', () => {
  test('a frozen etcd: every attempt ends by its own deadline inside the budget, then a clear UNAVAILABLE', async () => {
    const { etcd, client, calls } = await lonely();
    const budget = Budget.within(2000);
    const attempts: Array<{ at: number; deadline: number }> = [];
    etcd.freezeMember('m0');
    try {
      const error = await calls
        .run(
          'probe',
          'get',
          (options) => {
            attempts.push({ at: Date.now(), deadline: options.deadline.getTime() });
            return client.kv.range({ key: Buffer.from('x') }, options);
          },
          budget,
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toMatchObject({ name: 'StoreError', code: 'UNAVAILABLE' });
      expect(String((error as Error).message)).toContain(
        `etcd unavailable at ${etcd.endpoint}: probe: no member answered`,
      );
    } finally {
      etcd.thawMember('m0');
    }
    expect(attempts.length).toBeGreaterThan(1);
    for (const [i, a] of attempts.entries()) {
      expect(a.deadline).toBeLessThanOrEqual(budget.deadline);
      expect(a.deadline - a.at).toBeLessThanOrEqual(ATTEMPT_MS * 2 ** i);
    }
  });

  test('etcd down at the start of a call and back within its budget: the call succeeds', async () => {
    const { etcd, client, calls } = await lonely();
    await client.put('k').value('v');
    await etcd.stopMember('m0');
    const restarted = (async () => {
      await new Promise((r) => setTimeout(r, 500));
      await etcd.startMember('m0');
    })();
    const res = await calls.read('read k', [getOp('k')], 'get', Budget.within(20_000));
    await restarted;
    expect(res.responses[0]?.response_range?.kvs[0]?.value.toString()).toBe('v');
  });

  test('a paged read whose revision is compacted between pages starts over at a fresh one', async () => {
    const { client, calls } = await lonely();
    const prefix = uniquePrefix();
    for (let i = 0; i < 5; i++) await client.put(`${prefix}${i}`).value('old');
    const first = await calls.read('page', [rangeOp(prefix, { limit: 2 })]);
    const pinned = BigInt(first.header.revision);
    await client.put(`${prefix}5`).value('new');
    const now = await client.put(`${prefix}6`).value('new').exec();
    await client.kv.compact({ revision: now.header.revision, physical: true });
    const { kvs, revision } = await readPrefix(
      calls,
      'page',
      prefix,
      { pageSize: 2 },
      {
        res: first,
        index: 0,
      },
    );
    expect(revision).toBeGreaterThan(pinned);
    expect(kvs.map((kv) => kv.key.toString().slice(prefix.length))).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
    ]);
  });
});
