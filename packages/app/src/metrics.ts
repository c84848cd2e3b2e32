/**
 * Prometheus metrics and health endpoints for a serving plugin (KONTENA_IPAM_METRICS).
 *
 * Where each number comes from: requests from the plugin's onRequest events; etcd calls and
 * compare-and-swap conflicts from the store's observer; pool use from store.listPools(), read
 * when /metrics is scraped (never on the request path), at most once per `cacheMs` however
 * many scrapes arrive (SharedRead). /healthz says the process is up,
 * /readyz that etcd answers (store.ping()), so an orchestrator can tell "restart me" from
 * "etcd is down, restarting will not help".
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HEALTH_PATH, type RequestEvent, ROUTES } from '@kontena-ipam/plugin';
import type { IpamStore, StoreObserver } from '@kontena-ipam/store';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ListenAddress } from './listen-address.js';
import { SharedRead } from './shared-read.js';

/** MetricsStoreObserver is the store's StoreObserver with both callbacks present. */
export type MetricsStoreObserver = Required<StoreObserver>;

// Known RPC paths become labels; anything else is "other", so a scanner cannot blow up the series.
const ROUTE_LABELS = new Map<string, string>(
  [...Object.values(ROUTES), HEALTH_PATH].map((path) => [path, path.replace(/^\//, '')]),
);

/** routeLabel maps a request path to its metric label. */
export function routeLabel(path: string): string {
  return ROUTE_LABELS.get(path) ?? 'other';
}

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** IpamMetrics owns one prom-client registry and the callbacks that feed it. */
export class IpamMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'outcome' | 'code'>;
  private readonly requestSeconds: Histogram<'route'>;
  private readonly etcdSeconds: Histogram<'op' | 'outcome'>;
  private readonly etcdErrors: Counter<'op' | 'code'>;
  private readonly casConflicts: Counter<'op'>;
  private readonly pools: Gauge;
  private readonly poolUsed: Gauge<'network'>;
  private readonly poolTotal: Gauge<'network'>;
  private readonly poolRatio: Gauge<'network'>;
  private readonly poolHolders: Gauge<'network'>;
  private readonly poolStatsUp: Gauge;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'kontena_ipam_requests_total',
      help: 'Plugin RPCs answered, by route, outcome (ok/error) and error code',
      labelNames: ['route', 'outcome', 'code'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'kontena_ipam_request_duration_seconds',
      help: 'Time to answer a plugin RPC',
      labelNames: ['route'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.etcdSeconds = new Histogram({
      name: 'kontena_ipam_etcd_call_duration_seconds',
      help: 'Time of one etcd round trip made by the store, by operation and outcome',
      labelNames: ['op', 'outcome'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.etcdErrors = new Counter({
      name: 'kontena_ipam_etcd_errors_total',
      help: 'etcd calls that failed, by operation and store error code',
      labelNames: ['op', 'code'],
      registers,
    });
    this.casConflicts = new Counter({
      name: 'kontena_ipam_cas_conflicts_total',
      help: 'Transactions whose compare failed because another writer got there first; each is retried',
      labelNames: ['op'],
      registers,
    });
    this.pools = new Gauge({
      name: 'kontena_ipam_pools',
      help: 'Pools in etcd (read at scrape time)',
      registers,
    });
    this.poolUsed = new Gauge({
      name: 'kontena_ipam_pool_addresses_used',
      help: 'Address records of a pool (gateway and aux included)',
      labelNames: ['network'],
      registers,
    });
    this.poolTotal = new Gauge({
      name: 'kontena_ipam_pool_addresses_capacity',
      help: 'Allocatable addresses of a pool (ip-range, else subnet hosts)',
      labelNames: ['network'],
      registers,
    });
    this.poolRatio = new Gauge({
      name: 'kontena_ipam_pool_utilisation_ratio',
      help: 'Used / total addresses of a pool (0..1)',
      labelNames: ['network'],
      registers,
    });
    this.poolHolders = new Gauge({
      name: 'kontena_ipam_pool_holders',
      help: 'Nodes holding a pool',
      labelNames: ['network'],
      registers,
    });
    this.poolStatsUp = new Gauge({
      name: 'kontena_ipam_pool_stats_up',
      help: '1 if the last read of the pool gauges from etcd (at most once per KONTENA_IPAM_METRICS_CACHE_MS) succeeded, 0 if etcd did not answer',
      registers,
    });
  }

  /** onRequest is the PluginServer's onRequest callback. */
  readonly onRequest = (event: RequestEvent): void => {
    const route = routeLabel(event.route);
    this.requests.inc({ route, outcome: event.outcome, code: event.code ?? '' });
    this.requestSeconds.observe({ route }, event.durationMs / 1000);
  };

  /** storeObserver is the store's observer (StoreOptions.observer). */
  readonly storeObserver: MetricsStoreObserver = {
    etcdCall: (event) => {
      this.etcdSeconds.observe(
        { op: event.op, outcome: event.ok ? 'ok' : 'error' },
        event.durationMs / 1000,
      );
      if (!event.ok) this.etcdErrors.inc({ op: event.op, code: event.code ?? 'UNKNOWN' });
    },
    casConflict: (event) => {
      this.casConflicts.inc({ op: event.op });
    },
  };

  /**
   * refreshPools reads every pool once and sets the pool gauges (pools gone since drop out).
   * A failed read leaves them empty, sets kontena_ipam_pool_stats_up to 0 and returns the error.
   */
  async refreshPools(store: Pick<IpamStore, 'listPools'>): Promise<Error | undefined> {
    for (const gauge of [this.poolUsed, this.poolTotal, this.poolRatio, this.poolHolders]) {
      gauge.reset();
    }
    try {
      const pools = await store.listPools();
      this.pools.set(pools.length);
      for (const pool of pools) {
        const network = pool.id;
        this.poolUsed.set({ network }, pool.used);
        this.poolTotal.set({ network }, Number(pool.total));
        // Scaled BigInt division: Number(total) is inexact for IPv6 pools.
        const ratio =
          pool.total > 0n ? Number((BigInt(pool.used) * 10n ** 12n) / pool.total) / 1e12 : 0;
        this.poolRatio.set({ network }, ratio);
        this.poolHolders.set({ network }, Object.keys(pool.holds).length);
      }
      this.poolStatsUp.set(1);
      return undefined;
    } catch (error) {
      this.poolStatsUp.set(0);
      return error as Error;
    }
  }
}

/** MetricsServer is the running HTTP endpoint; close() stops it. */
export interface MetricsServer {
  /** url is http://host:port of the listening server. */
  readonly url: string;
  close(): Promise<void>;
}

/** MetricsServerOptions: what to serve, where, and the store behind /readyz and the pool gauges. */
export interface MetricsServerOptions {
  metrics: IpamMetrics;
  address: Pick<ListenAddress, 'host' | 'port'>;
  store: Pick<IpamStore, 'listPools' | 'ping'>;
  logger: Logger;
  /** cacheMs: read the pools from etcd at most once per this many ms (default 5000; 0 = every scrape). */
  cacheMs?: number;
  /** now is the clock the cache goes by (tests). */
  now?: () => number;
}

/** DEFAULT_POOL_CACHE_MS is how long a read of the pool gauges serves scrapes. */
export const DEFAULT_POOL_CACHE_MS = 5000;

/** Handling is what serves a request: the options and the shared pool read. */
interface Handling {
  options: MetricsServerOptions;
  pools: SharedRead<Error | undefined>;
}

function reply(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function handle(
  { options, pools }: Handling,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://metrics').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return reply(res, 405, 'method not allowed\n');
  }
  if (path === '/metrics') {
    const read = await pools.get();
    // Logged once per failed read, not once per scrape that shares it.
    if (read.value && read.started) {
      options.logger.warn({ err: read.value }, 'pool gauges: could not read the pools');
    }
    const text = await options.metrics.registry.metrics();
    return reply(res, 200, text, options.metrics.registry.contentType);
  }
  if (path === '/healthz') return reply(res, 200, 'ok\n');
  if (path === '/readyz') {
    try {
      await options.store.ping();
      return reply(res, 200, 'ready\n');
    } catch (error) {
      return reply(res, 503, `not ready: ${(error as Error).message}\n`);
    }
  }
  return reply(res, 404, 'not found: try /metrics, /healthz or /readyz\n');
}

/** startMetricsServer listens on `address` and serves /metrics, /healthz and /readyz. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const pools = new SharedRead(
    () => options.metrics.refreshPools(options.store),
    options.cacheMs ?? DEFAULT_POOL_CACHE_MS,
    options.now,
  );
  const server: Server = createServer((req, res) => {
    handle({ options, pools }, req, res).catch((error: unknown) => {
      options.logger.error({ err: error }, 'metrics request failed');
      if (!res.headersSent) reply(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.address.host, port: options.address.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const url = `http://${host}:${bound.port}`;
  options.logger.info({ url }, 'serving metrics on /metrics, /healthz and /readyz');
  return {
    url,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
