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
  parseNodeId,
  parsePoolId,
  parseSubnet,
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
    const stores: IpamStore[] = clients.map(
      (client) => new IpamStore({ client, endpoint: etcd.endpoint }),
    );
    const nodes: NodeId[] = stores.map((_, i) => parseNodeId(`host-${i}`));
    const pool = parsePoolId('fleet');
    const subnet = parseSubnet('10.70.0.0/16');
    try {
      progress(`${n} hosts join one /16 over ${size.joinWindowMs} ms`);
      const bytes0 = await etcd.counter(SENT_BYTES);
      const joins = await atRandom(n, size.joinWindowMs, (i) =>
        (stores[i] as IpamStore).requestPool({ network: pool, node: nodes[i] as NodeId, subnet }),
      );
      // Each host's first allocation loads its view of the pool: part of "bytes read at start".
      const first = await atRandom(n, size.allocateWindowMs / PER_HOST, (i) =>
        (stores[i] as IpamStore).requestAddress({
          pool,
          node: nodes[i] as NodeId,
          kind: 'endpoint',
        }),
      );
      const bytesPerHost = ((await etcd.counter(SENT_BYTES)) - bytes0) / n;
      progress(`${n} hosts × ${PER_HOST - 1} more allocations over ${size.allocateWindowMs} ms`);
      const events0 = await etcd.counter(EVENTS);
      const granted: string[] = [];
      const rest = await atRandom(n * (PER_HOST - 1), size.allocateWindowMs, async (i) => {
        const host = i % n;
        const a = await (stores[host] as IpamStore).requestAddress({
          pool,
          node: nodes[host] as NodeId,
          kind: 'endpoint',
        });
        granted.push(`${a.address.value}`);
      });
      const eventsPerAllocation =
        ((await etcd.counter(EVENTS)) - events0) / Math.max(1, rest.latencies.length);
      const status = await (stores[0] as IpamStore).getPool(pool);
      const twice = granted.length - new Set(granted).size;
      const join = summarize(joins.latencies);
      const allocate = summarize([...first.latencies, ...rest.latencies]);
      const floorStats = summarize(floor.latencies);
      const joinFailures = joins.failures.length;
      const allocationFailures = first.failures.length + rest.failures.length;
      const joinNote = joins.failures[0];
      const allocationNote = [...first.failures, ...rest.failures][0];
      return [
        {
          id: `scale.${tag}.join-failures`,
          name: `${n} hosts: joins failed`,
          value: joinFailures,
          unit: 'joins',
          digits: 0,
          target: { op: '==', value: 0, kind: 'performance' },
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
          note: `p50 ${allocate.p50.toFixed(1)} ms; floor (bare create-if-absent txns, same clients count and window) p50 ${floorStats.p50.toFixed(1)} / p99 ${floorStats.p99.toFixed(1)} ms`,
        },
        {
          id: `scale.${tag}.allocation-failures`,
          name: `${n} hosts × ${PER_HOST}: allocations failed`,
          value: allocationFailures,
          unit: 'allocations',
          digits: 0,
          target: { op: '==', value: 0, kind: 'performance' },
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
          note: 'every host watches every address of the pool, so this grows with N (the fan-out)',
        },
        {
          id: `scale.${tag}.bytes-per-host`,
          name: `${n} hosts: bytes etcd sent per host to join and first allocate`,
          value: bytesPerHost,
          unit: 'B',
          digits: 0,
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
    "N simulated hosts (N = 10, 100, 1,000; --smoke: 10) in one process, each with its own etcd3 client, IpamStore and node id, join one static /16 at random moments over a window (1 s, 2 s, 10 s), then each takes 10 addresses at random moments over another (2 s, 5 s, 10 s). All hosts share the machine, so the figures include the whole fleet's client work. The floor is N bare clients doing 10 create-if-absent transactions each over the same window, measured first in the same run. Addresses granted twice are counted from what the stores answered; watch events and bytes come from etcd's own counters.",
  async run(ctx) {
    const figures: Figure[] = [];
    for (const size of ctx.smoke ? SMOKE : FULL)
      figures.push(...(await measure(size, ctx.progress)));
    return figures;
  },
};
