import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePoolId } from '@kontena-ipam/store';
import { type EtcdCluster, startEtcdCluster } from '@kontena-ipam/testing/etcd';
import { freePort } from '@kontena-ipam/testing/ports';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { parseListenAddress } from '../src/listen-address.js';
import { IpamMetrics } from '../src/metrics.js';
import { callPlugin, type PluginProcess, runBin, startPlugin } from './support/plugin-process.js';

/** samples parses Prometheus text into `name{a="x",b="y"}` → value (labels as printed). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

describe('KONTENA_IPAM_METRICS address', () => {
  it('parses host:port and knows loopback hosts', () => {
    expect(parseListenAddress('127.0.0.1:9464')).toEqual({
      host: '127.0.0.1',
      port: 9464,
      loopback: true,
    });
    expect(parseListenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464, loopback: true });
    expect(parseListenAddress('localhost:1')).toMatchObject({ loopback: true });
    expect(parseListenAddress('10.0.0.5:9464')).toMatchObject({ loopback: false });
    expect(parseListenAddress('[::]:9464')).toMatchObject({ loopback: false });
    expect(() => parseListenAddress('9464')).toThrow('must be host:port');
    expect(() => parseListenAddress('127.0.0.1:70000')).toThrow('port 70000 must be 1-65535');
    expect(() => parseListenAddress('[nope]:1')).toThrow('[nope] is not an IPv6 address');
  });

  it('config refuses a non-loopback address unless KONTENA_IPAM_METRICS_ALLOW_REMOTE=1', () => {
    const base = { NODE_ID: 'node-a' };
    expect(loadConfig(base).metrics).toBeUndefined();
    expect(loadConfig({ ...base, KONTENA_IPAM_METRICS: '127.0.0.1:9464' }).metrics).toEqual({
      host: '127.0.0.1',
      port: 9464,
      loopback: true,
    });
    let error: unknown;
    try {
      loadConfig({ ...base, KONTENA_IPAM_METRICS: '0.0.0.0:9464' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      'KONTENA_IPAM_METRICS="0.0.0.0:9464": not a loopback address (localhost, 127.0.0.0/8, ::1); set KONTENA_IPAM_METRICS_ALLOW_REMOTE=1 to serve metrics on the network',
    ]);
    const allowed = loadConfig({
      ...base,
      KONTENA_IPAM_METRICS: '0.0.0.0:9464',
      KONTENA_IPAM_METRICS_ALLOW_REMOTE: '1',
    });
    expect(allowed.metrics).toMatchObject({ host: '0.0.0.0', loopback: false });
    expect(() => loadConfig({ ...base, KONTENA_IPAM_METRICS: 'nine' })).toThrow(
      'KONTENA_IPAM_METRICS="nine": must be host:port',
    );
  });

  it('the server exits 2 on a non-loopback address without opening anything', async () => {
    const result = await runBin([], {
      NODE_ID: 'node-a',
      KONTENA_IPAM_METRICS: '0.0.0.0:9464',
      KONTENA_IPAM_SOCKET: '/nonexistent/never.sock',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('KONTENA_IPAM_METRICS="0.0.0.0:9464": not a loopback address');
  });
});

describe('store observer → metrics', () => {
  it('counts etcd call latency, errors by code and CAS conflicts by transition', async () => {
    const metrics = new IpamMetrics({ processMetrics: false });
    metrics.storeObserver.etcdCall({ op: 'txn', durationMs: 3, ok: true });
    metrics.storeObserver.etcdCall({ op: 'txn', durationMs: 5000, ok: false, code: 'UNAVAILABLE' });
    metrics.storeObserver.casConflict({ op: 'allocate', pool: parsePoolId('kontena') });
    metrics.storeObserver.casConflict({ op: 'allocate' });
    const s = samples(await metrics.registry.metrics());
    expect(s.get('kontena_ipam_etcd_call_duration_seconds_count{op="txn",outcome="ok"}')).toBe(1);
    expect(s.get('kontena_ipam_etcd_call_duration_seconds_count{op="txn",outcome="error"}')).toBe(
      1,
    );
    expect(s.get('kontena_ipam_etcd_errors_total{op="txn",code="UNAVAILABLE"}')).toBe(1);
    expect(s.get('kontena_ipam_cas_conflicts_total{op="allocate"}')).toBe(2);
  });
});

describe('a serving plugin with KONTENA_IPAM_METRICS', () => {
  let etcd: EtcdCluster;
  let endpoint: string;
  let plugin: PluginProcess | undefined;
  let dir: string;
  let socket: string;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-metrics-'));
    socket = join(dir, 'plugins', 'kontena-ipam.sock');
    etcd = await startEtcdCluster(1);
    endpoint = etcd.endpoints[0] as string;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    plugin = await startPlugin({
      socket,
      env: {
        ETCD_ENDPOINT: endpoint,
        NODE_ID: 'node-a',
        KONTENA_IPAM_ETCD_TIMEOUT: '1000',
        KONTENA_IPAM_METRICS: `127.0.0.1:${port}`,
        // Every scrape reads the pools here: the tests compare scrapes a moment apart.
        KONTENA_IPAM_METRICS_CACHE_MS: '0',
        LOG_LEVEL: 'warn',
      },
    });
  });
  afterAll(async () => {
    await plugin?.stop('SIGKILL');
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts real requests made over the socket, by route and outcome, with latencies', async () => {
    const before = samples((await get(`${base}/metrics`)).text);
    const pool = await callPlugin(socket, 'IpamDriver.RequestPool', {
      AddressSpace: 'GlobalDefault',
      Pool: '10.81.0.0/16',
      SubPool: '',
      Options: { network: 'kontena' },
      V6: false,
    });
    expect(pool.status).toBe(200);
    const taken: string[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await callPlugin(socket, 'IpamDriver.RequestAddress', {
        PoolID: 'kontena',
        Address: '',
        Options: {},
      });
      expect(reply.status).toBe(200);
      taken.push(String(reply.body.Address).split('/')[0] as string);
    }
    const released = await callPlugin(socket, 'IpamDriver.ReleaseAddress', {
      PoolID: 'kontena',
      Address: taken[0],
    });
    expect(released.status).toBe(200);
    const unknownPool = await callPlugin(socket, 'IpamDriver.RequestAddress', {
      PoolID: 'nope',
      Address: '',
      Options: {},
    });
    expect(unknownPool.status).toBe(404);
    const noRoute = await callPlugin(socket, 'Bogus.Route', {});
    expect(noRoute.status).toBe(404);

    const after = samples((await get(`${base}/metrics`)).text);
    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    const req = (route: string, outcome: string, code = '') =>
      delta(`kontena_ipam_requests_total{route="${route}",outcome="${outcome}",code="${code}"}`);
    expect(req('IpamDriver.RequestPool', 'ok')).toBe(1);
    expect(req('IpamDriver.RequestAddress', 'ok')).toBe(3);
    expect(req('IpamDriver.ReleaseAddress', 'ok')).toBe(1);
    expect(req('IpamDriver.RequestAddress', 'error', 'POOL_NOT_FOUND')).toBe(1);
    expect(req('other', 'error', 'ROUTE_NOT_FOUND')).toBe(1);
    expect(
      delta('kontena_ipam_request_duration_seconds_count{route="IpamDriver.RequestAddress"}'),
    ).toBe(4);
    expect(
      delta(
        'kontena_ipam_request_duration_seconds_bucket{le="+Inf",route="IpamDriver.RequestPool"}',
      ),
    ).toBe(1);

    // Pool gauges are read from etcd at scrape time: gateway + 3 taken - 1 released.
    expect(after.get('kontena_ipam_pools')).toBe(1);
    expect(after.get('kontena_ipam_pool_addresses_used{network="kontena"}')).toBe(3);
    expect(after.get('kontena_ipam_pool_addresses_capacity{network="kontena"}')).toBe(65534);
    expect(after.get('kontena_ipam_pool_holders{network="kontena"}')).toBe(1);
    expect(after.get('kontena_ipam_pool_utilisation_ratio{network="kontena"}')).toBeCloseTo(
      3 / 65534,
      9,
    );
    expect(after.get('kontena_ipam_pool_stats_up')).toBe(1);
    // etcd round trips, from the store's observer: at least one transaction per state change,
    // and the scrape's own pool listing.
    expect(
      delta('kontena_ipam_etcd_call_duration_seconds_count{op="txn",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(5);
    expect(
      delta('kontena_ipam_etcd_call_duration_seconds_count{op="list",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(1);
    // Process metrics come with prom-client's defaults.
    expect(after.has('process_cpu_user_seconds_total')).toBe(true);
  });

  it('/healthz and /readyz answer while etcd is up; unknown paths are 404', async () => {
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, text: 'ok\n' });
    expect(await get(`${base}/readyz`)).toEqual({ status: 200, text: 'ready\n' });
    expect((await get(`${base}/nope`)).status).toBe(404);
  });

  it('with etcd down: /readyz is 503 naming the endpoint, /healthz stays 200, stale pool gauges are dropped', async () => {
    await etcd.stopMember('m0');
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.text).toContain(`etcd unavailable at ${endpoint}`);
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, text: 'ok\n' });
    const s = samples((await get(`${base}/metrics`)).text);
    expect(s.get('kontena_ipam_pool_stats_up')).toBe(0);
    expect(s.has('kontena_ipam_pool_addresses_used{network="kontena"}')).toBe(false);
    // The failed calls are counted as etcd errors with the store's code.
    const failed = [...s.entries()].filter(
      ([key]) =>
        key.startsWith('kontena_ipam_etcd_errors_total{') && key.includes('code="UNAVAILABLE"'),
    );
    expect(failed.reduce((sum, [, n]) => sum + n, 0)).toBeGreaterThanOrEqual(2);
  });
});
