/**
 * The hosts as operators see them (`kontena-ipam status`, cleanup's --forget-after): every
 * NODE_ID that registered or owns something, whether it is live now, since when, and what it
 * owns. Read for operators, never on a Docker call's path.
 */
import type { IKeyValue } from 'etcd3';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { readPrefix } from '../etcd/paging.js';
import { readAddress } from '../layout/records.js';
import { decodeRegistration, type HostRecord } from '../layout/registration-record.js';
import type { NodeId } from '../types.js';

/** HostStatus is one host: its live registration if any, its last one, and what it owns. */
export interface HostStatus {
  node: NodeId;
  /** The instance serving the host now; undefined when none is (the host is absent). */
  live: HostRecord | undefined;
  /** The host's last registration (kept without a lease); undefined if it never registered. */
  last: HostRecord | undefined;
  /**
   * since: live, when its instance started; absent, when its last instance stopped cleanly.
   * Undefined for an absent host that crashed or never registered (its lease just ran out).
   */
  since: string | undefined;
  /** Addresses recorded as the host's. */
  addresses: number;
  /**
   * Of those, pools' gateways: recorded as the host that created the pool, but the pool's, so
   * they stay while any host holds it (forgetting the host does not free them).
   */
  gateways: number;
  /** Pools the host holds (joined and not released). */
  pools: string[];
}

/** nodeAfter reads the node id that follows `prefix` in a key (`<prefix><pool>/<node>/…`). */
function nodeAfter(prefix: string, kv: IKeyValue): string | undefined {
  return kv.key.toString().slice(prefix.length).split('/')[1];
}

function records(prefix: string, kvs: readonly IKeyValue[]): Map<string, HostRecord | undefined> {
  const out = new Map<string, HostRecord | undefined>();
  for (const kv of kvs) {
    try {
      out.set(kv.key.toString().slice(prefix.length), decodeRegistration(kv));
    } catch {
      // An unreadable record is `kontena-ipam check`'s to report; the host still shows.
      out.set(kv.key.toString().slice(prefix.length), undefined);
    }
  }
  return out;
}

/** listHosts reads every host (see HostStatus), sorted by NODE_ID. */
export async function listHosts(ctx: StoreContext, budget?: Budget): Promise<HostStatus[]> {
  const { calls, keys, pageSize } = ctx;
  const read = (prefix: string, keysOnly = false) =>
    readPrefix(calls, 'list hosts', prefix, { pageSize, op: 'list', keysOnly }, undefined, budget);
  const [nodes, hosts, holds, addresses] = await Promise.all([
    read(keys.nodesPrefix),
    read(keys.hostsPrefix),
    read(keys.holdsRoot, true),
    read(keys.addressesRoot),
  ]);
  const live = records(keys.nodesPrefix, nodes.kvs);
  const last = records(keys.hostsPrefix, hosts.kvs);
  const pools = new Map<string, string[]>();
  for (const kv of holds.kvs) {
    const node = nodeAfter(keys.holdsRoot, kv);
    const pool = kv.key.toString().slice(keys.holdsRoot.length).split('/')[0] ?? '';
    if (node) pools.set(node, [...(pools.get(node) ?? []), pool]);
  }
  const owned = new Map<string, number>();
  const gateways = new Map<string, number>();
  for (const kv of addresses.kvs) {
    const record = readAddress(kv);
    if (!record?.node) continue;
    owned.set(record.node, (owned.get(record.node) ?? 0) + 1);
    if (record.kind === 'gateway') gateways.set(record.node, (gateways.get(record.node) ?? 0) + 1);
  }
  const names = new Set([...live.keys(), ...last.keys(), ...pools.keys(), ...owned.keys()]);
  return [...names].sort().map((node) => {
    const now = live.get(node);
    const before = last.get(node);
    return {
      node: node as NodeId,
      live: now,
      last: before,
      since: now ? now.startedAt : before?.stoppedAt,
      addresses: owned.get(node) ?? 0,
      gateways: gateways.get(node) ?? 0,
      pools: (pools.get(node) ?? []).sort(),
    };
  });
}
