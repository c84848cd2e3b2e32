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
import type { IKeyValue, IRequestOp, IResponseOp, ITxnResponse } from 'etcd3';
import { newToken, nowIso, type StoreContext } from '../context.js';
import { toCompare } from '../etcd/guards.js';
import { deleteOp, getOp, rangeOp } from '../etcd/ops.js';
import { encodeBlock, type PoolRecord } from '../layout/records.js';
import type { NodeId, PoolId } from '../types.js';
import { BlockGeometry, claimedAddresses, claimOps } from '../views/host-view.js';
import { startOffset } from '../views/pool-view.js';

/** JOIN_PLACES is how many blocks a join tries: a taken one falls through to the next. */
const JOIN_PLACES = 3;

/** What a join knows of its pool before it commits (a pool being created has no revision). */
export type PoolShape = Pick<PoolRecord, 'id' | 'subnet' | 'ipRange'>;

/** ClaimedAtJoin is the block a join took, with its address keys as the join read them. */
export interface ClaimedAtJoin {
  index: number;
  present: IKeyValue[];
}

/** JoinReads is what a join read back for its host's view: the pool record and the host's claims. */
export interface JoinReads {
  id: PoolId;
  pool: IKeyValue | undefined;
  claims: readonly IKeyValue[];
}

/** JoinClaim builds the nested claim of one join, and reads its outcome. */
export class JoinClaim {
  private readonly ctx: StoreContext;
  private readonly pool: PoolId;
  private readonly node: NodeId;
  private readonly geometry: BlockGeometry;
  private readonly places: readonly number[];
  private readonly encoded: string;

  private readonly claim = { at: nowIso(), token: newToken() };

  private constructor(
    ctx: StoreContext,
    pool: PoolId,
    node: NodeId,
    geometry: BlockGeometry,
    places: number[],
  ) {
    this.ctx = ctx;
    this.pool = pool;
    this.node = node;
    this.geometry = geometry;
    this.places = places;
    this.encoded = encodeBlock({ node, ...this.claim });
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
    return new JoinClaim(ctx, pool.id, node, geometry, places);
  }

  /**
   * op is the nested transaction: If(block a absent) Then(claim a) Else(If(block b absent) …).
   * Each claim puts the block and this host's affinity key and reads the block's addresses.
   */
  get op(): IRequestOp {
    const { keys } = this.ctx;
    let rest: IRequestOp[] = [];
    for (const index of [...this.places].reverse()) {
      const block = keys.block(this.pool, index);
      rest = [
        {
          request_txn: {
            compare: [toCompare({ key: block, absent: true })],
            success: claimOps(this.ctx, this.pool, this.node, this.geometry, index, this.claim),
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
    const { keys } = this.ctx;
    return this.places.map((index) => {
      const block = keys.block(this.pool, index);
      return {
        request_txn: {
          compare: [toCompare({ key: block, holds: this.encoded })],
          success: [deleteOp(block), deleteOp(keys.affinity(this.pool, this.node, index))],
          failure: [],
        },
      };
    });
  }

  /** claimed reads which block the nested transaction took (undefined: all were taken). */
  claimed(response: IResponseOp | undefined): ClaimedAtJoin | undefined {
    let txn = response?.response_txn;
    for (const index of this.places) {
      if (!txn) return undefined;
      if (txn.succeeded) {
        return { index, present: claimedAddresses(txn.responses, 0, this.geometry, index) };
      }
      txn = txn.responses[0]?.response_txn;
    }
    return undefined;
  }
}

/** joinReads is what a join reads after its claim, for the host's view: pool and own claims. */
export function joinReads(ctx: StoreContext, pool: PoolId, node: NodeId): IRequestOp[] {
  return [
    getOp(ctx.keys.pool(pool)),
    rangeOp(ctx.keys.affinitiesOf(pool, node), { keysOnly: true }),
  ];
}

/** JoinPlan is what one join carries for the joining host's view (built by address-store.ts). */
export interface JoinPlan {
  /** ops go at the end of the join's Then. */
  ops: IRequestOp[];
  /** undoOps go with the join's undo: they take the claim back with the hold. */
  undoOps: IRequestOp[];
  /** take reads the committed join's response, where `ops` began at `at`. */
  take(res: ITxnResponse, at: number): void;
}
