/**
 * What the store offers, as types: identifiers, records handed to callers, options and
 * request shapes. Everything else in the package imports from here, never the reverse.
 */
import type { IpAddress, Subnet } from '@kontena-ipam/cidr';
import type { Etcd3 } from 'etcd3';
import type { AttachmentInfo } from './attachment-types.js';
import { StoreError, type StoreErrorCode } from './errors.js';

/**
 * PoolId is Docker's PoolID: the `--ipam-opt network=NAME` value for a network's IPv4 pool,
 * `NAME:v6` for its IPv6 pool (a dual-stack network asks for both with the same options).
 */
export type PoolId = string & { readonly __brand: 'PoolId' };
/**
 * NetworkName is a network's name, `--ipam-opt network=NAME` (no ':'). It is not a PoolId: the
 * network's IPv6 pool is `NAME:v6` (poolIdFor makes both). Its brand has a key of its own, so a
 * value may be both (`PoolId & NetworkName`: an IPv4 pool's id is its network's name).
 */
export type NetworkName = string & { readonly __networkName: true };
/** NodeId names one Docker host (NODE_ID). */
export type NodeId = string & { readonly __brand: 'NodeId' };

// Both end up inside etcd keys, so no '/' and nothing that sorts oddly.
const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function parseName(what: string, text: string, max: number): string {
  if (typeof text !== 'string' || text.length === 0) {
    throw new StoreError('INVALID', `${what} must not be empty`);
  }
  if (text.length > max) {
    throw new StoreError('INVALID', `${what} "${text.slice(0, 40)}…" is longer than ${max} chars`);
  }
  if (!namePattern.test(text)) {
    throw new StoreError(
      'INVALID',
      `${what} "${text}" must start with a letter or digit and hold only letters, digits, '_', '.', '-'`,
    );
  }
  return text;
}

/** V6_POOL_SUFFIX ends the PoolId of a network's IPv6 pool; network names hold no ':'. */
export const V6_POOL_SUFFIX = ':v6';

/**
 * parsePoolId checks a PoolId: a network name (1..128 chars of [A-Za-z0-9_.-], starting
 * alphanumeric), optionally followed by exactly `:v6` (the network's IPv6 pool).
 */
export function parsePoolId(text: string): PoolId {
  if (typeof text === 'string' && text.endsWith(V6_POOL_SUFFIX)) {
    const name = text.slice(0, -V6_POOL_SUFFIX.length);
    return `${parseName('network name', name, 128)}${V6_POOL_SUFFIX}` as PoolId;
  }
  return parseName('network name', text, 128) as PoolId;
}

/**
 * parseNetworkName checks a network name (`--ipam-opt network=NAME`): like parsePoolId but
 * without the `:v6` suffix, which only the store adds (poolIdFor).
 */
export function parseNetworkName(text: string): NetworkName {
  return parseName('network name', text, 128) as NetworkName;
}

/** poolIdFor is the PoolId of a network's IPv4 (`NAME`) or IPv6 (`NAME:v6`) pool. */
export function poolIdFor(network: NetworkName, v6: boolean): PoolId {
  // Checked again: a caller without types (or with a cast) may pass anything.
  const name = parseNetworkName(network);
  return parsePoolId(v6 ? `${name}${V6_POOL_SUFFIX}` : name);
}

/** parseNodeId checks a host id: 1..253 chars of [A-Za-z0-9_.-], starting alphanumeric. */
export function parseNodeId(text: string): NodeId {
  return parseName('node id', text, 253) as NodeId;
}

/**
 * AddressKind says why an address is taken: the pool's gateway, an aux address, a Docker
 * endpoint, or a CNI attachment (made and freed only through attach/detach; Docker's release
 * and cleanup's Docker comparison leave it alone).
 */
export type AddressKind = 'gateway' | 'aux' | 'endpoint' | 'cni';

/** AddressAttrs keeps what Docker told us about an address (MAC, endpoint name). */
export interface AddressAttrs {
  mac?: string;
  endpoint?: string;
}

/** PoolInfo is one network's address pool as Docker is told of it. */
export interface PoolInfo {
  id: PoolId;
  subnet: Subnet;
  /** SubPool (`--ip-range`), inside subnet; dynamic addresses come from here when set. */
  ipRange: Subnet | undefined;
  gateway: IpAddress;
  /** True when the subnet was chosen from the supernet. */
  dynamic: boolean;
  createdAt: string;
}

/** Pool is a PoolInfo with every host's holds, read at one revision. */
export interface Pool extends PoolInfo {
  /** NodeId → reference count (> 0). An object without prototype: node ids are client-chosen. */
  holds: Readonly<Record<string, number>>;
}

/**
 * JoinedPool is what requestPool answers: the pool and how many holds the asking host has on
 * it now. It does not list the other hosts' holds (reading them would make a join cost grow
 * with the fleet); getPool does.
 */
export interface JoinedPool extends PoolInfo {
  held: number;
}

/** Allocation is one taken address as handed to a caller. */
export interface Allocation {
  pool: PoolId;
  address: IpAddress;
  /** The pool's subnet, for "A.B.C.D/len" replies. */
  subnet: Subnet;
  node: NodeId;
  kind: AddressKind;
  attrs: AddressAttrs;
  /** ISO time the address was taken. */
  at: string;
  /** The CNI attachment that holds it (kind `cni`): container id, interface, netns. */
  attachment?: AttachmentInfo;
}

/** AddressRecord is an Allocation with its etcd revisions (cleanup fences on them). */
export interface AddressRecord extends Allocation {
  createRevision: bigint;
  modRevision: bigint;
}

/** PoolStatus is a Pool with counts and etcd revisions, for operators and cleanup. */
export interface PoolStatus extends Pool {
  /** Allocatable addresses: host addresses of the ip-range, else of the subnet. */
  total: bigint;
  /** Address records in etcd (gateway and aux included). */
  used: number;
  createRevision: bigint;
  /**
   * modRevision is the revision of the last change to the pool record or to any of its holds:
   * dropHold and removePoolIfUnheld take it as their guard ("nothing changed since").
   */
  modRevision: bigint;
}

/** StoreLogger is the pino-compatible subset the store logs through. */
export interface StoreLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * StoreObserver receives what the store does on the wire, for metrics. Both callbacks are
 * optional; they run synchronously on the request path, so keep them cheap. One that throws is
 * ignored: metrics never break a request.
 */
export interface StoreObserver {
  /**
   * etcdCall: one etcd round trip finished. `op` is `txn` (a compare-and-swap transaction),
   * `get` (a read of a few keys), `load` (reading a pool's addresses into a local view) or
   * `list` (operator and cleanup listings); `code` is the StoreError code when it failed.
   */
  etcdCall?(event: {
    op: string;
    durationMs: number;
    ok: boolean;
    code?: StoreErrorCode;
    /** merged: the call carried several transactions as one (commit-batch.ts). */
    merged?: MergedCall;
  }): void;
  /**
   * casConflict: a transaction's compare failed because another writer got there first, and
   * the store retries (or, allocating, moves on to the next address). `op` names the
   * transition: `allocate` (an address), `pool` (creating, re-gatewaying or removing a pool),
   * `hold` (joining or leaving a pool), `release` (freeing an address), `block` (claiming a
   * block of addresses that another host claimed first).
   */
  casConflict?(event: {
    op: 'allocate' | 'pool' | 'release' | 'hold' | 'block';
    pool?: PoolId;
  }): void;
}

/**
 * MergedCall describes a call that carried several allocations' transactions as one: how many,
 * and whether its compares held (all committed) or not (none did, and each was sent again alone).
 */
export interface MergedCall {
  transactions: number;
  committed: boolean;
}

/** StoreOptions configures an IpamStore; only `client` is required. */
export interface StoreOptions {
  /** An etcd3 client; endpoints, TLS and auth are the caller's options. Not closed by the store. */
  client: Etcd3;
  /** Key prefix, default '/kontena/ipam/'; keys live under `${prefix}v2/`. */
  prefix?: string;
  /** Where dynamic IPv4 subnets come from, default 10.80.0.0/12. */
  supernet?: Subnet;
  /** Prefix length of dynamic IPv4 subnets, default 24. */
  subnetLength?: number;
  /** Where dynamic IPv6 subnets come from; without it dynamic IPv6 requests are INVALID. */
  supernet6?: Subnet;
  /** Prefix length of dynamic IPv6 subnets, default 64. */
  subnetLength6?: number;
  /** Deadline of each etcd call in ms, default 5000. */
  deadlineMs?: number;
  /** Named in UNAVAILABLE messages ("etcd unavailable at <endpoint>"). */
  endpoint?: string;
  logger?: StoreLogger;
  /** Compare-and-swap attempts per request before CONFLICT, default 16. */
  maxAttempts?: number;
  /**
   * When the store tries to take back the write of a call that failed with its outcome unknown
   * (ms after the failure; see undo.ts), default 1, 5, 20 and 60 s.
   */
  undoAttemptsMs?: readonly number[];
  /** Keys per etcd range read when reading a pool's addresses, default 5000. */
  pageSize?: number;
  /** Told of every etcd round trip and every lost compare-and-swap (metrics). */
  observer?: StoreObserver;
}

/**
 * PoolRequest is RequestPool: a network name, the asking host, and what Docker passed. The
 * pool's id is `network` for IPv4 and `network:v6` for IPv6 (`v6`, or an IPv6 subnet).
 */
export interface PoolRequest {
  /** The network name (`--ipam-opt network=NAME`, no ':'). */
  network: NetworkName;
  node: NodeId;
  subnet?: Subnet;
  ipRange?: Subnet;
  gateway?: IpAddress;
  v6?: boolean;
}

/**
 * PoolIdRequest is a PoolRequest once the store has chosen which of the network's pools it asks
 * for (IPv4 or IPv6): `pool` is that pool's id, `NAME` or `NAME:v6`. Only the store's PoolStore
 * takes it; it is not exported.
 */
export type PoolIdRequest = Omit<PoolRequest, 'network'> & {
  pool: PoolId;
  /** cni: the hold is for the host's CNI attachments (their one reference; attach.ts). */
  cni?: boolean;
};

/** PoolRelease is ReleasePool (and dropHold): which pool, which host. */
export interface PoolRelease {
  pool: PoolId;
  node: NodeId;
}

/**
 * DropHoldRequest is dropHold's request: PoolRelease plus an optional guard. With
 * `modRevision`, nothing is written if the pool record or any of its holds changed after that
 * revision (cleanup passes PoolStatus.modRevision, what its decision was based on).
 */
export interface DropHoldRequest extends PoolRelease {
  modRevision?: bigint;
}

/** ReleasePoolResult: `released` when a hold was dropped, `removed` when the pool went with it. */
export interface ReleasePoolResult {
  removed: boolean;
  released: boolean;
}

/** AddressRequest is RequestAddress: a static `address`, or none for the next free one. */
export interface AddressRequest {
  pool: PoolId;
  node: NodeId;
  address?: IpAddress;
  kind: AddressKind;
  attrs?: AddressAttrs;
}

/** AddressRelease is ReleaseAddress (address is a bare IP). */
export interface AddressRelease {
  pool: PoolId;
  address: IpAddress;
  node: NodeId;
}

/** Reservation is one reserved subnet and the pool that holds it. */
export interface Reservation {
  subnet: Subnet;
  pool: string;
}
