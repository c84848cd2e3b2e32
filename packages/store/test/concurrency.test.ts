import { formatAddress, formatSubnet, subnetsOverlap } from '@kontena-ipam/cidr';
import { expect } from 'vitest';
import type { Allocation, IpamStore } from '../src/index.js';
import {
  claimsIn,
  dumpKeys,
  type Env,
  holdsIn,
  inFlight,
  invariantProblems,
  keysOf,
  net,
  node,
  pool,
  rejectsWith,
  test,
  uniquePrefix,
  withoutClaims,
} from './harness.js';

const K = pool('kontena');

/** hosts builds n stores, each with its own etcd client, as n plugin processes would. */
function hosts(
  env: Env,
  n: number,
  prefix: string,
  options: Parameters<Env['store']>[0] = {},
): IpamStore[] {
  return Array.from({ length: n }, () =>
    env.store({ prefix, client: env.newClient(), ...options }),
  );
}

test('3 hosts × 300 addresses, 64 in flight each, one /22: all unique, counts exact, then POOL_EXHAUSTED', async ({
  env,
}) => {
  const prefix = uniquePrefix();
  const stores = hosts(env, 3, prefix);
  await stores[0]?.requestPool({ network: K, node: node('host-0'), subnet: net('10.40.0.0/22') });
  const grants = await Promise.all(
    stores.map((store, h) =>
      inFlight(300, 64, () =>
        store.requestAddress({ pool: K, node: node(`host-${h}`), kind: 'endpoint' }),
      ),
    ),
  );
  const all = grants.flat();
  expect(all).toHaveLength(900);
  const texts = all.map((a) => formatAddress(a.address));
  expect(new Set(texts).size).toBe(900);
  for (const t of texts) expect(t).toMatch(/^10\.40\.[0-3]\.\d+$/);
  expect(texts).not.toContain('10.40.0.0');
  expect(texts).not.toContain('10.40.0.1');
  expect(texts).not.toContain('10.40.3.255');
  const dump = await dumpKeys(env.client, prefix);
  const addressKeys = Object.keys(dump).filter((k) => k.startsWith('addresses/kontena/'));
  expect(addressKeys).toHaveLength(901);
  for (const [h, list] of grants.entries()) {
    for (const a of list)
      expect(dump[`addresses/kontena/${formatAddress(a.address)}`]).toMatchObject({
        node: `host-${h}`,
      });
  }
  // Fill the rest of the /22 (1021 allocatable: 1024 − network − broadcast − gateway) from all hosts.
  const rest: Array<Allocation | string> = await Promise.all(
    stores.map((store, h) =>
      inFlight(60, 16, () =>
        store
          .requestAddress({ pool: K, node: node(`host-${h}`), kind: 'endpoint' })
          .catch((e: { code: string }) => e.code),
      ),
    ),
  ).then((r) => r.flat());
  const won = rest.filter((r): r is Allocation => typeof r !== 'string');
  expect(won).toHaveLength(121);
  expect(rest.filter((r) => r === 'POOL_EXHAUSTED')).toHaveLength(180 - 121);
  expect(new Set([...texts, ...won.map((a) => formatAddress(a.address))]).size).toBe(1021);
  for (const store of stores) {
    await rejectsWith(
      store.requestAddress({ pool: K, node: node('late'), kind: 'endpoint' }),
      'POOL_EXHAUSTED',
    );
  }
  expect((await stores[0]?.getPool(K))?.used).toBe(1022);
  expect(invariantProblems(await dumpKeys(env.client, prefix))).toEqual([]);
});

test('8 hosts create the same static network at once: all succeed, one pool, 8 holds', async ({
  env,
}) => {
  const prefix = uniquePrefix();
  const stores = hosts(env, 8, prefix);
  const pools = await Promise.all(
    stores.map((s, i) =>
      s.requestPool({ network: K, node: node(`host-${i}`), subnet: net('10.50.0.0/16') }),
    ),
  );
  for (const p of pools) expect(formatSubnet(p.subnet)).toBe('10.50.0.0/16');
  const dump = await dumpKeys(env.client, prefix);
  // Each host's join claimed it one block of the /16.
  expect(Object.values(claimsIn(dump, 'kontena')).sort()).toEqual(
    stores.map((_, i) => `host-${i}`).sort(),
  );
  expect(withoutClaims(Object.keys(dump)).sort()).toEqual([
    'addresses/kontena/10.50.0.1',
    'guard/subnets',
    ...stores.map((_, i) => `holds/kontena/host-${i}`),
    'pools/kontena',
    'subnets/10.50.0.0/16',
  ]);
  expect(holdsIn(dump, 'kontena')).toEqual(
    Object.fromEntries(stores.map((_, i) => [`host-${i}`, 1])),
  );
});

test('8 hosts create 8 dynamic networks at once: 8 distinct, non-overlapping subnets', async ({
  env,
}) => {
  const prefix = uniquePrefix();
  const stores = hosts(env, 8, prefix);
  const pools = await Promise.all(
    stores.map((s, i) => s.requestPool({ network: pool(`net-${i}`), node: node(`host-${i}`) })),
  );
  const subnets = pools.map((p) => p.subnet);
  for (let i = 0; i < subnets.length; i++) {
    for (let j = i + 1; j < subnets.length; j++) {
      expect(subnetsOverlap(subnets[i]!, subnets[j]!)).toBe(false);
    }
  }
  expect(subnets.map(formatSubnet).sort()).toEqual(
    Array.from({ length: 8 }, (_, i) => `10.80.${i}.0/24`).sort(),
  );
  const keys = await keysOf(env.client, prefix);
  // The guard, then per network: pool, reservation, gateway, the creating host's hold, and the
  // block its creation claimed.
  expect(withoutClaims(keys)).toHaveLength(1 + 8 * 4);
  const dump = await dumpKeys(env.client, prefix);
  for (let i = 0; i < 8; i++) {
    expect(Object.values(claimsIn(dump, `net-${i}`))).toEqual([`host-${i}`]);
  }
  expect(invariantProblems(await dumpKeys(env.client, prefix))).toEqual([]);
});

test('3 hosts churning dynamic pools (4 in flight each, created and released at once): no creation gives up', async ({
  env,
}) => {
  // Every creation compares the one subnet guard, which somebody changes every few ms here. A
  // creator that paused after losing used to commit on what it read before the pause, lost
  // every round while the others went on, and gave up (CONFLICT) after 64.
  const prefix = uniquePrefix();
  const stores = hosts(env, 3, prefix);
  const results = await Promise.all(
    stores.map((store, h) =>
      inFlight(200, 4, async (i) => {
        const node_ = node(`host-${h}`);
        try {
          const p = await store.requestPool({ network: pool(`churn-${h}-${i}`), node: node_ });
          const released = await store.releasePool({ pool: p.id, node: node_ });
          return released.removed ? 'ok' : 'kept';
        } catch (error) {
          return (error as { code?: string }).code ?? String(error);
        }
      }),
    ),
  );
  const outcomes = results.flat();
  expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
  expect(outcomes).toHaveLength(600);
  expect(await keysOf(env.client, prefix)).toEqual(['guard/subnets']);
});

test('release/request races on one pool never leave a pool without its subnet or the reverse', async ({
  env,
}) => {
  const prefix = uniquePrefix();
  const [a, b, c] = hosts(env, 3, prefix) as [IpamStore, IpamStore, IpamStore];
  const A = node('host-a');
  const B = node('host-b');
  const C = node('host-c');
  for (let round = 0; round < 40; round++) {
    await a.requestPool({ network: K, node: A });
    const results = await Promise.allSettled([
      a.releasePool({ pool: K, node: A }),
      b.requestPool({ network: K, node: B }),
      c.requestAddress({ pool: K, node: C, kind: 'endpoint' }),
      c.requestAddress({ pool: K, node: C, kind: 'endpoint' }),
    ]);
    for (const r of results) {
      if (r.status === 'rejected')
        expect((r.reason as { code: string }).code).toBe('POOL_NOT_FOUND');
    }
    const dump = await dumpKeys(env.client, prefix);
    expect(invariantProblems(dump)).toEqual([]);
    // B's request succeeded, so the pool exists now with B's hold; C, which never asked for
    // the pool, holds it too once it got an address (an address needs its host's hold).
    expect(results[1].status).toBe('fulfilled');
    const cGot = results.slice(2).some((r) => r.status === 'fulfilled');
    expect(holdsIn(dump, 'kontena')).toEqual(cGot ? { 'host-b': 1, 'host-c': 1 } : { 'host-b': 1 });
    if (cGot) {
      expect(await c.releasePool({ pool: K, node: C })).toEqual({ removed: false, released: true });
    }
    const removed = await b.releasePool({ pool: K, node: B });
    expect(removed).toEqual({ removed: true, released: true });
    expect(await keysOf(env.client, prefix)).toEqual(['guard/subnets']);
  }
});

test('8 hosts ask for the same dynamic network at once: one subnet, 8 holds; all release at once: one removal', async ({
  env,
}) => {
  const prefix = uniquePrefix();
  const stores = hosts(env, 8, prefix);
  const pools = await Promise.all(
    stores.map((s, i) => s.requestPool({ network: K, node: node(`host-${i}`) })),
  );
  expect(new Set(pools.map((p) => formatSubnet(p.subnet)))).toEqual(new Set(['10.80.0.0/24']));
  const dump = await dumpKeys(env.client, prefix);
  expect(holdsIn(dump, 'kontena')).toEqual(
    Object.fromEntries(stores.map((_, i) => [`host-${i}`, 1])),
  );
  const released = await Promise.all(
    stores.map((s, i) => s.releasePool({ pool: K, node: node(`host-${i}`) })),
  );
  expect(released.filter((r) => r.released)).toHaveLength(8);
  expect(released.filter((r) => r.removed)).toHaveLength(1);
  expect(await keysOf(env.client, prefix)).toEqual(['guard/subnets']);
});

test('static and dynamic networks created at once never overlap; a static one may lose its subnet cleanly', async ({
  env,
}) => {
  const prefix = uniquePrefix();
  const stores = hosts(env, 8, prefix);
  // Statics sit where the dynamic ones would go first.
  const statics = ['10.80.0.0/24', '10.80.2.0/23', '10.80.5.0/24', '10.80.8.0/22'];
  const results = await Promise.allSettled(
    stores.map((s, i) =>
      i < 4
        ? s.requestPool({
            network: pool(`static-${i}`),
            node: node(`host-${i}`),
            subnet: net(statics[i] as string),
          })
        : s.requestPool({ network: pool(`dyn-${i}`), node: node(`host-${i}`) }),
    ),
  );
  // A dynamic network may take a static one's subnet first: then that static request gets
  // SUBNET_OVERLAP (as it would arriving later). Dynamic requests always find room.
  for (const [i, r] of results.entries()) {
    if (i >= 4) expect(r.status).toBe('fulfilled');
    else if (r.status === 'rejected')
      expect((r.reason as { code: string }).code).toBe('SUBNET_OVERLAP');
  }
  const won = results.filter((r) => r.status === 'fulfilled').length;
  const dump = await dumpKeys(env.client, prefix);
  expect(invariantProblems(dump)).toEqual([]);
  expect(Object.keys(dump).filter((k) => k.startsWith('subnets/'))).toHaveLength(won);
  expect(Object.keys(dump).filter((k) => k.startsWith('pools/'))).toHaveLength(won);
});
