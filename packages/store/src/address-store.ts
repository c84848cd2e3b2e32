/**
 * Address allocation. An uncontended dynamic allocation is one etcd round trip: the candidate
 * comes from this node's PoolView, and one transaction
 *   If(pool create revision == the one we know, address key absent)
 *   Then(put address) Else(get pool, get address)
 * decides. A lost compare marks the address taken and tries the next candidate; the Else
 * reads tell "someone else has it" from "our own earlier attempt committed" (the token).
 */
import {
  addressEquals,
  formatAddress,
  formatSubnet,
  type IpAddress,
  subnetContains,
} from '@kontena-ipam/cidr';
import type { IKeyValue, ITxnResponse } from 'etcd3';
import { backoff, newToken, nowIso, type StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { deleteOp, getOp, kvsAt, putOp } from './etcd-call.js';
import { moveGateway } from './gateway-move.js';
import { PoolView } from './pool-view.js';
import {
  decodePool,
  encodeAddress,
  type PoolState,
  readAddress,
  type StoredAddress,
} from './records.js';
import type { AddressRelease, AddressRequest, Allocation, NodeId, PoolId } from './types.js';

/** Slot is one pool's local state: its view (loading or loaded) and in-flight candidates. */
interface Slot {
  view: Promise<PoolView | undefined> | undefined;
  readonly pending: Set<bigint>;
}

/** allocation is what callers get for an address record of `pool`. */
export function allocation(pool: PoolState, address: IpAddress, rec: StoredAddress): Allocation {
  return {
    pool: pool.id,
    address,
    subnet: pool.subnet,
    node: rec.node,
    kind: rec.kind,
    attrs: rec.attrs,
    at: rec.at,
  };
}

function notFound(pool: PoolId): StoreError {
  return new StoreError('POOL_NOT_FOUND', `network ${pool} does not exist`);
}

/** Outcome of one allocation transaction, read from its response. */
type Outcome = 'won' | 'taken' | 'pool-gone' | 'pool-replaced';

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
      slot = { view: undefined, pending: new Set() };
      this.slots.set(pool, slot);
    }
    return slot;
  }

  /**
   * view returns a usable view of the pool, loading it when missing or stale, or replacing
   * `outdated` (concurrent callers share one load). POOL_NOT_FOUND when the pool is gone.
   */
  private async view(pool: PoolId, outdated?: PoolView): Promise<PoolView> {
    const slot = this.slot(pool);
    const seen = slot.view;
    // A failed load rejects everyone who waited on it: its error (UNAVAILABLE) is theirs too.
    const current = seen ? await seen : undefined;
    // Replace only what we looked at: if another caller started a load meanwhile, share it.
    const replace = slot.view === seen && (!current || current.stale || current === outdated);
    let target = slot.view;
    if (replace || target === undefined) {
      const loading = PoolView.load(this.ctx, pool, this.node, slot.pending);
      target = loading;
      slot.view = loading;
      loading.catch(() => {
        if (slot.view === loading) slot.view = undefined;
      });
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

  async close(): Promise<void> {
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => s.view?.then((v) => v?.close()).catch(() => undefined)));
  }

  async request(req: AddressRequest): Promise<Allocation> {
    let view = await this.view(req.pool);
    // The view's pool record may be stale (the pool removed or re-created meanwhile): before
    // refusing a request on its account, look again at etcd once.
    if (req.address && !this.inside(view.pool, req.address)) view = await this.view(req.pool, view);
    if (req.kind === 'gateway') {
      if (req.address && !addressEquals(req.address, view.pool.gateway)) {
        view = await this.view(req.pool, view);
      }
      return this.gateway(view, req.address);
    }
    const token = newToken();
    const record: StoredAddress = {
      node: req.node,
      kind: req.kind,
      attrs: { ...req.attrs },
      at: nowIso(),
      token,
    };
    const pending = this.slot(req.pool).pending;
    let reloadedWhenFull = false;
    let conflicts = 0;
    for (let attempt = 1; attempt <= this.ctx.maxAttempts; ) {
      if (view.stale) view = await this.view(req.pool, view);
      if (req.address) this.checkStatic(view.pool, req.address);
      const address = req.address ?? view.take();
      if (!address) {
        // Full here. In-flight candidates of ours may yet fail; otherwise look once more at
        // etcd itself before saying so, since the view may have missed a release.
        if (pending.size > 0) {
          await backoff(attempt);
          continue;
        }
        if (reloadedWhenFull) {
          throw new StoreError(
            'POOL_EXHAUSTED',
            `network ${req.pool} has no free address left in ${formatSubnet(view.window)}`,
          );
        }
        reloadedWhenFull = true;
        view = await this.view(req.pool, view);
        continue;
      }
      attempt++;
      pending.add(address.value);
      let txn: ITxnResponse;
      try {
        txn = await this.write(view.pool, address, record);
      } catch (error) {
        pending.delete(address.value);
        // Unknown outcome: free the candidate here; if it did commit, the watch says so.
        if (!req.address) view.mark(address, false);
        throw error;
      }
      pending.delete(address.value);
      const outcome = this.outcome(txn, token);
      if (outcome === 'won') {
        view.mark(address, true);
        return allocation(view.pool, address, record);
      }
      if (outcome === 'pool-gone') {
        this.forget(req.pool);
        throw notFound(req.pool);
      }
      if (outcome === 'pool-replaced') {
        this.ctx.calls.conflict({ op: 'allocate', pool: req.pool });
        view = await this.view(req.pool, view);
        continue;
      }
      view.mark(address, true);
      if (req.address) return this.staticTaken(view.pool, address, req, txn);
      conflicts++;
      this.ctx.calls.conflict({ op: 'allocate', pool: req.pool });
      this.ctx.logger.debug(
        { pool: req.pool, address: formatAddress(address), attempt },
        'address taken by another host meanwhile; trying the next one',
      );
      if (conflicts >= 2) view.jump();
      if (conflicts >= 3) await backoff(attempt);
    }
    throw new StoreError(
      'CONFLICT',
      `network ${req.pool}: ${this.ctx.maxAttempts} addresses in a row were taken by other hosts first; try again`,
    );
  }

  private inside(pool: PoolState, address: IpAddress): boolean {
    return address.family === pool.subnet.family && subnetContains(pool.subnet, address);
  }

  private checkStatic(pool: PoolState, address: IpAddress): void {
    if (!this.inside(pool, address)) {
      throw new StoreError(
        'OUT_OF_RANGE',
        `address ${formatAddress(address)} is not inside subnet ${formatSubnet(pool.subnet)} of network ${pool.id}`,
      );
    }
  }

  private write(pool: PoolState, address: IpAddress, record: StoredAddress): Promise<ITxnResponse> {
    const { keys, calls } = this.ctx;
    const poolKey = keys.pool(pool.id);
    const addressKey = keys.address(pool.id, address);
    return calls.txn('request address', (c) =>
      c
        .if(poolKey, 'Create', '==', pool.createRevision.toString()) // the pool we know, not a re-creation
        .and(addressKey, 'Create', '==', 0) // the address is free
        .then(putOp(addressKey, encodeAddress(record)))
        .else(getOp(poolKey), getOp(addressKey)),
    );
  }

  private outcome(txn: ITxnResponse, token: string): Outcome {
    if (txn.succeeded) return 'won';
    const addressKv = kvsAt(txn, 1)[0];
    // etcd3 re-sent a transaction that had committed: the record there is ours.
    if (addressKv && readAddress(addressKv)?.token === token) return 'won';
    const poolKv = kvsAt(txn, 0)[0];
    if (!poolKv) return 'pool-gone';
    if (addressKv) return 'taken';
    return 'pool-replaced';
  }

  /** A static address someone holds: aux is shared, anything else is ADDRESS_IN_USE. */
  private staticTaken(
    pool: PoolState,
    address: IpAddress,
    req: AddressRequest,
    txn: ITxnResponse,
  ): Allocation {
    const kv = kvsAt(txn, 1)[0];
    const held = kv ? readAddress(kv) : undefined;
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
  private async gateway(view: PoolView, asked: IpAddress | undefined): Promise<Allocation> {
    const pool = view.pool;
    if (asked && !addressEquals(asked, pool.gateway)) return this.moveGateway(view, asked);
    const { keys, calls } = this.ctx;
    const poolKey = keys.pool(pool.id);
    const gatewayKey = keys.address(pool.id, pool.gateway);
    const txn = await calls.txn('request gateway', (c) =>
      c
        .if(poolKey, 'Create', '==', pool.createRevision.toString())
        .then(getOp(gatewayKey), getOp(poolKey))
        .else(getOp(poolKey)),
    );
    const currentKv = kvsAt(txn, txn.succeeded ? 1 : 0)[0];
    if (!currentKv) {
      this.forget(pool.id);
      throw notFound(pool.id);
    }
    const current = decodePool(pool.id, currentKv);
    if (!txn.succeeded || !addressEquals(current.gateway, pool.gateway)) {
      // Re-created, or its gateway moved, since this view was loaded: answer from etcd as it
      // is now (moveGateway reads it; asked for the current gateway it only returns it).
      view.invalidate(txn.succeeded ? 'pool gateway moved' : 'pool re-created');
      return this.moveGateway(view, asked ?? current.gateway);
    }
    return this.gatewayOf(pool, kvsAt(txn, 0)[0]);
  }

  private async moveGateway(view: PoolView, to: IpAddress): Promise<Allocation> {
    try {
      const moved = await moveGateway(this.ctx, { pool: view.pool.id, node: this.node, to });
      // The view reserves the old gateway: reload it with the new one on the next request.
      if (!addressEquals(moved.pool.gateway, view.pool.gateway)) view.invalidate('gateway moved');
      return allocation(moved.pool, to, moved.record);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'POOL_NOT_FOUND') this.forget(view.pool.id);
      throw error;
    }
  }

  private gatewayOf(pool: PoolState, kv: IKeyValue | undefined): Allocation {
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
  async release(req: AddressRelease): Promise<{ released: boolean }> {
    const { keys, calls, maxAttempts } = this.ctx;
    const key = keys.address(req.pool, req.address);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const res = await calls.read('release address', [getOp(key)]);
      const kv = kvsAt(res, 0)[0];
      if (!kv) return { released: false };
      const held = readAddress(kv);
      // Unreadable records are left for an operator (checkConsistency reports them).
      if (held?.kind !== 'endpoint') return { released: false };
      if (held.node !== req.node) {
        this.ctx.logger.warn(
          { pool: req.pool, address: formatAddress(req.address), owner: held.node, node: req.node },
          'release of another node’s address ignored',
        );
        return { released: false };
      }
      const txn = await calls.txn('release address', (c) =>
        c
          .if(key, 'Mod', '==', kv.mod_revision) // still the record we read
          .then(deleteOp(key))
          .else(getOp(key)),
      );
      // Gone after a failed compare: an earlier, re-sent attempt of this delete won.
      if (txn.succeeded || kvsAt(txn, 0).length === 0) return { released: true };
      calls.conflict({ op: 'release', pool: req.pool });
      await backoff(attempt);
    }
    throw new StoreError(
      'CONFLICT',
      `address ${formatAddress(req.address)}: too many concurrent changes`,
    );
  }
}
