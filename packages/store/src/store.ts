/**
 * IpamStore: the one object the plugin and cleanup use. It validates nothing Docker-specific
 * and owns no HTTP; it maps each request onto the pool or address transitions and keeps this
 * node's local pool views.
 */
import { hostRange, type IpAddress } from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import { listAddresses, releaseAddressIfUnchanged } from './admin/address-admin.js';
import {
  type AttachmentCheck,
  checkAttachment,
  listAttachments,
} from './admin/attachment-admin.js';
import { type HostStatus, listHosts } from './admin/hosts.js';
import type {
  Attachment,
  AttachmentRecord,
  AttachRequest,
  DetachRequest,
  DetachResult,
} from './attachment-types.js';
import { createContext, type StoreContext } from './context.js';
import { StoreError } from './errors.js';
import type { Budget } from './etcd/budget.js';
import { countAt, getOp, kvsAt, rangeOp, revisionOf } from './etcd/ops.js';
import { decodeHolds, decodePool, type HoldSet, type PoolRecord } from './layout/records.js';
import {
  decodeRegistration,
  encodeRegistration,
  type HostRecord,
  type InstanceInfo,
} from './layout/registration-record.js';
import { AddressStore } from './transitions/address-store.js';
import { attach } from './transitions/attach.js';
import { checkAttachRequest, checkDetachRequest } from './transitions/attachment-checks.js';
import { detach } from './transitions/detach.js';
import { absentFence, heldFence } from './transitions/fences.js';
import { toPoolInfo } from './transitions/pool-rules.js';
import { PoolStore } from './transitions/pool-store.js';
import { NodeRegistration, type RegistrationOptions } from './transitions/registration.js';
import type {
  AddressRecord,
  AddressRelease,
  AddressRequest,
  Allocation,
  DropHoldRequest,
  JoinedPool,
  NodeId,
  PoolId,
  PoolRelease,
  PoolRequest,
  PoolStatus,
  ReleasePoolResult,
  Reservation,
  StoreOptions,
} from './types.js';
import { parseNodeId, parsePoolId, poolIdFor } from './types.js';

// etcd refuses transactions with more than 128 operations by default (--max-txn-ops).
const COUNTS_PER_READ = 100;

const kinds = new Set(['gateway', 'aux', 'endpoint']);

/**
 * checkIds re-checks ids at run time: the branded types say they were parsed, but they end up
 * inside etcd keys, where an unparsed '/' would reach into another pool's keys.
 */
function checkIds(pool: PoolId, node?: NodeId): void {
  parsePoolId(pool);
  if (node !== undefined) parseNodeId(node);
}

function status(pool: PoolRecord, holds: HoldSet, used: number): PoolStatus {
  const holdsRevision = holds.latestRevision();
  return {
    ...toPoolInfo(pool),
    holds: holds.toRecord(),
    total: hostRange(pool.ipRange ?? pool.subnet).count,
    used,
    createRevision: pool.createRevision,
    // The newer of the two (Math.max takes no bigints).
    // biome-ignore lint/complexity/useMathMinMax: bigint revisions
    modRevision: holdsRevision > pool.modRevision ? holdsRevision : pool.modRevision,
  };
}

/** IpamStore keeps pools, subnet reservations and addresses in etcd, race-free across hosts. */
export class IpamStore {
  private readonly ctx: StoreContext;
  private readonly pools: PoolStore;
  /** One AddressStore per node id: each keeps its own views (start offsets differ by node). */
  private readonly addresses = new Map<NodeId, AddressStore>();

  constructor(options: StoreOptions) {
    this.ctx = createContext(options);
    this.pools = new PoolStore(this.ctx, {
      left: (pool) => {
        for (const store of this.addresses.values()) store.forget(pool);
      },
      joining: (pool, node) => this.addressStore(node).joinPlan(pool),
    });
  }

  private addressStore(node: NodeId): AddressStore {
    let store = this.addresses.get(node);
    if (!store) {
      store = new AddressStore(this.ctx, node);
      this.addresses.set(node, store);
    }
    return store;
  }

  /**
   * requestPool joins the network's pool (adding one hold for `node`) or creates it. An IPv6
   * request (`v6`, or an IPv6 subnet) is for the network's IPv6 pool, `<network>:v6`: a
   * dual-stack network asks for both with the same name.
   */
  async requestPool(req: PoolRequest, budget?: Budget): Promise<JoinedPool> {
    parseNodeId(req.node);
    const v6 = req.v6 ?? req.subnet?.family === 6;
    const { network, ...rest } = req;
    return this.pools.requestPool({ ...rest, pool: poolIdFor(network, v6) }, budget);
  }

  /** releasePool drops one of `node`'s holds; the last hold removes the pool with everything in it. */
  async releasePool(req: PoolRelease, budget?: Budget): Promise<ReleasePoolResult> {
    checkIds(req.pool, req.node);
    return this.pools.release({ pool: req.pool, node: req.node }, 'one', budget);
  }

  /**
   * requestAddress takes the given address, or the next free one of the pool's range. An
   * address needs its host's hold on the pool (the pool goes with its last hold): a host that
   * holds none (dropped by --forget-node while it lived) gets one back with the address.
   */
  async requestAddress(req: AddressRequest, budget?: Budget): Promise<Allocation> {
    checkIds(req.pool, req.node);
    if (!kinds.has(req.kind)) {
      throw new StoreError('INVALID', `address kind "${String(req.kind)}" is unknown`);
    }
    return this.addressStore(req.node).request(req, budget);
  }

  /** releaseAddress frees `node`'s endpoint address; gateway, aux and unknown ones are no-ops. */
  async releaseAddress(req: AddressRelease, budget?: Budget): Promise<{ released: boolean }> {
    checkIds(req.pool, req.node);
    return this.addressStore(req.node).release(req, budget);
  }

  /**
   * attach is a CNI ADD: one address of the network's pool (`v6`: its IPv6 pool) for one
   * (container id, interface) of `node`, recorded with the attachment in one transaction. A
   * repeated ADD of the same attachment answers the same address (`created: false`). The pool
   * is created if it does not exist (as requestPool would), and held by the host's attachments.
   */
  async attach(req: AttachRequest, budget?: Budget): Promise<Attachment> {
    const parsed = checkAttachRequest(req);
    return attach(this.attachDeps(), parsed, budget);
  }

  /**
   * detach is a CNI DEL: frees the attachment's address; the host's last attachment in a pool
   * gives back its hold (the pool goes with the last hold). Nothing to free: `released: false`.
   */
  async detach(req: DetachRequest, budget?: Budget): Promise<DetachResult> {
    checkDetachRequest(req);
    return detach(this.attachDeps(), req, budget);
  }

  /** listAttachments lists a pool's CNI attachments (one host's, with `node`). */
  async listAttachments(
    req: { pool: PoolId; node?: NodeId },
    budget?: Budget,
  ): Promise<AttachmentRecord[]> {
    checkIds(req.pool, req.node);
    return listAttachments(this.ctx, req, budget);
  }

  /** checkAttachment tells whether an attachment's address is still recorded for its host. */
  async checkAttachment(req: DetachRequest, budget?: Budget): Promise<AttachmentCheck> {
    checkDetachRequest(req);
    return checkAttachment(this.ctx, req, budget);
  }

  private attachDeps() {
    return {
      ctx: this.ctx,
      pools: this.pools,
      addresses: (node: NodeId) => this.addressStore(node),
      left: (pool: PoolId) => {
        for (const store of this.addresses.values()) store.forget(pool);
      },
    };
  }

  /** getPool returns a pool with its holds, counts and revisions, or undefined. */
  async getPool(pool: PoolId, budget?: Budget): Promise<PoolStatus | undefined> {
    checkIds(pool);
    const { keys, calls } = this.ctx;
    const res = await calls.read(
      'get pool',
      [
        getOp(keys.pool(pool)),
        rangeOp(keys.addresses(pool), { countOnly: true }),
        rangeOp(keys.holds(pool)),
      ],
      'get',
      budget,
    );
    const kv = kvsAt(res, 0)[0];
    if (!kv) return undefined;
    return status(
      decodePool(pool, kv),
      decodeHolds(keys.holds(pool), kvsAt(res, 2)),
      countAt(res, 1),
    );
  }

  /** listPools returns every pool with holds and counts, all read at one revision, sorted by id. */
  async listPools(budget?: Budget): Promise<PoolStatus[]> {
    const { keys, calls } = this.ctx;
    const res = await calls.read(
      'list pools',
      [rangeOp(keys.poolsPrefix), rangeOp(keys.holdsRoot)],
      'list',
      budget,
    );
    const revision = revisionOf(res);
    const pools = kvsAt(res, 0).map((kv) =>
      decodePool(keys.poolIdOf(kv.key.toString()) as PoolId, kv),
    );
    const holdKvs = new Map<string, IKeyValue[]>();
    for (const kv of kvsAt(res, 1)) {
      const id = kv.key.toString().slice(keys.holdsRoot.length).split('/', 1)[0] ?? '';
      holdKvs.set(id, [...(holdKvs.get(id) ?? []), kv]);
    }
    const out: PoolStatus[] = [];
    for (let i = 0; i < pools.length; i += COUNTS_PER_READ) {
      const chunk = pools.slice(i, i + COUNTS_PER_READ);
      const counts = await calls.read(
        'list pools',
        chunk.map((p) => rangeOp(keys.addresses(p.id), { countOnly: true, revision })),
        'list',
        budget,
      );
      for (const [j, p] of chunk.entries()) {
        const holds = decodeHolds(keys.holds(p.id), holdKvs.get(p.id) ?? []);
        out.push(status(p, holds, countAt(counts, j)));
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** listAddresses returns a pool's address records (optionally one node's); [] for no pool. */
  async listAddresses(req: { pool: PoolId; node?: NodeId }): Promise<AddressRecord[]> {
    checkIds(req.pool, req.node);
    return listAddresses(this.ctx, req);
  }

  /** listReservations returns every reserved subnet with its pool, sorted by subnet. */
  listReservations(): Promise<Reservation[]> {
    return this.pools.listReservations();
  }

  /** revision is etcd's current revision: cleanup fences on it. */
  async revision(): Promise<bigint> {
    const res = await this.ctx.calls.read('revision', [getOp(this.ctx.keys.guard)]);
    return revisionOf(res);
  }

  /**
   * releaseAddressIfUnchanged deletes an address only if its mod revision is still `modRevision`;
   * with `node` (the record's owner), fenced like every write for that host.
   */
  releaseAddressIfUnchanged(req: {
    pool: PoolId;
    address: IpAddress;
    modRevision: bigint;
    node?: NodeId;
  }): Promise<boolean> {
    checkIds(req.pool, req.node);
    return releaseAddressIfUnchanged(this.ctx, req);
  }

  /**
   * dropHold removes all of `node`'s holds on `pool`; the pool goes with its last hold. With
   * `modRevision`, only if neither the pool record nor any hold changed after it (its
   * PoolStatus.modRevision); else nothing is written.
   */
  async dropHold(req: DropHoldRequest, budget?: Budget): Promise<ReleasePoolResult> {
    checkIds(req.pool, req.node);
    return this.pools.release(req, 'all', budget);
  }

  /** removePoolIfUnheld removes a pool nobody holds, if unchanged since `modRevision`. */
  async removePoolIfUnheld(req: { pool: PoolId; modRevision: bigint }): Promise<boolean> {
    checkIds(req.pool);
    return this.pools.removeIfUnheld(req);
  }

  /**
   * register makes this process the live instance of `node` (registration.ts): it registers in
   * the background, and from then on every write for `node` is fenced on that registration, so
   * none is sent while another instance holds it and none commits once it is lost.
   */
  register(node: NodeId, info: InstanceInfo, options?: RegistrationOptions): NodeRegistration {
    parseNodeId(node);
    const registration = new NodeRegistration(this.ctx, node, info, options);
    this.ctx.fences.set(node, registration.fence);
    registration.start();
    return registration;
  }

  /**
   * actAs fences every later write for `node` of this store, for an operator tool: `absent`
   * (forgetting a host: only while it holds no registration) or `held` (acting beside the
   * instance that holds it: only while that registration, as `registration` read it, lasts).
   */
  actAs(node: NodeId, fence: { absent: true } | { held: HostRecord }): void {
    parseNodeId(node);
    const key = this.ctx.keys.node(node);
    this.ctx.fences.set(
      node,
      'absent' in fence
        ? absentFence(node, key)
        : heldFence(node, key, encodeRegistration(fence.held)),
    );
  }

  /** registration is `node`'s live registration (its instance), or undefined when none is. */
  async registration(node: NodeId): Promise<HostRecord | undefined> {
    parseNodeId(node);
    const res = await this.ctx.calls.read('read registration', [getOp(this.ctx.keys.node(node))]);
    const kv = kvsAt(res, 0)[0];
    return kv ? decodeRegistration(kv) : undefined;
  }

  /**
   * listHosts returns every host that registered, or owns a hold, block or address: whether it
   * is live (and its instance), its last registration, and the addresses it owns.
   */
  listHosts(budget?: Budget): Promise<HostStatus[]> {
    return listHosts(this.ctx, budget);
  }

  /** ping makes one cheap etcd call within the deadline; UNAVAILABLE if it fails. */
  async ping(): Promise<void> {
    await this.revision();
  }

  /**
   * close stops this store's watches and its undos of failed calls (what they leave is
   * cleanup's). The etcd client stays open: it is the caller's.
   */
  async close(): Promise<void> {
    this.ctx.undo.close();
    const stores = [...this.addresses.values()];
    this.addresses.clear();
    await Promise.all(stores.map((s) => s.close()));
  }
}
