/**
 * A 3-member etcd losing one member while several stores (distinct node ids, each on its own
 * client with every endpoint and the app's fault handling) allocate at once: while two members
 * keep a quorum no call may fail, no address may be granted twice, and every acknowledged
 * address must be in etcd afterwards. No timing assertions: how long the faults cost is
 * measured by `pnpm chaos` (RELIABILITY.md).
 */
import { formatAddress } from '@kontena-ipam/cidr';
import { type EtcdCluster, startEtcdCluster } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, test } from 'vitest';
import { IpamStore, resilientClientOptions } from '../src/index.js';
import { dumpKeys, invariantProblems, ip, net, node, pool, uniquePrefix } from './harness.js';

const K = pool('kontena');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

function client(hosts: string[]): Etcd3 {
  const c = new Etcd3({ hosts, ...resilientClientOptions(5000) });
  cleanups.push(() => c.close());
  return c;
}

/** Three stores on three clients; node-0 creates the pool. */
async function setup(etcd: EtcdCluster) {
  const prefix = uniquePrefix();
  const stores = [0, 1, 2].map((i) => {
    const s = new IpamStore({
      client: client(etcd.endpoints),
      prefix,
      endpoint: etcd.endpoints.join(','),
    });
    cleanups.push(() => s.close());
    return { store: s, node: node(`node-${i}`) };
  });
  const first = stores[0];
  if (!first) throw new Error('no store');
  await first.store.requestPool({ network: K, node: first.node, subnet: net('10.70.0.0/16') });
  return { prefix, stores };
}

interface Outcome {
  granted: Array<{ address: string; node: string }>;
  failures: string[];
}

/**
 * allocateDuring runs 4 allocation loops per store until `fault` has finished and `tailMs`
 * more have passed, and returns every grant and every failure.
 */
async function allocateDuring(
  stores: Array<{ store: IpamStore; node: ReturnType<typeof node> }>,
  fault: () => Promise<void>,
  tailMs = 1000,
): Promise<Outcome> {
  const out: Outcome = { granted: [], failures: [] };
  let running = true;
  const loop = async (s: { store: IpamStore; node: ReturnType<typeof node> }) => {
    while (running) {
      try {
        const a = await s.store.requestAddress({ pool: K, node: s.node, kind: 'endpoint' });
        out.granted.push({ address: formatAddress(a.address), node: s.node });
      } catch (error) {
        out.failures.push(String(error));
      }
    }
  };
  const loops = stores.flatMap((s) => [loop(s), loop(s), loop(s), loop(s)]);
  await sleep(300);
  await fault();
  await sleep(tailMs);
  running = false;
  await Promise.all(loops);
  return out;
}

async function verify(etcd: EtcdCluster, prefix: string, out: Outcome): Promise<void> {
  expect(out.failures).toEqual([]);
  expect(out.granted.length).toBeGreaterThan(0);
  const addresses = out.granted.map((g) => g.address);
  expect(new Set(addresses).size).toBe(addresses.length);
  // Read from the members that are up: a plain etcd3 call has no retry of its own.
  const reader = client(etcd.members.filter((m) => m.process).map((m) => m.clientUrl));
  const dump = await dumpKeys(reader, prefix);
  for (const g of out.granted) {
    expect(dump[`addresses/kontena/${g.address}`], g.address).toMatchObject({ node: g.node });
  }
  expect(invariantProblems(dump)).toEqual([]);
}

async function leaderOf(etcd: EtcdCluster): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const name = await etcd.leader();
    if (name) return name;
    await sleep(100);
  }
  throw new Error('no etcd leader');
}

async function cluster(): Promise<EtcdCluster> {
  const etcd = await startEtcdCluster(3);
  cleanups.push(() => etcd.stop());
  return etcd;
}

describe('3-member etcd, one member fails while stores allocate', () => {
  test('leader SIGKILLed: no call fails, no address twice, every grant in etcd', async () => {
    const etcd = await cluster();
    const { prefix, stores } = await setup(etcd);
    const out = await allocateDuring(stores, async () => {
      await etcd.stopMember(await leaderOf(etcd), 'SIGKILL');
      await sleep(1500);
    });
    await verify(etcd, prefix, out);
  });

  test('leader frozen (SIGSTOP) then thawed: no call fails, no address twice, every grant in etcd', async () => {
    const etcd = await cluster();
    const { prefix, stores } = await setup(etcd);
    const out = await allocateDuring(stores, async () => {
      const leader = await leaderOf(etcd);
      etcd.freezeMember(leader);
      await sleep(3000);
      etcd.thawMember(leader);
    });
    await verify(etcd, prefix, out);
  });

  test('our own process stalls (a long GC pause): every attempt on the wire times out at once, and still no call fails', async () => {
    const etcd = await cluster();
    const { prefix, stores } = await setup(etcd);
    const out = await allocateDuring(stores, async () => {
      for (let stall = 0; stall < 2; stall++) {
        // Block the event loop past the 700 ms attempt deadline with calls in flight.
        const until = Date.now() + 1500;
        while (Date.now() < until) {
          // busy on purpose
        }
        await sleep(500);
      }
    });
    await verify(etcd, prefix, out);
  });

  test('a store whose member froze misses writes and a compaction, then allocates without duplicates', async () => {
    const etcd = await cluster();
    const prefix = uniquePrefix();
    const [m0, m1, m2] = etcd.members;
    if (!m0 || !m1 || !m2) throw new Error('3 members expected');
    // Store A talks to m2 only, so freezing m2 pauses A's watch while the others write on.
    const a = new IpamStore({ client: client([m2.clientUrl]), prefix, endpoint: m2.clientUrl });
    const writerClient = client([m0.clientUrl, m1.clientUrl]);
    const b = new IpamStore({ client: writerClient, prefix, endpoint: m0.clientUrl });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const A = node('node-a');
    const B = node('node-b');
    await b.requestPool({ network: K, node: B, subnet: net('10.71.0.0/24') });
    const granted: Array<{ address: string; node: string }> = [];
    const take = async (store: IpamStore, n: ReturnType<typeof node>) => {
      const got = await store.requestAddress({ pool: K, node: n, kind: 'endpoint' });
      granted.push({ address: formatAddress(got.address), node: n });
    };
    await take(a, A); // A's view is loaded and watching through m2
    etcd.freezeMember(m2.name);
    try {
      for (let i = 0; i < 60; i++) await take(b, B);
      // Free a few so that A's stale view would also be wrong about free ones.
      for (const g of granted.slice(1, 11)) {
        await b.releaseAddress({ pool: K, node: B, address: ip(g.address) });
      }
      const released = new Set(granted.splice(1, 10).map((g) => g.address));
      expect(released.size).toBe(10);
      for (let i = 0; i < 30; i++) await take(b, B);
      const { header } = await writerClient.kv.range({ key: Buffer.from(prefix) });
      await writerClient.kv.compact({ revision: header.revision, physical: true });
    } finally {
      etcd.thawMember(m2.name);
    }
    for (let i = 0; i < 40; i++) await take(a, A);
    const addresses = granted.map((g) => g.address);
    expect(new Set(addresses).size).toBe(addresses.length);
    const dump = await dumpKeys(writerClient, prefix);
    for (const g of granted) {
      expect(dump[`addresses/kontena/${g.address}`], g.address).toMatchObject({ node: g.node });
    }
    expect(invariantProblems(dump)).toEqual([]);
  });

  test('a view whose member lost the quorum hears about it (require-leader) and reloads', async () => {
    const etcd = await cluster();
    const prefix = uniquePrefix();
    const [m0, m1, m2] = etcd.members;
    if (!m0 || !m1 || !m2) throw new Error('3 members expected');
    const stale: string[] = [];
    const logger = {
      debug(fields: object, message?: string) {
        if (message === 'pool view stale') stale.push(String((fields as { why?: string }).why));
      },
      info() {},
      warn() {},
    };
    const a = new IpamStore({ client: client([m2.clientUrl]), prefix, logger });
    const b = new IpamStore({ client: client([m0.clientUrl, m1.clientUrl]), prefix });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const A = node('node-a');
    const B = node('node-b');
    // A /27 has no blocks: its hosts share the window and watch it, which is what this is about.
    await b.requestPool({ network: K, node: B, subnet: net('10.72.0.0/27') });
    const granted = [
      formatAddress((await a.requestAddress({ pool: K, node: A, kind: 'endpoint' })).address),
    ];
    await Promise.all([etcd.stopMember(m0.name), etcd.stopMember(m1.name)]);
    for (let i = 0; i < 100 && stale.length === 0; i++) await sleep(100);
    expect(stale).toEqual(['watch disconnected']);
    await Promise.all([etcd.startMember(m0.name), etcd.startMember(m1.name)]);
    for (let i = 0; i < 10; i++) {
      granted.push(
        formatAddress((await b.requestAddress({ pool: K, node: B, kind: 'endpoint' })).address),
      );
      granted.push(
        formatAddress((await a.requestAddress({ pool: K, node: A, kind: 'endpoint' })).address),
      );
    }
    expect(new Set(granted).size).toBe(granted.length);
  });
});
