/**
 * The consistency scan's rules: what the store's transactions should never leave behind, each a
 * function of the parsed records (consistency-records.ts) that lists its findings.
 */
import {
  compareSubnets,
  formatAddress,
  formatSubnet,
  lastAddress,
  type Subnet,
  subnetContains,
  subnetEquals,
} from '@kontena-ipam/cidr';
import type { KeyLayout } from '../layout/keys.js';
import type { PoolRecord } from '../layout/records.js';
import type { BlockKey, Records } from './consistency-records.js';
import type { Finding, Located } from './finding.js';

/** Overlap sweep over subnets sorted by family then network: each is compared with its successors while they start inside it. */
function overlaps(entries: Array<Located<{ subnet: Subnet; owner: string }>>): Finding[] {
  const sorted = [...entries].sort((a, b) => compareSubnets(a.value.subnet, b.value.subnet));
  const out: Finding[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as (typeof sorted)[number];
    const aEnd = lastAddress(a.value.subnet);
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as (typeof sorted)[number];
      if (b.value.subnet.family !== a.value.subnet.family || b.value.subnet.network > aEnd.value) {
        break;
      }
      const as = formatSubnet(a.value.subnet);
      const bs = formatSubnet(b.value.subnet);
      out.push({
        kind: 'overlapping-subnets',
        key: b.key,
        subnet: bs,
        other: as,
        pool: b.value.owner,
        message: `subnet ${bs} (pool ${b.value.owner}) overlaps ${as} (pool ${a.value.owner})`,
      });
    }
  }
  return out;
}

/** A reservation is keyed by its subnet, so each pool must find its own subnet's key naming it. */
export function reservationFindings(keys: KeyLayout, { pools, reservations }: Records): Finding[] {
  const out: Finding[] = [];
  const bySubnet = new Map(reservations.map((r) => [formatSubnet(r.value.subnet), r.value]));
  for (const pool of pools.values()) {
    const subnet = formatSubnet(pool.subnet);
    const r = bySubnet.get(subnet);
    if (r?.pool === pool.id) continue;
    out.push({
      kind: 'pool-without-reservation',
      key: keys.pool(pool.id),
      pool: pool.id,
      subnet,
      message: r
        ? `pool ${pool.id}: its subnet ${subnet} is reserved for pool ${r.pool}`
        : `pool ${pool.id}: no reservation for its subnet ${subnet}`,
    });
  }
  for (const { key, value } of reservations) {
    const pool = pools.get(value.pool);
    if (pool && subnetEquals(pool.subnet, value.subnet)) continue;
    const subnet = formatSubnet(value.subnet);
    out.push({
      kind: 'reservation-without-pool',
      key,
      pool: value.pool,
      subnet,
      message: pool
        ? `reservation ${subnet} names pool ${value.pool}, whose subnet is ${formatSubnet(pool.subnet)}`
        : `reservation ${subnet} names pool ${value.pool}, which does not exist`,
    });
  }
  return out;
}

/** Overlaps among reservations, plus pools whose subnet has no reservation of its own. */
export function overlapFindings(keys: KeyLayout, { pools, reservations }: Records): Finding[] {
  const reservedFor = new Set(
    reservations.map((r) => `${formatSubnet(r.value.subnet)} ${r.value.pool}`),
  );
  return overlaps([
    ...reservations.map((r) => ({
      key: r.key,
      value: { subnet: r.value.subnet, owner: r.value.pool },
    })),
    ...[...pools.values()]
      .filter((p) => !reservedFor.has(`${formatSubnet(p.subnet)} ${p.id}`))
      .map((p) => ({ key: keys.pool(p.id), value: { subnet: p.subnet, owner: p.id as string } })),
  ]);
}

/** Addresses of no pool, and addresses outside their pool's subnet. */
export function addressFindings({ pools, addresses }: Records): Finding[] {
  const out: Finding[] = [];
  for (const { key, value } of addresses) {
    const pool = pools.get(value.pool);
    const address = formatAddress(value.address);
    if (!pool) {
      out.push({
        kind: 'address-without-pool',
        key,
        pool: value.pool,
        address,
        node: value.node,
        message: `address ${address} (node ${value.node}) belongs to pool ${value.pool}, which does not exist`,
      });
    } else if (!subnetContains(pool.subnet, value.address)) {
      out.push({
        kind: 'address-outside-pool',
        key,
        pool: value.pool,
        address,
        node: value.node,
        subnet: formatSubnet(pool.subnet),
        message: `address ${address} (node ${value.node}) lies outside pool ${value.pool}'s subnet ${formatSubnet(pool.subnet)}`,
      });
    }
  }
  return out;
}

/**
 * Holds of no pool; and a node that holds pools but owns no address anywhere, often a host
 * that is gone (cleanup's --forget-node), or one with networks but no containers: reported,
 * for an operator to judge.
 */
export function holdFindings({ pools, holds, addresses }: Records): Finding[] {
  const out: Finding[] = [];
  const owners = new Set(addresses.map((a) => a.value.node));
  for (const { key, value } of [...holds].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (!pools.has(value.pool)) {
      out.push({
        kind: 'hold-without-pool',
        key,
        pool: value.pool,
        node: value.node,
        message: `node ${value.node} holds pool ${value.pool}, which does not exist`,
      });
      continue;
    }
    if (owners.has(value.node)) continue;
    out.push({
      kind: 'idle-hold',
      key,
      pool: value.pool,
      node: value.node,
      message: `pool ${value.pool}: held by node ${value.node}, which owns no address in any pool`,
    });
  }
  return out;
}

/**
 * blockFindings: a block claim (or its affinity key) of a pool that does not exist, and claims
 * that no longer steer anything right: by a node that holds no reference to the pool (blocks go
 * back when a host leaves, so this is an etcd restore or a hand edit), or a claim and its
 * affinity key that disagree. Harmless to addresses (the address keys decide), reported so an
 * operator can tidy up.
 */
export function blockFindings(
  blocks: readonly BlockKey[],
  affinities: readonly BlockKey[],
  holds: ReadonlyArray<Located<{ pool: string; node: string }>>,
  pools: ReadonlyMap<string, PoolRecord>,
): Finding[] {
  const out: Finding[] = [];
  const held = new Set(holds.map((h) => `${h.value.pool}/${h.value.node}`));
  const claimed = new Map(blocks.map((b) => [`${b.value.pool}/${b.value.index}`, b.value.node]));
  const named = new Set(affinities.map((a) => `${a.value.pool}/${a.value.index}/${a.value.node}`));
  for (const { key, value } of [...blocks, ...affinities]) {
    const what = `block ${value.index} of pool ${value.pool} (node ${value.node})`;
    const base = { key, pool: value.pool, node: value.node };
    if (!pools.has(value.pool)) {
      out.push({
        kind: 'block-without-pool',
        ...base,
        message: `${what}: the pool does not exist`,
      });
    } else if (!held.has(`${value.pool}/${value.node}`)) {
      out.push({
        kind: 'stale-block',
        ...base,
        message: `${what}: the node does not hold the pool`,
      });
    } else if (claimed.get(`${value.pool}/${value.index}`) !== value.node) {
      out.push({
        kind: 'stale-block',
        ...base,
        message: `${what}: the block is claimed by another node`,
      });
    } else if (!named.has(`${value.pool}/${value.index}/${value.node}`)) {
      out.push({ kind: 'stale-block', ...base, message: `${what}: no affinity key names it` });
    }
  }
  return out;
}
