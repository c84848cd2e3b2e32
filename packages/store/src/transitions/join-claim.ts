/**
 * JoinClaim: the block claim a host's join carries. Without it a host's first allocation costs
 * three round trips (read its claims, claim a block, allocate), and since every host's first
 * allocations come early, a fleet that starts at once pays them all in the same second. With
 * it the join transaction also claims one block and reads back what the host's view needs, so
 * the first allocation is one round trip like every other.
 *
 * The claim is a nested transaction (etcd ≥ 3.3) that tries JOIN_PLACES blocks in turn and
 * takes the first free one. A join commits whether or not one was free: the nested compares
 * steer only the claim, never the join; with no free block the first allocation claims (or
 * borrows) as it always could.
 */
import type { IRequestOp, IResponseOp } from 'etcd3';
import type { StoreContext } from '../context.js';
import { toCompare } from '../etcd/guards.js';
import { deleteOp, getOp, rangeOp } from '../etcd/ops.js';
import { OpList, type Replies } from '../etcd/replies.js';
import { newToken } from '../etcd/tokens.js';
import {
  addClaim,
  BlockGeometry,
  type BlockOf,
  type ClaimedBlock,
  claimedBlock,
  type TakenIn,
} from '../layout/blocks.js';
import { encodeBlock, nowIso, type PoolRecord } from '../layout/records.js';
import type { NodeId, PoolId } from '../types.js';
import { startOffset } from '../views/window-view.js';

/** JOIN_PLACES is how many blocks a join tries: a taken one falls through to the next. */
const JOIN_PLACES = 3;

/** What a join knows of its pool before it commits (a pool being created has no revision). */
export type PoolShape = Pick<PoolRecord, 'id' | 'subnet' | 'ipRange'>;

/** JoinClaim builds the nested claim of one join, and reads its outcome. */
export class JoinClaim {
  private readonly of: BlockOf;
  private readonly node: NodeId;
  private readonly places: readonly number[];
  private readonly claim = { at: nowIso(), token: newToken() };
  private readonly encoded: string;
  /** Each place's claim ops, by index: the nested transaction's Then at that level. */
  private readonly claims = new Map<number, OpList<TakenIn>>();

  private constructor(of: BlockOf, node: NodeId, places: number[]) {
    this.of = of;
    this.node = node;
    this.places = places;
    this.encoded = encodeBlock({ node, ...this.claim });
    for (const index of places) {
      const ops = new OpList<TakenIn>();
      addClaim(ops, of, { node, index, ...this.claim });
      this.claims.set(index, ops);
    }
  }

  /** plan is the claim for `node` joining `pool`; undefined when the window has no blocks. */
  static plan(ctx: StoreContext, pool: PoolShape, node: NodeId): JoinClaim | undefined {
    const geometry = new BlockGeometry(pool.ipRange ?? pool.subnet);
    if (!geometry.blocks) return undefined;
    // The host's own place first (where its later claims look too), then random ones.
    const places = [startOffset(node, geometry.count)];
    for (let tries = 0; places.length < JOIN_PLACES && tries < 4 * JOIN_PLACES; tries++) {
      const place = Math.floor(Math.random() * geometry.count);
      if (!places.includes(place)) places.push(place);
    }
    return new JoinClaim({ keys: ctx.keys, pool: pool.id, geometry }, node, places);
  }

  /**
   * op is the nested transaction: If(block a absent) Then(claim a) Else(If(block b absent) …).
   * Each claim puts the block and this host's affinity key and reads the block's addresses.
   */
  get op(): IRequestOp {
    let rest: IRequestOp[] = [];
    for (const index of [...this.places].reverse()) {
      const block = this.of.keys.block(this.of.pool, index);
      rest = [
        {
          request_txn: {
            compare: [toCompare({ key: block, absent: true })],
            success: this.claims.get(index)?.ops ?? [],
            failure: rest,
          },
        },
      ];
    }
    return rest[0] as IRequestOp;
  }

  /**
   * undoOps take the claim back wherever it landed, each guarded on the claim's very bytes:
   * they run with the join's undo (its hold), when the join's outcome was unknown.
   */
  get undoOps(): IRequestOp[] {
    const { keys, pool } = this.of;
    return this.places.map((index) => {
      const block = keys.block(pool, index);
      return {
        request_txn: {
          compare: [toCompare({ key: block, holds: this.encoded })],
          success: [deleteOp(block), deleteOp(keys.affinity(pool, this.node, index))],
          failure: [],
        },
      };
    });
  }

  /** claimed reads which block the nested transaction took (undefined: all were taken). */
  claimed(response: IResponseOp | undefined): ClaimedBlock | undefined {
    let txn = response?.response_txn;
    for (const index of this.places) {
      if (!txn) return undefined;
      const claim = this.claims.get(index);
      if (txn.succeeded && claim) return claimedBlock(claim.replies(txn.responses), index);
      // A taken block: its Else holds the next level, alone.
      txn = txn.responses[0]?.response_txn;
    }
    return undefined;
  }
}

/** JoinReply names what a join's plan adds to the join's Then: its claim and its reads. */
export type JoinReply = 'claim' | 'pool' | 'claims';

/** addJoinReads adds what a join reads after its claim, for the host's view: pool and own claims. */
export function addJoinReads(
  ops: OpList<JoinReply>,
  ctx: StoreContext,
  pool: PoolId,
  node: NodeId,
): void {
  ops.named('pool', getOp(ctx.keys.pool(pool)));
  ops.named('claims', rangeOp(ctx.keys.affinitiesOf(pool, node), { keysOnly: true }));
}

/** JoinPlan is what one join carries for the joining host's view (built by address-store.ts). */
export interface JoinPlan {
  /** add puts the plan's ops at the end of the join's Then. */
  add(then: OpList<JoinReply>): void;
  /** undoOps go with the join's undo: they take the claim back with the hold. */
  undoOps: IRequestOp[];
  /** take reads the committed join's answer to the ops `add` added. */
  take(replies: Replies<JoinReply>): void;
}

/** AddressViews is what pool transitions tell the hosts' address views (address-store.ts). */
export interface AddressViews {
  /** left: this node no longer holds a pool (or it is gone): drop local views. */
  left(pool: PoolId): void;
  /** joining: what `node`'s join or creation of `pool` carries for its view (join-claim.ts). */
  joining(pool: PoolShape, node: NodeId): JoinPlan | undefined;
}
