/** Reads the store's keys straight from etcd, so tests check what really is there. */

import { holdsIn } from '@kontena-ipam/testing/store-keys';
import type { Etcd3 } from 'etcd3';

/** STORE_PREFIX is where the store keeps its v2 keys (default prefix). */
export const STORE_PREFIX = '/kontena/ipam/v2/';

/** storeKeys returns every key under `${STORE_PREFIX}${under}` (prefix stripped) with its JSON value. */
export async function storeKeys(client: Etcd3, under = ''): Promise<Record<string, unknown>> {
  const all = await client.getAll().prefix(`${STORE_PREFIX}${under}`).strings();
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    out[key.slice(STORE_PREFIX.length)] = JSON.parse(value) as unknown;
  }
  return out;
}

/** PoolRecord is the part of a `pools/<id>` value the tests look at. */
export interface PoolRecord {
  subnet: string;
  ipRange?: string;
  gateway: string;
  dynamic: boolean;
  holds: Record<string, number>;
}

/** AddressValue is the part of an `addresses/<pool>/<ip>` value the tests look at. */
export interface AddressValue {
  node: string;
  kind: 'gateway' | 'aux' | 'endpoint';
}

/**
 * poolRecord reads one pool record with its hosts' holds (node → count, from the pool's
 * `holds/<pool>/<node>` keys), or undefined.
 */
export async function poolRecord(client: Etcd3, pool: string): Promise<PoolRecord | undefined> {
  const text = await client.get(`${STORE_PREFIX}pools/${pool}`).string();
  if (text === null) return undefined;
  const holds = holdsIn(await storeKeys(client, `holds/${pool}/`), pool);
  return { ...(JSON.parse(text) as Omit<PoolRecord, 'holds'>), holds };
}

/** addressKeys maps each address of a pool to its record. */
export async function addressKeys(
  client: Etcd3,
  pool: string,
): Promise<Record<string, AddressValue>> {
  const keys = await storeKeys(client, `addresses/${pool}/`);
  const out: Record<string, AddressValue> = {};
  for (const [key, value] of Object.entries(keys)) {
    out[key.slice(`addresses/${pool}/`.length)] = value as AddressValue;
  }
  return out;
}

/** subnetKeys lists the reserved subnets (`subnets/<cidr>` → pool). */
export async function subnetKeys(client: Etcd3): Promise<Record<string, string>> {
  const keys = await storeKeys(client, 'subnets/');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(keys)) {
    out[key.slice('subnets/'.length)] = (value as { pool: string }).pool;
  }
  return out;
}
