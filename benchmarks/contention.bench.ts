/**
 * 3. Contention across hosts: three IpamStores (three node ids, each with its own etcd3 client,
 * as three Docker hosts would have) allocate from one shared /16 with 64 requests in flight
 * each, 30,000 allocations in all. Their throughput is compared with bare create-if-absent
 * transactions on the same three clients at the same concurrency (half run before the stores,
 * half after, so drift hits both); duplicates are counted by reading etcd back.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { startBenchEtcd, WRITES_COUNTER } from './etcd.js';
import { conflictShare, ObserverCounts, observedStore } from './observer.js';
import { type Figure, failedRequests, type Scenario } from './scenario.js';
import { inFlight, ratio, summarize } from './stats.js';
import {
  type etcd3,
  type IpamStore,
  isStoreError,
  KeyLayout,
  type NodeId,
  parseAddress,
  parseNetworkName,
  parseNodeId,
  parseSubnet,
  poolIdFor,
} from './workspace.js';

type Etcd3 = InstanceType<typeof etcd3.Etcd3>;

const HOSTS = ['host-a', 'host-b', 'host-c'];
const IN_FLIGHT = 64;

/** split divides `total` over the hosts (the first ones take the remainder). */
function split(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}

export const contention: Scenario = {
  id: 'contention',
  title: '3. Contention across hosts',
  method:
    "Three IpamStores (node ids host-a, host-b, host-c, each with its own etcd3 client) share one static /16 pool and allocate 30,000 addresses in all, 64 requests in flight per host. The floor is 30,000 bare create-if-absent transactions on distinct keys over the same three clients at the same concurrency, half before and half after the stores. Afterwards every address key is read back from etcd: each allocation must be there, with the node that was told it got it, and none may have been handed out twice. CAS conflicts come from the store's observer; etcd's own count of write transactions (raft proposals, failed compares included) is shown beside it. The store merges a host's waiting allocations into one transaction (group commit: while 4 are on the wire the next ones go together, up to 32); the bare floor sends one transaction per key, as a store without group commit did (0.81–0.87× of it before group commit).",
  async run(ctx) {
    const total = ctx.smoke ? 600 : 30_000;
    const prefix = ctx.smoke ? 20 : 16;
    const etcd = await startBenchEtcd();
    const counts = new ObserverCounts();
    const clients: Etcd3[] = HOSTS.map(() => etcd.client());
    const nodes: NodeId[] = HOSTS.map((h) => parseNodeId(h));
    const stores: IpamStore[] = clients.map((client) =>
      observedStore({ client, endpoint: etcd.endpoint }, counts),
    );
    try {
      const network = parseNetworkName('bench-shared');
      const pool = poolIdFor(network, false);
      const subnet = parseSubnet(`10.84.0.0/${prefix}`);
      for (const [i, store] of stores.entries()) {
        await store.requestPool({ network, node: nodes[i] as NodeId, subnet });
      }
      // Warm-up: every store loads its view of the pool (one read, one watch) before timing.
      for (const [i, store] of stores.entries()) {
        await store.requestAddress({ pool, node: nodes[i] as NodeId, kind: 'endpoint' });
      }
      const handedOut = new Map<bigint, string>();
      let duplicates = 0;
      const failures = new Map<string, number>();
      const latencies: number[] = [];
      const record = (address: bigint, node: string): void => {
        if (handedOut.has(address)) duplicates++;
        else handedOut.set(address, node);
      };
      // The warm-up allocations count like the others.
      const warm = await clients[0]!.getAll().prefix(new KeyLayout().addresses(pool)).json();
      for (const [key, value] of Object.entries(warm)) {
        const rec = value as { node: string; kind: string };
        if (rec.kind === 'endpoint') {
          record(addressValue(key), rec.node);
        }
      }

      const value = JSON.stringify({
        node: 'host-a',
        kind: 'endpoint',
        attrs: {},
        at: new Date().toISOString(),
        token: randomBytes(12).toString('base64url'),
      });
      let bareKey = 0;
      const bare = async (n: number): Promise<number> =>
        Math.max(
          ...(await Promise.all(
            split(n, clients.length).map((share, h) =>
              inFlight(share, IN_FLIGHT, async () => {
                const c = clients[h] as Etcd3;
                const key = `/bench/bare/${bareKey++}`;
                const res = await c
                  .if(key, 'Create', '==', 0)
                  .then(c.put(key).value(value))
                  .commit();
                if (!res.succeeded) throw new Error(`bare create of ${key} lost its compare`);
              }),
            ),
          )),
        );
      // Warm the bare path too (gRPC channels, JIT).
      await bare(Math.min(total / 10, 1000));

      const bareHalf = Math.floor(total / 2);
      ctx.progress(`contention: ${bareHalf} bare txns, ${IN_FLIGHT} in flight × 3 clients`);
      const bareMsA = await bare(bareHalf);

      ctx.progress(`contention: ${total} allocations, ${IN_FLIGHT} in flight × 3 stores`);
      counts.reset();
      const writesBefore = await etcd.counter(WRITES_COUNTER);
      const t0 = performance.now();
      await Promise.all(
        split(total, stores.length).map((share, h) =>
          inFlight(share, IN_FLIGHT, async () => {
            const node = nodes[h] as NodeId;
            const start = performance.now();
            try {
              const got = await (stores[h] as IpamStore).requestAddress({
                pool,
                node,
                kind: 'endpoint',
              });
              latencies.push(performance.now() - start);
              record(got.address.value, node);
            } catch (error) {
              const code = isStoreError(error) ? error.code : String(error);
              failures.set(code, (failures.get(code) ?? 0) + 1);
            }
          }),
        ),
      );
      const storeMs = performance.now() - t0;
      const writes = (await etcd.counter(WRITES_COUNTER)) - writesBefore;
      const won = latencies.length;

      ctx.progress(`contention: ${total - bareHalf} bare txns`);
      const bareMsB = await bare(total - bareHalf);

      // Read every address back: what etcd holds is the truth.
      const inEtcd = await clients[0]!.getAll().prefix(new KeyLayout().addresses(pool)).json();
      let missing = 0;
      let endpoints = 0;
      const owner = new Map<bigint, string>();
      for (const [key, rec] of Object.entries(inEtcd)) {
        const { node, kind } = rec as { node: string; kind: string };
        if (kind !== 'endpoint') continue;
        endpoints++;
        owner.set(addressValue(key), node);
      }
      for (const [address, node] of handedOut) {
        if (owner.get(address) !== node) missing++;
      }
      const storeRate = (won / storeMs) * 1000;
      const bareRate = (total / (bareMsA + bareMsB)) * 1000;
      const lat = summarize(latencies);
      const figures: Figure[] = [
        {
          id: 'contention.store-rate',
          name: '3 stores × 64 in flight',
          value: storeRate,
          unit: 'allocations/s',
          digits: 0,
          note: `${won} allocations in ${(storeMs / 1000).toFixed(1)} s; latency p50 ${lat.p50.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms`,
        },
        {
          id: 'contention.bare-rate',
          name: 'bare txns, 3 clients × 64 in flight',
          value: bareRate,
          unit: 'txns/s',
          digits: 0,
        },
        {
          id: 'contention.ratio',
          name: 'store / bare throughput',
          value: ratio(storeRate, bareRate),
          unit: '×',
          target: { op: '>=', value: 0.9, kind: 'performance' },
        },
        conflictShare(
          counts,
          {
            id: 'contention.conflicts',
            name: 'CAS conflicts (share of allocation txns)',
            target: { op: '<=', value: 5, kind: 'performance' },
          },
          'allocate',
          won,
        ),
        {
          id: 'contention.etcd-writes',
          name: 'etcd write txns per allocation',
          value: won > 0 ? writes / won : undefined,
          unit: '',
          digits: 3,
          note: `${writes} raft proposals for ${won} allocations: a busy host's allocations go to etcd merged (group commit, store/src/commit-batch.ts), so one proposal carries ${(won / Math.max(1, writes)).toFixed(1)} on average, block claims and lost compares included`,
        },
        failedRequests('contention.failed', failures),
        {
          id: 'contention.duplicates',
          name: 'addresses handed out twice (read back from etcd)',
          value: duplicates + missing,
          unit: '',
          digits: 0,
          target: { op: '==', value: 0, kind: 'invariant' },
          note: `${handedOut.size} distinct addresses handed out, ${endpoints} endpoint records in etcd, ${missing} not there under the node told it got them`,
        },
      ];
      return figures;
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await etcd.stop();
    }
  },
};

/** addressValue is the address at the end of an address key. */
function addressValue(key: string): bigint {
  return parseAddress(key.slice(key.lastIndexOf('/') + 1)).value;
}
