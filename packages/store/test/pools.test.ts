import { execFileSync } from 'node:child_process';
import { formatAddress, formatSubnet } from '@kontena-ipam/cidr';
import type { Etcd3, ITxnResponse } from 'etcd3';
import { describe, expect } from 'vitest';
import {
  type NetworkName,
  type PoolId,
  parseNetworkName,
  parseNodeId,
  parsePoolId,
  poolIdFor,
  type StoreObserver,
} from '../src/index.js';
import { KeyLayout } from '../src/layout/keys.js';
import { encodeAddress } from '../src/layout/records.js';
import {
  blockOf,
  claimsIn,
  dumpKeys,
  type Env,
  holdsIn,
  invariantProblems,
  ip,
  net,
  node,
  pool,
  rejectsWith,
  test,
  uniquePrefix,
  withoutClaims,
} from './harness.js';

/**
 * countReads watches what a client gets back from etcd (the real answers, passed on unchanged):
 * the key of every key-value a read returned.
 */
function countReads(client: Etcd3) {
  const seen = { keys: [] as string[] };
  const txn = client.kv.txn.bind(client.kv);
  client.kv.txn = async (...args: Parameters<typeof txn>): Promise<ITxnResponse> => {
    const res = await txn(...args);
    for (const r of res.responses) {
      for (const kv of r.response_range?.kvs ?? []) seen.keys.push(kv.key.toString());
    }
    return res;
  };
  return seen;
}

const A = node('node-a');
const B = node('node-b');
const K = pool('kontena');

describe('ids', () => {
  test('a network name is no pool id, nor the reverse: the types keep them apart', () => {
    const name = parseNetworkName('kontena');
    // @ts-expect-error a network name is no PoolId: its IPv6 pool is `kontena:v6`
    const asPool: PoolId = name;
    // @ts-expect-error a PoolId (maybe `NAME:v6`) is no network name
    const asName: NetworkName = parsePoolId('kontena:v6');
    expect([asPool, asName, poolIdFor(name, true)]).toEqual([
      'kontena',
      'kontena:v6',
      'kontena:v6',
    ]);
  });

  test('parsePoolId / parseNodeId accept names and reject the rest with INVALID', async () => {
    expect(parsePoolId('kontena.net_1-x')).toBe('kontena.net_1-x');
    expect(parseNodeId('host-1.example')).toBe('host-1.example');
    expect(parsePoolId('kontena:v6')).toBe('kontena:v6');
    expect(parsePoolId(`${'x'.repeat(128)}:v6`)).toHaveLength(131);
    expect(parseNetworkName('kontena')).toBe('kontena');
    expect(poolIdFor(parseNetworkName('kontena'), true)).toBe('kontena:v6');
    expect(poolIdFor(parseNetworkName('kontena'), false)).toBe('kontena');
    const bads = [
      '',
      '-x',
      'a/b',
      'a b',
      'ä',
      'x'.repeat(129),
      ':v6',
      'a:',
      'a:v4',
      'a:b:v6',
      'a:v6:v6',
    ];
    for (const bad of bads) {
      await rejectsWith(
        Promise.resolve().then(() => parsePoolId(bad)),
        'INVALID',
      );
    }
    // Network names never hold ':': the suffix is the store's.
    for (const bad of [...bads, 'kontena:v6']) {
      await rejectsWith(
        Promise.resolve().then(() => parseNetworkName(bad)),
        'INVALID',
      );
    }
    expect(parseNodeId('n'.repeat(253))).toHaveLength(253);
    await rejectsWith(
      Promise.resolve().then(() => parseNodeId('n'.repeat(254))),
      'INVALID',
    );
  });
});

describe('ids at run time', () => {
  test('unparsed ids that would reach into other keys → INVALID, nothing written', async ({
    setup,
  }) => {
    const { store, keys } = setup();
    const evil = 'kontena/../x' as ReturnType<typeof pool>;
    await rejectsWith(
      store.requestPool({ network: evil, node: A, subnet: net('10.1.0.0/24') }),
      'INVALID',
    );
    await rejectsWith(store.requestAddress({ pool: evil, node: A, kind: 'endpoint' }), 'INVALID');
    // A PoolId is not a network name: the store adds `:v6` itself. (The types say so too; the
    // check is for callers without them.)
    await rejectsWith(
      store.requestPool({
        network: 'kontena:v6' as NetworkName,
        node: A,
        subnet: net('fd00::/64'),
      }),
      'INVALID',
    );
    await rejectsWith(store.releasePool({ pool: K, node: 'a/b' as typeof A }), 'INVALID');
    await rejectsWith(store.listAddresses({ pool: evil }), 'INVALID');
    expect(await keys()).toEqual([]);
  });
});

describe('options', () => {
  test('options that cannot work → INVALID at construction', async ({ env }) => {
    const bad = [
      { subnetLength: 8 },
      { subnetLength: 33 },
      { supernet: net('fd00::/48') },
      { supernet6: net('10.0.0.0/8') },
      { supernet6: net('fd00::/64'), subnetLength6: 48 },
      { deadlineMs: 0 },
    ];
    for (const options of bad) {
      await rejectsWith(
        Promise.resolve().then(() => env.store(options)),
        'INVALID',
      );
    }
  });
});

describe('static pools', () => {
  test("creating writes pool, subnet, guard, gateway and its host's first block in one go, nothing else", async ({
    setup,
  }) => {
    const { store, dump } = setup();
    const p = await store.requestPool({
      network: K,
      node: A,
      subnet: net('10.81.0.0/16'),
      ipRange: net('10.81.128.0/17'),
    });
    expect(formatSubnet(p.subnet)).toBe('10.81.0.0/16');
    expect(p.ipRange && formatSubnet(p.ipRange)).toBe('10.81.128.0/17');
    expect(formatAddress(p.gateway)).toBe('10.81.0.1');
    expect(p.dynamic).toBe(false);
    expect(p.held).toBe(1);
    expect((await store.getPool(K))?.holds).toEqual({ 'node-a': 1 });
    const keys = await dump();
    expect(withoutClaims(Object.keys(keys)).sort()).toEqual([
      'addresses/kontena/10.81.0.1',
      'guard/subnets',
      'holds/kontena/node-a',
      'pools/kontena',
      'subnets/10.81.0.0/16',
    ]);
    // The creating host claims one block of the window with its creation (join-claim.ts).
    expect(Object.values(claimsIn(keys, 'kontena'))).toEqual(['node-a']);
    expect(keys['pools/kontena']).toMatchObject({
      subnet: '10.81.0.0/16',
      ipRange: '10.81.128.0/17',
      gateway: '10.81.0.1',
      dynamic: false,
    });
    expect(holdsIn(keys, 'kontena')).toEqual({ 'node-a': 1 });
    expect(keys['subnets/10.81.0.0/16']).toEqual({ pool: 'kontena' });
    expect(keys['addresses/kontena/10.81.0.1']).toMatchObject({ node: 'node-a', kind: 'gateway' });
  });

  test('a requested gateway is kept', async ({ setup }) => {
    const { store, keys } = setup();
    const p = await store.requestPool({
      network: K,
      node: A,
      subnet: net('10.2.0.0/24'),
      gateway: ip('10.2.0.254'),
    });
    expect(formatAddress(p.gateway)).toBe('10.2.0.254');
    expect(await keys()).toContain('addresses/kontena/10.2.0.254');
  });

  test('same network from many hosts: one pool, holds counted per host, last release removes all', async ({
    setup,
  }) => {
    const { store, keys, dump } = setup();
    const subnet = net('10.81.0.0/16');
    await store.requestPool({ network: K, node: A, subnet });
    await store.requestPool({ network: K, node: B, subnet });
    const again = await store.requestPool({ network: K, node: A, subnet }); // static re-request adds 1
    expect(again.held).toBe(2);
    expect((await store.getPool(K))?.holds).toEqual({ 'node-a': 2, 'node-b': 1 });
    await store.requestAddress({ pool: K, node: B, kind: 'endpoint' });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: false,
      released: true,
    });
    expect(holdsIn(await dump(), 'kontena')).toEqual({
      'node-a': 1,
      'node-b': 1,
    });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: false,
      released: true,
    });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: false,
      released: false,
    });
    expect((await store.getPool(K))?.holds).toEqual({ 'node-b': 1 });
    expect(await store.releasePool({ pool: K, node: B })).toEqual({
      removed: true,
      released: true,
    });
    expect(await keys()).toEqual(['guard/subnets']);
    expect(await store.releasePool({ pool: K, node: B })).toEqual({
      removed: false,
      released: false,
    });
    expect(await store.getPool(K)).toBeUndefined();
  });

  test('overlapping static subnet → SUBNET_OVERLAP naming the other pool, nothing written', async ({
    setup,
  }) => {
    const { store, keys } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.81.0.0/16') });
    const before = await keys();
    const msg = await rejectsWith(
      store.requestPool({ network: pool('other'), node: B, subnet: net('10.81.4.0/24') }),
      'SUBNET_OVERLAP',
    );
    expect(msg).toContain('10.81.0.0/16');
    expect(msg).toContain('kontena');
    expect(await keys()).toEqual(before);
  });

  test('a request contradicting the pool → POOL_MISMATCH naming both values, nothing written', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    await store.requestPool({
      network: K,
      node: A,
      subnet: net('10.81.0.0/16'),
      ipRange: net('10.81.1.0/24'),
    });
    const before = await dump();
    const cases: Array<[Parameters<typeof store.requestPool>[0], string[]]> = [
      [{ network: K, node: B, subnet: net('10.82.0.0/16') }, ['10.81.0.0/16', '10.82.0.0/16']],
      [
        { network: K, node: B, subnet: net('10.81.0.0/16'), ipRange: net('10.81.2.0/24') },
        ['10.81.1.0/24', '10.81.2.0/24'],
      ],
      [
        { network: K, node: B, subnet: net('10.81.0.0/16'), gateway: ip('10.81.0.9') },
        ['10.81.0.1', '10.81.0.9'],
      ],
    ];
    for (const [req, words] of cases) {
      const msg = await rejectsWith(store.requestPool(req), 'POOL_MISMATCH');
      for (const w of words) expect(msg).toContain(w);
    }
    expect(await dump()).toEqual(before);
  });

  test('bad input → INVALID / OUT_OF_RANGE, nothing written', async ({ setup }) => {
    const { store, keys } = setup();
    await rejectsWith(
      store.requestPool({ network: K, node: A, ipRange: net('10.1.0.0/24') }),
      'INVALID',
    );
    await rejectsWith(
      store.requestPool({
        network: K,
        node: A,
        subnet: net('10.1.0.0/24'),
        ipRange: net('10.2.0.0/25'),
      }),
      'INVALID',
    );
    await rejectsWith(
      store.requestPool({
        network: K,
        node: A,
        subnet: net('10.1.0.0/24'),
        ipRange: net('10.1.0.0/23'),
      }),
      'INVALID',
    );
    await rejectsWith(
      store.requestPool({
        network: K,
        node: A,
        subnet: net('10.1.0.0/24'),
        gateway: ip('10.1.1.1'),
      }),
      'OUT_OF_RANGE',
    );
    await rejectsWith(
      store.requestPool({ network: K, node: A, gateway: ip('10.1.1.1') }),
      'INVALID',
    );
    await rejectsWith(
      store.requestPool({ network: K, node: A, subnet: net('fd00::/64'), v6: false }),
      'INVALID',
    );
    await rejectsWith(store.requestPool({ network: K, node: A, v6: true }), 'INVALID'); // no supernet6
    expect(await keys()).toEqual([]);
  });
});

describe('dynamic pools', () => {
  test('first free subnet of the supernet, skipping static reservations inside it', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    // A static /16 inside the default supernet 10.80.0.0/12 at its very start.
    await store.requestPool({ network: pool('static'), node: A, subnet: net('10.80.0.0/16') });
    const d1 = await store.requestPool({ network: pool('d1'), node: A });
    const d2 = await store.requestPool({ network: pool('d2'), node: A });
    expect(formatSubnet(d1.subnet)).toBe('10.81.0.0/24');
    expect(formatSubnet(d2.subnet)).toBe('10.81.1.0/24');
    expect(d1.dynamic).toBe(true);
    expect(formatAddress(d1.gateway)).toBe('10.81.0.1');
    const keys = await dump();
    for (const id of ['static', 'd1', 'd2']) {
      expect(Object.values(claimsIn(keys, id))).toEqual(['node-a']);
    }
    expect(withoutClaims(Object.keys(keys)).sort()).toEqual([
      'addresses/d1/10.81.0.1',
      'addresses/d2/10.81.1.1',
      'addresses/static/10.80.0.1',
      'guard/subnets',
      'holds/d1/node-a',
      'holds/d2/node-a',
      'holds/static/node-a',
      'pools/d1',
      'pools/d2',
      'pools/static',
      'subnets/10.80.0.0/16',
      'subnets/10.81.0.0/24',
      'subnets/10.81.1.0/24',
    ]);
    expect(await store.listReservations()).toEqual([
      { subnet: net('10.80.0.0/16'), pool: 'static' },
      { subnet: net('10.81.0.0/24'), pool: 'd1' },
      { subnet: net('10.81.1.0/24'), pool: 'd2' },
    ]);
    // A released dynamic subnet is free again for the next one.
    await store.releasePool({ pool: pool('d1'), node: A });
    expect(formatSubnet((await store.requestPool({ network: pool('d3'), node: B })).subnet)).toBe(
      '10.81.0.0/24',
    );
  });

  test('the same host asking again (no subnet) → ALREADY_HELD naming the subnet; other hosts join', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    const p = await store.requestPool({ network: K, node: A });
    const before = await dump();
    const msg = await rejectsWith(store.requestPool({ network: K, node: A }), 'ALREADY_HELD');
    expect(msg).toContain(formatSubnet(p.subnet));
    expect(await dump()).toEqual(before);
    const joined = await store.requestPool({ network: K, node: B });
    expect(joined.subnet).toEqual(p.subnet);
    expect(joined.held).toBe(1);
    expect((await store.getPool(K))?.holds).toEqual({ 'node-a': 1, 'node-b': 1 });
  });

  test('a dynamic request for an existing static pool from another host returns that pool', async ({
    setup,
  }) => {
    const { store } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('192.168.7.0/24') });
    const p = await store.requestPool({ network: K, node: B });
    expect(formatSubnet(p.subnet)).toBe('192.168.7.0/24');
    expect(p.dynamic).toBe(false);
  });

  test('a join of an existing pool reads nothing that grows with the pools; a creation reads the reservations', async ({
    env,
    setup,
  }) => {
    const { store, prefix } = setup();
    const POOLS = 60;
    for (let i = 0; i < POOLS; i++) await store.requestPool({ network: pool(`net-${i}`), node: B });
    const client = env.newClient();
    const seen = countReads(client);
    const joiner = env.store({ prefix, client });
    const joined = await joiner.requestPool({ network: pool('net-30'), node: A });
    expect(joined.held).toBe(1);
    const subnets = `${prefix}v2/subnets/`;
    expect(seen.keys.filter((k) => k.startsWith(subnets))).toEqual([]);
    // The pool, its record read back, this host's claims; the block it claims is empty.
    expect(seen.keys.length).toBeLessThan(10);
    expect((await store.getPool(pool('net-30')))?.holds).toEqual({ 'node-a': 1, 'node-b': 1 });
    // A creation still chooses its subnet from every reservation.
    seen.keys.length = 0;
    await joiner.requestPool({ network: pool('fresh'), node: A });
    expect(seen.keys.filter((k) => k.startsWith(subnets)).length).toBeGreaterThanOrEqual(POOLS);
  });

  test('supernet full → SUPERNET_EXHAUSTED, nothing written', async ({ setup }) => {
    const { store, keys } = setup({ supernet: net('10.99.0.0/23'), subnetLength: 24 });
    await store.requestPool({ network: pool('n1'), node: A });
    await store.requestPool({ network: pool('n2'), node: A });
    const before = await keys();
    const msg = await rejectsWith(
      store.requestPool({ network: pool('n3'), node: A }),
      'SUPERNET_EXHAUSTED',
    );
    expect(msg).toContain('10.99.0.0/23');
    expect(await keys()).toEqual(before);
  });

  test('IPv6 dynamic pools come from supernet6', async ({ setup }) => {
    const { store, keys, dump } = setup({ supernet6: net('fd00:1::/48'), subnetLength6: 64 });
    const p = await store.requestPool({ network: K, node: A, v6: true });
    expect(p.id).toBe('kontena:v6');
    expect(formatSubnet(p.subnet)).toBe('fd00:1::/64');
    expect(formatAddress(p.gateway)).toBe('fd00:1::1');
    expect(Object.values(claimsIn(await dump(), 'kontena:v6'))).toEqual(['node-a']);
    expect(withoutClaims(await keys())).toEqual([
      'addresses/kontena:v6/fd00:1::1',
      'guard/subnets',
      'holds/kontena:v6/node-a',
      'pools/kontena:v6',
      'subnets/fd00:1::/64',
    ]);
  });

  test('dual-stack: one network name, an IPv4 pool `NAME` and an IPv6 pool `NAME:v6`', async ({
    setup,
  }) => {
    const { store, keys, dump } = setup();
    // Docker sends both RequestPools with the same options: V6 false, then V6 true.
    const v4 = await store.requestPool({
      network: K,
      node: A,
      subnet: net('10.87.0.0/24'),
      v6: false,
    });
    const v6 = await store.requestPool({
      network: K,
      node: A,
      subnet: net('fd00:87::/64'),
      v6: true,
    });
    expect([v4.id, v6.id]).toEqual(['kontena', 'kontena:v6']);
    expect(formatAddress(v6.gateway)).toBe('fd00:87::1');
    // Another host joins both, dynamically too (the pools exist).
    expect((await store.requestPool({ network: K, node: B, v6: true })).id).toBe('kontena:v6');
    expect((await store.requestPool({ network: K, node: B })).id).toBe('kontena');
    const a4 = await store.requestAddress({ pool: v4.id, node: A, kind: 'endpoint' });
    const a6 = await store.requestAddress({ pool: v6.id, node: A, kind: 'endpoint' });
    expect(a4.address.family).toBe(4);
    expect(a6).toMatchObject({ pool: 'kontena:v6', subnet: net('fd00:87::/64') });
    expect(formatAddress(a6.address).startsWith('fd00:87::')).toBe(true);
    // Each first dynamic address came from the block its host claimed with its join: 16
    // addresses each; the other host's joins claimed one block each too.
    const block = (a: typeof a4) => blockOf(a.address, a.subnet);
    const claims4 = claimsIn(await dump(), 'kontena');
    const claims6 = claimsIn(await dump(), 'kontena:v6');
    expect(claims4[block(a4)]).toBe('node-a');
    expect(claims6[block(a6)]).toBe('node-a');
    expect(Object.values(claims4).sort()).toEqual(['node-a', 'node-b']);
    expect(Object.values(claims6).sort()).toEqual(['node-a', 'node-b']);
    expect(withoutClaims(await keys())).toEqual(
      [
        `addresses/kontena/${formatAddress(a4.address)}`,
        'addresses/kontena/10.87.0.1',
        `addresses/kontena:v6/${formatAddress(a6.address)}`,
        'addresses/kontena:v6/fd00:87::1',
        'guard/subnets',
        'holds/kontena/node-a',
        'holds/kontena/node-b',
        'holds/kontena:v6/node-a',
        'holds/kontena:v6/node-b',
        'pools/kontena',
        'pools/kontena:v6',
        'subnets/10.87.0.0/24',
        'subnets/fd00:87::/64',
      ].sort(),
    );
    expect((await dump())['pools/kontena:v6']).toMatchObject({ subnet: 'fd00:87::/64' });
    expect(holdsIn(await dump(), 'kontena:v6')).toEqual({ 'node-a': 1, 'node-b': 1 });
    // An IPv6 subnet asked as IPv4 (or the reverse) is refused before anything is written.
    await rejectsWith(
      store.requestPool({ network: K, node: A, subnet: net('fd00:88::/64'), v6: false }),
      'INVALID',
    );
    expect(await store.releaseAddress({ pool: v6.id, node: A, address: a6.address })).toEqual({
      released: true,
    });
    for (const n of [A, B]) {
      await store.releasePool({ pool: v6.id, node: n });
      await store.releasePool({ pool: v4.id, node: n });
    }
    expect(await keys()).toEqual(['guard/subnets']);
  });
});

describe('reads and cleanup helpers', () => {
  test('getPool / listPools report counts and revisions; revision() moves forward', async ({
    setup,
  }) => {
    const { store } = setup();
    const r0 = await store.revision();
    await store.requestPool({
      network: K,
      node: A,
      subnet: net('10.5.0.0/24'),
      ipRange: net('10.5.0.128/25'),
    });
    await store.requestPool({ network: pool('b'), node: B, subnet: net('10.6.0.0/29') });
    await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    const k = await store.getPool(K);
    expect(k).toMatchObject({ id: 'kontena', used: 2, total: 126n, holds: { 'node-a': 1 } });
    expect(k && k.createRevision > r0).toBe(true);
    expect(k && k.modRevision >= k.createRevision).toBe(true);
    const all = await store.listPools();
    expect(all.map((p) => [p.id, p.used, p.total])).toEqual([
      ['b', 1, 6n],
      ['kontena', 2, 126n],
    ]);
    expect(await store.revision()).toBeGreaterThan(r0);
    await store.ping();
  });

  test('dropHold removes all of a host’s holds; the pool goes with the last one', async ({
    setup,
  }) => {
    const { store, keys } = setup();
    const subnet = net('10.7.0.0/24');
    await store.requestPool({ network: K, node: A, subnet });
    await store.requestPool({ network: K, node: A, subnet });
    await store.requestPool({ network: K, node: B, subnet });
    expect(await store.dropHold({ pool: K, node: A })).toEqual({ removed: false, released: true });
    expect((await store.getPool(K))?.holds).toEqual({ 'node-b': 1 });
    expect(await store.dropHold({ pool: K, node: A })).toEqual({ removed: false, released: false });
    await store.requestAddress({ pool: K, node: B, kind: 'endpoint' });
    expect(await store.dropHold({ pool: K, node: B })).toEqual({ removed: true, released: true });
    expect(await keys()).toEqual(['guard/subnets']);
  });

  test('dropHold with modRevision writes nothing once the pool changed, else drops as asked', async ({
    setup,
  }) => {
    const { store, dump, keys } = setup();
    const subnet = net('10.8.0.0/24');
    await store.requestPool({ network: K, node: A, subnet });
    const seen = (await store.getPool(K))?.modRevision as bigint;
    // Another host joins after the caller looked: its decision is stale.
    await store.requestPool({ network: K, node: B, subnet });
    const before = await dump();
    const r0 = await store.revision();
    expect(await store.dropHold({ pool: K, node: A, modRevision: seen })).toEqual({
      removed: false,
      released: false,
    });
    expect(await store.revision()).toBe(r0);
    expect(await dump()).toEqual(before);
    // With the current revision it drops A's hold; the pool stays with B's.
    const now = (await store.getPool(K))?.modRevision as bigint;
    expect(await store.dropHold({ pool: K, node: A, modRevision: now })).toEqual({
      removed: false,
      released: true,
    });
    expect((await store.getPool(K))?.holds).toEqual({ 'node-b': 1 });
    // The last hold, guarded: pool, reservation and addresses go together.
    const last = (await store.getPool(K))?.modRevision as bigint;
    await store.requestAddress({ pool: K, node: B, kind: 'endpoint' }); // not the pool record
    expect(await store.dropHold({ pool: K, node: B, modRevision: last })).toEqual({
      removed: true,
      released: true,
    });
    expect(await keys()).toEqual(['guard/subnets']);
    // A guard on a pool that is gone: nothing to do.
    expect(await store.dropHold({ pool: K, node: B, modRevision: last })).toEqual({
      removed: false,
      released: false,
    });
  });

  test('removePoolIfUnheld removes an unheld pool only when unchanged', async ({ env, setup }) => {
    const { prefix, store, keys } = setup();
    // An unheld pool can only come from an older writer or a crash; write one directly.
    const root = `${prefix}v2/`;
    const record = {
      subnet: '10.9.0.0/24',
      gateway: '10.9.0.1',
      dynamic: false,
      createdAt: 'x',
      holds: {},
    };
    await env.client.put(`${root}pools/orphan`).value(JSON.stringify(record));
    await env.client.put(`${root}subnets/10.9.0.0/24`).value(JSON.stringify({ pool: 'orphan' }));
    await env.client
      .put(`${root}addresses/orphan/10.9.0.1`)
      .value(JSON.stringify({ node: 'x', kind: 'gateway', attrs: {}, at: 'x' }));
    const seen = await store.getPool(pool('orphan'));
    expect(seen).toMatchObject({ holds: {}, used: 1 });
    expect(
      await store.removePoolIfUnheld({
        pool: pool('orphan'),
        modRevision: (seen?.modRevision ?? 0n) - 1n,
      }),
    ).toBe(false);
    expect(await keys()).toHaveLength(3);
    expect(
      await store.removePoolIfUnheld({
        pool: pool('orphan'),
        modRevision: seen?.modRevision ?? 0n,
      }),
    ).toBe(true);
    expect(await keys()).toEqual([]);
    // A held pool is never removed this way.
    await store.requestPool({ network: K, node: A, subnet: net('10.9.0.0/24') });
    const held = await store.getPool(K);
    expect(await store.removePoolIfUnheld({ pool: K, modRevision: held?.modRevision ?? 0n })).toBe(
      false,
    );
    expect(await store.getPool(K)).toBeDefined();
  });

  test('an unreadable pool record fails loudly with the key named', async ({ env, setup }) => {
    const { prefix, store } = setup();
    await env.client.put(`${prefix}v2/pools/kontena`).value('{"subnet":"nonsense"}');
    // Its own stable code (kind unavailable: nothing serves the pool until it is repaired).
    const msg = await rejectsWith(store.getPool(K), 'CORRUPT_RECORD');
    expect(msg).toContain(`${prefix}v2/pools/kontena`);
  });
});

/**
 * allocateBetween arms `observer` so that right after the next read of the store (a release's
 * read), and before that release commits, host A allocates `address` in K as the store's
 * allocation does (pool as created, A's hold present, address absent), through etcdctl: a
 * synchronous call, so it surely lands in between. `result()` is etcdctl's answer.
 */
function allocateBetween(env: Env, prefix: string, address: string) {
  const keys = new KeyLayout(prefix);
  let armed = false;
  let out = 'not run';
  const observer: StoreObserver = {
    etcdCall: (e) => {
      if (!armed || e.op !== 'get') return;
      armed = false;
      const record = {
        node: A,
        kind: 'endpoint' as const,
        attrs: {},
        at: new Date().toISOString(),
        token: 'between',
      };
      const addressKey = keys.address(K, ip(address));
      const script = [
        `c("${keys.pool(K)}") > "0"`,
        `c("${keys.hold(K, A)}") > "0"`,
        `c("${addressKey}") = "0"`,
        '',
        `put ${addressKey} ${JSON.stringify(encodeAddress(record))}`,
        '', // no failure ops: an empty section, then its end
        '',
        '',
      ].join('\n');
      out = execFileSync('etcdctl', ['--endpoints', env.etcd.endpoint, 'txn'], {
        input: script,
        encoding: 'utf8',
      });
    },
  };
  return {
    observer,
    arm: () => {
      armed = true;
    },
    result: () => out,
  };
}

describe('pool removal and an allocation in between', () => {
  test("the last hold's release keeps hold and pool when its host took an address after the release read", async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const between = allocateBetween(env, prefix, '10.99.0.77');
    const store = env.store({ prefix, observer: between.observer });
    const dump = () => dumpKeys(env.client, prefix);
    await store.requestPool({ network: K, node: A, subnet: net('10.99.0.0/24') });
    between.arm();
    // The address was granted under A's only hold: the pool is in use, nothing is released.
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: false,
      released: false,
    });
    expect(between.result()).toMatch(/^SUCCESS/);
    const after = await dump();
    expect(after['addresses/kontena/10.99.0.77']).toMatchObject({
      node: 'node-a',
      kind: 'endpoint',
    });
    expect(after['pools/kontena']).toMatchObject({ subnet: '10.99.0.0/24' });
    expect(holdsIn(after, 'kontena')).toEqual({ 'node-a': 1 });
    expect(invariantProblems(after)).toEqual([]);
    // Once that address is released, the hold's release removes the pool as always.
    await store.releaseAddress({ pool: K, node: A, address: ip('10.99.0.77') });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: true,
      released: true,
    });
    expect(Object.keys(await dump())).toEqual(['guard/subnets']);
  });

  test('dropHold with modRevision (cleanup) writes nothing when the host took an address after its read', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const between = allocateBetween(env, prefix, '10.99.1.9');
    const store = env.store({ prefix, observer: between.observer });
    const dump = () => dumpKeys(env.client, prefix);
    await store.requestPool({ network: K, node: A, subnet: net('10.99.1.0/24') });
    const seen = (await store.getPool(K))?.modRevision as bigint;
    between.arm();
    expect(await store.dropHold({ pool: K, node: A, modRevision: seen })).toEqual({
      removed: false,
      released: false,
    });
    expect(between.result()).toMatch(/^SUCCESS/);
    const after = await dump();
    expect(after['addresses/kontena/10.99.1.9']).toMatchObject({ node: 'node-a' });
    expect(holdsIn(after, 'kontena')).toEqual({ 'node-a': 1 });
    expect(invariantProblems(after)).toEqual([]);
  });
});
