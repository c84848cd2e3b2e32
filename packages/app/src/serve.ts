/**
 * serve wires config → etcd client → IpamStore → PluginServer. It starts even when etcd is
 * down (kontena/kontena#1811: the original crash-looped): the socket answers Activate and
 * every store call returns a clear error until etcd is back, and a watcher logs each change.
 */
import { formatSubnet } from '@kontena-ipam/cidr';
import { cniRoutes } from '@kontena-ipam/cni';
import { PluginServer } from '@kontena-ipam/plugin';
import type { NodeRegistration } from '@kontena-ipam/store';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { type EtcdMode, etcdModeOf } from './etcd-mode.js';
import { instanceInfo, provablyDead } from './instance.js';
import { type LocalEtcd, startLocalEtcd } from './local-etcd.js';
import { IpamMetrics, type MetricsServer, startMetricsServer } from './metrics.js';
import { type OpenStore, openStore } from './open-store.js';

/** Serving is a running plugin; close() shuts it down gracefully. */
export interface Serving {
  readonly socketPath: string;
  /** endpoint is the etcd endpoint(s) in use, comma-joined. */
  readonly endpoint: string;
  /** mode: `single-host` runs the embedded etcd it was asked for; `cluster` uses the endpoints. */
  readonly mode: 'single-host' | 'cluster';
  close(): Promise<void>;
}

/** ServeOptions: the config and logger; the timings are for tests. */
export interface ServeOptions {
  config: Config;
  logger: Logger;
  /** How often to ping etcd while it is down (ms, default 2000) and while it is up (default 15000). */
  retryMs?: number;
  healthyPollMs?: number;
  /** graceMs bounds how long close() waits for in-flight requests (default 5000). */
  graceMs?: number;
  /** registerWaitMs bounds how long start-up waits for the NODE_ID registration (default 3000). */
  registerWaitMs?: number;
}

/**
 * startEtcdOfMode starts the embedded etcd in single-host mode (asked for with
 * KONTENA_IPAM_LOCAL_ETCD=on) and nothing otherwise: cluster mode never starts an etcd, even
 * when none answers, since a private store on a cluster host hands out addresses that other
 * hosts hand out too. If the embedded etcd cannot start, serve fails (exit 1) rather than
 * quietly using some other etcd.
 */
async function startEtcdOfMode(config: Config, logger: Logger): Promise<LocalEtcd | undefined> {
  if (!config.localEtcd) return undefined;
  return await startLocalEtcd({ stateDir: config.stateDir, logger });
}

/** watchEtcd pings etcd in the background and logs when it goes down or comes back. */
function watchEtcd(
  opened: OpenStore,
  logger: Logger,
  timing: { retryMs: number; healthyPollMs: number },
): () => void {
  let up: boolean | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = async (): Promise<void> => {
    try {
      await opened.store.ping();
      if (up !== true) logger.info({ endpoint: opened.endpoint }, 'etcd is reachable');
      up = true;
    } catch (error) {
      if (up !== false) {
        logger.warn(
          { endpoint: opened.endpoint, err: error },
          'etcd is unavailable; answering Docker with errors and retrying until it is back',
        );
      }
      up = false;
    }
    if (!stopped) {
      timer = setTimeout(check, up ? timing.healthyPollMs : timing.retryMs);
      timer.unref();
    }
  };
  void check();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/** firstDecision waits until the registration serves or waits for another instance, at most `ms`. */
async function firstDecision(registration: NodeRegistration, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (registration.state.state === 'registering' && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** serve starts the plugin on the configured socket and returns once it listens. */
export async function serve(options: ServeOptions): Promise<Serving> {
  const { config, logger } = options;
  const described = announce(config, logger);
  const backing = await startBacking(options);
  const server = pluginServerOf(options, backing);
  const metricsServer = await listenOrUnwind(options, backing, server);
  const stopWatching = watchEtcd(backing.opened, logger, {
    retryMs: options.retryMs ?? 2000,
    healthyPollMs: options.healthyPollMs ?? 15_000,
  });
  const { mode } = described;
  logger.info(
    { socket: server.socketPath, endpoint: backing.opened.endpoint, node: config.nodeId, mode },
    `kontena-ipam is serving Docker (${described.text})`,
  );
  const stopServing = async (): Promise<void> => {
    stopWatching();
    await server.close(options.graceMs ?? 5000);
    // A clean stop hands NODE_ID over at once (a restart need not wait out the lease).
    await backing.registration.stop();
    await metricsServer?.close();
    await backing.opened.close();
    await backing.local?.stop();
    logger.info('kontena-ipam stopped');
  };
  let closing: Promise<void> | undefined;
  return {
    socketPath: server.socketPath,
    endpoint: backing.opened.endpoint,
    mode,
    close() {
      closing ??= stopServing();
      return closing;
    },
  };
}

/** announce logs what starts, and which etcd it uses; returns that mode. */
function announce(config: Config, logger: Logger): EtcdMode {
  logger.info(
    {
      node: config.nodeId,
      socket: config.socketPath,
      supernet: formatSubnet(config.supernet),
      subnetLength: config.subnetLength,
    },
    'kontena-ipam starting',
  );
  const described = etcdModeOf(config);
  logger.info({ mode: described.mode, endpoint: described.endpoint }, described.text);
  return described;
}

/** Backing is what the plugin server stands on, each part stopped when serving ends. */
interface Backing {
  /** local is the embedded etcd of single-host mode. */
  local: LocalEtcd | undefined;
  opened: OpenStore;
  registration: NodeRegistration;
  metrics: IpamMetrics | undefined;
}

/** startBacking starts the mode's etcd, opens the store and registers this host's NODE_ID. */
async function startBacking(options: ServeOptions): Promise<Backing> {
  const { config, logger } = options;
  const local = await startEtcdOfMode(config, logger);
  const metrics = config.metrics ? new IpamMetrics() : undefined;
  const opened = openStore(config, {
    logger,
    ...(metrics ? { observer: metrics.storeObserver } : {}),
  });
  // This instance claims NODE_ID before it writes anything in its name (the store's
  // registration.ts): a clone or a second process with the same NODE_ID serves nothing.
  const here = instanceInfo();
  const registration = opened.store.register(config.nodeId, here, {
    ttlSeconds: config.nodeTtlSeconds,
    provablyDead: provablyDead(here),
  });
  // Docker's first calls after a restart should not meet "not registered yet": wait for the
  // first answer, but never long (etcd may be down, and the socket must answer Activate).
  await firstDecision(registration, options.registerWaitMs ?? 3000);
  return { local, opened, registration, metrics };
}

/** pluginServerOf is the plugin server over the backing store (not listening yet). */
function pluginServerOf(options: ServeOptions, backing: Backing): PluginServer {
  const { config, logger } = options;
  const { opened, registration, metrics } = backing;
  return new PluginServer({
    backend: opened.store,
    registration,
    node: config.nodeId,
    socketPath: config.socketPath,
    logger: logger.child({ component: 'plugin' }),
    endpoint: opened.endpoint,
    v6Dynamic: config.supernet6 !== undefined,
    // CNI runtimes' calls (kontena-ipam-cni) on the same socket: one process per host.
    extraRoutes: cniRoutes({ backend: opened.store }),
    ...(metrics ? { onRequest: metrics.onRequest } : {}),
  });
}

/**
 * listenOrUnwind starts the metrics endpoint (when configured), then the plugin socket; if
 * either fails, it stops what was started (registration, metrics, store, embedded etcd) and
 * rethrows.
 */
async function listenOrUnwind(
  options: ServeOptions,
  backing: Backing,
  server: PluginServer,
): Promise<MetricsServer | undefined> {
  const { config, logger } = options;
  const { metrics, opened } = backing;
  let metricsServer: MetricsServer | undefined;
  try {
    if (metrics && config.metrics) {
      metricsServer = await startMetricsServer({
        metrics,
        address: config.metrics,
        store: opened.store,
        logger: logger.child({ component: 'metrics' }),
        cacheMs: config.metricsCacheMs,
      });
    }
    await server.listen();
    return metricsServer;
  } catch (error) {
    await backing.registration.stop();
    await metricsServer?.close();
    await opened.close().catch(() => undefined);
    await backing.local?.stop();
    throw error;
  }
}
