import { formatAddress, type Subnet } from '@kontena-ipam/cidr';
import { startEtcd, startEtcdCluster } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, test } from 'vitest';
import { type Allocation, IpamStore, resilientClientOptions } from '../src/index.js';
import {
  dumpKeys,
  invariantProblems,
  net,
  node,
  pool,
  rejectsWith,
  uniquePrefix,
} from './harness.js';

const K = pool('kontena');
const A = node('node-a');
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** settlesWithin resolves to 'hung' if `p` has not settled after `ms` (a liveness check). */
function settlesWithin<T>(p: Promise<T>, ms: number): Promise<T | 'hung'> {
  return Promise.race([p, new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms))]);
}

async function eventually(what: string, fn: () => Promise<unknown>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      await fn();
      return;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${what} did not succeed within ${ms} ms: ${String(last)}`);
}

/**
 * lonelyEtcd starts an etcd of its own (the test stops or freezes it), a store with a short
 * deadline on a pool of `subnet`, and one address taken before the fault.
 */
async function lonelyEtcd(subnet: Subnet) {
  const etcd = await startEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  cleanups.push(
    () => etcd.stop(),
    () => client.close(),
  );
  const deadlineMs = 800;
  const prefix = uniquePrefix();
  const store = new IpamStore({ client, prefix, deadlineMs, endpoint: etcd.endpoint });
  cleanups.push(() => store.close());
  await store.requestPool({ network: K, node: A, subnet });
  const before = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
  return { etcd, client, deadlineMs, prefix, store, before };
}

describe('etcd stopped and restarted', () => {
  test('every call fails with UNAVAILABLE naming the endpoint, then works again with the same store', async () => {
    const { etcd, client, deadlineMs, prefix, store, before } = await lonelyEtcd(
      net('10.60.0.0/24'),
    );

    await etcd.stopMember('m0');
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['requestAddress', () => store.requestAddress({ pool: K, node: A, kind: 'endpoint' })],
      ['requestPool', () => store.requestPool({ network: pool('other'), node: A })],
      ['releaseAddress', () => store.releaseAddress({ pool: K, node: A, address: before.address })],
      ['releasePool', () => store.releasePool({ pool: K, node: A })],
      ['getPool', () => store.getPool(K)],
      ['listPools', () => store.listPools()],
      ['listAddresses', () => store.listAddresses({ pool: K })],
      ['ping', () => store.ping()],
    ];
    for (const [name, call] of calls) {
      const outcome = await settlesWithin(
        rejectsWith(call(), 'UNAVAILABLE').then((msg) => ({ msg })),
        deadlineMs * 4,
      );
      expect(outcome, name).not.toBe('hung');
      if (outcome !== 'hung')
        expect(outcome.msg, name).toContain(`etcd unavailable at ${etcd.endpoint}`);
    }

    // Concurrent first requests on a store without a view share one failed load: all of them
    // must say UNAVAILABLE (a failed load is not a missing pool).
    const fresh = new IpamStore({ client, prefix, deadlineMs, endpoint: etcd.endpoint });
    cleanups.push(() => fresh.close());
    const codes = await Promise.all(
      Array.from({ length: 5 }, () =>
        fresh.requestAddress({ pool: K, node: A, kind: 'endpoint' }).then(
          () => 'ok',
          (e: { code?: string }) => e.code,
        ),
      ),
    );
    expect(codes).toEqual(Array(5).fill('UNAVAILABLE'));

    await etcd.startMember('m0');
    // etcd3's circuit breaker keeps a failed host closed for a few seconds: wait it out.
    await eventually('ping after restart', () => store.ping());
    const after: Allocation[] = [];
    await eventually('allocate after restart', async () => {
      after.push(await store.requestAddress({ pool: K, node: A, kind: 'endpoint' }));
    });
    after.push(await store.requestAddress({ pool: K, node: A, kind: 'endpoint' }));
    const texts = [before, ...after].map((a) => formatAddress(a.address));
    expect(new Set(texts).size).toBe(texts.length);
    const dump = await dumpKeys(client, prefix);
    for (const t of texts) expect(dump[`addresses/kontena/${t}`]).toMatchObject({ node: 'node-a' });
    expect(invariantProblems(dump)).toEqual([]);
  });
});

describe('etcd hung (SIGSTOP)', () => {
  test('calls end with UNAVAILABLE instead of hanging, and work again once etcd resumes', async () => {
    const { etcd, client, deadlineMs, prefix, store, before } = await lonelyEtcd(
      net('10.61.0.0/24'),
    );
    const proc = etcd.members[0]?.process;
    if (!proc) throw new Error('etcd member has no process');
    // A frozen etcd keeps its TCP connections open and never answers: only deadlines help.
    proc.kill('SIGSTOP');
    try {
      for (const call of [
        () => store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
        () => store.requestPool({ network: pool('other'), node: A }),
        () => store.ping(),
      ]) {
        const outcome = await settlesWithin(
          rejectsWith(call(), 'UNAVAILABLE').then((msg) => ({ msg })),
          deadlineMs * 4,
        );
        expect(outcome).not.toBe('hung');
      }
    } finally {
      proc.kill('SIGCONT');
    }
    await eventually('ping after resume', () => store.ping());
    let after: Allocation | undefined;
    await eventually('allocate after resume', async () => {
      after = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    });
    const dump = await dumpKeys(client, prefix);
    expect(after && formatAddress(after.address)).not.toBe(formatAddress(before.address));
    expect(invariantProblems(dump)).toEqual([]);
    // Nothing else was written by the calls that timed out except, possibly, the one address
    // whose transaction etcd applied after resuming (its fate was unknown to the caller).
    const addresses = Object.keys(dump).filter((k) => k.startsWith('addresses/kontena/'));
    expect(addresses.length).toBeGreaterThanOrEqual(3);
    expect(addresses.length).toBeLessThanOrEqual(4);
  });
});

describe('3-member cluster', () => {
  test('killing the leader during concurrent allocation: no duplicates, every success is in etcd', async () => {
    const cluster = await startEtcdCluster(3);
    cleanups.push(() => cluster.stop());
    const prefix = uniquePrefix();
    const stores = [0, 1, 2].map((i) => {
      // The app's client options (etcd3's defaults open a 5 s circuit breaker on the member
      // that died: that host's calls then fail long after the others moved on).
      const client = new Etcd3({ hosts: cluster.endpoints, ...resilientClientOptions(5000) });
      cleanups.push(() => client.close());
      const store = new IpamStore({
        client,
        prefix,
        deadlineMs: 2000,
        endpoint: cluster.endpoints.join(','),
      });
      cleanups.push(() => store.close());
      return { store, client, node: node(`host-${i}`) };
    });
    const first = stores[0]!;
    await first.store.requestPool({ network: K, node: first.node, subnet: net('10.70.0.0/22') });

    const granted: Array<{ node: string; address: string }> = [];
    const failures: string[] = [];
    let killed: Promise<void> | undefined;
    // Set once the leader is dead (its process exited): what starts after that is served by the
    // two members left.
    let leaderDead = false;
    /** node → allocations that started after the leader died and were granted. */
    const afterDeath = new Map<string, number>();
    // Each store runs on until every store has had allocations granted after the leader died,
    // or until it sent 330 requests (1,000 in all, inside the /22): the kill lands in the load.
    const wanted = 250;
    const cap = 330;
    const sent = new Map<string, number>();
    const done = (n: string) =>
      (sent.get(n) ?? 0) >= cap ||
      ((sent.get(n) ?? 0) >= wanted && stores.every((s) => (afterDeath.get(s.node) ?? 0) >= 5));
    const run = Promise.all(
      stores.flatMap(({ store, node: n }) =>
        Array.from({ length: 16 }, async () => {
          while (!done(n)) {
            sent.set(n, (sent.get(n) ?? 0) + 1);
            const startedAfterDeath = leaderDead;
            try {
              const a = await store.requestAddress({ pool: K, node: n, kind: 'endpoint' });
              granted.push({ node: n, address: formatAddress(a.address) });
              if (startedAfterDeath) afterDeath.set(n, (afterDeath.get(n) ?? 0) + 1);
            } catch (error) {
              failures.push((error as { code?: string }).code ?? String(error));
            }
            if (!killed && granted.length >= 150) {
              killed = (async () => {
                const leader = await cluster.leader();
                if (!leader) throw new Error('no leader found');
                await cluster.stopMember(leader);
                leaderDead = true;
              })();
            }
          }
        }),
      ),
    );
    await run;
    await killed;
    expect(killed).toBeDefined();
    // Failures are allowed only as UNAVAILABLE (a call whose fate etcd could not tell us).
    for (const f of failures) expect(f).toBe('UNAVAILABLE');
    expect(granted.length).toBeGreaterThan(150);
    // Each store went on allocating after the leader died (on the members left).
    expect(
      Object.fromEntries(stores.map((st) => [st.node, (afterDeath.get(st.node) ?? 0) > 0])),
    ).toEqual(Object.fromEntries(stores.map((st) => [st.node, true])));
    const texts = granted.map((g) => g.address);
    expect(new Set(texts).size).toBe(texts.length);

    const reader = stores.find(() => true)!;
    let dump: Record<string, unknown> = {};
    await eventually('read back', async () => {
      dump = await dumpKeys(reader.client, prefix);
    });
    for (const g of granted) {
      expect(dump[`addresses/kontena/${g.address}`], g.address).toMatchObject({ node: g.node });
    }
    expect(invariantProblems(dump)).toEqual([]);
  });
});
