/**
 * One address allocation, as the rounds of cas.ts run it. An uncontended dynamic allocation
 * is one etcd round trip: the candidate comes from this host's view (views/host-view.ts), and one
 * transaction
 *   If(pool create revision == the one we know, address key absent, this host's hold present)
 *   Then(put address) Else(get pool, get address, get hold)
 * decides. A lost compare marks the address taken and tries the next candidate; the Else reads
 * tell "someone else has it" from "our own earlier attempt committed" (the token), "the pool is
 * gone or new" and "this host holds no reference to the pool": then the next round writes the
 * hold back with the address (If hold absent), so a pool is never removed with a live address
 * inside.
 */
import { formatAddress, formatSubnet, type IpAddress } from '@kontena-ipam/cidr';
import type { IKeyValue, IRequestOp } from 'etcd3';
import type { StoreContext } from '../context.js';
import { StoreError } from '../errors.js';
import { backoff } from '../etcd/backoff.js';
import type { Budget } from '../etcd/budget.js';
import {
  type AfterLoss,
  type Decision,
  type Guard,
  type Snapshot,
  transact,
  type Write,
} from '../etcd/cas.js';
import { deleteOp, getOp, putOp } from '../etcd/ops.js';
import { newToken, putLanded } from '../etcd/tokens.js';
import { allocation, notFound } from '../layout/answers.js';
import {
  encodeAddress,
  encodeHold,
  nowIso,
  type PoolRecord,
  readAddress,
  type StoredAddress,
} from '../layout/records.js';
import type { AddressRequest, Allocation, NodeId } from '../types.js';
import type { HostView } from '../views/host-view.js';
import { lossStep } from './allocation-loss.js';

/** AddressReads names what a lost allocation reads back (`attachment` with a CNI RunExtra). */
export type AddressReads = 'pool' | 'address' | 'hold' | 'attachment';

/**
 * RunExtra is what a caller adds to each round's transaction of an allocation: the CNI
 * attachment key beside the address, and its own guard and write of the host's hold in place
 * of the run's (attach.ts, detach.ts). The run stays the judge of the address; the extra of the rest.
 */
export interface RunExtra {
  /** record: fields added to the address record (the attachment it belongs to). */
  readonly record: Partial<StoredAddress>;
  /** guards replace the run's own guard on the host's hold; ops are written with the address. */
  write(address: IpAddress, encodedAddress: string): { guards: Guard[]; ops: IRequestOp[] };
  /** reads: what a lost compare reads back besides the pool, the address and the hold. */
  readonly reads: { attachment: IRequestOp };
  /**
   * lost looks at a lost compare's reads first: 'retry-now' when its own guards failed (it has
   * taken note of what it read), an answer when the allocation is moot, else undefined.
   */
  lost(snap: Snapshot<AddressReads>): AfterLoss<Allocation> | undefined;
  /** undo: what takes back the extra's writes of `address` if the outcome is unknown. */
  undo(address: IpAddress): { guards: Guard[]; ops: IRequestOp[] };
}

/** What a run needs of the AddressStore it runs for. */
export interface RunHost {
  /** This host's candidates in flight for the pool: a lagging delete must not free them. */
  readonly pending: Set<bigint>;
  /** reload replaces `outdated` with a fresh view (POOL_NOT_FOUND when the pool is gone). */
  reload(outdated: HostView): Promise<HostView>;
  /** forget drops the pool's view (it is gone). */
  forget(): void;
  checkStatic(pool: PoolRecord, address: IpAddress): void;
  /** staticTaken answers a static request whose address is held (aux is shared) or refuses it. */
  staticTaken(pool: PoolRecord, address: IpAddress, kv: IKeyValue): Allocation;
}

/** AllocationRun is one RequestAddress (endpoint or aux; the gateway is address-store's). */
export class AllocationRun {
  private readonly ctx: StoreContext;
  private readonly node: NodeId;
  private readonly req: AddressRequest;
  private readonly host: RunHost;
  private view: HostView;
  private readonly token = newToken();
  private readonly record: StoredAddress;
  /** The candidate of the round in flight. */
  private address: IpAddress | undefined;
  private conflicts = 0;
  private reloadedWhenFull = false;
  /**
   * This host holds no reference to the pool (its hold was dropped by --forget-node, or lost
   * in an etcd restore): the allocation writes the hold back in its own transaction.
   */
  private rehold = false;
  private readonly extra: RunExtra | undefined;

  constructor(
    ctx: StoreContext,
    node: NodeId,
    req: AddressRequest,
    view: HostView,
    host: RunHost & { extra?: RunExtra },
  ) {
    this.ctx = ctx;
    this.node = node;
    this.req = req;
    this.view = view;
    this.host = host;
    this.extra = host.extra;
    this.record = {
      node: req.node,
      kind: req.kind,
      attrs: { ...req.attrs },
      at: nowIso(),
      token: this.token,
      ...host.extra?.record,
    };
  }

  run(budget?: Budget): Promise<Allocation> {
    const round = () => this.round(budget);
    return transact<AddressReads, Allocation>(
      this.ctx,
      {
        what: 'request address',
        conflict: 'allocate',
        pool: this.req.pool,
        node: this.req.node,
        start: round,
        decide: round,
        mine: (snap) => this.mine(snap),
        lost: (snap, n) => this.lost(snap, n),
        exhausted: `network ${this.req.pool}: ${this.ctx.maxAttempts} addresses in a row were taken by other hosts first; try again`,
      },
      budget,
    );
  }

  /** round picks this round's candidate and writes it. */
  private async round(budget?: Budget): Promise<Decision<AddressReads, Allocation>> {
    const address = await this.candidate(budget);
    this.address = address;
    return { write: this.write(address) };
  }

  /**
   * candidate is the static address asked for, or the view's next free one. Full here:
   * in-flight candidates of ours may yet fail; otherwise look once more at etcd itself before
   * saying so, since the view may have missed a release. A view that did so and has heard of
   * no release since says so at once: Docker retrying on a full pool must not read all of it
   * each time.
   */
  private async candidate(budget?: Budget): Promise<IpAddress> {
    const { req } = this;
    for (;;) {
      if (this.view.stale) this.view = await this.host.reload(this.view);
      if (req.address) this.host.checkStatic(this.view.pool, req.address);
      const address = req.address ?? (await this.view.next(budget));
      if (address) return address;
      if (this.view.stale) continue; // the pool changed under the view: reload, look again
      if (this.host.pending.size > 0) {
        // Full here, but some of this host's own candidates are on the wire: one that fails
        // frees its address. Wait for them, but only as long as the call's budget lasts.
        if (budget?.expired()) {
          throw this.ctx.calls.outOfTime(
            'request address',
            `while waiting for this host's ${this.host.pending.size} other allocations in network ${req.pool} to settle (no address was free meanwhile)`,
          );
        }
        await backoff(1);
        continue;
      }
      if (this.reloadedWhenFull || this.view.knownFull) {
        this.view.confirmFull();
        throw new StoreError(
          'POOL_EXHAUSTED',
          `network ${req.pool} has no free address left in ${formatSubnet(this.view.window)}`,
        );
      }
      this.reloadedWhenFull = true;
      this.view = await this.host.reload(this.view);
    }
  }

  /** write is the guarded put of `taken` (with the hold, when this host lost it). */
  private write(taken: IpAddress): Write<AddressReads, Allocation> {
    const { keys } = this.ctx;
    const view = this.view;
    const pool = view.pool;
    const addressKey = keys.address(pool.id, taken);
    const holdKey = keys.hold(pool.id, this.node);
    const heldBack = this.rehold;
    const encoded = encodeAddress(this.record);
    const extra = this.extra?.write(taken, encoded);
    this.host.pending.add(taken.value);
    const poolAndHold: Guard[] = [
      { key: keys.pool(pool.id), createdAt: pool.createRevision }, // the pool we know, not a re-creation
      // An address needs its host's hold: the pool goes with its last hold, and must not
      // take a live address with it.
      ...(extra
        ? extra.guards
        : [
            heldBack
              ? { key: holdKey, absent: true as const }
              : { key: holdKey, present: true as const },
          ]),
    ];
    const free: Guard = { key: addressKey, absent: true }; // the address is free
    // A dynamic address may go to etcd with this host's others of the same pool: the pool and
    // hold guards are the same for all of them (commit-batch.ts). An extra's are its own.
    const batchable = !(this.req.address || heldBack || extra);
    return {
      ...(batchable
        ? {
            batch: { key: `${holdKey}@${pool.createRevision}`, shared: poolAndHold },
            guards: [free],
          }
        : { guards: [...poolAndHold, free] }),
      ops: [
        putOp(addressKey, encoded),
        ...(heldBack && !extra
          ? [putOp(holdKey, encodeHold({ count: 1, tokens: [this.token] }))]
          : []),
        ...(extra?.ops ?? []),
      ],
      reread: {
        pool: getOp(keys.pool(pool.id)),
        address: getOp(addressKey),
        hold: getOp(holdKey),
        ...this.extra?.reads,
      },
      settled: () => {
        this.host.pending.delete(taken.value);
      },
      // Unknown outcome: the record may land after Docker was told no. Take it back, and offer
      // the candidate again only once that is settled.
      undo: {
        what: 'request address',
        fields: { pool: pool.id, address: formatAddress(taken), node: this.node },
        guards: [{ key: addressKey, holds: encoded }, ...(this.extra?.undo(taken).guards ?? [])],
        ops: [deleteOp(addressKey), ...(this.extra?.undo(taken).ops ?? [])],
        finished: () => {
          if (!this.req.address) view.mark(taken, false);
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
        return allocation(pool, taken, this.record);
      },
    };
  }

  /** mine: the store re-sent a transaction that had committed: the record there is ours (etcd/tokens.ts). */
  private mine(snap: Snapshot<AddressReads>): Allocation | undefined {
    const kv = snap.kv('address');
    const address = this.address;
    if (!kv || !address || !putLanded(this.token, readAddress(kv)?.token)) return undefined;
    this.view.mark(address, true);
    return allocation(this.view.pool, address, this.record);
  }

  /** lost applies lossStep (allocation-loss.ts) to what the commit's Else read. */
  private async lost(snap: Snapshot<AddressReads>, round: number): Promise<AfterLoss<Allocation>> {
    const { req } = this;
    const taken = this.address as IpAddress;
    const kv = snap.kv('address');
    const extra = snap.kv('pool') ? this.extra?.lost(snap) : undefined;
    if (extra !== undefined) {
      if (extra !== 'retry' && !req.address && !kv) this.view.mark(taken, false);
      return extra;
    }
    const reads = {
      pool: Boolean(snap.kv('pool')),
      address: Boolean(kv),
      hold: Boolean(snap.kv('hold')),
    };
    if (kv && !req.address) this.conflicts++;
    const step = lossStep(reads, {
      rehold: this.rehold,
      static: Boolean(req.address),
      extra: Boolean(this.extra),
      conflicts: this.conflicts,
    });
    switch (step.kind) {
      case 'pool-gone':
        this.host.forget();
        throw notFound(req.pool);
      case 'flip-hold':
        this.rehold = !this.rehold;
        if (!req.address) this.view.mark(taken, false);
        return 'retry-now';
      case 'recreated':
        this.view = await this.host.reload(this.view);
        return 'retry-now';
      case 'static-taken':
        this.view.mark(taken, true);
        return {
          answer: this.host.staticTaken(this.view.pool, taken, kv as NonNullable<typeof kv>),
        };
      case 'taken':
        this.view.mark(taken, true);
        this.ctx.logger.debug(
          { pool: req.pool, address: formatAddress(taken), attempt: round },
          'address taken by another host meanwhile; trying the next one',
        );
        if (step.jump) this.view.jump();
        if (step.reload) this.view = await this.host.reload(this.view);
        return step.pause ? 'retry' : 'retry-now';
    }
  }
}
