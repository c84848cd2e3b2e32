/**
 * 2. Flat as pools fill: a /16 filled through the store, from empty to its last address. The
 * first and the last 1,000 allocations are timed one at a time; the middle is filled with 64
 * in flight to save time. The same is done for a naive allocator that lists the pool on every
 * request, as the original kontena-ipam did (its middle is written in big batches instead).
 */
import { startBenchEtcd } from './etcd.js';
import { NaiveAllocator } from './naive-allocator.js';
import type { Figure, Scenario } from './scenario.js';
import { inFlight, ratio, summarize, timed } from './stats.js';
import {
  hostRange,
  IpamStore,
  isStoreError,
  KeyLayout,
  parseNetworkName,
  parseNodeId,
  parsePoolId,
  parseSubnet,
  poolIdFor,
} from './workspace.js';

export const fill: Scenario = {
  id: 'fill',
  title: '2. Flat as pools fill',
  method:
    "One IpamStore fills a /16 (65,533 allocatable addresses: 65,534 hosts minus the gateway). The first 1,000 and the last 1,000 allocations are timed one at a time (mean latency); the middle is filled with 64 requests in flight. Then one more request must answer POOL_EXHAUSTED, and etcd must hold exactly one key per address. The naive allocator (benchmarks/naive-allocator.ts: list the pool's keys, take the lowest free address, create it if absent) is timed the same way on its own /16, its middle written in transactions of 100 puts.",
  async run(ctx) {
    const prefix = ctx.smoke ? 22 : 16;
    const timedCount = ctx.smoke ? 100 : 1000;
    // Near full, each naive request lists ~64k keys (hundreds of ms): 100 of them are enough.
    const naiveLastCount = 100;
    const etcd = await startBenchEtcd();
    const client = etcd.client();
    const node = parseNodeId('bench-host');
    const store = new IpamStore({ client, endpoint: etcd.endpoint });
    try {
      // --- the store
      const network = parseNetworkName('bench-fill');
      const pool = poolIdFor(network, false);
      const subnet = parseSubnet(`10.82.0.0/${prefix}`);
      await store.requestPool({ network, node, subnet });
      const capacity = Number(hostRange(subnet).count) - 1;
      const seen = new Set<bigint>();
      let duplicates = 0;
      const allocate = async (): Promise<void> => {
        const got = await store.requestAddress({ pool, node, kind: 'endpoint', attrs: {} });
        if (seen.has(got.address.value)) duplicates++;
        seen.add(got.address.value);
      };
      const sequential = async (n: number): Promise<number[]> => {
        const samples: number[] = [];
        for (let i = 0; i < n; i++) samples.push(await timed(allocate));
        return samples;
      };
      ctx.progress(`fill: store, first ${timedCount} of ${capacity} one at a time`);
      const first = summarize(await sequential(timedCount));
      const middle = capacity - 2 * timedCount;
      ctx.progress(`fill: store, ${middle} with 64 in flight`);
      const middleMs = await inFlight(middle, 64, allocate);
      ctx.progress(`fill: store, last ${timedCount} one at a time`);
      const last = summarize(await sequential(timedCount));
      const exhausted = await store
        .requestAddress({ pool, node, kind: 'endpoint', attrs: {} })
        .then(
          () => false,
          (error: unknown) => isStoreError(error, 'POOL_EXHAUSTED'),
        );
      if (!exhausted) {
        throw new Error(
          `request ${capacity + 1} on a full /${prefix} did not answer POOL_EXHAUSTED`,
        );
      }
      const keysInEtcd = await client.getAll().prefix(new KeyLayout().addresses(pool)).count();

      // --- the naive allocator
      const naivePool = parsePoolId('bench-naive');
      const naiveSubnet = parseSubnet(`10.83.0.0/${prefix}`);
      const naive = new NaiveAllocator({ client, subnet: naiveSubnet, pool: naivePool });
      const lastHost = Number(hostRange(naiveSubnet).count);
      // Its gateway, like the store's: offset 1.
      await naive.prefill(1, 1);
      ctx.progress(`fill: naive, first ${timedCount} one at a time`);
      const naiveFirst: number[] = [];
      for (let i = 0; i < timedCount; i++) naiveFirst.push(await timed(() => naive.allocate()));
      ctx.progress(`fill: naive, prefill to ${naiveLastCount} free`);
      await naive.prefill(timedCount + 2, lastHost - naiveLastCount);
      ctx.progress(`fill: naive, last ${naiveLastCount} one at a time`);
      const naiveLast: number[] = [];
      for (let i = 0; i < naiveLastCount; i++) naiveLast.push(await timed(() => naive.allocate()));
      const nf = summarize(naiveFirst);
      const nl = summarize(naiveLast);

      const figures: Figure[] = [
        {
          id: 'fill.first-mean',
          name: `store: first ${timedCount}, mean`,
          value: first.mean,
          unit: 'ms',
          digits: 3,
          note: `p50 ${first.p50.toFixed(3)} ms, p99 ${first.p99.toFixed(3)} ms`,
        },
        {
          id: 'fill.last-mean',
          name: `store: last ${timedCount}, mean`,
          value: last.mean,
          unit: 'ms',
          digits: 3,
          note: `p50 ${last.p50.toFixed(3)} ms, p99 ${last.p99.toFixed(3)} ms`,
        },
        {
          id: 'fill.ratio',
          name: 'store: last / first (mean)',
          value: ratio(last.mean, first.mean),
          unit: '×',
          target: { op: '<=', value: 1.3, kind: 'performance' },
        },
        {
          id: 'fill.middle-rate',
          name: 'store: middle fill, 64 in flight',
          value: (middle / middleMs) * 1000,
          unit: 'allocations/s',
          digits: 0,
          note: `${middle} allocations in ${(middleMs / 1000).toFixed(1)} s`,
        },
        {
          id: 'fill.duplicates',
          name: 'addresses handed out twice',
          value: duplicates + (seen.size === capacity ? 0 : Math.abs(capacity - seen.size)),
          unit: '',
          digits: 0,
          target: { op: '==', value: 0, kind: 'invariant' },
          note: `${seen.size} distinct of ${capacity}; etcd holds ${keysInEtcd} keys (gateway included); request ${capacity + 1} answered POOL_EXHAUSTED`,
        },
        {
          id: 'fill.naive-first-mean',
          name: `naive: first ${timedCount}, mean`,
          value: nf.mean,
          unit: 'ms',
          digits: 3,
        },
        {
          id: 'fill.naive-last-mean',
          name: `naive: last ${naiveLastCount}, mean`,
          value: nl.mean,
          unit: 'ms',
          digits: 3,
          note: `p50 ${nl.p50.toFixed(3)} ms, p99 ${nl.p99.toFixed(3)} ms`,
        },
        {
          id: 'fill.naive-ratio',
          name: 'naive: last / first (mean)',
          value: ratio(nl.mean, nf.mean),
          unit: '×',
          note: 'for comparison: the original approach',
        },
      ];
      if (keysInEtcd !== capacity + 1) {
        throw new Error(`etcd holds ${keysInEtcd} address keys, expected ${capacity + 1}`);
      }
      return figures;
    } finally {
      await store.close();
      await etcd.stop();
    }
  },
};
