/**
 * Addresses of one node's store instance: each pool's view (views/host-view.ts) shared by its
 * requests, the allocation rounds (allocation-run.ts), the gateway (returned, or moved:
 * gateway-move.ts) and releases.
 */
import {
  addressEquals,
  formatAddress,
  formatSubnet,
  type IpAddress,
  subnetContains,
} from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import type { StoreContext } from '../context.js';
import { StoreError } from '../errors.js';
import type { Budget } from '../etcd/budget.js';
import { transact } from '../etcd/cas.js';
import { deleteOp, getOp, kvsAt } from '../etcd/ops.js';
import { deleteLanded } from '../etcd/tokens.js';
import { checkHostAddress } from '../layout/address-rules.js';
import { allocation, notFound } from '../layout/answers.js';
import type { ClaimedBlock } from '../layout/blocks.js';
import { decodePool, type PoolRecord, readAddress, type StoredAddress } from '../layout/records.js';
import type { AddressRelease, AddressRequest, Allocation, NodeId, PoolId } from '../types.js';
import { HostView, type JoinReads } from '../views/host-view.js';
import { AllocationRun, type RunExtra } from './allocation-run.js';
import { moveGateway } from './gateway-move.js';
import { addJoinReads, JoinClaim, type JoinPlan, type PoolShape } from './join-claim.js';

/** Slot is one pool's local state: its view (loading or loaded) and in-flight candidates. */
interface Slot {
  view: Promise<HostView | undefined> | undefined;
  /** The view once loaded, for what must update it without waiting (a release). */
  loaded: HostView | undefined;
  readonly pending: Set<bigint>;
}

/** AddressStore allocates and releases addresses for one node's store instance. */
export class AddressStore {
  private readonly ctx: StoreContext;
  private readonly node: NodeId;
  private readonly slots = new Map<PoolId, Slot>();

  constructor(ctx: StoreContext, node: NodeId) {
    this.ctx = ctx;
    this.node = node;
  }

  private slot(pool: PoolId): Slot {
    let slot = this.slots.get(pool);
    if (!slot) {
      slot = { view: undefined, loaded: undefined, pending: new Set() };
      this.slots.set(pool, slot);
    }
    return slot;
  }

  /**
   * view returns a usable view of the pool, loading it when missing or stale, or replacing
   * `outdated` (concurrent callers share one load). POOL_NOT_FOUND when the pool is gone.
   */
  private async view(pool: PoolId, outdated?: HostView): Promise<HostView> {
    const slot = this.slot(pool);
    const seen = slot.view;
    // A failed load rejects everyone who waited on it: its error (UNAVAILABLE) is theirs too.
    const current = seen ? await seen : undefined;
    // Replace only what we looked at: if another caller started a load meanwhile, share it.
    const replace = slot.view === seen && (!current || current.stale || current === outdated);
    let target = slot.view;
    if (replace || target === undefined) {
      const loading = HostView.load(this.ctx, pool, this.node, slot.pending);
      target = loading;
      slot.view = loading;
      loading.then(
        (view) => {
          if (slot.view === loading) slot.loaded = view;
        },
        () => {
          if (slot.view === loading) slot.view = undefined;
        },
      );
      if (replace && current) void current.close();
    }
    const view = await target;
    if (!view) {
      this.forget(pool);
      throw notFound(pool);
    }
    return view;
  }

  /** forget drops a pool's local view (the pool is gone, or this node left it). */
  forget(pool: PoolId): void {
    const slot = this.slots.get(pool);
    if (!slot) return;
    this.slots.delete(pool);
    void slot.view?.then((v) => v?.close()).catch(() => undefined);
  }

  /**
   * joinPlan is what this node's join of `pool` carries (join-claim.ts): a block claim, and the
   * reads that let its first allocation start without loading a view.
   */
  joinPlan(pool: PoolShape): JoinPlan | undefined {
    const claim = JoinClaim.plan(this.ctx, pool, this.node);
    if (!claim) return undefined;
    return {
      add: (then) => {
        then.named('claim', claim.op);
        addJoinReads(then, this.ctx, pool.id, this.node);
      },
      undoOps: claim.undoOps,
      take: (replies) =>
        this.joined(pool.id, claim.claimed(replies.response('claim')), {
          id: pool.id,
          pool: replies.kv('pool'),
          claims: replies.kvs('claims'),
        }),
    };
  }

  /** joined installs the view a join read, or gives the block it claimed to the view there is. */
  private joined(pool: PoolId, claimed: ClaimedBlock | undefined, reads: JoinReads): void {
    const slot = this.slot(pool);
    if (slot.view) {
      // Loaded or loading (a load may have read before this commit): it takes the block once
      // it is there; adopting a block it found by its affinity key already changes nothing.
      const poolKv = reads.pool;
      if (claimed && poolKv) {
        void slot.view.then((view) => view?.adoptJoined(claimed, poolKv)).catch(() => undefined);
      }
      return;
    }
    const view = HostView.fromJoin(this.ctx, this.node, slot.pending, reads, claimed);
    if (!view) return;
    slot.view = Promise.resolve(view);
    slot.loaded = view;
  }

  async close(): Promise<void> {
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => s.view?.then((v) => v?.close()).catch(() => undefined)));
  }

  /**
   * request allocates an address; `extra` adds a CNI attachment's writes to the allocation's
   * transaction (attach.ts, detach.ts).
   */
  async request(req: AddressRequest, budget?: Budget, extra?: RunExtra): Promise<Allocation> {
    let view = await this.view(req.pool);
    // The view's pool record may be stale (the pool removed or re-created meanwhile): before
    // refusing a request on its account, look again at etcd once.
    if (req.address && this.refuses(view.pool, req.address)) view = await this.view(req.pool, view);
    if (req.kind === 'gateway') {
      if (req.address && !addressEquals(req.address, view.pool.gateway)) {
        view = await this.view(req.pool, view);
      }
      return this.gateway(view, req.address, budget);
    }
    return new AllocationRun(this.ctx, this.node, req, view, {
      pending: this.slot(req.pool).pending,
      reload: (outdated) => this.view(req.pool, outdated),
      forget: () => this.forget(req.pool),
      checkStatic: (pool, address) => this.checkStatic(pool, address),
      staticTaken: (pool, address, kv) => this.staticTaken(pool, address, req, kv),
      ...(extra ? { extra } : {}),
    }).run(budget);
  }

  /** refuses tells whether checkStatic would refuse `address` in `pool`. */
  private refuses(pool: PoolRecord, address: IpAddress): boolean {
    try {
      this.checkStatic(pool, address);
      return false;
    } catch {
      return true;
    }
  }

  private inside(pool: PoolRecord, address: IpAddress): boolean {
    return address.family === pool.subnet.family && subnetContains(pool.subnet, address);
  }

  private checkStatic(pool: PoolRecord, address: IpAddress): void {
    if (!this.inside(pool, address)) {
      throw new StoreError(
        'OUT_OF_RANGE',
        `address ${formatAddress(address)} is not inside subnet ${formatSubnet(pool.subnet)} of network ${pool.id}`,
      );
    }
    checkHostAddress(pool.subnet, address, 'address');
  }

  /** A static address someone holds: aux is shared, anything else is ADDRESS_IN_USE. */
  private staticTaken(
    pool: PoolRecord,
    address: IpAddress,
    req: AddressRequest,
    kv: IKeyValue,
  ): Allocation {
    const held = readAddress(kv);
    if (held && held.kind === 'aux' && req.kind === 'aux') return allocation(pool, address, held);
    const by = held ? ` by node ${held.node} (${held.kind})` : '';
    throw new StoreError(
      'ADDRESS_IN_USE',
      `address ${formatAddress(address)} of network ${pool.id} is already taken${by}`,
    );
  }

  /**
   * The gateway is shared by every host: return its record, checking the pool still exists.
   * Asked for another address (`--gateway X`), move the pool's gateway there if this host
   * alone holds the pool (see gateway-move.ts).
   */
  private async gateway(
    view: HostView,
    asked: IpAddress | undefined,
    budget: Budget | undefined,
  ): Promise<Allocation> {
    const pool = view.pool;
    if (asked && !addressEquals(asked, pool.gateway)) return this.moveGateway(view, asked, budget);
    const { keys, calls } = this.ctx;
    const res = await calls.read(
      'request gateway',
      [getOp(keys.pool(pool.id)), getOp(keys.address(pool.id, pool.gateway))],
      'get',
      budget,
    );
    const currentKv = kvsAt(res, 0)[0];
    if (!currentKv) {
      this.forget(pool.id);
      throw notFound(pool.id);
    }
    const current = decodePool(pool.id, currentKv);
    if (
      current.createRevision !== pool.createRevision ||
      !addressEquals(current.gateway, pool.gateway)
    ) {
      // Re-created, or its gateway moved, since this view was loaded: answer from etcd as it
      // is now (moveGateway reads it; asked for the current gateway it only returns it).
      view.invalidate(
        current.createRevision !== pool.createRevision ? 'pool re-created' : 'pool gateway moved',
      );
      return this.moveGateway(view, asked ?? current.gateway, budget);
    }
    return this.gatewayOf(pool, kvsAt(res, 1)[0]);
  }

  private async moveGateway(
    view: HostView,
    to: IpAddress,
    budget: Budget | undefined,
  ): Promise<Allocation> {
    try {
      const moved = await moveGateway(
        this.ctx,
        { pool: view.pool.id, node: this.node, to },
        budget,
      );
      // The view reserves the old gateway: reload it with the new one on the next request.
      if (!addressEquals(moved.pool.gateway, view.pool.gateway)) view.invalidate('gateway moved');
      return allocation(moved.pool, to, moved.record);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'POOL_NOT_FOUND') this.forget(view.pool.id);
      throw error;
    }
  }

  private gatewayOf(pool: PoolRecord, kv: IKeyValue | undefined): Allocation {
    // The gateway record is written with the pool; answer from the pool if it is unreadable.
    const rec: StoredAddress = (kv && readAddress(kv)) || {
      node: this.node,
      kind: 'gateway',
      attrs: {},
      at: pool.createdAt,
      token: '',
    };
    return allocation(pool, pool.gateway, rec);
  }

  /**
   * release frees an address this node owns. The gateway and aux addresses belong to the pool
   * and go with it; an address that is free already, or another node's, is left alone.
   */
  async release(req: AddressRelease, budget?: Budget): Promise<{ released: boolean }> {
    const key = this.ctx.keys.address(req.pool, req.address);
    // The create revision of the record this call decided to delete, once it has.
    let tried: string | undefined;
    return transact<'address', { released: boolean }>(
      this.ctx,
      {
        what: 'release address',
        conflict: 'release',
        pool: req.pool,
        node: req.node,
        reads: { address: getOp(key) },
        decide: (snap) => {
          const kv = snap.kv('address');
          if (!kv) return { answer: { released: false } };
          const held = readAddress(kv);
          // Unreadable records are left for an operator (checkConsistency reports them).
          if (held?.kind !== 'endpoint') return { answer: { released: false } };
          if (held.node !== req.node) {
            this.ctx.logger.warn(
              {
                pool: req.pool,
                address: formatAddress(req.address),
                owner: held.node,
                node: req.node,
              },
              'release of another node’s address ignored',
            );
            return { answer: { released: false } };
          }
          tried = kv.create_revision;
          return {
            write: {
              guards: [{ key, modifiedAt: BigInt(kv.mod_revision) }], // still the record we read
              ops: [deleteOp(key)],
              done: () => {
                // Our own blocks are not watched: what we free, we mark free ourselves.
                this.slots.get(req.pool)?.loaded?.mark(req.address, false);
                return { released: true };
              },
            },
          };
        },
        // The record we meant is gone after a failed compare: an earlier, re-sent attempt of this
        // delete won. A record there now with another create revision is a newer allocation of
        // the address (this host's too, perhaps): it is not ours to delete.
        mine: (snap) => {
          const now = snap.kv('address');
          if (!deleteLanded(tried, now)) return undefined;
          // Gone: free here too (our blocks are not watched). Made again: the newer one's.
          if (!now) this.slots.get(req.pool)?.loaded?.mark(req.address, false);
          return { released: true };
        },
        exhausted: `address ${formatAddress(req.address)}: too many concurrent changes`,
      },
      budget,
    );
  }
}
