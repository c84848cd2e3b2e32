/**
 * StoreOptions.observer against a real etcd: the counts it is told match the real operations
 * (round trips by kind, lost compare-and-swaps equal to the retries), and an observer that
 * throws never breaks a request.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import { Etcd3 } from 'etcd3';
import { describe, expect } from 'vitest';
import type { StoreObserver } from '../src/index.js';
import { net, node, pool, rejectsWith, test, uniquePrefix } from './harness.js';

const A = node('node-a');
const K = pool('kontena');

type CallEvent = Parameters<NonNullable<StoreObserver['etcdCall']>>[0];
type ConflictEvent = Parameters<NonNullable<StoreObserver['casConflict']>>[0];

/** recorder is an observer that keeps every event. */
function recorder() {
  const calls: CallEvent[] = [];
  const conflicts: ConflictEvent[] = [];
  const observer: StoreObserver = {
    etcdCall: (event) => calls.push(event),
    casConflict: (event) => conflicts.push(event),
  };
  return {
    observer,
    calls,
    conflicts,
    txns: () => calls.filter((c) => c.op === 'txn').length,
    reset() {
      calls.length = 0;
      conflicts.length = 0;
    },
  };
}

describe('etcdCall', () => {
  test('one txn per uncontended allocation, the first one too (the join claimed its block)', async ({
    env,
  }) => {
    const rec = recorder();
    const store = env.store({ prefix: uniquePrefix(), observer: rec.observer });
    await store.requestPool({ network: K, node: A, subnet: net('10.40.0.0/24') });
    // Creating: one read of pool, guard and reservations, then one transaction.
    expect(rec.calls.map((c) => [c.op, c.ok])).toEqual([
      ['get', true],
      ['txn', true],
    ]);
    rec.reset();
    await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    // The first too: the creation claimed this host's first block and read back its view.
    expect(rec.calls.map((c) => c.op)).toEqual(['txn']);
    rec.reset();
    for (let i = 0; i < 5; i++) await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    expect(rec.calls.map((c) => [c.op, c.ok, c.code])).toEqual(
      Array.from({ length: 5 }, () => ['txn', true, undefined]),
    );
    for (const c of rec.calls) expect(c.durationMs).toBeGreaterThanOrEqual(0);
    expect(rec.conflicts).toEqual([]);
    rec.reset();
    await store.listPools();
    await store.listAddresses({ pool: K });
    expect(rec.calls.map((c) => c.op)).toEqual(['list', 'list', 'list']);
  });

  test('a call etcd never answers is told with ok false and its error code', async ({ env }) => {
    const rec = recorder();
    // Nothing listens on port 1: the call fails (or runs out of its deadline) as UNAVAILABLE.
    const dead = new Etcd3({ hosts: 'http://127.0.0.1:1', dialTimeout: 200 });
    env.clients.push(dead);
    const store = env.store({ client: dead, deadlineMs: 500, observer: rec.observer });
    await rejectsWith(store.ping(), 'UNAVAILABLE');
    expect(rec.calls).toHaveLength(1);
    expect(rec.calls[0]).toMatchObject({ op: 'get', ok: false, code: 'UNAVAILABLE' });
  });

  test('an observer that throws never breaks a request', async ({ env }) => {
    const store = env.store({
      prefix: uniquePrefix(),
      observer: {
        etcdCall() {
          throw new Error('metrics broke');
        },
        casConflict() {
          throw new Error('metrics broke');
        },
      },
    });
    const p = await store.requestPool({ network: K, node: A, subnet: net('10.41.0.0/24') });
    const a = await store.requestAddress({ pool: p.id, node: A, kind: 'endpoint' });
    expect(formatAddress(a.address)).toMatch(/^10\.41\.0\.\d+$/);
    expect(await store.releaseAddress({ pool: K, node: A, address: a.address })).toEqual({
      released: true,
    });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: true,
      released: true,
    });
  });
});

describe('casConflict', () => {
  test('two stores racing for the same addresses: conflicts > 0, each one a retry', async ({
    env,
  }) => {
    /** One race on a fresh prefix; returns its lost compares after checking every invariant. */
    const race = async (): Promise<number> => {
      const prefix = uniquePrefix();
      const recs = [recorder(), recorder()];
      // Same node id, own clients: both views start at the same offset, so they collide. A /27
      // is shared by its hosts (too small for blocks), so both race for the same addresses.
      const stores = recs.map((rec) =>
        env.store({ prefix, client: env.newClient(), observer: rec.observer }),
      );
      const [first, second] = stores as [(typeof stores)[0], (typeof stores)[0]];
      await first.requestPool({ network: K, node: A, subnet: net('10.42.0.0/27') });
      await second.requestPool({ network: K, node: A, subnet: net('10.42.0.0/27') });
      for (const rec of recs) rec.reset();
      const perStore = 12;
      const results = await Promise.all(
        stores.map((store) =>
          Promise.all(
            Array.from({ length: perStore }, () =>
              store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
            ),
          ),
        ),
      );
      const all = results.flat().map((a) => formatAddress(a.address));
      expect(new Set(all).size).toBe(2 * perStore);
      let conflicts = 0;
      for (const rec of recs) {
        expect(rec.calls.every((c) => c.ok)).toBe(true);
        expect(rec.conflicts.every((c) => c.op === 'allocate' && c.pool === 'kontena')).toBe(true);
        // Every allocation transaction either won an address or lost its compare and retried.
        // A merged call (commit-batch.ts) that committed carried that many wins; one that did
        // not committed nothing, and each of its transactions was sent again alone.
        const txns = rec.calls.filter((c) => c.op === 'txn');
        const alone = txns.filter((c) => !c.merged).length;
        const mergedWins = txns.reduce(
          (n, c) => n + (c.merged?.committed ? c.merged.transactions : 0),
          0,
        );
        expect(alone + mergedWins).toBe(perStore + rec.conflicts.length);
        conflicts += rec.conflicts.length;
      }
      return conflicts;
    };
    // A race is a race: one store's view may load after the other has written, and then the
    // two do not collide. Race again (each time checked in full) until they do.
    let conflicts = 0;
    for (let round = 0; round < 8 && conflicts === 0; round++) conflicts = await race();
    expect(conflicts).toBeGreaterThan(0);
  });

  test('hosts creating, joining and leaving one pool at once: one conflict per retry', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((name) => {
      const rec = recorder();
      return {
        id: node(name),
        rec,
        store: env.store({ prefix, client: env.newClient(), observer: rec.observer }),
      };
    });
    await Promise.all(
      hosts.map((h) =>
        h.store.requestPool({ network: K, node: h.id, subnet: net('10.43.0.0/24') }),
      ),
    );
    let conflicts = 0;
    for (const h of hosts) {
      expect(h.rec.conflicts.every((c) => c.op === 'pool' || c.op === 'hold')).toBe(true);
      // One transaction per attempt: the one that succeeded plus one per lost compare.
      expect(h.rec.txns()).toBe(1 + h.rec.conflicts.length);
      conflicts += h.rec.conflicts.length;
      h.rec.reset();
    }
    expect(conflicts).toBeGreaterThan(0);

    const released = await Promise.all(
      hosts.map((h) => h.store.releasePool({ pool: K, node: h.id })),
    );
    expect(released.filter((r) => r.removed)).toHaveLength(1);
    conflicts = 0;
    for (const h of hosts) {
      expect(h.rec.conflicts.every((c) => c.op === 'pool' || c.op === 'hold')).toBe(true);
      expect(h.rec.txns()).toBe(1 + h.rec.conflicts.length);
      conflicts += h.rec.conflicts.length;
    }
    expect(conflicts).toBeGreaterThan(0);
  });

  test('an address release that loses its compare is told as a release conflict', async ({
    env,
  }) => {
    // A release compares the record it read; re-writing the same record in between makes it fail.
    const prefix = uniquePrefix();
    const rec = recorder();
    const store = env.store({ prefix, observer: rec.observer });
    await store.requestPool({ network: K, node: A, subnet: net('10.44.0.0/24') });
    /** One race on a fresh address; returns its lost compares after checking every invariant. */
    const race = async (): Promise<number> => {
      const a = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
      // Race: the release against another client re-writing the record (same value, new
      // revision, same create revision: still the record the release meant, so it retries).
      const key = `${prefix}v2/addresses/kontena/${formatAddress(a.address)}`;
      const value = await env.client.get(key).string();
      rec.reset();
      const rewrite = async () => {
        for (let i = 0; i < 20; i++) await env.client.put(key).value(value ?? '');
      };
      const [released] = await Promise.all([
        store.releaseAddress({ pool: K, node: A, address: a.address }),
        rewrite(),
      ]);
      expect(released.released).toBe(true);
      const txns = rec.txns();
      expect(rec.conflicts.every((c) => c.op === 'release' && c.pool === 'kontena')).toBe(true);
      expect(txns).toBe(1 + rec.conflicts.length);
      return rec.conflicts.length;
    };
    // The release may read and commit between two rewrites and never lose: race again (each
    // time checked in full) until it did, so the checks above saw a lost compare.
    let conflicts = 0;
    for (let round = 0; round < 20 && conflicts === 0; round++) conflicts = await race();
    expect(conflicts).toBeGreaterThan(0);
  });
});
