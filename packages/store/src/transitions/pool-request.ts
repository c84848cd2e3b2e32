/**
 * Joining or creating a pool (requestPool). Each is one etcd transaction guarded on revisions
 * (cas.ts runs the rounds), so N hosts creating the same network at once all succeed with one
 * pool, and N hosts creating N dynamic networks at once get N distinct subnets.
 *
 * No overlapping subnets: creating a pool reads every reservation and the guard key in one
 * read (one revision), chooses (pool-rules.ts), then commits only if the guard's mod revision
 * is unchanged and bumps it. Deleting a reservation does not bump the guard: it only frees
 * space, so a choice made on a view that still shows it is safe.
 *
 * Holds: each host's references to a pool are its own key (keys.ts), so joining writes that key
 * alone, guarded on its own revision. A join also carries a block claim for the joining host's
 * view when it holds none yet (join-claim.ts).
 */
import { formatSubnet } from '@kontena-ipam/cidr';
import type { IRequestOp, ITxnResponse } from 'etcd3';
import type { StoreContext } from '../context.js';
import { StoreError } from '../errors.js';
import type { Budget } from '../etcd/budget.js';
import { type Decision, type Guard, Snapshot, transact } from '../etcd/cas.js';
import { toCompare } from '../etcd/guards.js';
import { deleteOp, getOp, putOp, rangeOp } from '../etcd/ops.js';
import { OpList } from '../etcd/replies.js';
import { newToken, putLanded } from '../etcd/tokens.js';
import {
  decodeHold,
  decodeReservation,
  encodeAddress,
  encodeGuard,
  encodeHold,
  encodePool,
  encodeReservation,
  type HoldState,
  nowIso,
  type PoolRecord,
} from '../layout/records.js';
import type { JoinedPool, PoolId, PoolIdRequest } from '../types.js';
import type { AddressViews, JoinPlan, JoinReply, PoolShape } from './join-claim.js';
import {
  chooseSubnet,
  mismatch,
  newPool,
  poolIn,
  toPoolInfo,
  validateRequest,
} from './pool-rules.js';

/** How many more rounds requestPool may take than the store's maxAttempts (see requestPool). */
const POOL_CREATE_ATTEMPTS_FACTOR = 4;

/** PoolRead names what requestPool reads: a join the first three, a creation all five. */
type PoolRead = 'pool' | 'hold' | 'claims' | 'guard' | 'subnets';

/** PlanFor gives a join what it carries for the joining host's view, once its pool is known. */
type PlanFor = (pool: PoolShape) => JoinPlan | undefined;

/** PoolRequests runs requestPool for IpamStore (through PoolStore). */
export class PoolRequests {
  private readonly ctx: StoreContext;
  private readonly views: AddressViews;
  /** abandoned removes a pool left unheld by an undone creation, if nobody joined it. */
  private readonly abandoned: (pool: PoolId) => void;

  constructor(ctx: StoreContext, views: AddressViews, abandoned: (pool: PoolId) => void) {
    this.ctx = ctx;
    this.views = views;
    this.abandoned = abandoned;
  }

  /**
   * requestPool joins the network's pool, or creates it. A join of an existing pool reads the
   * pool, this host's hold and whether it has claims, nothing that grows with the number of
   * pools: the first read asks etcd for the reservations only if the pool is absent (one round
   * trip either way, see firstRead). A join that finds the pool gone after a lost compare hands
   * over to a creation, which reads every reservation to choose a subnet (and joins instead if
   * another host created the pool first).
   */
  async requestPool(req: PoolIdRequest, budget?: Budget): Promise<JoinedPool> {
    validateRequest(req);
    // One token for both: a join that committed unseen is recognised by either (`mine`).
    const token = newToken();
    const first = await this.firstRead(req, budget);
    const create = first.kv('pool') === undefined;
    const joined = await this.joinOrCreate(req, token, { create, first }, budget);
    return (
      joined ?? ((await this.joinOrCreate(req, token, { create: true }, budget)) as JoinedPool)
    );
  }

  /** poolReads are what a join reads (pool, hold, claims), plus a creation's (guard, subnets). */
  private poolReads(req: PoolIdRequest, create: boolean): Partial<Record<PoolRead, IRequestOp>> {
    const { keys } = this.ctx;
    return {
      pool: getOp(keys.pool(req.pool)),
      hold: getOp(keys.hold(req.pool, req.node)),
      // Does this host hold blocks here already? If not, its join claims one.
      claims: rangeOp(keys.affinitiesOf(req.pool, req.node), { keysOnly: true, limit: 1 }),
      // What a creation chooses its subnet from: every reservation, and the guard.
      ...(create ? { guard: getOp(keys.guard), subnets: rangeOp(keys.subnetsPrefix) } : {}),
    };
  }

  /**
   * firstRead is requestPool's first read, in one round trip: If(the pool exists) Then(a join's
   * reads) Else(a creation's), so that joining never reads the reservations.
   */
  private async firstRead(req: PoolIdRequest, budget?: Budget): Promise<Snapshot<PoolRead>> {
    const join = this.poolReads(req, false);
    const create = this.poolReads(req, true);
    const res = await this.ctx.calls.readIf(
      'request pool',
      [toCompare({ key: this.ctx.keys.pool(req.pool), present: true })],
      Object.values(join) as IRequestOp[],
      Object.values(create) as IRequestOp[],
      budget,
    );
    const names = Object.keys(res.succeeded ? join : create) as PoolRead[];
    return new Snapshot(res, names);
  }

  /**
   * joinOrCreate runs one requestPool transition, deciding its first round on `first` when
   * given: joining only (undefined when there is no pool to join), or, with `create`, creating
   * when there is none.
   */
  private joinOrCreate(
    req: PoolIdRequest,
    token: string,
    how: { create: boolean; first?: Snapshot<PoolRead> },
    budget?: Budget,
  ): Promise<JoinedPool | undefined> {
    const hold = (snap: Snapshot<'hold'>) => {
      const kv = snap.kv('hold');
      return kv ? decodeHold(kv) : undefined;
    };
    const decide = (s: Snapshot<PoolRead>): Decision<PoolRead, JoinedPool | undefined> => {
      const existing = poolIn(req.pool, s, 'pool');
      // A host that holds no block here yet claims one with its join.
      const planFor: PlanFor = (pool) =>
        s.kvs('claims').length === 0 ? this.views.joining(pool, req.node) : undefined;
      if (existing) return this.join(existing, hold(s), req, token, planFor);
      if (!how.create) return { answer: undefined };
      return this.create(req, token, s, planFor);
    };
    const first = how.first;
    return transact<PoolRead, JoinedPool | undefined>(
      this.ctx,
      {
        what: 'request pool',
        conflict: 'pool',
        pool: req.pool,
        node: req.node,
        reads: this.poolReads(req, how.create),
        ...(first ? { start: () => decide(first) } : {}),
        // Every pool creation in the cluster compares the same guard key, so this race has as
        // many contenders as hosts creating networks at once: allow it more rounds.
        rounds: POOL_CREATE_ATTEMPTS_FACTOR * this.ctx.maxAttempts,
        decide,
        mine: (snap) => {
          const mineNow = hold(snap);
          return mineNow && putLanded(token, mineNow.tokens)
            ? {
                ...toPoolInfo(poolIn(req.pool, snap, 'pool') as PoolRecord),
                held: mineNow.count,
              }
            : undefined;
        },
      },
      budget,
    );
  }

  /** join adds one hold of `req.node` on an existing pool: its own key, nobody else's. */
  private join(
    pool: PoolRecord,
    hold: HoldState | undefined,
    req: PoolIdRequest,
    token: string,
    planFor: PlanFor,
  ) {
    const why = mismatch(pool, req);
    if (why) throw new StoreError('POOL_MISMATCH', why);
    const held = hold?.count ?? 0;
    // A host's CNI attachments hold the pool with one reference of its own (attach.ts, detach.ts).
    if (req.cni && hold?.cni) return { answer: { ...toPoolInfo(pool), held } };
    const dockerHeld = held - (hold?.cni ? 1 : 0);
    if (!req.cni && !req.subnet && dockerHeld > 0) {
      // Docker asks again when the pool overlaps a route on this host; answering the same pool
      // would make it loop forever: Docker 20.10's allocator retries RequestPool until the
      // answer avoids its routes, and only a refusal ends the network create.
      throw new StoreError(
        'ALREADY_HELD',
        `network ${pool.id} is already held on this host with subnet ${formatSubnet(pool.subnet)}; ` +
          'Docker asks again when that subnet overlaps a route here: remove the route or give --subnet',
      );
    }
    const holdKey = this.ctx.keys.hold(pool.id, req.node);
    const next = {
      count: held + 1,
      tokens: [...(hold?.tokens ?? []), token],
      cni: req.cni === true || hold?.cni === true,
    };
    const plan = planFor(pool);
    const then = new OpList<JoinReply>().add(putOp(holdKey, encodeHold(next)));
    plan?.add(then);
    return {
      write: {
        guards: [
          { key: this.ctx.keys.pool(pool.id), createdAt: pool.createRevision }, // the pool we judged, not a re-creation
          { key: holdKey, modifiedAt: hold?.modRevision ?? 0n }, // our hold as we read it
        ] satisfies Guard[],
        ops: then.ops,
        conflict: 'hold' as const,
        // A join that may land after Docker was told no: Docker never releases it, so the pool
        // could never be removed. Put the hold back as it was, if it is still what we wrote.
        undo: {
          what: 'request pool',
          fields: { pool: pool.id, node: req.node },
          guards: [{ key: holdKey, holds: encodeHold(next) }],
          ops: [
            hold ? putOp(holdKey, encodeHold(hold)) : deleteOp(holdKey),
            ...(plan?.undoOps ?? []),
          ],
        },
        done: (_revision: bigint, res: ITxnResponse): JoinedPool => {
          plan?.take(then.replies(res));
          return { ...toPoolInfo(pool), held: next.count };
        },
      },
    };
  }

  /** create reserves a subnet and writes the pool, its gateway and the first hold at once. */
  private create(
    req: PoolIdRequest,
    token: string,
    snap: Snapshot<'guard' | 'subnets'>,
    planFor: PlanFor,
  ) {
    const { keys } = this.ctx;
    const guardMod = BigInt(snap.kv('guard')?.mod_revision ?? '0');
    const reserved = snap
      .kvs('subnets')
      .map((kv) => decodeReservation(kv.key.toString().slice(keys.subnetsPrefix.length), kv));
    const subnet = chooseSubnet(req, reserved, this.ctx);
    const at = nowIso();
    const pool = newPool(req, subnet, token, at);
    const poolKey = keys.pool(pool.id);
    const subnetKey = keys.subnet(subnet);
    const gatewayRecord = { node: req.node, kind: 'gateway' as const, attrs: {}, at, token };
    const plan = planFor(pool);
    const then = new OpList<JoinReply>().add(
      putOp(keys.guard, encodeGuard(pool.id, at)),
      putOp(poolKey, encodePool(pool)),
      putOp(subnetKey, encodeReservation(pool.id)),
      putOp(keys.address(pool.id, pool.gateway), encodeAddress(gatewayRecord)),
      putOp(keys.hold(pool.id, req.node), encodeHold({ count: 1, tokens: [token], cni: req.cni })),
    );
    plan?.add(then);
    return {
      write: {
        guards: [
          { key: keys.guard, modifiedAt: guardMod }, // no reservation since our read
          { key: poolKey, absent: true }, // nobody created this network meanwhile
          { key: subnetKey, absent: true }, // belt and braces: the subnet itself is free
        ] satisfies Guard[],
        ops: then.ops,
        // A creation that may land after Docker was told no: take our hold back and, if nobody
        // joined meanwhile, the pool with it (removeIfUnheld, one guarded transaction).
        undo: {
          what: 'request pool',
          fields: { pool: pool.id, subnet: formatSubnet(subnet), node: req.node },
          guards: [
            { key: poolKey, holds: encodePool(pool) },
            {
              key: keys.hold(pool.id, req.node),
              holds: encodeHold({ count: 1, tokens: [token], cni: req.cni }),
            },
          ],
          ops: [deleteOp(keys.hold(pool.id, req.node)), ...(plan?.undoOps ?? [])],
          finished: (outcome: 'undone' | 'absent' | 'gave-up') => {
            if (outcome === 'undone') this.abandoned(pool.id);
          },
        },
        done: (_revision: bigint, res: ITxnResponse): JoinedPool => {
          plan?.take(then.replies(res));
          this.ctx.logger.info(
            { pool: pool.id, subnet: formatSubnet(subnet), node: req.node },
            'pool created',
          );
          return { ...toPoolInfo({ ...pool, createRevision: 0n, modRevision: 0n }), held: 1 };
        },
      },
    };
  }
}
