/**
 * 7. Fleet scale: N simulated hosts in one process (each its own etcd3 client and IpamStore,
 * distinct node ids) join one static /16 at random moments over a window, then each allocates
 * 10 addresses at random moments over another. All hosts share this machine's CPU, so the
 * figures count the whole fleet's client work. Beside them, a floor from the same run: N bare
 * etcd3 clients each doing 10 create-if-absent transactions of an address record's size over
 * the same window. etcd's own counters give the watch events it sent per allocation and the
 * bytes it sent per host while the fleet joined and made its first allocation.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { startBenchEtcd } from './etcd.js';
import type { Figure, Scenario } from './scenario.js';
import { summarize } from './stats.js';
import {
  type etcd3,
  IpamStore,
  type NodeId,
  parseNetworkName,
  parseNodeId,
  parseSubnet,
  poolIdFor,
} from './workspace.js';

type Etcd3 = InstanceType<typeof etcd3.Etcd3>;

/** One fleet size: how many hosts, over which windows (ms). */
interface Size {
  hosts: number;
  joinWindowMs: number;
  allocateWindowMs: number;
}

const FULL: readonly Size[] = [
  { hosts: 10, joinWindowMs: 1_000, allocateWindowMs: 2_000 },
  { hosts: 100, joinWindowMs: 2_000, allocateWindowMs: 5_000 },
  { hosts: 1_000, joinWindowMs: 10_000, allocateWindowMs: 10_000 },
];
const SMOKE: readonly Size[] = [{ hosts: 10, joinWindowMs: 500, allocateWindowMs: 500 }];
const PER_HOST = 10;
// etcd's counters: events it sent to watchers, and bytes it sent to clients over gRPC.
const EVENTS = 'etcd_debugging_mvcc_events_total';
const SENT_BYTES = 'etcd_network_client_grpc_sent_bytes_total';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** atRandom runs `op(i)` for every i at a random moment within `windowMs`; latencies in ms. */
async function atRandom(
  count: number,
  windowMs: number,
  op: (i: number) => Promise<unknown>,
): Promise<{ latencies: number[]; failures: string[] }> {
  const latencies: number[] = [];
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      await sleep(Math.random() * windowMs);
      const start = performance.now();
      try {
        await op(i);
        latencies.push(performance.now() - start);
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }),
  );
  return { latencies, failures };
}

async function measure(size: Size, progress: (m: string) => void): Promise<Figure[]> {
  const etcd = await startBenchEtcd();
  const n = size.hosts;
  const tag = `n${n}`;
  try {
    // The floor: bare clients, each 10 create-if-absent txns of an address record's size.
    const bare: Etcd3[] = Array.from({ length: n }, () => etcd.client());
    const value = randomBytes(60).toString('base64');
    await Promise.all(bare.map((c, i) => c.put(`/warm/${i}`).value('x')));
    const floor = await atRandom(n * PER_HOST, size.allocateWindowMs, async (i) => {
      const key = `/floor/${i}`;
      const c = bare[i % n] as Etcd3;
      await c.if(key, 'Create', '==', 0).then(c.put(key).value(value)).commit();
    });
    for (const c of bare) c.close();

    const clients = Array.from({ length: n }, () => etcd.client());
    let stores: IpamStore[] = clients.map(
      (client) => new IpamStore({ client, endpoint: etcd.endpoint }),
    );
    const nodes: NodeId[] = stores.map((_, i) => parseNodeId(`host-${i}`));
    const network = parseNetworkName('fleet');
    const pool = poolIdFor(network, false);
    const subnet = parseSubnet('10.70.0.0/16');
    try {
      progress(`${n} hosts join one /16 over ${size.joinWindowMs} ms`);
      const bytes0 = await etcd.counter(SENT_BYTES);
      const joins = await atRandom(n, size.joinWindowMs, (i) =>
        (stores[i] as IpamStore).requestPool({ network, node: nodes[i] as NodeId, subnet }),
      );
      progress(`${n} hosts × ${PER_HOST} allocations over ${size.allocateWindowMs} ms`);
      // Like the floor: every allocation at a random moment over the window. A host's first one
      // is noted apart (its join claimed its block and read its view, so it should cost no more).
      const events0 = await etcd.counter(EVENTS);
      const granted: string[] = [];
      const started = new Set<number>();
      const firstLatencies: number[] = [];
      const laterLatencies: number[] = [];
      const allocations = await atRandom(n * PER_HOST, size.allocateWindowMs, async (i) => {
        const host = i % n;
        const isFirst = !started.has(host);
        started.add(host);
        const t0 = performance.now();
        const a = await (stores[host] as IpamStore).requestAddress({
          pool,
          node: nodes[host] as NodeId,
          kind: 'endpoint',
        });
        (isFirst ? firstLatencies : laterLatencies).push(performance.now() - t0);
        granted.push(`${a.address.value}`);
      });
      const eventsPerAllocation =
        ((await etcd.counter(EVENTS)) - events0) / Math.max(1, allocations.latencies.length);
      const bytesPerHost = ((await etcd.counter(SENT_BYTES)) - bytes0) / n;
      // A restart storm: every host's process starts again (a new store on its connection) and
      // allocates once, all over the join window. What each reads is its pool, its own claims
      // and its own blocks: nothing that grows with N.
      progress(`${n} hosts restart and allocate over ${size.joinWindowMs} ms`);
      await Promise.all(stores.map((s) => s.close()));
      stores = clients.map((client) => new IpamStore({ client, endpoint: etcd.endpoint }));
      const bytes1 = await etcd.counter(SENT_BYTES);
      const restart = await atRandom(n, size.joinWindowMs, async (i) => {
        const a = await (stores[i] as IpamStore).requestAddress({
          pool,
          node: nodes[i] as NodeId,
          kind: 'endpoint',
        });
        granted.push(`${a.address.value}`);
      });
      const restartBytesPerHost = ((await etcd.counter(SENT_BYTES)) - bytes1) / n;
      const status = await (stores[0] as IpamStore).getPool(pool);
      const twice = granted.length - new Set(granted).size;
      const join = summarize(joins.latencies);
      const allocate = summarize(allocations.latencies);
      const floorStats = summarize(floor.latencies);
      const joinFailures = joins.failures.length;
      const allocationFailures = allocations.failures.length + restart.failures.length;
      const joinNote = joins.failures[0];
      const allocationNote = [...allocations.failures, ...restart.failures][0];
      return [
        {
          id: `scale.${tag}.join-failures`,
          name: `${n} hosts: joins failed`,
          value: joinFailures,
          unit: 'joins',
          digits: 0,
          // A smoke run fails on a failed join: else 0 holders after 10 failed joins would meet
          // the holders invariant below (n − joinFailures).
          target: { op: '==', value: 0, kind: 'performance', smoke: 'invariant' },
          ...(joinNote ? { note: joinNote.slice(0, 160) } : {}),
        },
        {
          id: `scale.${tag}.join-p99`,
          name: `${n} hosts: join p50 / p99`,
          value: join.p99,
          unit: 'ms',
          digits: 1,
          target: { op: '<=', value: 1000, kind: 'performance' },
          note: `p50 ${join.p50.toFixed(1)} ms, max ${join.max.toFixed(0)} ms`,
        },
        {
          id: `scale.${tag}.holders`,
          name: `${n} hosts: holders of the pool in etcd`,
          value: Object.keys(status?.holds ?? {}).length,
          unit: 'hosts',
          digits: 0,
          target: { op: '==', value: n - joinFailures, kind: 'invariant' },
        },
        {
          id: `scale.${tag}.allocation-p99`,
          name: `${n} hosts × ${PER_HOST}: allocation p99`,
          value: allocate.p99,
          unit: 'ms',
          digits: 1,
          target: { op: '<=', value: 50, kind: 'performance' },
          note: `p50 ${allocate.p50.toFixed(1)} ms; each host's first (its join claimed its block) p99 ${summarize(firstLatencies).p99.toFixed(1)} ms, the others p99 ${summarize(laterLatencies).p99.toFixed(1)} ms; floor (bare create-if-absent txns, same clients count and window) p50 ${floorStats.p50.toFixed(1)} / p99 ${floorStats.p99.toFixed(1)} ms`,
        },
        {
          id: `scale.${tag}.allocation-failures`,
          name: `${n} hosts × ${PER_HOST}: allocations failed`,
          value: allocationFailures,
          unit: 'allocations',
          digits: 0,
          // A smoke run fails on a failed allocation: zero grants would mean zero duplicates.
          target: { op: '==', value: 0, kind: 'performance', smoke: 'invariant' },
          ...(allocationNote ? { note: allocationNote.slice(0, 160) } : {}),
        },
        {
          id: `scale.${tag}.twice`,
          name: `${n} hosts × ${PER_HOST}: addresses granted twice`,
          value: twice,
          unit: 'addresses',
          digits: 0,
          target: { op: '==', value: 0, kind: 'invariant' },
        },
        {
          id: `scale.${tag}.events-per-allocation`,
          name: `${n} hosts: watch events etcd sent per allocation`,
          value: eventsPerAllocation,
          unit: 'events',
          digits: 1,
          target: { op: '<=', value: 1, kind: 'performance' },
          note: 'hosts allocate inside blocks of their own and watch nothing (a pool too small for blocks, or out of free blocks, is watched by the hosts that share it)',
        },
        {
          id: `scale.${tag}.bytes-per-host`,
          name: `${n} hosts: bytes etcd sent per host to join and make its ${PER_HOST} allocations`,
          value: bytesPerHost,
          unit: 'B',
          digits: 0,
        },
        {
          id: `scale.${tag}.restart-bytes-per-host`,
          name: `${n} hosts restart at once: bytes etcd sent per host for its first allocation`,
          value: restartBytesPerHost,
          unit: 'B',
          digits: 0,
          note: `restart allocation p99 ${summarize(restart.latencies).p99.toFixed(1)} ms`,
        },
      ];
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  } finally {
    await etcd.stop();
  }
}

export const scale: Scenario = {
  id: 'scale',
  title: '7. Fleet scale',
  method:
    "N simulated hosts (N = 10, 100, 1,000; --smoke: 10) in one process, each with its own etcd3 client, IpamStore and node id, join one static /16 at random moments over a window (1 s, 2 s, 10 s), then all N × 10 allocations happen at random moments over another (2 s, 5 s, 10 s), like the floor's, then every host restarts (a new store on its connection) and allocates once over the join window: the restart storm. All hosts share the machine, so the figures include the whole fleet's client work. The floor is N bare clients doing 10 create-if-absent transactions each over the same window, measured first in the same run. Addresses granted twice are counted from what the stores answered; watch events and bytes come from etcd's own counters.",
  async run(ctx) {
    const figures: Figure[] = [];
    for (const size of ctx.smoke ? SMOKE : FULL)
      figures.push(...(await measure(size, ctx.progress)));
    return figures;
  },
};
