/**
 * WindowView: what every local view of one pool's dynamic window shares. The window is where
 * dynamic addresses come from (the ip-range, else the subnet); a view only steers where a host
 * looks for a free address, the allocation's compare in etcd decides. Two views build on it:
 * PoolView (pool-view.ts), a watched bitmap of the whole window, and HostView (host-view.ts),
 * the blocks this host claimed (borrowing a PoolView once no block is left).
 */
import { type IpAddress, parseAddress, type Subnet, subnetContains } from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { hostsOfBoth, neverDynamic } from '../layout/address-rules.js';
import type { PoolRecord } from '../layout/records.js';
import type { NodeId } from '../types.js';

/**
 * startOffset spreads hosts over the window: FNV-1a of the node id, then murmur3's finalizer
 * (FNV alone maps "host-1" and "host-2" a few offsets apart), scaled to the size.
 */
export function startOffset(node: NodeId, size: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < node.length; i++) {
    hash ^= node.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return Math.floor(((hash >>> 0) / 2 ** 32) * size);
}

/** AddressView is what an allocation (transitions/allocation-run.ts) needs of a pool's view. */
export interface AddressView {
  readonly pool: PoolRecord;
  readonly window: Subnet;
  /** stale: the pool changed under the view (or its watch broke); reload before use. */
  readonly stale: boolean;
  /** next is a free candidate, marked taken locally; undefined when the window is full. */
  next(budget?: Budget): Promise<IpAddress | undefined>;
  /** mark records an address as taken or free (no-op outside the window). */
  mark(address: IpAddress, taken: boolean): void;
  /** knownFull: a fresh look found the window full and nothing was freed since. */
  readonly knownFull: boolean;
  /** confirmFull records that a fresh look found the window full (see knownFull). */
  confirmFull(): void;
  /** jump: repeated conflicts; step out of the way of whoever allocates right ahead. */
  jump(): void;
  /** invalidate marks the view stale; the next request reloads. */
  invalidate(why: string): void;
  close(): Promise<void>;
}

/** WindowView holds the window, its host addresses, staleness and invalidation of one view. */
export abstract class WindowView {
  readonly pool: PoolRecord;
  /** window is where dynamic addresses come from: the ip-range, else the subnet. */
  readonly window: Subnet;
  /** stale: the pool changed under this view (or its watch broke); reload before use. */
  stale = false;
  protected readonly ctx: StoreContext;
  /**
   * hosts is the first and last address of the window that are host addresses of the subnet:
   * network and broadcast (or IPv6 subnet-router anycast) are never handed out, neither the
   * window's nor the subnet's (an ip-range may end on the subnet's broadcast).
   */
  protected readonly hosts: { first: IpAddress; last: IpAddress };

  protected constructor(ctx: StoreContext, pool: PoolRecord) {
    this.ctx = ctx;
    this.pool = pool;
    this.window = pool.ipRange ?? pool.subnet;
    this.hosts = hostsOfBoth(this.window, pool.subnet);
  }

  /** reserved: never handed out dynamically (not a host address, or the gateway). */
  protected reserved(address: IpAddress): boolean {
    return neverDynamic(this.hosts, this.pool.gateway, address);
  }

  /** inWindow: the address is of the window's family and inside it. */
  protected inWindow(address: IpAddress): boolean {
    return address.family === this.window.family && subnetContains(this.window, address);
  }

  /** addressOf is the address an address key of this pool names (undefined: not an address key). */
  protected addressOf(kv: IKeyValue): IpAddress | undefined {
    try {
      return parseAddress(this.ctx.keys.addressTextOf(this.pool.id, kv.key.toString()));
    } catch {
      return undefined;
    }
  }

  /** invalidate marks the view stale and closes it; the next request reloads. */
  invalidate(why: string): void {
    if (this.stale) return;
    this.stale = true;
    this.ctx.logger.debug({ pool: this.pool.id, why }, 'pool view stale');
    void this.close();
  }

  /** close stops what keeps the view current (a watch); it is stale from then on. */
  abstract close(): Promise<void>;
}
