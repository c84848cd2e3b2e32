/**
 * The fault suite's load: real `kontena-ipam` processes (the built bin, distinct NODE_IDs,
 * their own sockets) on one etcd cluster, each driven by concurrent Docker-shaped
 * RequestAddress/ReleaseAddress loops over its unix socket, and the bookkeeping that judges
 * the outcome: which address is held by whom (a grant of a held address is a duplicate) and,
 * afterwards, whether every acknowledged address is in etcd under the right node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EtcdCluster } from '@kontena-ipam/testing/etcd';
import { type PluginProcess, startPlugin } from '../packages/app/test/support/plugin-process.js';
import { PluginClient, requestAddressBody, requestPoolBody } from './plugin-client.js';
import { etcd3, KeyLayout, parsePoolId } from './workspace.js';

/** A plugin call with no answer by then counts as failed (Docker gives up as well). */
const CALL_TIMEOUT_MS = 30_000;
/** Each loop keeps this many addresses and releases the oldest beyond it. */
const HELD_PER_LOOP = 2;

/** CallRecord is one Docker call: when it ended (ms since the run started), how long, ok. */
export interface CallRecord {
  route: 'RequestAddress' | 'ReleaseAddress';
  plugin: number;
  end: number;
  ms: number;
  ok: boolean;
  error?: string;
}

/** Fleet is the running plugins, their load, and the shared bookkeeping. */
export interface Fleet {
  readonly plugins: PluginProcess[];
  readonly nodes: string[];
  readonly calls: CallRecord[];
  /** Grants of an address another loop held (acknowledged, not released): must stay 0. */
  duplicates: string[];
  /** now is ms since the load started. */
  now(): number;
  /**
   * pause freezes a plugin process (SIGSTOP) and holds its loops, as its host's Docker would
   * be frozen with it; resume thaws both.
   */
  pause(plugin: number): void;
  resume(plugin: number): void;
  /** stop ends the loops (each finishes its call in flight) and releases nothing more. */
  stopLoad(): Promise<void>;
  /** check reads etcd: acknowledged addresses missing (or under another node), and leftovers. */
  check(etcd: EtcdCluster): Promise<{ missing: string[]; leftovers: string[] }>;
  close(): Promise<void>;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * startFleet starts `count` plugins on `etcd` (every member's endpoint), creates one pool
 * through them as Docker would, and starts `loops` request/release loops per plugin.
 */
export async function startFleet(
  etcd: EtcdCluster,
  options: { count: number; loops: number; subnet: string; network: string },
): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-chaos-'));
  const nodes = Array.from({ length: options.count }, (_, i) => `chaos-${i}`);
  const plugins: PluginProcess[] = [];
  try {
    for (const [i, node] of nodes.entries()) {
      plugins.push(
        await startPlugin({
          socket: join(dir, `p${i}`, 'kontena-ipam.sock'),
          env: {
            NODE_ID: node,
            ETCD_ENDPOINT: etcd.endpoints.join(','),
            KONTENA_IPAM_LOCAL_ETCD: 'off',
            LOG_LEVEL: 'warn',
          },
        }),
      );
    }
  } catch (error) {
    await Promise.all(plugins.map((p) => p.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const clients = plugins.map((p) => new PluginClient(p.socket, options.loops));
  let poolId = '';
  for (const client of clients) {
    const reply = JSON.parse(
      await client.postOk(
        '/IpamDriver.RequestPool',
        requestPoolBody(options.network, options.subnet),
      ),
    ) as { PoolID: string };
    poolId = reply.PoolID;
  }
  const started = performance.now();
  const now = () => performance.now() - started;
  const calls: CallRecord[] = [];
  /** held: address → which plugin holds it (acknowledged and not released). */
  const held = new Map<string, number>();
  /** Addresses whose release failed: committed or not, a new grant of one is not a duplicate. */
  const uncertain = new Set<string>();
  /** Plugins frozen by pause(): their loops wait (their calls already sent stay in flight). */
  const paused = new Set<number>();
  const fleet: Fleet = {
    plugins,
    nodes,
    calls,
    duplicates: [],
    now,
    pause: (plugin) => {
      paused.add(plugin);
      plugins[plugin]?.child.kill('SIGSTOP');
    },
    resume: (plugin) => {
      plugins[plugin]?.child.kill('SIGCONT');
      paused.delete(plugin);
    },
    stopLoad: async () => {
      running = false;
      await Promise.all(loops);
    },
    check: async (cluster) => {
      const client = new etcd3.Etcd3({ hosts: cluster.endpoints });
      try {
        const prefix = new KeyLayout().addresses(parsePoolId(poolId));
        const stored = await client.getAll().prefix(prefix).strings();
        const missing: string[] = [];
        for (const [address, plugin] of held) {
          const value = stored[`${prefix}${address}`];
          const node = value ? (JSON.parse(value) as { node?: string }).node : undefined;
          if (node !== nodes[plugin]) missing.push(`${address} (${nodes[plugin]})`);
        }
        const leftovers = Object.keys(stored)
          .map((key) => key.slice(prefix.length))
          .filter((address) => !held.has(address) && !uncertain.has(address));
        return { missing, leftovers };
      } finally {
        client.close();
      }
    },
    close: async () => {
      for (const c of clients) c.close();
      await Promise.all(plugins.map((p) => p.stop('SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  let running = true;
  let mac = 0;
  const call = async (
    plugin: number,
    route: CallRecord['route'],
    body: string,
  ): Promise<string | undefined> => {
    const t0 = now();
    try {
      const reply = await withTimeout(
        (clients[plugin] as PluginClient).post(`/IpamDriver.${route}`, body),
        CALL_TIMEOUT_MS,
      );
      const ok = reply.status === 200;
      calls.push({
        route,
        plugin,
        end: now(),
        ms: now() - t0,
        ok,
        ...(ok ? {} : { error: reply.body.trim() }),
      });
      return ok ? reply.body : undefined;
    } catch (error) {
      calls.push({ route, plugin, end: now(), ms: now() - t0, ok: false, error: String(error) });
      return undefined;
    }
  };
  const loop = async (plugin: number) => {
    const mine: string[] = [];
    while (running) {
      while (paused.has(plugin) && running) await new Promise((r) => setTimeout(r, 20));
      const body = await call(plugin, 'RequestAddress', requestAddressBody(poolId, mac++));
      if (body !== undefined) {
        const address = (JSON.parse(body) as { Address: string }).Address.split('/')[0] as string;
        const holder = held.get(address);
        if (holder !== undefined)
          fleet.duplicates.push(`${address} (${nodes[holder]} and ${nodes[plugin]})`);
        uncertain.delete(address);
        held.set(address, plugin);
        mine.push(address);
      }
      if (mine.length > HELD_PER_LOOP && running) {
        const oldest = mine[0] as string;
        const released = await call(
          plugin,
          'ReleaseAddress',
          `${JSON.stringify({ PoolID: poolId, Address: oldest })}\n`,
        );
        // A failed release may have committed: the address is neither held nor surely free.
        mine.shift();
        held.delete(oldest);
        if (released === undefined) uncertain.add(oldest);
      }
    }
  };
  const loops = plugins.flatMap((_, plugin) =>
    Array.from({ length: options.loops }, () => loop(plugin)),
  );
  return fleet;
}
