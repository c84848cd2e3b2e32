/**
 * HostView: where this host looks for a free address in one pool. The pool's dynamic window is
 * cut into blocks of BLOCK_SIZE addresses; a host claims blocks by compare-and-swap (create if
 * absent) and allocates inside its own blocks first, so hosts do not race for the same
 * addresses and nobody needs to watch anybody else: a host reads its own blocks (16 gets each)
 * when it claims them or starts, and knows the rest from its own writes. Only when no block is
 * left to claim does it borrow: it loads the whole window (PoolView, kept current by a watch)
 * and takes any free address, as every host did before blocks. Windows of fewer than
 * MIN_BLOCKS blocks are shared that way from the start.
 *
 * Claims only steer. The allocation transaction still compares the address key itself, so an
 * address another host took inside our block (a static --ip, a borrower) costs a retry, never a
 * duplicate; and a claim whose host no longer holds the pool is never trusted for more than
 * that. Shaped after Calico's block affinities (its blocks carry their allocations; ours leave
 * them in the address keys that cleanup, `check` and `status` already read).
 */
import { type IpAddress, offsetOf } from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { getOp, rangeOp } from '../etcd/ops.js';
import { OpList } from '../etcd/replies.js';
import { addressGets, BLOCK_SIZE, BlockGeometry, type ClaimedBlock } from '../layout/blocks.js';
import { parseBlockIndex } from '../layout/keys.js';
import { decodePool, type PoolRecord, readBlock } from '../layout/records.js';
import type { NodeId, PoolId } from '../types.js';
import { claimBlocks, MAX_CLAIM } from './block-claim.js';
import { OwnedBlocks } from './owned-blocks.js';
import { PoolView } from './pool-view.js';
import { type AddressView, WindowView } from './window-view.js';

/** LOAD_OPS caps the gets of one block-loading read (etcd's --max-txn-ops is 128). */
const LOAD_OPS = 120;

/** JoinReads is what a join read back for its host's view: the pool record and the host's claims. */
export interface JoinReads {
  id: PoolId;
  pool: IKeyValue | undefined;
  claims: readonly IKeyValue[];
}

/** HostView is this host's blocks of one pool, and the shared window view once it borrows. */
export class HostView extends WindowView implements AddressView {
  private readonly node: NodeId;
  /** Addresses this host is writing right now. */
  private readonly pending: ReadonlySet<bigint>;
  private readonly geometry: BlockGeometry;
  private readonly owned: OwnedBlocks;
  private claiming: Promise<void> | undefined;
  /** waiting counts callers waiting on a claim: a burst claims several blocks at once. */
  private waiting = 0;
  /** No block was free at the last look: borrow from the shared view. */
  private noFreeBlock = false;
  private shared: Promise<PoolView | undefined> | undefined;
  private sharedView: PoolView | undefined;

  private constructor(
    ctx: StoreContext,
    pool: PoolRecord,
    node: NodeId,
    pending: ReadonlySet<bigint>,
  ) {
    super(ctx, pool);
    this.node = node;
    this.pending = pending;
    this.geometry = new BlockGeometry(this.window);
    this.owned = new OwnedBlocks(this.geometry, (a) => this.reserved(a));
    if (!this.geometry.blocks) this.noFreeBlock = true;
  }

  /**
   * load reads the pool record and this host's claims in one round trip, then its blocks'
   * addresses (one more, usually). Nothing it reads grows with the number of hosts. Undefined
   * when the pool does not exist.
   */
  static async load(
    ctx: StoreContext,
    id: PoolId,
    node: NodeId,
    pending: ReadonlySet<bigint>,
    budget?: Budget,
  ): Promise<HostView | undefined> {
    const reads = new OpList<'pool' | 'claims'>()
      .named('pool', getOp(ctx.keys.pool(id)))
      .named('claims', rangeOp(ctx.keys.affinitiesOf(id, node), { keysOnly: true }));
    const res = await ctx.calls.read('load pool', reads.ops, 'load', budget);
    const replies = reads.replies(res);
    const poolKv = replies.kv('pool');
    if (!poolKv) return undefined;
    const view = new HostView(ctx, decodePool(id, poolKv), node, pending);
    const indexes = replies
      .kvs('claims')
      .map((kv) => parseBlockIndex(kv.key.toString()))
      .filter((i): i is number => i !== undefined && i < view.geometry.count);
    await view.loadBlocks(indexes, budget);
    return view;
  }

  /**
   * fromJoin makes the view from what this host's join read after its claim (join-claim.ts):
   * the pool record and this host's claims, at the join's revision. Undefined when the host
   * holds blocks the join did not read (it restarted): those want a load of their own.
   */
  static fromJoin(
    ctx: StoreContext,
    node: NodeId,
    pending: ReadonlySet<bigint>,
    reads: JoinReads,
    claimed: ClaimedBlock | undefined,
  ): HostView | undefined {
    if (!reads.pool) return undefined;
    const view = new HostView(ctx, decodePool(reads.id, reads.pool), node, pending);
    const others = reads.claims
      .map((kv) => parseBlockIndex(kv.key.toString()))
      .filter((i) => i !== claimed?.index);
    if (others.length > 0) return undefined;
    if (claimed) view.adoptJoined(claimed, reads.pool);
    return view;
  }

  /** adoptJoined takes the block this host's join claimed (a view of the same pool only). */
  adoptJoined(claimed: ClaimedBlock, pool: IKeyValue): void {
    if (this.stale || BigInt(pool.create_revision) !== this.pool.createRevision) return;
    if (claimed.index < this.geometry.count) this.adopt(claimed);
  }

  /**
   * next is a free candidate, marked taken locally: from this host's blocks, else from newly
   * claimed ones, else borrowed from the shared view. Undefined when the window is full.
   */
  async next(budget?: Budget): Promise<IpAddress | undefined> {
    for (;;) {
      const own = this.owned.take();
      if (own) return own;
      if (this.noFreeBlock) break;
      await this.claim(budget);
      // The pool was removed or made again: the caller reloads.
      if (this.stale) return undefined;
    }
    const shared = await this.borrowView(budget);
    return shared?.take();
  }

  /**
   * knownFull: the shared view was loaded fresh and found the window full, and nothing was
   * freed since, so a request can be refused without reading the pool again.
   */
  get knownFull(): boolean {
    return this.sharedView?.knownFull === true && this.owned.full;
  }

  /** confirmFull records that a fresh look found the window full (see knownFull). */
  confirmFull(): void {
    this.sharedView?.confirmFull();
  }

  /** mark records an address as taken or free (no-op outside the window). */
  mark(address: IpAddress, taken: boolean): void {
    this.sharedView?.mark(address, taken);
    if (!this.inWindow(address)) return;
    this.owned.mark(address, Number(offsetOf(this.window, address)), taken);
  }

  /** jump: repeated conflicts in the shared window; step out of the way of whoever is ahead. */
  jump(): void {
    this.sharedView?.jump();
  }

  override async close(): Promise<void> {
    this.stale = true;
    const shared = this.shared;
    this.shared = undefined;
    this.sharedView = undefined;
    await shared?.then((v) => v?.close()).catch(() => undefined);
  }

  /** adopt makes a block this host's, taking what its address keys (as read) say is taken. */
  private adopt(block: ClaimedBlock): void {
    const present = block.present
      .map((kv) => this.addressOf(kv))
      .filter((a): a is IpAddress => a !== undefined);
    this.owned.adopt(block.index, present, this.pending);
  }

  /**
   * loadBlocks reads blocks this host's affinity keys name: each claim (still ours?) and its
   * addresses, LOAD_OPS gets per round trip.
   */
  private async loadBlocks(indexes: readonly number[], budget?: Budget): Promise<void> {
    const per = Math.max(1, Math.floor(LOAD_OPS / (BLOCK_SIZE + 1)));
    const of = { keys: this.ctx.keys, pool: this.pool.id, geometry: this.geometry };
    for (let i = 0; i < indexes.length; i += per) {
      const batch = indexes.slice(i, i + per);
      const reads = new OpList<`claim ${number}` | `taken ${number}`>();
      for (const index of batch) {
        reads.named(`claim ${index}`, getOp(this.ctx.keys.block(this.pool.id, index)));
        reads.named(`taken ${index}`, ...addressGets(of, index));
      }
      const replies = reads.replies(
        await this.ctx.calls.read('load blocks', reads.ops, 'load', budget),
      );
      for (const index of batch) {
        const claim = replies.kv(`claim ${index}`);
        // Another host took the block over while we held nothing (see claim()): not ours now.
        if (claim && readBlock(claim)?.node === this.node) {
          this.adopt({ index, present: replies.kvs(`taken ${index}`) });
        }
      }
    }
  }

  /** claim takes more blocks; concurrent callers share one claim (single flight). */
  private async claim(budget?: Budget): Promise<void> {
    this.waiting++;
    try {
      if (!this.claiming) {
        const want = this.owned.claimSize(this.waiting, MAX_CLAIM);
        this.claiming = this.claimMore(want, budget).finally(() => {
          this.claiming = undefined;
        });
      }
      await this.claiming;
    } finally {
      this.waiting--;
    }
  }

  /** claimMore runs one claim (block-claim.ts) and acts on how it ended. */
  private async claimMore(want: number, budget?: Budget): Promise<void> {
    const { pool, node, geometry, owned } = this;
    const { result, chosen } = await claimBlocks(
      this.ctx,
      { pool, node, geometry, owned, took: (block) => this.adopt(block) },
      want,
      budget,
    );
    if (result === 'mine') await this.loadBlocks(chosen, budget);
    if (result === 'gone') this.invalidate('pool removed or re-created');
    if (result === 'none') {
      this.noFreeBlock = true;
      this.ctx.logger.info(
        { pool: pool.id, node, blocks: owned.size },
        'no free block left in the pool: borrowing addresses from the whole window',
      );
    } else if (result !== 'gone') {
      this.ctx.logger.debug({ pool: pool.id, node, blocks: chosen }, 'claimed address blocks');
    }
  }

  /** borrowView loads the shared view of the whole window (once; again when it went stale). */
  private async borrowView(budget?: Budget): Promise<PoolView | undefined> {
    if (this.sharedView?.stale) {
      this.shared = undefined;
      this.sharedView = undefined;
    }
    if (!this.shared) {
      const loading = PoolView.load(this.ctx, this.pool.id, this.node, this.pending, budget).then(
        (view) => this.shareView(view),
      );
      this.shared = loading;
      loading.catch(() => {
        if (this.shared === loading) this.shared = undefined;
      });
    }
    return await this.shared;
  }

  /** shareView takes a loaded shared view, with what we took in our blocks marked taken. */
  private shareView(view: PoolView | undefined): PoolView | undefined {
    if (view && view.pool.createRevision !== this.pool.createRevision) {
      void view.close();
      this.invalidate('pool re-created');
      return undefined;
    }
    // What we took in our blocks is taken in the shared view too (it may lag).
    if (view) for (const a of this.owned.takenAddresses()) view.mark(a, true);
    this.sharedView = view;
    return view;
  }
}
