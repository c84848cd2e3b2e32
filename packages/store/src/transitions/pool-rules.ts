/**
 * The pool transitions' rules, apart from any I/O: whether a request is well formed or
 * contradicts the pool there is, which subnet a creation takes, what a creation writes, what a
 * removal guards and deletes. Functions of their inputs (test/pool-rules.test.ts); the
 * transactions around them are in pool-request.ts and pool-release.ts.
 */
import {
  addressEquals,
  defaultGateway,
  firstFreeSubnet,
  formatAddress,
  formatSubnet,
  type Subnet,
  subnetContains,
  subnetEquals,
  subnetsOverlap,
} from '@kontena-ipam/cidr';
import type { IRequestOp } from 'etcd3';
import { StoreError } from '../errors.js';
import type { Snapshot } from '../etcd/cas.js';
import type { Guard } from '../etcd/guards.js';
import { deleteOp, deletePrefixOp } from '../etcd/ops.js';
import { checkHostAddress, hostsOfBoth } from '../layout/address-rules.js';
import type { KeyLayout } from '../layout/keys.js';
import { decodePool, type PoolRecord } from '../layout/records.js';
import type { PoolId, PoolIdRequest, PoolInfo, Reservation } from '../types.js';

/** toPoolInfo strips what only the store needs from a pool record. */
export function toPoolInfo(state: PoolRecord): PoolInfo {
  return {
    id: state.id,
    subnet: state.subnet,
    ipRange: state.ipRange,
    gateway: state.gateway,
    dynamic: state.dynamic,
    createdAt: state.createdAt,
  };
}

/** validateRequest refuses a pool request whose subnet, ip-range and gateway do not fit together. */
export function validateRequest(req: PoolIdRequest): void {
  const { subnet, ipRange, gateway, v6 } = req;
  if (!subnet) {
    if (ipRange)
      throw new StoreError('INVALID', `ip-range ${formatSubnet(ipRange)} given without a subnet`);
    if (gateway)
      throw new StoreError('INVALID', `gateway ${formatAddress(gateway)} given without a subnet`);
    return;
  }
  if (v6 !== undefined && v6 !== (subnet.family === 6)) {
    throw new StoreError(
      'INVALID',
      `subnet ${formatSubnet(subnet)} is not an IPv${v6 ? 6 : 4} subnet`,
    );
  }
  if (ipRange && (ipRange.family !== subnet.family || !subnetContains(subnet, ipRange))) {
    throw new StoreError(
      'INVALID',
      `ip-range ${formatSubnet(ipRange)} is not inside subnet ${formatSubnet(subnet)}`,
    );
  }
  if (gateway && (gateway.family !== subnet.family || !subnetContains(subnet, gateway))) {
    throw new StoreError(
      'OUT_OF_RANGE',
      `gateway ${formatAddress(gateway)} is not inside subnet ${formatSubnet(subnet)}`,
    );
  }
  if (gateway) checkHostAddress(subnet, gateway, 'gateway');
  if (ipRange) {
    const hosts = hostsOfBoth(ipRange, subnet);
    if (hosts.first.value > hosts.last.value) {
      throw new StoreError(
        'INVALID',
        `ip-range ${formatSubnet(ipRange)} holds no host address of subnet ${formatSubnet(subnet)}`,
      );
    }
  }
}

/** mismatch says how a request contradicts an existing pool, or undefined when it does not. */
export function mismatch(pool: PoolRecord, req: PoolIdRequest): string | undefined {
  const name = `network ${pool.id}`;
  if (req.subnet && !subnetEquals(req.subnet, pool.subnet)) {
    return `${name} has subnet ${formatSubnet(pool.subnet)}, not ${formatSubnet(req.subnet)}`;
  }
  if (req.ipRange && !(pool.ipRange && subnetEquals(req.ipRange, pool.ipRange))) {
    const has = pool.ipRange ? formatSubnet(pool.ipRange) : 'none';
    return `${name} has ip-range ${has}, not ${formatSubnet(req.ipRange)}`;
  }
  if (req.gateway && !addressEquals(req.gateway, pool.gateway)) {
    return `${name} has gateway ${formatAddress(pool.gateway)}, not ${formatAddress(req.gateway)}`;
  }
  if (req.v6 !== undefined && req.v6 !== (pool.subnet.family === 6)) {
    return `${name} is an IPv${pool.subnet.family} pool (${formatSubnet(pool.subnet)})`;
  }
  return undefined;
}

/** removalGuards: the pool as read, and no hold, address or attachment created or changed since `revision`. */
export function removalGuards(keys: KeyLayout, pool: PoolRecord, revision: bigint): Guard[] {
  return [
    { key: keys.pool(pool.id), modifiedAt: pool.modRevision }, // nobody changed it
    { prefix: keys.holds(pool.id), unchangedSince: revision }, // nobody joined since we counted
    // Nobody took an address since: an allocation needs no hold change when its host holds
    // the pool already, so the holds alone miss it (release-rules.ts).
    { prefix: keys.addresses(pool.id), unchangedSince: revision },
    // No CNI attachment made since we read (a host's first one also writes its hold).
    { prefix: keys.attachments(pool.id), unchangedSince: revision },
  ];
}

/** removalOps delete pool, reservation, every address, hold, block and attachment, at once. */
export function removalOps(keys: KeyLayout, pool: PoolRecord): IRequestOp[] {
  return [
    deleteOp(keys.pool(pool.id)),
    deleteOp(keys.subnet(pool.subnet)),
    deletePrefixOp(keys.addresses(pool.id)),
    deletePrefixOp(keys.holds(pool.id)),
    deletePrefixOp(keys.blocks(pool.id)),
    deletePrefixOp(keys.affinities(pool.id)),
    deletePrefixOp(keys.attachments(pool.id)),
  ];
}

/** newPool is the record a creation writes (its revisions are the commit's). */
export function newPool(
  req: PoolIdRequest,
  subnet: Subnet,
  token: string,
  at: string,
): Omit<PoolRecord, 'createRevision' | 'modRevision'> {
  return {
    id: req.pool,
    subnet,
    ipRange: req.ipRange,
    gateway: req.gateway ?? defaultGateway(subnet),
    dynamic: !req.subnet,
    createdAt: at,
    tokens: [token],
  };
}

/** SubnetSpace is where dynamic subnets come from (StoreOptions' supernets and lengths). */
export interface SubnetSpace {
  supernet: Subnet;
  subnetLength: number;
  supernet6: Subnet | undefined;
  subnetLength6: number;
}

/**
 * chooseSubnet is the subnet a creation reserves: the one asked for, unless it overlaps a
 * reservation (SUBNET_OVERLAP), else the first free one of the family's supernet.
 */
export function chooseSubnet(
  req: PoolIdRequest,
  reserved: readonly Reservation[],
  space: SubnetSpace,
): Subnet {
  if (req.subnet) {
    const subnet = req.subnet;
    const clash = reserved.find((r) => subnetsOverlap(r.subnet, subnet));
    if (clash) {
      throw new StoreError(
        'SUBNET_OVERLAP',
        `subnet ${formatSubnet(subnet)} overlaps ${formatSubnet(clash.subnet)} of network ${clash.pool}`,
      );
    }
    return subnet;
  }
  const v6 = req.v6 === true;
  const supernet = v6 ? space.supernet6 : space.supernet;
  if (!supernet) {
    throw new StoreError(
      'INVALID',
      'no IPv6 supernet is configured: give the IPv6 network a --subnet',
    );
  }
  const length = v6 ? space.subnetLength6 : space.subnetLength;
  const free = firstFreeSubnet(
    supernet,
    length,
    reserved.map((r) => r.subnet),
  );
  if (!free) {
    throw new StoreError(
      'SUPERNET_EXHAUSTED',
      `no free /${length} subnet left in ${formatSubnet(supernet)}`,
    );
  }
  return free;
}

/** poolIn is the pool record read by `name`, if the pool exists. */
export function poolIn<K extends string>(
  id: PoolId,
  snap: Snapshot<K>,
  name: K,
): PoolRecord | undefined {
  const kv = snap.kv(name);
  return kv ? decodePool(id, kv) : undefined;
}
