/**
 * PoolView: this node's local picture of which addresses of one pool are taken, so that a
 * dynamic allocation can pick a candidate without reading the pool's addresses from etcd.
 *
 * It is an AddressBitmap over the pool's dynamic window (the ip-range, else the subnet; capped
 * at 2^53-1 offsets so an IPv6 /64 costs no more than its taken addresses), loaded with one
 * range read at revision R and then kept current by a watch from R+1. The view is only a hint:
 * the allocation transaction's compare is the judge, so a stale view costs a retry, never a
 * duplicate. On any watch trouble (disconnect, compaction, cancel) the view marks itself stale
 * and the next request reloads it, rather than trusting etcd3's resume point (which it moves to
 * the create response's revision before the catch-up events have arrived).
 */
import { AddressBitmap, addressAt, type IpAddress, offsetOf } from '@kontena-ipam/cidr';
import type { IKeyValue, Watcher } from 'etcd3';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { getOp, kvsAt, rangeOp } from '../etcd/ops.js';
import { readPrefix } from '../etcd/paging.js';
import { windowOffsets } from '../layout/blocks.js';
import { decodePool, type PoolRecord } from '../layout/records.js';
import type { NodeId, PoolId } from '../types.js';
import { type AddressView, startOffset, WindowView } from './window-view.js';

/** PoolView is one pool's taken-address bitmap, kept current by a watch. */
export class PoolView extends WindowView implements AddressView {
  private readonly bitmap: AddressBitmap;
  /** Addresses this node is writing right now: a lagging delete event must not free them. */
  private readonly pending: ReadonlySet<bigint>;
  private watcher: Watcher | undefined;
  /** A fresh load found the window full, and no address was freed since (see knownFull). */
  private fullConfirmed = false;

  private constructor(ctx: StoreContext, pool: PoolRecord, pending: ReadonlySet<bigint>) {
    super(ctx, pool);
    this.pending = pending;
    this.bitmap = new AddressBitmap(windowOffsets(this.window));
    // What lies outside the window's host addresses is never free (see WindowView.hosts).
    const first = Number(offsetOf(this.window, this.hosts.first));
    for (let o = 0; o < first && o < this.bitmap.size; o++) this.bitmap.allocate(o);
    const last = offsetOf(this.window, this.hosts.last);
    for (let o = last + 1n; o < BigInt(this.bitmap.size); o++) this.bitmap.allocate(Number(o));
    this.mark(pool.gateway, true);
    for (const value of pending) this.markValue(value, true);
  }

  /**
   * load reads the pool record and its address keys at one revision and starts the watch
   * from the next revision. Undefined when the pool does not exist.
   */
  static async load(
    ctx: StoreContext,
    id: PoolId,
    node: NodeId,
    pending: ReadonlySet<bigint>,
    budget?: Budget,
  ): Promise<PoolView | undefined> {
    const prefix = ctx.keys.addresses(id);
    const page = { keysOnly: true, pageSize: ctx.pageSize, op: 'load' as const };
    const res = await ctx.calls.read(
      'load pool',
      [getOp(ctx.keys.pool(id)), rangeOp(prefix, { keysOnly: true, limit: ctx.pageSize })],
      'load',
      budget,
    );
    const poolKv = kvsAt(res, 0)[0];
    if (!poolKv) return undefined;
    const view = new PoolView(ctx, decodePool(id, poolKv), pending);
    // Usually one page, so one round trip; a crowded pool takes more, all at one revision.
    const { kvs, revision } = await readPrefix(ctx.calls, 'load pool', prefix, page, {
      res,
      index: 1,
    });
    for (const kv of kvs) view.onKey(kv, true);
    view.bitmap.setCursor(startOffset(node, view.bitmap.size));
    view.watch(prefix, revision + 1n);
    return view;
  }

  private watch(prefix: string, from: bigint): void {
    const watcher = this.ctx.client.watch().prefix(prefix).startRevision(from.toString()).watcher();
    this.watcher = watcher;
    watcher
      .on('put', (kv) => this.onKey(kv, true))
      .on('delete', (kv) => this.onKey(kv, false))
      .on('disconnected', () => this.invalidate('watch disconnected'))
      // Compaction past our revision or a cancel by etcd arrive as 'error'.
      .on('error', (error) => this.invalidate(String(error)));
  }

  private onKey(kv: IKeyValue, taken: boolean): void {
    const address = this.addressOf(kv);
    if (!address) return; // not an address key: nothing to mark
    if (!taken && this.pending.has(address.value)) return;
    this.mark(address, taken);
  }

  /** mark records an address as taken or free (no-op outside the window). */
  mark(address: IpAddress, taken: boolean): void {
    if (!this.inWindow(address)) return;
    this.markValue(address.value, taken);
  }

  private markValue(value: bigint, taken: boolean): void {
    const offset = value - this.window.network;
    if (offset < 0n || offset >= BigInt(this.bitmap.size)) return;
    if (taken) this.bitmap.allocate(Number(offset));
    else if (!this.isReserved(Number(offset)) && this.bitmap.free(Number(offset))) {
      this.fullConfirmed = false;
    }
  }

  /** The window's non-host offsets and the gateway stay taken whatever the watch says. */
  private isReserved(offset: number): boolean {
    return this.reserved(addressAt(this.window, BigInt(offset)));
  }

  /** take returns the next free candidate (marking it taken locally), or undefined when full. */
  take(): IpAddress | undefined {
    const offset = this.bitmap.allocateNextFree();
    return offset < 0 ? undefined : addressAt(this.window, BigInt(offset));
  }

  /** next is take, as an AddressView: the whole window is this view's. */
  next(): Promise<IpAddress | undefined> {
    return Promise.resolve(this.take());
  }

  /**
   * knownFull: confirmFull was called on this view and its watch has reported no address
   * freed since, so "full" needs no new read of etcd.
   */
  get knownFull(): boolean {
    return this.fullConfirmed && !this.stale && this.bitmap.freeCount === 0;
  }

  /** confirmFull records that this view, loaded after the window looked full, is full too. */
  confirmFull(): void {
    if (this.bitmap.freeCount === 0) this.fullConfirmed = true;
  }

  /**
   * jump moves the search to a random place: after repeated conflicts another host is
   * allocating right ahead of us (our view lags theirs), so step out of its way.
   */
  jump(): void {
    this.bitmap.setCursor(Math.floor(Math.random() * this.bitmap.size));
  }

  /** close stops the watch; bounded by the deadline because a cancel can wait on a dead etcd. */
  override async close(): Promise<void> {
    this.stale = true;
    const watcher = this.watcher;
    this.watcher = undefined;
    if (!watcher) return;
    watcher.removeAllListeners('put').removeAllListeners('delete');
    await Promise.race([
      watcher.cancel().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, this.ctx.calls.deadlineMs).unref()),
    ]);
  }
}
