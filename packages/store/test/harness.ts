/**
 * Test harness for the store: a real etcd per test file, a fresh key prefix per test, and a
 * dump of every key under that prefix so each scenario can assert exactly what it left behind.
 */
import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import { Etcd3 } from 'etcd3';
import { type EtcdCluster, startEtcd } from '../../../testing/etcd.js';
import type { NodeId, PoolId, StoreOptions } from '../src/index.js';
import { IpamStore, parseNodeId, parsePoolId } from '../src/index.js';

export const net = (s: string) => parseSubnet(s);
export const ip = (s: string) => parseAddress(s);
export const pool = (s: string): PoolId => parsePoolId(s);
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
    const c = new Etcd3({ hosts: etcd.endpoint });
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

/** dumpKeys returns every key under `${prefix}v1/` (prefix stripped) with its parsed JSON value. */
export async function dumpKeys(client: Etcd3, prefix: string): Promise<Record<string, unknown>> {
  const root = `${prefix}v1/`;
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
