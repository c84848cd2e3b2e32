/**
 * Test harness for the store: a real etcd per test file and a fresh key prefix per test, as
 * vitest fixtures (`test`), and a dump of every key under that prefix so each scenario can
 * assert exactly what it left behind.
 */
import { parseAddress, parseSubnet, type Subnet, subnetsOverlap } from '@kontena-ipam/cidr';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { test as base } from 'vitest';

export {
  blockOf,
  claimsIn,
  holdsIn,
  withoutClaims,
} from '@kontena-ipam/testing/store-keys';

import type { NetworkName, NodeId, PoolId, StoreObserver, StoreOptions } from '../src/index.js';
import { IpamStore, parseNetworkName, parseNodeId, resilientClientOptions } from '../src/index.js';
import { LAYOUT_VERSION } from '../src/layout/keys.js';

export const net = (s: string) => parseSubnet(s);
export const ip = (s: string) => parseAddress(s);
/**
 * pool is a network's name and its IPv4 pool's id at once (the same text), so one value serves
 * as PoolRequest.network and wherever a PoolId goes. A `:v6` id is no network name: it throws.
 */
export const pool = (s: string): PoolId & NetworkName =>
  parseNetworkName(s) as PoolId & NetworkName;
export const node = (s: string): NodeId => parseNodeId(s);

let counter = 0;
/** uniquePrefix keeps tests sharing one etcd apart. */
export function uniquePrefix(): string {
  counter += 1;
  return `/test-${process.pid}-${counter}/`;
}

/** Env is one etcd plus the clients and stores a test made (closed together). */
export interface Env {
  etcd: EtcdCluster & { endpoint: string };
  client: Etcd3;
  clients: Etcd3[];
  stores: IpamStore[];
  /** store builds a store on a fresh client unless `client` is given. */
  store(options?: Partial<StoreOptions>): IpamStore;
  newClient(): Etcd3;
  close(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  const etcd = await startEtcd();
  const clients: Etcd3[] = [];
  const stores: IpamStore[] = [];
  const newClient = () => {
    // The client settings the store's retries are written for (the app uses them too).
    const c = new Etcd3({ hosts: etcd.endpoint, ...resilientClientOptions(5000) });
    clients.push(c);
    return c;
  };
  const client = newClient();
  return {
    etcd,
    client,
    clients,
    stores,
    newClient,
    store(options = {}) {
      const s = new IpamStore({
        client: options.client ?? client,
        endpoint: etcd.endpoint,
        deadlineMs: 3000,
        ...options,
      });
      stores.push(s);
      return s;
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()));
      for (const c of clients) c.close();
      await etcd.stop();
    },
  };
}

/**
 * test is vitest's `test` with the store's fixtures. `env` is the test file's etcd: the file's
 * first test that asks for it starts it, and it closes after the file's last test, with every
 * client and store the tests made. `setup` builds a store on it under a fresh prefix
 * (`scenario`), so tests sharing that etcd never see each other's keys.
 */
export const test = base
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  .extend('env', { scope: 'file' }, async ({}, { onCleanup }): Promise<Env> => {
    const env = await startEnv();
    onCleanup(() => env.close());
    return env;
  })
  .extend(
    'setup',
    async ({ env }) =>
      (options: Partial<StoreOptions> = {}): Scenario =>
        scenario(env, options),
  );

/** Scenario is one store under a fresh prefix, with readers for the keys it wrote. */
export interface Scenario {
  prefix: string;
  store: IpamStore;
  /** keys is the sorted key list under the prefix. */
  keys(): Promise<string[]>;
  /** dump is every key under the prefix with its parsed value. */
  dump(): Promise<Record<string, unknown>>;
}

/** scenario builds a store on `env` under a fresh prefix, so tests sharing one etcd stay apart. */
export function scenario(env: Env, options: Partial<StoreOptions> = {}): Scenario {
  const prefix = uniquePrefix();
  const store = env.store({ prefix, ...options });
  return {
    prefix,
    store,
    keys: () => keysOf(env.client, prefix),
    dump: () => dumpKeys(env.client, prefix),
  };
}

/** dumpKeys returns every key under `${prefix}v2/` (prefix stripped) with its parsed JSON value. */
export async function dumpKeys(client: Etcd3, prefix: string): Promise<Record<string, unknown>> {
  const root = `${prefix}${LAYOUT_VERSION}/`;
  const all = await client.getAll().prefix(root).strings();
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) out[key.slice(root.length)] = JSON.parse(value);
  return out;
}

/** keysOf is the sorted key list of a dump. */
export async function keysOf(client: Etcd3, prefix: string): Promise<string[]> {
  return Object.keys(await dumpKeys(client, prefix)).sort();
}

/** rejectsWith awaits `promise`, expecting a StoreError of `code`; returns its message. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const e = error as { code?: string; message?: string; name?: string };
    if (e.name !== 'StoreError' || e.code !== code) {
      throw new Error(`expected StoreError ${code}, got ${e.name} ${e.code}: ${e.message}`);
    }
    return e.message ?? '';
  }
  throw new Error(`expected StoreError ${code}, but the call succeeded`);
}

/** inFlight runs `total` calls of `fn` with at most `limit` running at once; results in order. */
export async function inFlight<T>(
  total: number,
  limit: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, total) }, worker));
  return results;
}

/**
 * invariantProblems checks a key dump for half-written state: every pool has its reservation
 * and gateway record, every reservation and address has its pool, no two reservations overlap.
 */
export function invariantProblems(dump: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const pools = new Map<string, { subnet: string; gateway: string }>();
  for (const [key, value] of Object.entries(dump)) {
    if (key.startsWith('pools/'))
      pools.set(key.slice(6), value as { subnet: string; gateway: string });
  }
  const subnets: string[] = [];
  for (const [key, value] of Object.entries(dump)) {
    if (key.startsWith('subnets/')) {
      const subnet = key.slice(8);
      subnets.push(subnet);
      const owner = (value as { pool: string }).pool;
      if (pools.get(owner)?.subnet !== subnet)
        problems.push(`reservation ${subnet} without pool ${owner}`);
    } else if (key.startsWith('addresses/')) {
      const id = key.split('/')[1] ?? '';
      if (!pools.has(id)) problems.push(`address ${key} without its pool`);
    } else if (key.startsWith('holds/')) {
      const id = key.split('/')[1] ?? '';
      if (!pools.has(id)) problems.push(`hold ${key} without its pool`);
    } else if (key.startsWith('attachments/')) {
      // A CNI attachment points at its address record, which names it back.
      const id = key.split('/')[1] ?? '';
      const address = (value as { address: string }).address;
      const rec = dump[`addresses/${id}/${address}`] as { kind?: string } | undefined;
      if (!pools.has(id)) problems.push(`attachment ${key} without its pool`);
      else if (rec?.kind !== 'cni') problems.push(`attachment ${key} without its cni address`);
    } else if (key.startsWith('blocks/') || key.startsWith('affinity/')) {
      const id = key.split('/')[1] ?? '';
      if (!pools.has(id)) problems.push(`block claim ${key} without its pool`);
    }
  }
  for (const [id, p] of pools) {
    if (!(`subnets/${p.subnet}` in dump))
      problems.push(`pool ${id} without reservation ${p.subnet}`);
    if (!(`addresses/${id}/${p.gateway}` in dump))
      problems.push(`pool ${id} without gateway record`);
  }
  const parsed = subnets.map((s) => net(s));
  for (let i = 0; i < parsed.length; i++) {
    for (let j = i + 1; j < parsed.length; j++) {
      if (subnetsOverlap(parsed[i] as Subnet, parsed[j] as Subnet)) {
        problems.push(`reservations ${subnets[i]} and ${subnets[j]} overlap`);
      }
    }
  }
  return problems;
}

/** EtcdCallEvent is what the store's observer hears of one etcd call. */
export type EtcdCallEvent = Parameters<NonNullable<StoreObserver['etcdCall']>>[0];

/** observed records what a store's observer hears: its etcd calls and lost compares. */
export function observed() {
  const calls: EtcdCallEvent[] = [];
  const conflicts: string[] = [];
  const observer: StoreObserver = {
    etcdCall: (e) => calls.push(e),
    casConflict: (e) => conflicts.push(e.op),
  };
  return { observer, calls, conflicts };
}
