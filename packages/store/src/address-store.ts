/**
 * Address allocation. An uncontended dynamic allocation is one etcd round trip: the candidate
 * comes from this node's PoolView, and one transaction
 *   If(pool create revision == the one we know, address key absent, this host's hold present)
 *   Then(put address) Else(get pool, get address, get hold)
 * decides (cas.ts runs the rounds). A lost compare marks the address taken and tries the next
 * candidate; the Else reads tell "someone else has it" from "our own earlier attempt committed"
 * (the token), "the pool is gone or new" and "this host holds no reference to the pool": then
 * the next round writes the hold back with the address (If hold absent), so a pool is never
 * removed with a live address inside.
 */
import {
  addressEquals,
  formatAddress,
  formatSubnet,
  type IpAddress,
  subnetContains,
} from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import { checkHostAddress } from './address-rules.js';
import type { Budget } from './budget.js';
import { type Decision, transact } from './cas.js';
import { backoff, newToken, nowIso, type StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { deleteOp, getOp, kvsAt, putOp } from './etcd-call.js';
import { moveGateway } from './gateway-move.js';
import { HostView } from './host-blocks.js';
import {
  decodePool,
  encodeAddress,
  encodeHold,
  type PoolRecord,
  readAddress,
  type StoredAddress,
} from './records.js';
import type { AddressRelease, AddressRequest, Allocation, NodeId, PoolId } from './types.js';

/** Slot is one pool's local state: its view (loading or loaded) and in-flight candidates. */
interface Slot {
  view: Promise<HostView | undefined> | undefined;
  /** The view once loaded, for what must update it without waiting (a release). */
  loaded: HostView | undefined;
  readonly pending: Set<bigint>;
}

/** allocation is what callers get for an address record of `pool`. */
export function allocation(pool: PoolRecord, address: IpAddress, rec: StoredAddress): Allocation {
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

  async close(): Promise<void> {
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => s.view?.then((v) => v?.close()).catch(() => undefined)));
  }

  async request(req: AddressRequest, budget?: Budget): Promise<Allocation> {
    let view = await this.view(req.pool);
    // The view's pool record may be stale (the pool removed or re-created meanwhile): before
    // refusing a request on its account, look again at etcd once.
    if (req.address && !this.inside(view.pool, req.address)) view = await this.view(req.pool, view);
    if (req.kind === 'gateway') {
      if (req.address && !addressEquals(req.address, view.pool.gateway)) {
        view = await this.view(req.pool, view);
      }
      return this.gateway(view, req.address, budget);
    }
    const token = newToken();
    const record: StoredAddress = {
      node: req.node,
      kind: req.kind,
      attrs: { ...req.attrs },
      at: nowIso(),
      token,
    };
    const { keys } = this.ctx;
    const pending = this.slot(req.pool).pending;
    let reloadedWhenFull = false;
    let conflicts = 0;
    // The candidate of the round in flight.
    let address: IpAddress | undefined;
    // This host holds no reference to the pool (its hold was dropped by --forget-node, or lost
    // in an etcd restore): the allocation writes the hold back in its own transaction.
    let rehold = false;
    const candidate = async (): Promise<Decision<AddressReads, Allocation>> => {
      for (;;) {
        if (view.stale) view = await this.view(req.pool, view);
        if (req.address) this.checkStatic(view.pool, req.address);
        address = req.address ?? (await view.next(budget));
        if (address) break;
        if (view.stale) continue; // the pool changed under the view: reload, then look again
        // Full here. In-flight candidates of ours may yet fail; otherwise look once more at
        // etcd itself before saying so, since the view may have missed a release. A view that
        // did so and has heard of no release since says so at once: Docker retries on a full
        // pool must not read all of it each time.
        if (pending.size > 0) {
          await backoff(1);
          continue;
        }
        if (reloadedWhenFull || view.knownFull) {
          view.confirmFull();
          throw new StoreError(
            'POOL_EXHAUSTED',
            `network ${req.pool} has no free address left in ${formatSubnet(view.window)}`,
          );
        }
        reloadedWhenFull = true;
        view = await this.view(req.pool, view);
      }
      const taken = address;
      const pool = view.pool;
      const addressKey = keys.address(pool.id, taken);
      const holdKey = keys.hold(pool.id, this.node);
      pending.add(taken.value);
      const heldBack = rehold;
      return {
        write: {
          guards: [
            { key: keys.pool(pool.id), createdAt: pool.createRevision }, // the pool we know, not a re-creation
            { key: addressKey, absent: true }, // the address is free
            // An address needs its host's hold: the pool goes with its last hold, and must not
            // take a live address with it.
            heldBack ? { key: holdKey, absent: true } : { key: holdKey, present: true },
          ],
          ops: [
            putOp(addressKey, encodeAddress(record)),
            ...(heldBack ? [putOp(holdKey, encodeHold({ count: 1, tokens: [token] }))] : []),
          ],
          reread: {
            pool: getOp(keys.pool(pool.id)),
            address: getOp(addressKey),
            hold: getOp(holdKey),
          },
          settled: () => {
            pending.delete(taken.value);
          },
          // Unknown outcome: the record may land after Docker was told no. Take it back, and
          // offer the candidate again only once that is settled.
          undo: {
            what: 'request address',
            fields: { pool: pool.id, address: formatAddress(taken), node: this.node },
            guards: [{ key: addressKey, holds: encodeAddress(record) }],
            ops: [deleteOp(addressKey)],
            finished: () => {
              if (!req.address) view.mark(taken, false);
            },
          },
          done: () => {
            view.mark(taken, true);
            if (heldBack) {
              this.ctx.logger.warn(
                { pool: pool.id, address: formatAddress(taken), node: this.node },
                'this host held no reference to the pool: hold written back with the address',
              );
            }
            return allocation(pool, taken, record);
          },
        },
      };
    };
    return transact<AddressReads, Allocation>(
      this.ctx,
      {
        what: 'request address',
        conflict: 'allocate',
        pool: req.pool,
        start: candidate,
        decide: candidate,
        // etcd3 re-sent a transaction that had committed: the record there is ours.
        mine: (snap) => {
          const kv = snap.kv('address');
          if (!kv || !address || readAddress(kv)?.token !== token) return undefined;
          view.mark(address, true);
          return allocation(view.pool, address, record);
        },
        lost: async (snap, round) => {
          const taken = address as IpAddress;
          if (!snap.kv('pool')) {
            this.forget(req.pool);
            throw notFound(req.pool);
          }
          const kv = snap.kv('address');
          if (!kv && rehold === Boolean(snap.kv('hold'))) {
            // Not the address: the hold is not as this round assumed. Try again with the other.
            rehold = !rehold;
            if (!req.address) view.mark(taken, false);
            return 'retry-now';
          }
          if (!kv) {
            // The pool was removed and made again since the view was loaded.
            view = await this.view(req.pool, view);
            return 'retry-now';
          }
          view.mark(taken, true);
          if (req.address) return { answer: this.staticTaken(view.pool, taken, req, kv) };
          conflicts++;
          this.ctx.logger.debug(
            { pool: req.pool, address: formatAddress(taken), attempt: round },
            'address taken by another host meanwhile; trying the next one',
          );
          if (conflicts >= 2) view.jump();
          // Losing again and again: the view lags what others took (a crowded shared window
          // near full). Look at etcd itself instead of guessing on.
          if (conflicts % 4 === 0) view = await this.view(req.pool, view);
          return conflicts >= 3 ? 'retry' : 'retry-now';
        },
        exhausted: `network ${req.pool}: ${this.ctx.maxAttempts} addresses in a row were taken by other hosts first; try again`,
      },
      budget,
    );
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
          return tried !== undefined && now?.create_revision !== tried
            ? { released: true }
            : undefined;
        },
        exhausted: `address ${formatAddress(req.address)}: too many concurrent changes`,
      },
      budget,
    );
  }
}

/** AddressReads names what a lost allocation reads back. */
type AddressReads = 'pool' | 'address' | 'hold';
