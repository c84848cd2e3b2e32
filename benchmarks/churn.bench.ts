/**
 * 4. Pool churn: three hosts create and release 1,000 dynamic pools (subnet chosen from the
 * supernet) at once. Two pools whose subnets overlap must never be alive at the same time:
 * checked from each pool's lifetime as its host saw it, from etcd's full history of subnet
 * reservations (a watch replays every put and delete in revision order), and by the store's
 * consistency check at the end.
 */
import { performance } from 'node:perf_hooks';
import { startBenchEtcd, WRITES_COUNTER } from './etcd.js';
import { ObserverCounts, observedStore } from './observer.js';
import { type Figure, failedRequests, type Scenario } from './scenario.js';
import { inFlight, summarize } from './stats.js';
import {
  checkConsistency,
  formatSubnet,
  IpamStore,
  isStoreError,
  KeyLayout,
  type NodeId,
  parseNetworkName,
  parseNodeId,
  parseSubnet,
  type Subnet,
  subnetsOverlap,
} from './workspace.js';

const HOSTS = ['host-a', 'host-b', 'host-c'];
/** Pools each host has in flight: Docker hosts create networks a few at a time. */
const IN_FLIGHT = 4;

/** Life is one pool from its host's point of view: held from `from` until `to` (ms). */
interface Life {
  subnet: Subnet;
  from: number;
  to: number;
}

/**
 * ReservationHistory follows every reservation put and delete through a watch and counts each
 * put that overlapped a reservation still alive at that revision.
 */
class ReservationHistory {
  private readonly live = new Map<string, Subnet>();
  private readonly prefix: string;
  private seen = 0n;
  puts = 0;
  overlaps = 0;
  maxLive = 0;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  put(key: string, revision: string): void {
    const subnet = parseSubnet(key.slice(this.prefix.length));
    this.puts++;
    for (const other of this.live.values()) if (subnetsOverlap(other, subnet)) this.overlaps++;
    this.live.set(key, subnet);
    this.maxLive = Math.max(this.maxLive, this.live.size);
    this.saw(revision);
  }

  delete(key: string, revision: string): void {
    this.live.delete(key);
    this.saw(revision);
  }

  saw(revision: string): void {
    const r = BigInt(revision);
    if (r > this.seen) this.seen = r;
  }

  /** caughtUp waits until the watch has delivered every change up to `revision`. */
  async caughtUp(revision: bigint): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.seen < revision) {
      if (Date.now() > deadline) throw new Error(`watch stuck at ${this.seen} < ${revision}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** lifeOverlaps counts pairs of pools alive at once (as their hosts saw it) with overlapping subnets. */
function lifeOverlaps(lives: Life[]): number {
  const byStart = [...lives].sort((a, b) => a.from - b.from);
  let overlaps = 0;
  for (let i = 0; i < byStart.length; i++) {
    const a = byStart[i] as Life;
    for (let j = i + 1; j < byStart.length; j++) {
      const b = byStart[j] as Life;
      if (b.from >= a.to) break;
      if (subnetsOverlap(a.subnet, b.subnet)) overlaps++;
    }
  }
  return overlaps;
}

/** lostPerPool: lost compares (any transition) per pool created and released, from the observer. */
function lostPerPool(counts: ObserverCounts, created: number): Figure {
  const base = { id: 'churn.conflicts', name: 'lost compares per pool (create + release)' };
  if (!counts.reporting) {
    return {
      ...base,
      value: undefined,
      unit: '',
      note: 'n/a: the store called its observer not once',
    };
  }
  const lost = [...counts.conflicts.values()].reduce((a, b) => a + b, 0);
  const byOp = [...counts.conflicts].map(([op, n]) => `${op} ${n}`).join(', ');
  return {
    ...base,
    value: created > 0 ? lost / created : undefined,
    unit: '',
    digits: 2,
    note: `store observer: ${lost} lost compares (${byOp || 'none'}), each followed by a re-read and a retry`,
  };
}

export const churn: Scenario = {
  id: 'churn',
  title: '4. Pool churn',
  method:
    'Three IpamStores (own clients, node ids host-a/b/c) each create and release their share of 1,000 dynamic pools (RequestPool without a subnet: the first free /24 of 10.80.0.0/12), 4 pools in flight per host; each pool is released as soon as it is created. Overlaps are counted three ways: pools alive at the same time (from the moment requestPool returned until releasePool was called) with overlapping subnets; every reservation etcd ever held, replayed in revision order by a watch from a fourth client, checked against the reservations alive at that revision; and checkConsistency over the whole key space at the end, which must also find no pool or reservation left.',
  async run(ctx) {
    const total = ctx.smoke ? 30 : 1000;
    const etcd = await startBenchEtcd();
    const counts = new ObserverCounts();
    const nodes: NodeId[] = HOSTS.map((h) => parseNodeId(h));
    const stores = HOSTS.map(() =>
      observedStore({ client: etcd.client(), endpoint: etcd.endpoint }, counts),
    );
    const watcherClient = etcd.client();
    const watcher = new IpamStore({ client: watcherClient, endpoint: etcd.endpoint });
    const keys = new KeyLayout();
    const history = new ReservationHistory(keys.subnetsPrefix);
    // The whole store's key space, so that the last change of all tells when the watch caught up.
    const watch = await watcherClient.watch().prefix(keys.root).create();
    watch
      .on('put', (kv) => {
        const key = kv.key.toString();
        if (key.startsWith(keys.subnetsPrefix)) history.put(key, kv.mod_revision);
        else history.saw(kv.mod_revision);
      })
      .on('delete', (kv) => {
        const key = kv.key.toString();
        if (key.startsWith(keys.subnetsPrefix)) history.delete(key, kv.mod_revision);
        else history.saw(kv.mod_revision);
      });
    try {
      const lives: Life[] = [];
      const createMs: number[] = [];
      const failures = new Map<string, number>();
      ctx.progress(`churn: ${total} dynamic pools, ${IN_FLIGHT} in flight × 3 hosts`);
      const writesBefore = await etcd.counter(WRITES_COUNTER);
      const t0 = performance.now();
      await Promise.all(
        stores.map((store, h) => {
          const node = nodes[h] as NodeId;
          const share = Math.floor(total / HOSTS.length) + (h < total % HOSTS.length ? 1 : 0);
          return inFlight(share, IN_FLIGHT, async (i) => {
            const network = parseNetworkName(`churn-${HOSTS[h]}-${i}`);
            const start = performance.now();
            try {
              const pool = await store.requestPool({ network, node });
              const from = performance.now();
              createMs.push(from - start);
              const to = performance.now();
              const released = await store.releasePool({ pool: pool.id, node });
              lives.push({ subnet: pool.subnet, from, to });
              if (!released.removed) throw new Error(`releasing ${network} did not remove it`);
            } catch (error) {
              if (!isStoreError(error)) throw error;
              failures.set(error.code, (failures.get(error.code) ?? 0) + 1);
            }
          });
        }),
      );
      const elapsed = performance.now() - t0;
      const writes = (await etcd.counter(WRITES_COUNTER)) - writesBefore;
      await history.caughtUp(await watcher.revision());
      const report = await checkConsistency({ client: watcherClient });
      const leftovers = report.pools + report.reservations + report.addresses;
      const overlaps =
        lifeOverlaps(lives) +
        history.overlaps +
        report.findings.filter((f) => f.kind === 'overlapping-subnets').length;
      const created = lives.length;
      const lat = summarize(createMs);
      const distinct = new Set(lives.map((l) => formatSubnet(l.subnet))).size;
      const figures: Figure[] = [
        {
          id: 'churn.rate',
          name: 'pools created and released',
          value: (created / elapsed) * 1000,
          unit: 'pools/s',
          digits: 1,
          note: `${created} pools in ${(elapsed / 1000).toFixed(1)} s over ${distinct} distinct subnets; create p50 ${lat.p50.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms`,
        },
        lostPerPool(counts, created),
        {
          id: 'churn.etcd-writes',
          name: 'etcd write txns per pool (create + release)',
          value: created > 0 ? writes / created : undefined,
          unit: '',
          digits: 2,
          note: `${writes} raft proposals; without lost compares it would be 2 per pool`,
        },
        failedRequests('churn.failed', failures),
        {
          id: 'churn.overlaps',
          name: 'overlapping pools',
          value: overlaps,
          unit: '',
          digits: 0,
          target: { op: '==', value: 0, kind: 'invariant' },
          note: `lifetimes of ${created} pools; ${history.puts} reservations in etcd's history (at most ${history.maxLive} alive at once); final consistency check`,
        },
        {
          id: 'churn.leftovers',
          name: 'pools, reservations or addresses left',
          value: leftovers + report.findings.length,
          unit: '',
          digits: 0,
          target: { op: '==', value: 0, kind: 'invariant' },
          note:
            report.findings.length > 0
              ? report.findings.map((f) => f.message).join('; ')
              : 'checkConsistency: no findings',
        },
      ];
      return figures;
    } finally {
      await watch.cancel();
      await Promise.all([...stores, watcher].map((s) => s.close()));
      await etcd.stop();
    }
  },
};
