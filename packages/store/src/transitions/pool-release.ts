/**
 * Leaving and removing a pool (releasePool, dropHold, removeIfUnheld). Each host's references
 * to a pool are its own hold key, so leaving writes that key alone, guarded on its own revision.
 * The last holder removes the pool, guarded on "no hold and no address under the pool changed
 * since the holds were counted"; an address this host took meanwhile keeps the pool and its
 * hold. What a round decides, and what a lost removal means, are release-rules.ts's pure rules;
 * this file runs them in transactions.
 */
import { formatSubnet } from '@kontena-ipam/cidr';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { type Decision, type Guard, type Snapshot, transact } from '../etcd/cas.js';
import { deleteOp, getOp, kvsAt, putOp, rangeOp } from '../etcd/ops.js';
import { deleteLanded, newToken } from '../etcd/tokens.js';
import type { KeyLayout } from '../layout/keys.js';
import { decodeHold, encodeHold, type PoolRecord } from '../layout/records.js';
import type { DropHoldRequest, PoolId, ReleasePoolResult } from '../types.js';
import { BLOCKS_PER_TXN, claimsPage, returnAfterLeave, returnOps } from './block-return.js';
import type { AddressViews } from './join-claim.js';
import { poolIn, removalGuards, removalOps } from './pool-rules.js';
import {
  type Attempted,
  afterLostRemoval,
  type HoldsToDrop,
  releaseLanded,
  releaseStep,
} from './release-rules.js';

/** unchanged is what a release answers when it wrote nothing. */
const unchanged = (): ReleasePoolResult => ({ removed: false, released: false });

type ReleaseRead = 'pool' | 'hold' | 'holders' | 'claims' | 'fresh';

/** holdersOp reads two hold keys: enough to know whether another host holds the pool, and which. */
function holdersOp(keys: KeyLayout, pool: PoolId) {
  return rangeOp(keys.holds(pool), { keysOnly: true, limit: 2 });
}

/** One release's state across its rounds: what it was asked, and what its last write tried. */
interface Release {
  req: DropHoldRequest;
  drop: HoldsToDrop;
  holdKey: string;
  token: string;
  /** Guards of a caller's modRevision (cleanup): nothing of the pool changed after it. */
  sinceGuard: Guard[];
  attempted?: Attempted;
  /** What a removal decided on: the pool's and this host's hold's mod revisions. */
  removing?: { pool: string; hold: string };
  /** The committed leave left blocks to return (more than one transaction's worth). */
  moreBlocks: boolean;
}

/** PoolReleases runs the leaves and removals of pools for IpamStore (through PoolStore). */
export class PoolReleases {
  private readonly ctx: StoreContext;
  private readonly views: AddressViews;

  constructor(ctx: StoreContext, views: AddressViews) {
    this.ctx = ctx;
    this.views = views;
  }

  /**
   * release drops one of `node`'s holds (or all of them, for dropHold); the last hold takes the
   * pool, its reservation, its addresses and its hold keys with it, in one transaction. With
   * `req.modRevision`, only while nothing of the pool changed after it: no retry, {false, false}
   * once it did.
   */
  async release(
    req: DropHoldRequest,
    drop: HoldsToDrop,
    budget?: Budget,
  ): Promise<ReleasePoolResult> {
    const { keys } = this.ctx;
    const guard = req.modRevision;
    const r: Release = {
      req,
      drop,
      holdKey: keys.hold(req.pool, req.node),
      token: newToken(),
      sinceGuard:
        guard === undefined
          ? []
          : [
              { key: keys.pool(req.pool), unchangedSince: guard },
              { prefix: keys.holds(req.pool), unchangedSince: guard },
            ],
      moreBlocks: false,
    };
    const result = await this.rounds(r, budget);
    // A leave returns BLOCKS_PER_TXN blocks with the hold; a host with more gives the rest back.
    if (r.moreBlocks && result.released && !result.removed) {
      await returnAfterLeave(this.ctx, req, budget);
    }
    return result;
  }

  /** rounds is release's transition. */
  private rounds(r: Release, budget?: Budget): Promise<ReleasePoolResult> {
    const { keys } = this.ctx;
    const { req } = r;
    return transact<ReleaseRead, ReleasePoolResult>(
      this.ctx,
      {
        what: 'release pool',
        conflict: 'hold',
        pool: req.pool,
        node: req.node,
        reads: {
          pool: getOp(keys.pool(req.pool)),
          hold: getOp(r.holdKey),
          holders: holdersOp(keys, req.pool),
          // The address blocks this host claimed: a host that leaves gives them back.
          claims: claimsPage(keys, req.pool, req.node),
        },
        decide: (snap) => this.decide(r, snap),
        mine: (snap) => {
          // A failed compare that finds our work done: an earlier, re-sent attempt of ours won.
          if (!releaseLanded(r.attempted, snap.kv('pool'), snap.kv('hold'))) return undefined;
          if (r.attempted?.step !== 'decrement') this.views.left(req.pool);
          return { removed: r.attempted?.step === 'remove', released: true };
        },
        lost: (snap) => this.lost(r, snap),
      },
      budget,
    );
  }

  /** decide is one round of a release: releaseStep's decision, as a write. */
  private decide(r: Release, s: Snapshot<ReleaseRead>): Decision<ReleaseRead, ReleasePoolResult> {
    const { keys } = this.ctx;
    const { req, holdKey } = r;
    r.moreBlocks = false;
    const holdKv = s.kv('hold');
    const step = releaseStep({
      pool: poolIn(req.pool, s, 'pool'),
      hold: holdKv ? decodeHold(holdKv) : undefined,
      holders: s.kvs('holders').map((kv) => kv.key.toString()),
      holdKey,
      drop: r.drop,
    });
    if (step.step === 'gone') this.views.left(req.pool);
    if (step.step === 'gone' || step.step === 'unchanged') return { answer: unchanged() };
    const { hold, pool } = step;
    const mineGuard: Guard = { key: holdKey, modifiedAt: hold.modRevision };
    if (step.step === 'decrement') {
      r.attempted = { step: 'decrement', token: r.token };
      const next = { count: step.left, tokens: [...hold.tokens, r.token], cni: hold.cni };
      return {
        write: {
          guards: [mineGuard, ...r.sinceGuard],
          ops: [putOp(holdKey, encodeHold(next))],
          done: () => ({ removed: false, released: true }),
        },
      };
    }
    if (step.step === 'leave') {
      // Leave while another host still holds it. Hosts leaving at once each name another
      // holder that must still be there when they commit: the last commit's witness is left,
      // so concurrent leaves never strand a pool with no hold (and no remover).
      r.attempted = { step: 'leave', decidedOn: hold.createRevision };
      const claims = s.kvs('claims');
      r.moreBlocks = claims.length >= BLOCKS_PER_TXN;
      const claimsPrefix = keys.affinitiesOf(req.pool, req.node);
      return {
        write: {
          guards: [
            mineGuard,
            { key: step.witness, present: true },
            { prefix: claimsPrefix, unchangedSince: s.revision }, // no claim since we read
            ...r.sinceGuard,
          ],
          ops: [deleteOp(holdKey), ...returnOps(keys, req.pool, claims)],
          done: () => {
            this.views.left(req.pool);
            return { removed: false, released: true };
          },
        },
      };
    }
    return this.removeLast(r, pool, s.revision, hold.modRevision);
  }

  /** removeLast removes the pool with this host's last hold, guarded on nothing new since `revision`. */
  private removeLast(
    r: Release,
    pool: PoolRecord,
    revision: bigint,
    holdMod: bigint,
  ): Decision<ReleaseRead, ReleasePoolResult> {
    const { keys } = this.ctx;
    r.attempted = { step: 'remove', decidedOn: pool.createRevision };
    r.removing = { pool: pool.modRevision.toString(), hold: holdMod.toString() };
    return {
      write: {
        guards: [...removalGuards(keys, pool, revision), ...r.sinceGuard],
        ops: removalOps(keys, pool),
        reread: {
          pool: getOp(keys.pool(pool.id)),
          hold: getOp(r.holdKey),
          holders: holdersOp(keys, pool.id),
          // Was an address taken since the read? (see release-rules.ts)
          fresh: rangeOp(keys.addresses(pool.id), {
            keysOnly: true,
            limit: 1,
            changedAfter: revision,
          }),
        },
        conflict: 'pool',
        done: () => {
          this.removed(pool);
          return { removed: true, released: true };
        },
      },
    };
  }

  /** lost decides after a lost compare: after a removal, afterLostRemoval's rule; else retry. */
  private lost(r: Release, snap: Snapshot<ReleaseRead>): 'retry' | { answer: ReleasePoolResult } {
    const removal = r.attempted?.step === 'remove' ? r.removing : undefined;
    const next = afterLostRemoval({
      fenced: r.req.modRevision !== undefined,
      addressWritten: removal !== undefined && snap.kvs('fresh').length > 0,
      poolAsRead: snap.kv('pool')?.mod_revision === removal?.pool,
      holdAsRead: snap.kv('hold')?.mod_revision === removal?.hold,
      otherHolder: snap.kvs('holders').some((kv) => kv.key.toString() !== r.holdKey),
    });
    if (next === 'retry') return 'retry';
    if (next === 'in-use') {
      this.ctx.logger.warn(
        { pool: r.req.pool, node: r.req.node },
        'last hold kept: this host took an address in the pool while releasing it; cleanup drops the hold once no local network uses the pool',
      );
    }
    // Changed since the caller decided (or in use): write nothing.
    return { answer: unchanged() };
  }

  private removed(pool: PoolRecord): void {
    this.views.left(pool.id);
    this.ctx.logger.info({ pool: pool.id, subnet: formatSubnet(pool.subnet) }, 'pool removed');
  }

  /** removeAbandoned removes a pool that nobody holds, as it is now (after an undone creation). */
  async removeAbandoned(pool: PoolId): Promise<void> {
    try {
      const res = await this.ctx.calls.read(
        'remove pool',
        [getOp(this.ctx.keys.pool(pool))],
        'get',
      );
      const kv = kvsAt(res, 0)[0];
      if (kv) await this.removeIfUnheld({ pool, modRevision: BigInt(kv.mod_revision) });
    } catch {
      // etcd failing again: a pool nobody holds is cleanup's (and check reports it).
    }
  }

  /** removeIfUnheld removes a pool nobody holds, if nothing of it changed after `modRevision`. */
  async removeIfUnheld(
    req: { pool: PoolId; modRevision: bigint },
    budget?: Budget,
  ): Promise<boolean> {
    const { keys } = this.ctx;
    // The create revision of the pool this call decided to remove, once it has.
    let tried: bigint | undefined;
    return transact<'pool' | 'holders', boolean>(
      this.ctx,
      {
        what: 'remove pool',
        conflict: 'pool',
        pool: req.pool,
        reads: {
          pool: getOp(keys.pool(req.pool)),
          holders: rangeOp(keys.holds(req.pool), { keysOnly: true, limit: 1 }),
        },
        decide: (s) => {
          const pool = poolIn(req.pool, s, 'pool');
          if (!pool || pool.modRevision > req.modRevision) return { answer: false };
          if (s.kvs('holders').length > 0) return { answer: false };
          tried = pool.createRevision;
          return {
            write: {
              guards: removalGuards(keys, pool, s.revision),
              ops: removalOps(keys, pool),
              done: () => {
                this.removed(pool);
                return true;
              },
            },
          };
        },
        // Gone after a failed compare, or made again since: our delete went first (a re-sent
        // attempt of it won); a new pool is not ours to remove.
        mine: (snap) => (deleteLanded(tried, snap.kv('pool')) ? true : undefined),
        lost: () => ({ answer: false }),
      },
      budget,
    );
  }
}
