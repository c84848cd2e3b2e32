/**
 * The etcd key layout, in one place. Everything lives under `${prefix}v2/`, so that a later
 * layout can sit beside this one during a migration.
 *
 *   pools/<PoolId>                  pool record: subnet, ip-range, gateway
 *   holds/<PoolId>/<NodeId>         one host's hold on a pool → { count }
 *   subnets/<network>/<prefix>      subnet reservation → { pool }
 *   addresses/<PoolId>/<address>    one taken address
 *   blocks/<PoolId>/<index>         a host's claim on one block of the window → { node }
 *   affinity/<PoolId>/<NodeId>/<index>  the same claim, found by host (its blocks at start)
 *   attachments/<PoolId>/<NodeId>/<ContainerId>/<IfName>  one CNI attachment → { address, netns }
 *   guard/subnets                   bumped by every reservation (see pool-request.ts)
 *   nodes/<NodeId>                  the live instance serving a host, under its lease
 *   hosts/<NodeId>                  that host's last registration, kept (no lease)
 *
 * v2 (nothing released used v1) moved the hosts' holds out of the pool record into keys of
 * their own: a host joining or leaving a network writes only its own key, so a fleet joining
 * at once does not queue on one record, and a client-chosen node id is a key, never an object
 * property. An allocation compares its host's hold key, so a host that holds no reference to a
 * pool cannot take an address in it.
 *
 * Blocks (views/host-view.ts) were added to v2 without a new version: they only steer where a host
 * looks for a free address, the address keys stay the truth, so a store without blocks and one
 * with them share a pool safely. Block indexes are fixed-width hex, so keys sort in window order
 * and a range read finds the claims near a host's starting point.
 *
 * CNI attachments (attach.ts, detach.ts) were added the same way: a CNI ADD writes the attachment key
 * and its address record (kind `cni`, naming the attachment) in one transaction, and a DEL
 * deletes both, so each points at the other for exactly as long as both exist. The key is found
 * by what a CNI DEL knows (pool, this host, CNI_CONTAINERID, CNI_IFNAME); a host's attachments of
 * one pool are one prefix (GC, "is this the last one?"). Container ids and interface names are
 * parsed before they reach a key (attachment-types.ts: neither can hold '/').
 */
import { formatAddress, formatSubnet, type IpAddress, type Subnet } from '@kontena-ipam/cidr';
import type { AttachmentRef } from '../attachment-types.js';
import type { NodeId, PoolId } from '../types.js';

/** DEFAULT_PREFIX is where keys live unless StoreOptions.prefix says otherwise. */
export const DEFAULT_PREFIX = '/kontena/ipam/';

/** LAYOUT_VERSION names the key layout: keys live under `${prefix}${LAYOUT_VERSION}/`. */
export const LAYOUT_VERSION = 'v2';

/** KeyLayout builds every key the store reads or writes. */
export class KeyLayout {
  /** root is `${prefix}v2/`; nothing is written outside it. */
  readonly root: string;
  readonly poolsPrefix: string;
  readonly holdsRoot: string;
  readonly subnetsPrefix: string;
  readonly addressesRoot: string;
  readonly blocksRoot: string;
  readonly affinityRoot: string;
  readonly attachmentsRoot: string;
  /** guard is the key every subnet reservation compares and bumps. */
  readonly guard: string;
  readonly nodesPrefix: string;
  readonly hostsPrefix: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.root = `${base}${LAYOUT_VERSION}/`;
    this.poolsPrefix = `${this.root}pools/`;
    this.holdsRoot = `${this.root}holds/`;
    this.subnetsPrefix = `${this.root}subnets/`;
    this.addressesRoot = `${this.root}addresses/`;
    this.blocksRoot = `${this.root}blocks/`;
    this.affinityRoot = `${this.root}affinity/`;
    this.attachmentsRoot = `${this.root}attachments/`;
    this.guard = `${this.root}guard/subnets`;
    this.nodesPrefix = `${this.root}nodes/`;
    this.hostsPrefix = `${this.root}hosts/`;
  }

  /**
   * node is a host's live registration (registration.ts): every write for the host compares
   * it (fences.ts). Node ids hold no '/', so the key is exact.
   */
  node(id: NodeId): string {
    return `${this.nodesPrefix}${id}`;
  }

  /** host is a host's last registration, kept after its lease is gone. */
  host(id: NodeId): string {
    return `${this.hostsPrefix}${id}`;
  }

  pool(id: PoolId): string {
    return `${this.poolsPrefix}${id}`;
  }

  /** holds is the prefix of one pool's hold keys (PoolIds hold no '/', so it is exact). */
  holds(pool: PoolId): string {
    return `${this.holdsRoot}${pool}/`;
  }

  /** hold is one host's hold on one pool. */
  hold(pool: PoolId, node: NodeId): string {
    return `${this.holds(pool)}${node}`;
  }

  subnet(subnet: Subnet): string {
    return `${this.subnetsPrefix}${formatSubnet(subnet)}`;
  }

  /** addresses is the prefix of one pool's address keys (PoolIds hold no '/', so it is exact). */
  addresses(pool: PoolId): string {
    return `${this.addressesRoot}${pool}/`;
  }

  address(pool: PoolId, address: IpAddress): string {
    return `${this.addresses(pool)}${formatAddress(address)}`;
  }

  /** blocks is the prefix of one pool's block claims. */
  blocks(pool: PoolId): string {
    return `${this.blocksRoot}${pool}/`;
  }

  /** block is the claim on block `index` of one pool's window. */
  block(pool: PoolId, index: number): string {
    return `${this.blocks(pool)}${blockIndexText(index)}`;
  }

  /** affinities is the prefix of one pool's block claims as found by host. */
  affinities(pool: PoolId): string {
    return `${this.affinityRoot}${pool}/`;
  }

  /** affinitiesOf is the prefix of one host's claims in one pool (node ids hold no '/'). */
  affinitiesOf(pool: PoolId, node: NodeId): string {
    return `${this.affinities(pool)}${node}/`;
  }

  affinity(pool: PoolId, node: NodeId, index: number): string {
    return `${this.affinitiesOf(pool, node)}${blockIndexText(index)}`;
  }

  /** attachments is the prefix of one pool's CNI attachments. */
  attachments(pool: PoolId): string {
    return `${this.attachmentsRoot}${pool}/`;
  }

  /** attachmentsOf is the prefix of one host's CNI attachments in one pool (node ids hold no '/'). */
  attachmentsOf(pool: PoolId, node: NodeId): string {
    return `${this.attachments(pool)}${node}/`;
  }

  /** attachment is one CNI attachment: (container id, interface) of one host in one pool. */
  attachment(pool: PoolId, node: NodeId, ref: AttachmentRef): string {
    return `${this.attachmentsOf(pool, node)}${ref.container}/${ref.ifname}`;
  }

  /** poolIdOf returns the PoolId part of a pool key. */
  poolIdOf(key: string): string {
    return key.slice(this.poolsPrefix.length);
  }

  /** addressTextOf returns the address part of one pool's address key. */
  addressTextOf(pool: PoolId, key: string): string {
    return key.slice(this.addresses(pool).length);
  }
}

/** BLOCK_INDEX_DIGITS is the width of a block index in keys: 2^53 blocks fit in 14 hex digits. */
const BLOCK_INDEX_DIGITS = 14;

/** blockIndexText is a block index as it appears in keys: fixed-width hex, so keys sort by index. */
export function blockIndexText(index: number): string {
  return index.toString(16).padStart(BLOCK_INDEX_DIGITS, '0');
}

/** parseBlockIndex reads the index at the end of a block or affinity key (undefined if none). */
export function parseBlockIndex(key: string): number | undefined {
  const text = key.slice(key.lastIndexOf('/') + 1);
  if (!/^[0-9a-f]{14}$/.test(text)) return undefined;
  const index = Number.parseInt(text, 16);
  return Number.isSafeInteger(index) ? index : undefined;
}
