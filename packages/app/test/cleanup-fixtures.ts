/**
 * What the kontena-ipam-cleanup tests share (moved here with the command line from
 * @kontena-ipam/cleanup): node and pool names, a clock an hour ahead, and a store on a fresh
 * key prefix of a real etcd with ways to look at what it holds.
 */
import { formatAddress, parseSubnet } from '@kontena-ipam/cidr';
import { type NodeId, parseNodeId } from '@kontena-ipam/store';
import { instanceInfo } from '../src/instance.js';
import { openSeedStore, pool, type Seeded, uniquePrefix } from './support/operator.js';

export const nodeA: NodeId = parseNodeId('node-a');
export const nodeB: NodeId = parseNodeId('node-b');
/** poolId is support/operator.ts's pool (a network's name and its IPv4 pool's id at once). */
export const poolId = pool;
export const subnet = parseSubnet;

/** HOUR_LATER is a clock an hour ahead: everything written now is past the default grace. */
export const HOUR_LATER = (): number => Date.now() + 3_600_000;

/** StoreFixture is a store on its own key prefix, plus ways to look at etcd directly. */
export interface StoreFixture extends Seeded {
  prefix: string;
  /** Every key under the prefix, sorted, with the prefix stripped. */
  keyList(): Promise<string[]>;
  /** Addresses (text) in a pool, optionally of one node. */
  addressesOf(pool: string, node?: NodeId): Promise<string[]>;
}

/** storeFixture opens a store on a fresh prefix, so tests sharing one etcd never meet. */
export function storeFixture(
  endpoint: string,
  deadlineMs = 2000,
  options: { registerNodeA?: boolean } = {},
): StoreFixture {
  const prefix = uniquePrefix();
  const seeded = openSeedStore(endpoint, prefix, deadlineMs);
  // The plugin of node-a is live on this machine, as cleanup requires (cleanup-liveness.ts).
  const registration =
    options.registerNodeA === false
      ? undefined
      : seeded.store.register(nodeA, instanceInfo(), { ttlSeconds: 30 });
  return {
    ...seeded,
    prefix,
    async close() {
      await registration?.stop();
      await seeded.close();
    },
    async keyList() {
      const all = await seeded.client.getAll().prefix(prefix).keys();
      return all.map((k) => k.slice(prefix.length)).sort();
    },
    async addressesOf(pool, node) {
      const records = await seeded.store.listAddresses({
        pool: poolId(pool),
        ...(node ? { node } : {}),
      });
      return records.map((r) => formatAddress(r.address)).sort();
    },
  };
}
