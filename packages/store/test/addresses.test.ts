import { formatAddress } from '@kontena-ipam/cidr';
import { Etcd3, GRPCUnavailableError } from 'etcd3';
import { describe, expect } from 'vitest';
import { startOffset } from '../src/views/window-view.js';
import {
  blockOf,
  claimsIn,
  dumpKeys,
  holdsIn,
  ip,
  keysOf,
  net,
  node,
  pool,
  rejectsWith,
  test,
  uniquePrefix,
} from './harness.js';

const A = node('node-a');
const B = node('node-b');
const K = pool('kontena');

describe('dynamic addresses', () => {
  test('come from the ip-range, each recorded with owner, kind, attrs and time', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    await store.requestPool({
      network: K,
      node: A,
      subnet: net('10.81.0.0/16'),
      ipRange: net('10.81.128.0/30'),
    });
    const a = await store.requestAddress({
      pool: K,
      node: A,
      kind: 'endpoint',
      attrs: { mac: '02:42:0a:51:80:01', endpoint: 'web-1' },
    });
    const b = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    // /30 range: .0 (network) and .3 (broadcast) are not hosts.
    expect([a, b].map((x) => formatAddress(x.address)).sort()).toEqual([
      '10.81.128.1',
      '10.81.128.2',
    ]);
    expect(a).toMatchObject({
      pool: 'kontena',
      node: 'node-a',
      kind: 'endpoint',
      subnet: net('10.81.0.0/16'),
    });
    expect(a.attrs).toEqual({ mac: '02:42:0a:51:80:01', endpoint: 'web-1' });
    expect(Number.isNaN(Date.parse(a.at))).toBe(false);
    const before = await dump();
    await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
      'POOL_EXHAUSTED',
    );
    expect(await dump()).toEqual(before);
    expect(before[`addresses/kontena/${formatAddress(a.address)}`]).toMatchObject({
      node: 'node-a',
      kind: 'endpoint',
      attrs: { mac: '02:42:0a:51:80:01', endpoint: 'web-1' },
      at: a.at,
    });
  });

  test('skip network, broadcast and gateway; a full pool → POOL_EXHAUSTED; a release frees one', async ({
    setup,
  }) => {
    const { store, keys } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.3.0.0/29') });
    await store.requestPool({ network: K, node: B, subnet: net('10.3.0.0/29') });
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      got.push(
        formatAddress(
          (await store.requestAddress({ pool: K, node: i % 2 ? A : B, kind: 'endpoint' })).address,
        ),
      );
    }
    expect(got.sort()).toEqual(['10.3.0.2', '10.3.0.3', '10.3.0.4', '10.3.0.5', '10.3.0.6']);
    const msg = await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
      'POOL_EXHAUSTED',
    );
    expect(msg).toContain('10.3.0.0/29');
    // pool, reservation, guard; 6 addresses; the two hosts' hold keys.
    expect(await keys()).toHaveLength(3 + 6 + 2);
    const owned = (await store.listAddresses({ pool: K, node: A })).find(
      (r) => r.kind === 'endpoint',
    );
    expect(owned).toBeDefined();
    if (!owned) return;
    expect(await store.releaseAddress({ pool: K, node: A, address: owned.address })).toEqual({
      released: true,
    });
    const again = await store.requestAddress({ pool: K, node: B, kind: 'endpoint' });
    expect(again.address).toEqual(owned.address);
  });

  test('hosts start at different offsets, so they spread over the pool', async ({ setup }) => {
    const { store, dump } = setup();
    const subnet = net('10.4.0.0/16');
    await store.requestPool({ network: K, node: A, subnet });
    // Each host joins as Docker's RequestPool does, then asks for an address.
    for (const n of ['host-1', 'host-2'])
      await store.requestPool({ network: K, node: node(n), subnet });
    const a = await store.requestAddress({ pool: K, node: node('host-1'), kind: 'endpoint' });
    const b = await store.requestAddress({ pool: K, node: node('host-2'), kind: 'endpoint' });
    expect(a.address).not.toEqual(b.address);
    // A /16 is 4,096 blocks of 16. A host's join claims the block its node id hashes to
    // (startOffset: FNV-1a then murmur3's finalizer, scaled to the blocks), and its first address
    // is that block's first: host-1's block 2408, host-2's 2806, node-a's (the creator's) 956.
    expect([startOffset(node('host-1'), 4096), startOffset(node('host-2'), 4096)]).toEqual([
      2408, 2806,
    ]);
    expect(formatAddress(a.address)).toBe('10.4.150.128'); // 2408 × 16 = offset 38,528
    expect(formatAddress(b.address)).toBe('10.4.175.96'); // 2806 × 16 = offset 44,896
    const hex = (i: number) => i.toString(16).padStart(14, '0');
    const claims = claimsIn(await dump(), 'kontena');
    expect(claims).toEqual({ [hex(956)]: 'node-a', [hex(2408)]: 'host-1', [hex(2806)]: 'host-2' });
    expect([blockOf(a.address, subnet), blockOf(b.address, subnet)]).toEqual([
      hex(2408),
      hex(2806),
    ]);
  });

  test('IPv6 /64: allocation works without memory in proportion to the pool', async ({ setup }) => {
    const { store, keys } = setup();
    const p = await store.requestPool({ network: K, node: A, subnet: net('fd00:9::/64') });
    expect(p.id).toBe('kontena:v6');
    const a = await store.requestAddress({ pool: p.id, node: A, kind: 'endpoint' });
    expect(a.address.family).toBe(6);
    expect(formatAddress(a.address).startsWith('fd00:9::')).toBe(true);
    const fixed = await store.requestAddress({
      pool: p.id,
      node: A,
      kind: 'endpoint',
      address: ip('fd00:9::ffff:1'),
    });
    expect(formatAddress(fixed.address)).toBe('fd00:9::ffff:1');
    // + the dynamic address's block claim and this host's affinity key for it.
    expect(await keys()).toHaveLength(3 + 3 + 1 + 2);
  });

  test('unknown pool → POOL_NOT_FOUND, nothing written', async ({ setup }) => {
    const { store, keys } = setup();
    await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
      'POOL_NOT_FOUND',
    );
    await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint', address: ip('10.0.0.5') }),
      'POOL_NOT_FOUND',
    );
    expect(await keys()).toEqual([]);
  });

  test('a pool removed under a live view: a refused static address says the pool is gone, not why the address was refused', async ({
    env,
    setup,
  }) => {
    const { prefix, store } = setup();
    const other = env.store({ prefix, client: env.newClient() });
    await other.requestPool({ network: K, node: B, subnet: net('10.12.0.0/24') });
    // This store loads its view (a gateway request), then the only holder leaves: gone.
    await store.requestAddress({ pool: K, node: A, kind: 'gateway' });
    await other.releasePool({ pool: K, node: B });
    // The network address would be refused in the pool the view remembers; the pool is gone.
    await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint', address: ip('10.12.0.0') }),
      'POOL_NOT_FOUND',
    );
  });

  test('a pool re-created with another subnet under a live view: the new pool is used', async ({
    env,
    setup,
  }) => {
    const { prefix, store } = setup();
    const other = env.store({ prefix, client: env.newClient() });
    await store.requestPool({ network: K, node: A, subnet: net('10.10.0.0/24') });
    await store.requestAddress({ pool: K, node: A, kind: 'endpoint' }); // view loaded
    await other.releasePool({ pool: K, node: A });
    await other.requestPool({ network: K, node: B, subnet: net('10.11.0.0/24') });
    const x = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    expect(x.subnet).toEqual(net('10.11.0.0/24'));
    expect(formatAddress(x.address).startsWith('10.11.0.')).toBe(true);
    // A held no reference to the new pool: its address wrote A's hold back (the pool must not
    // go while A's address lives), so both hosts hold it now.
    expect((await store.getPool(K))?.holds).toEqual({ 'node-a': 1, 'node-b': 1 });
    // And once it is gone for good, POOL_NOT_FOUND.
    await store.releasePool({ pool: K, node: A });
    await other.releasePool({ pool: K, node: B });
    await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
      'POOL_NOT_FOUND',
    );
    expect(await keysOf(env.client, prefix)).toEqual(['guard/subnets']);
  });
});

describe('static addresses, gateway, aux', () => {
  test('a static endpoint address anywhere in the subnet; taken → ADDRESS_IN_USE; outside → OUT_OF_RANGE', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    await store.requestPool({
      network: K,
      node: A,
      subnet: net('10.81.0.0/16'),
      ipRange: net('10.81.128.0/17'),
    });
    const s = await store.requestAddress({
      pool: K,
      node: A,
      kind: 'endpoint',
      address: ip('10.81.0.20'),
    });
    expect(formatAddress(s.address)).toBe('10.81.0.20');
    const before = await dump();
    const msg = await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint', address: ip('10.81.0.20') }),
      'ADDRESS_IN_USE',
    );
    expect(msg).toContain('10.81.0.20');
    expect(msg).toContain('node-a');
    await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint', address: ip('10.81.0.20') }),
      'ADDRESS_IN_USE',
    );
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint', address: ip('10.81.0.1') }),
      'ADDRESS_IN_USE',
    );
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint', address: ip('10.82.0.1') }),
      'OUT_OF_RANGE',
    );
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint', address: ip('fd00::1') }),
      'OUT_OF_RANGE',
    );
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'bogus' as 'endpoint' }),
      'INVALID',
    );
    expect(await dump()).toEqual(before);
  });

  test('the gateway is returned on every host without conflict; releasing it is a no-op', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.20.0.0/24') });
    const before = await dump();
    const g1 = await store.requestAddress({ pool: K, node: A, kind: 'gateway' });
    const g2 = await store.requestAddress({
      pool: K,
      node: B,
      kind: 'gateway',
      address: ip('10.20.0.1'),
    });
    expect(formatAddress(g1.address)).toBe('10.20.0.1');
    expect(g2.address).toEqual(g1.address);
    expect(g2).toMatchObject({ kind: 'gateway', node: 'node-a' });
    const msg = await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'gateway', address: ip('10.20.0.2') }),
      'POOL_MISMATCH',
    );
    expect(msg).toContain('10.20.0.1');
    expect(msg).toContain('10.20.0.2');
    expect(await store.releaseAddress({ pool: K, node: A, address: ip('10.20.0.1') })).toEqual({
      released: false,
    });
    expect(await dump()).toEqual(before);
  });

  test('aux addresses are shared across hosts and freed only with the pool', async ({ setup }) => {
    const { store, keys } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.21.0.0/24') });
    await store.requestPool({ network: K, node: B, subnet: net('10.21.0.0/24') });
    const x1 = await store.requestAddress({
      pool: K,
      node: A,
      kind: 'aux',
      address: ip('10.21.0.5'),
    });
    const x2 = await store.requestAddress({
      pool: K,
      node: B,
      kind: 'aux',
      address: ip('10.21.0.5'),
    });
    expect(x2).toMatchObject({ node: 'node-a', kind: 'aux' });
    expect(x2.address).toEqual(x1.address);
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint', address: ip('10.21.0.5') }),
      'ADDRESS_IN_USE',
    );
    expect(await store.releaseAddress({ pool: K, node: A, address: ip('10.21.0.5') })).toEqual({
      released: false,
    });
    // Dynamic allocation never hands out the aux address.
    const seen = new Set<string>();
    for (let i = 0; i < 252; i++) {
      seen.add(
        formatAddress((await store.requestAddress({ pool: K, node: B, kind: 'endpoint' })).address),
      );
    }
    expect(seen.has('10.21.0.5')).toBe(false);
    expect(seen.has('10.21.0.1')).toBe(false);
    expect(seen.size).toBe(252);
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint' }),
      'POOL_EXHAUSTED',
    );
    expect(await store.releasePool({ pool: K, node: B })).toEqual({
      removed: false,
      released: true,
    });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: true,
      released: true,
    });
    expect(await keys()).toEqual(['guard/subnets']);
  });
});

describe('release and listing', () => {
  test('releaseAddress frees the owner’s endpoint only; unknown pool or address → released:false', async ({
    setup,
  }) => {
    const { store, keys } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.22.0.0/24') });
    const a = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    expect(await store.releaseAddress({ pool: K, node: B, address: a.address })).toEqual({
      released: false,
    });
    expect(await keys()).toContain(`addresses/kontena/${formatAddress(a.address)}`);
    expect(await store.releaseAddress({ pool: K, node: A, address: a.address })).toEqual({
      released: true,
    });
    expect(await store.releaseAddress({ pool: K, node: A, address: a.address })).toEqual({
      released: false,
    });
    expect(await store.releaseAddress({ pool: pool('nope'), node: A, address: a.address })).toEqual(
      { released: false },
    );
    // The block A claimed for its first address stays A's while A holds the pool.
    expect(await keys()).toEqual([
      'addresses/kontena/10.22.0.1',
      expect.stringMatching(/^affinity\/kontena\/node-a\/[0-9a-f]{14}$/),
      expect.stringMatching(/^blocks\/kontena\/[0-9a-f]{14}$/),
      'guard/subnets',
      'holds/kontena/node-a',
      'pools/kontena',
      'subnets/10.22.0.0/24',
    ]);
  });

  test('listAddresses (all or one node) with revisions; releaseAddressIfUnchanged fences on them', async ({
    setup,
  }) => {
    const { store, keys } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.23.0.0/24') });
    const a = await store.requestAddress({
      pool: K,
      node: A,
      kind: 'endpoint',
      address: ip('10.23.0.10'),
    });
    await store.requestAddress({ pool: K, node: B, kind: 'endpoint', address: ip('10.23.0.9') });
    const all = await store.listAddresses({ pool: K });
    expect(all.map((r) => [formatAddress(r.address), r.node, r.kind])).toEqual([
      ['10.23.0.1', 'node-a', 'gateway'],
      ['10.23.0.9', 'node-b', 'endpoint'],
      ['10.23.0.10', 'node-a', 'endpoint'],
    ]);
    const mine = await store.listAddresses({ pool: K, node: B });
    expect(mine.map((r) => formatAddress(r.address))).toEqual(['10.23.0.9']);
    expect(await store.listAddresses({ pool: pool('nope') })).toEqual([]);
    const rec = all[2];
    if (!rec) throw new Error('missing record');
    expect(rec.modRevision).toBeGreaterThan(0n);
    expect(rec.createRevision).toBe(rec.modRevision);
    expect(
      await store.releaseAddressIfUnchanged({
        pool: K,
        address: a.address,
        modRevision: rec.modRevision + 1n,
      }),
    ).toBe(false);
    expect(await keys()).toContain('addresses/kontena/10.23.0.10');
    expect(
      await store.releaseAddressIfUnchanged({
        pool: K,
        address: a.address,
        modRevision: rec.modRevision,
      }),
    ).toBe(true);
    expect(await keys()).not.toContain('addresses/kontena/10.23.0.10');
    // Re-taken after cleanup looked: the old revision no longer matches, nothing is freed.
    await store.requestAddress({ pool: K, node: A, kind: 'endpoint', address: ip('10.23.0.10') });
    expect(
      await store.releaseAddressIfUnchanged({
        pool: K,
        address: a.address,
        modRevision: rec.modRevision,
      }),
    ).toBe(false);
    expect(await keys()).toContain('addresses/kontena/10.23.0.10');
  });
});

describe('retry safety', () => {
  test('a release whose reply is lost, retried after this host took the address again, leaves the new record alone', async ({
    env,
  }) => {
    // The chaos suite once caught this during a leader kill: a ReleaseAddress committed, its
    // reply was lost, the host was granted the same address again, and the retried release
    // then deleted that newer record (so the address was handed out twice). This client loses
    // the reply of one chosen call, after letting the test act in between.
    const lose = { countdown: 0, between: async () => {} };
    const policy = {
      async execute<T>(fn: (ctx: unknown) => Promise<T>): Promise<T> {
        const result = await fn({});
        if (lose.countdown > 0 && --lose.countdown === 0) {
          await lose.between();
          throw new GRPCUnavailableError('the reply was lost');
        }
        return result;
      },
    };
    const client = new Etcd3({
      hosts: env.etcd.endpoint,
      faultHandling: { global: policy as never },
    });
    env.clients.push(client);
    const prefix = uniquePrefix();
    const store = env.store({ prefix, client });
    const other = env.store({ prefix, client: env.newClient() }); // the same host, restarted
    await store.requestPool({ network: K, node: A, subnet: net('10.29.0.0/24') });
    const x = ip('10.29.0.77');
    await store.requestAddress({ pool: K, node: A, kind: 'endpoint', address: x });
    let again: Awaited<ReturnType<typeof other.requestAddress>> | undefined;
    // The release reads, then commits: lose the commit's reply, and take x again meanwhile.
    lose.countdown = 2;
    lose.between = async () => {
      again = await other.requestAddress({
        pool: K,
        node: A,
        kind: 'endpoint',
        address: x,
        attrs: { mac: '02:42:0a:1d:00:4d' },
      });
    };
    expect(await store.releaseAddress({ pool: K, node: A, address: x })).toEqual({
      released: true,
    });
    expect(again).toBeDefined();
    const dump = await dumpKeys(env.client, prefix);
    expect(dump['addresses/kontena/10.29.0.77']).toMatchObject({
      node: 'node-a',
      attrs: { mac: '02:42:0a:1d:00:4d' },
    });
  });

  test('a client that sends every call twice (etcd3 re-sending a committed call) counts each request once', async ({
    env,
  }) => {
    // etcd3 re-runs a call through its `faultHandling.global` policy after a lost reply; this
    // policy runs every call twice, so each committed transaction is re-sent and fails its compare.
    const twice = {
      async execute<T>(fn: (ctx: unknown) => Promise<T>): Promise<T> {
        await fn({});
        return fn({});
      },
    };
    const client = new Etcd3({
      hosts: env.etcd.endpoint,
      faultHandling: { global: twice as never },
    });
    env.clients.push(client);
    const prefix = uniquePrefix();
    const store = env.store({ prefix, client });
    const p = await store.requestPool({ network: K, node: A, subnet: net('10.30.0.0/24') });
    expect(p.held).toBe(1);
    expect((await store.getPool(K))?.holds).toEqual({ 'node-a': 1 });
    await store.requestPool({ network: K, node: B, subnet: net('10.30.0.0/24') });
    expect((await store.getPool(K))?.holds).toEqual({
      'node-a': 1,
      'node-b': 1,
    });
    const got = [];
    for (let i = 0; i < 5; i++)
      got.push(await store.requestAddress({ pool: K, node: A, kind: 'endpoint' }));
    const fixed = await store.requestAddress({
      pool: K,
      node: A,
      kind: 'endpoint',
      address: ip('10.30.0.200'),
    });
    expect(formatAddress(fixed.address)).toBe('10.30.0.200');
    const dump = await dumpKeys(env.client, prefix);
    expect(Object.keys(dump).filter((k) => k.startsWith('addresses/'))).toHaveLength(1 + 5 + 1);
    expect(holdsIn(dump, 'kontena')).toEqual({
      'node-a': 1,
      'node-b': 1,
    });
    expect(await store.releaseAddress({ pool: K, node: A, address: fixed.address })).toEqual({
      released: true,
    });
    expect(await store.releasePool({ pool: K, node: B })).toEqual({
      removed: false,
      released: true,
    });
    expect(holdsIn(await dumpKeys(env.client, prefix), 'kontena')).toEqual({ 'node-a': 1 });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: true,
      released: true,
    });
    expect(await keysOf(env.client, prefix)).toEqual(['guard/subnets']);
  });
});

describe('round trips and damaged records', () => {
  test('after the first allocation loads the view, each uncontended allocation is one etcd call', async ({
    env,
    setup,
  }) => {
    let calls = 0;
    // Counts unary etcd calls (the watch stream does not pass through this policy).
    const counting = {
      execute<T>(fn: (ctx: unknown) => Promise<T>): Promise<T> {
        calls++;
        return fn({});
      },
    };
    const client = new Etcd3({
      hosts: env.etcd.endpoint,
      faultHandling: { global: counting as never },
    });
    env.clients.push(client);
    const { store } = setup({ client });
    await store.requestPool({ network: K, node: A, subnet: net('10.31.0.0/24') });
    await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    const before = calls;
    for (let i = 0; i < 10; i++) await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    expect(calls - before).toBe(10);
  });

  test('a shared window follows other hosts through the watch: no conflict on addresses they took', async ({
    env,
    setup,
  }) => {
    let calls = 0;
    const counting = {
      execute<T>(fn: (ctx: unknown) => Promise<T>): Promise<T> {
        calls++;
        return fn({});
      },
    };
    const bClient = new Etcd3({
      hosts: env.etcd.endpoint,
      faultHandling: { global: counting as never },
    });
    env.clients.push(bClient);
    const { prefix, store: a } = setup();
    const b = env.store({ prefix, client: bClient });
    // A /27 is too small to cut into blocks: every host shares its window and watches it.
    const subnet = net('10.34.0.0/27');
    await a.requestPool({ network: K, node: A, subnet });
    const first = await b.requestAddress({ pool: K, node: B, kind: 'endpoint' }); // B's view loaded
    // A takes exactly the addresses B would try next: B's search goes on after its first
    // address and wraps, skipping the network (offset 0), gateway (1) and broadcast (31).
    const f = Number(first.address.value - subnet.network);
    const order = Array.from({ length: 31 }, (_, j) => (f + 1 + j) % 32).filter(
      (o) => o !== 0 && o !== 1 && o !== 31,
    );
    const next = (k: number) => ({
      family: 4 as const,
      value: subnet.network + BigInt(order[k - 1] as number),
    });
    const seen = new Set<string>();
    // B's view watches from the revision it loaded at, so etcd serves it as a catching-up
    // ("unsynced") watcher for a moment; this one starts in the past too, to travel the same path.
    const watcher = await bClient
      .watch()
      .prefix(`${prefix}v2/addresses/`)
      .startRevision('1')
      .create();
    watcher.on('put', (kv) => seen.add(kv.key.toString()));
    const taken: string[] = [];
    for (let k = 1; k <= 5; k++) {
      const x = await a.requestAddress({ pool: K, node: A, kind: 'endpoint', address: next(k) });
      taken.push(`${prefix}v2/addresses/kontena/${formatAddress(x.address)}`);
    }
    // Wait until the same watch stream has delivered A's writes (B's view watches on it too),
    // plus a pass of the 100 ms loop in which etcd feeds catching-up watchers.
    while (taken.some((k) => !seen.has(k))) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 500));
    await watcher.cancel();
    const before = calls;
    const got = await b.requestAddress({ pool: K, node: B, kind: 'endpoint' });
    expect(got.address).toEqual(next(6));
    expect(calls - before).toBe(1);
  });

  test('an unreadable address record counts as taken by someone else', async ({ env, setup }) => {
    const { prefix, store } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.32.0.0/29') });
    await env.client.put(`${prefix}v2/addresses/kontena/10.32.0.4`).value('garbage');
    await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'endpoint', address: ip('10.32.0.4') }),
      'ADDRESS_IN_USE',
    );
    expect(await store.releaseAddress({ pool: K, node: A, address: ip('10.32.0.4') })).toEqual({
      released: false,
    });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      got.push(
        formatAddress((await store.requestAddress({ pool: K, node: B, kind: 'endpoint' })).address),
      );
    }
    expect(got.sort()).toEqual(['10.32.0.2', '10.32.0.3', '10.32.0.5', '10.32.0.6']);
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint' }),
      'POOL_EXHAUSTED',
    );
    expect(await env.client.get(`${prefix}v2/addresses/kontena/10.32.0.4`).string()).toBe(
      'garbage',
    );
  });
});

describe('crowded pools', () => {
  test('a pool with more addresses than one read page: views and listings read it page by page', async ({
    env,
    setup,
  }) => {
    const { prefix, store } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.33.0.0/27') }); // 30 hosts
    for (let i = 0; i < 20; i++) await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    const small = env.store({ prefix, client: env.newClient(), pageSize: 7 });
    const got = new Set<string>();
    for (let i = 0; i < 9; i++) {
      got.add(
        formatAddress((await small.requestAddress({ pool: K, node: B, kind: 'endpoint' })).address),
      );
    }
    expect(got.size).toBe(9);
    await rejectsWith(
      small.requestAddress({ pool: K, node: B, kind: 'endpoint' }),
      'POOL_EXHAUSTED',
    );
    const listed = await small.listAddresses({ pool: K });
    expect(listed).toHaveLength(30);
    expect(new Set(listed.map((r) => formatAddress(r.address))).size).toBe(30);
    expect(
      listed
        .filter((r) => r.node === 'node-b')
        .map((r) => formatAddress(r.address))
        .sort(),
    ).toEqual([...got].sort());
  });
});
