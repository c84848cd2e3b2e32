/**
 * PoolStore: the pool-level transitions of IpamStore, pools, holds and subnet reservations.
 * Joining or creating a pool is pool-request.ts's, leaving or removing one pool-release.ts's,
 * and the rules both follow (well-formed requests, the subnet a creation takes, what a removal
 * guards and deletes, what a release decides) are pure, in pool-rules.ts and release-rules.ts.
 */
import { compareSubnets } from '@kontena-ipam/cidr';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { rangeOp } from '../etcd/ops.js';
import { decodeReservation } from '../layout/records.js';
import type {
  DropHoldRequest,
  JoinedPool,
  PoolId,
  PoolIdRequest,
  ReleasePoolResult,
  Reservation,
} from '../types.js';
import type { AddressViews } from './join-claim.js';
import { PoolReleases } from './pool-release.js';
import { PoolRequests } from './pool-request.js';
import type { HoldsToDrop } from './release-rules.js';

/** PoolStore holds the pool-level transitions of IpamStore. */
export class PoolStore {
  private readonly ctx: StoreContext;
  private readonly requests: PoolRequests;
  private readonly releases: PoolReleases;

  constructor(ctx: StoreContext, views: AddressViews) {
    this.ctx = ctx;
    this.releases = new PoolReleases(ctx, views);
    this.requests = new PoolRequests(ctx, views, (pool) => {
      void this.releases.removeAbandoned(pool);
    });
  }

  /** requestPool joins the network's pool, or creates it (pool-request.ts). */
  requestPool(req: PoolIdRequest, budget?: Budget): Promise<JoinedPool> {
    return this.requests.requestPool(req, budget);
  }

  /** release drops one of the host's holds, or all of them (pool-release.ts). */
  release(req: DropHoldRequest, drop: HoldsToDrop, budget?: Budget): Promise<ReleasePoolResult> {
    return this.releases.release(req, drop, budget);
  }

  /** removeIfUnheld removes a pool nobody holds, if nothing of it changed after `modRevision`. */
  removeIfUnheld(req: { pool: PoolId; modRevision: bigint }, budget?: Budget): Promise<boolean> {
    return this.releases.removeIfUnheld(req, budget);
  }

  /** listReservations is every subnet reservation, sorted by subnet. */
  async listReservations(budget?: Budget): Promise<Reservation[]> {
    const { keys, calls } = this.ctx;
    const res = await calls.read(
      'list reservations',
      [rangeOp(keys.subnetsPrefix)],
      'list',
      budget,
    );
    return (res.responses[0]?.response_range?.kvs ?? [])
      .map((kv) => decodeReservation(kv.key.toString().slice(keys.subnetsPrefix.length), kv))
      .sort((a, b) => compareSubnets(a.subnet, b.subnet));
  }
}
