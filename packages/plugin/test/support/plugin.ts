/**
 * Test harness: a real IpamStore on a real etcd, served by a real PluginServer on a unix
 * socket in a temp dir. Every instance gets its own key prefix, so tests sharing one etcd
 * never see each other's keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSubnet, type Subnet } from '@kontena-ipam/cidr';
import { IpamStore, type NodeId, parseNodeId, resilientClientOptions } from '@kontena-ipam/store';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import type { ServedPlugin, ServePlugin } from '@kontena-ipam/testing/plugin-host';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import type { PluginServerOptions } from '../../src/contract.js';
import { PluginServer } from '../../src/server.js';
import { type CapturedLogger, captureLogs } from './logs.js';

let counter = 0;

/** tempDir makes a private folder for sockets; remove() deletes it. */
export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'kontena-ipam-plugin-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** StoreSetup is one store plus the raw etcd client that tests use to read keys. */
export interface StoreSetup {
  store: IpamStore;
  client: Etcd3;
  prefix: string;
  /** Every key under the store's prefix, with the prefix cut off, values parsed as JSON. */
  keys(): Promise<Record<string, unknown>>;
  /** The etcd revision now (unchanged revision = nothing written). */
  revision(): Promise<bigint>;
  close(): Promise<void>;
}

/** StoreKnobs are the store options tests turn. */
export interface StoreKnobs {
  prefix?: string;
  supernet?: string;
  subnetLength?: number;
  supernet6?: string;
  deadlineMs?: number;
}

/** storeSetup builds a real IpamStore on `endpoint` with its own prefix unless one is given. */
export function storeSetup(endpoint: string, knobs: StoreKnobs = {}): StoreSetup {
  counter += 1;
  const prefix = knobs.prefix ?? `/test-plugin/${process.pid}-${Date.now()}-${counter}/`;
  // The app's client options (app/src/etcd-client.ts: resilientClientOptions, its deadline as
  // the unary backstop), with a short dial timeout and store deadline: outage tests stay short.
  const deadlineMs = knobs.deadlineMs ?? 2000;
  const client = new Etcd3({
    hosts: endpoint,
    dialTimeout: 1000,
    ...resilientClientOptions(deadlineMs),
  });
  const supernet: Subnet | undefined = knobs.supernet ? parseSubnet(knobs.supernet) : undefined;
  const store = new IpamStore({
    client,
    prefix,
    supernet,
    subnetLength: knobs.subnetLength,
    supernet6: knobs.supernet6 ? parseSubnet(knobs.supernet6) : undefined,
    deadlineMs,
    endpoint,
  });
  return {
    store,
    client,
    prefix,
    async keys() {
      const all = await client.getAll().prefix(`${prefix}v2/`).strings();
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(all))
        out[key.slice(`${prefix}v2/`.length)] = JSON.parse(value);
      return out;
    },
    async revision() {
      const res = await client.get('/revision-probe').exec();
      return BigInt(res.header.revision);
    },
    async close() {
      await store.close();
      client.close();
    },
  };
}

/** RunningPlugin is a listening server and what tests need around it. */
export interface RunningPlugin {
  server: PluginServer;
  socketPath: string;
  node: NodeId;
  logs: CapturedLogger;
  close(): Promise<void>;
}

/** startPlugin serves `store` on a fresh socket in `dir` as node `node`. */
export async function startPlugin(
  dir: string,
  store: PluginServerOptions['backend'],
  extra: Partial<Omit<PluginServerOptions, 'node'>> & { node?: string } = {},
): Promise<RunningPlugin> {
  counter += 1;
  const node = parseNodeId(extra.node ?? 'node-a');
  const logs = captureLogs();
  const socketPath = extra.socketPath ?? join(dir, `plugin-${counter}.sock`);
  const server = new PluginServer({
    callTimeoutMs: 8000,
    ...extra,
    backend: store,
    node,
    socketPath,
    logger: logs.logger,
  });
  await server.listen();
  return { server, socketPath, node, logs, close: () => server.close(1000) };
}

/** ServedStore is a store of its own served by the in-process plugin: a DockerHost's plugin. */
export interface ServedStore extends ServedPlugin {
  setup: StoreSetup;
  running: RunningPlugin;
}

/**
 * serveStore is how the e2e tests' Docker hosts serve (see @kontena-ipam/testing/plugin-host):
 * each start opens a store on `endpoint` and serves it as node `node` on the host's socket;
 * stop() closes the plugin, then the store.
 */
export function serveStore(options: {
  node: string;
  endpoint: string;
  store: StoreKnobs;
}): ServePlugin<ServedStore> {
  return async (socketPath) => {
    const setup = storeSetup(options.endpoint, options.store);
    try {
      const running = await startPlugin('', setup.store, {
        node: options.node,
        endpoint: options.endpoint,
        socketPath,
      });
      const stop = async () => {
        await running.close();
        await setup.close();
      };
      return { setup, running, stop };
    } catch (error) {
      await setup.close();
      throw error;
    }
  };
}

/** PluginSuite is what pluginSuite sets up; its fields are filled in by beforeAll. */
export interface PluginSuite {
  etcd: EtcdCluster & { endpoint: string };
  dir: { path: string; remove(): void };
  setup: StoreSetup;
  plugin: RunningPlugin;
}

/**
 * pluginSuite registers beforeAll/afterAll for the common shape of a test file: one etcd, one
 * store, one plugin on a socket in a temp dir. `beforeStart` runs once etcd is up, before the
 * plugin starts (e.g. to stop etcd first).
 */
export function pluginSuite(
  options: {
    store?: StoreKnobs;
    plugin?: Partial<Omit<PluginServerOptions, 'node'>> & { node?: string };
    beforeStart?: (etcd: EtcdCluster & { endpoint: string }) => Promise<void>;
  } = {},
): PluginSuite {
  const suite = {} as PluginSuite;
  beforeAll(async () => {
    suite.etcd = await startEtcd();
    await options.beforeStart?.(suite.etcd);
    suite.dir = tempDir();
    suite.setup = storeSetup(suite.etcd.endpoint, options.store);
    suite.plugin = await startPlugin(suite.dir.path, suite.setup.store, {
      endpoint: suite.etcd.endpoint,
      ...options.plugin,
    });
  });
  afterAll(async () => {
    await suite.plugin?.close();
    await suite.setup?.close();
    await suite.etcd?.stop();
    suite.dir?.remove();
  });
  return suite;
}
