/**
 * /metrics reads etcd at most once per interval however many scrapes arrive: SharedRead on
 * its own with a clock of the test's, then the metrics server against a real etcd, counting
 * the store's etcd calls with its observer.
 */
import { parseSubnet } from '@kontena-ipam/cidr';
import { parseNetworkName, parseNodeId, parsePoolId } from '@kontena-ipam/store';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { IpamMetrics, type MetricsServer, startMetricsServer } from '../src/metrics.js';
import { type OpenStore, openStore } from '../src/open-store.js';
import { SharedRead } from '../src/shared-read.js';

/** clock is a hand-moved time source. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** gate is a read the test lets finish: `open(value)` settles every read started so far. */
function gate<T>() {
  let reads = 0;
  const waiting: ((value: T) => void)[] = [];
  return {
    read: () => {
      reads += 1;
      return new Promise<T>((resolve) => waiting.push(resolve));
    },
    reads: () => reads,
    open: (value: T) => {
      for (const resolve of waiting.splice(0)) resolve(value);
    },
  };
}

describe('SharedRead', () => {
  it('concurrent callers share one read, and get its value', async () => {
    const g = gate<string>();
    const shared = new SharedRead(g.read, 5000, clock().now);
    const burst = Array.from({ length: 20 }, () => shared.get());
    g.open('pools');
    const results = await Promise.all(burst);
    expect(g.reads()).toBe(1);
    expect(results.map((r) => r.value)).toEqual(Array(20).fill('pools'));
    expect(results.filter((r) => r.started)).toHaveLength(1);
  });

  it('serves the last value within the interval and reads again after it', async () => {
    const c = clock();
    let reads = 0;
    const shared = new SharedRead(async () => ++reads, 5000, c.now);
    expect((await shared.get()).value).toBe(1);
    c.advance(4999);
    expect(await shared.get()).toEqual({ value: 1, started: false });
    c.advance(1);
    expect(await shared.get()).toEqual({ value: 2, started: true });
    expect(reads).toBe(2);
  });

  it('with interval 0 reads for every caller that does not share a read in flight', async () => {
    let reads = 0;
    const shared = new SharedRead(async () => ++reads, 0, clock().now);
    await shared.get();
    await shared.get();
    await shared.get();
    expect(reads).toBe(3);
  });

  it('a failed read is not kept: the next caller reads again', async () => {
    let calls = 0;
    const shared = new SharedRead(
      async () => {
        calls += 1;
        if (calls === 1) throw new Error('etcd down');
        return 'ok';
      },
      5000,
      clock().now,
    );
    await expect(shared.get()).rejects.toThrow('etcd down');
    expect((await shared.get()).value).toBe('ok');
  });
});

describe('/metrics against a real etcd', () => {
  let etcd: EtcdCluster & { endpoint: string };
  let opened: OpenStore;
  let server: MetricsServer;
  const time = clock();
  const etcdCalls: string[] = [];
  const node = parseNodeId('node-a');
  const pool = parsePoolId('kontena');

  beforeAll(async () => {
    etcd = await startEtcd();
    const metrics = new IpamMetrics({ processMetrics: false });
    opened = openStore(loadConfig({ NODE_ID: 'node-a', ETCD_ENDPOINT: etcd.endpoint }), {
      logger: pino({ level: 'silent' }),
      observer: {
        etcdCall: (event) => {
          metrics.storeObserver.etcdCall(event);
          etcdCalls.push(event.op);
        },
        casConflict: metrics.storeObserver.casConflict,
      },
    });
    await opened.store.requestPool({
      network: parseNetworkName('kontena'),
      node,
      subnet: parseSubnet('10.91.0.0/24'),
    });
    for (let i = 0; i < 3; i++) await opened.store.requestAddress({ pool, node, kind: 'endpoint' });
    server = await startMetricsServer({
      metrics,
      address: { host: '127.0.0.1', port: 0 },
      store: opened.store,
      logger: pino({ level: 'silent' }),
      cacheMs: 5000,
      now: time.now,
    });
  });
  afterAll(async () => {
    await server?.close();
    await opened?.close();
    await etcd?.stop();
  });

  const scrape = async (): Promise<string> => {
    const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    return res.text();
  };
  const used = (text: string) =>
    Number(/^kontena_ipam_pool_addresses_used\{network="kontena"\} (\d+)$/m.exec(text)?.[1]);
  /** callsDuring counts the store's etcd calls while `run` runs. */
  const callsDuring = async <T>(run: () => Promise<T>): Promise<{ calls: number; result: T }> => {
    const before = etcdCalls.length;
    const result = await run();
    return { calls: etcdCalls.length - before, result };
  };
  // What one read of the pool gauges costs (the store's listing: one or more calls).
  let oneRead = 0;

  it('a burst of 25 scrapes costs what one scrape does, and every scrape shows the right counts', async () => {
    const single = await callsDuring(() => scrape());
    oneRead = single.calls;
    expect(oneRead).toBeGreaterThanOrEqual(1);
    // The gateway and three addresses.
    expect(used(single.result)).toBe(4);
    time.advance(5000);
    const burst = await callsDuring(() => Promise.all(Array.from({ length: 25 }, () => scrape())));
    expect(burst.calls).toBe(oneRead);
    expect(burst.result.map(used)).toEqual(Array(25).fill(4));
    for (const text of burst.result) expect(text).toMatch(/^kontena_ipam_pool_stats_up 1$/m);
  });

  it('within the interval a later scrape reads nothing; after it, one read again, which sees the change', async () => {
    await opened.store.requestAddress({ pool, node, kind: 'endpoint' });
    time.advance(4999);
    const cached = await callsDuring(() => Promise.all([scrape(), scrape(), scrape()]));
    expect(cached.calls).toBe(0);
    expect(cached.result.map(used)).toEqual([4, 4, 4]);
    time.advance(1);
    const fresh = await callsDuring(() => Promise.all([scrape(), scrape(), scrape()]));
    expect(fresh.calls).toBe(oneRead);
    expect(fresh.result.map(used)).toEqual([5, 5, 5]);
  });
});
