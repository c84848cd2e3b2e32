/**
 * Pools, holds and subnet reservations. Each transition is one etcd transaction guarded on
 * revisions (cas.ts runs the rounds), so N hosts creating the same network at once all
 * succeed with one pool, and N hosts creating N dynamic networks at once get N distinct
 * subnets.
 *
 * No overlapping subnets: creating a pool reads every reservation and the guard key in one
 * read (one revision), chooses, then commits only if the guard's mod revision is unchanged and
 * bumps it. Deleting a reservation does not bump the guard: it only frees space, so a choice
 * made on a view that still shows it is safe.
 *
 * Holds: each host's references to a pool are its own key (keys.ts), so joining or leaving
 * writes that key alone, guarded on its own revision. The last holder removes the pool, guarded
 * on "no hold and no address under the pool changed since the holds were counted"; an address
 * this host took meanwhile keeps the pool and its hold (release-rules.ts).
 */

import {
  addressEquals,
  compareSubnets,
  defaultGateway,
  firstFreeSubnet,
  formatAddress,
  formatSubnet,
  type Subnet,
  subnetContains,
  subnetEquals,
  subnetsOverlap,
} from '@kontena-ipam/cidr';
import type { IRequestOp, ITxnResponse } from 'etcd3';
import { checkHostAddress, hostsOfBoth } from './address-rules.js';
import { BLOCKS_PER_TXN, claimsPage, returnAfterLeave, returnOps } from './block-return.js';
import type { Budget } from './budget.js';
import { type Decision, type Guard, Snapshot, transact } from './cas.js';
import { newToken, nowIso, type StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { deleteOp, deletePrefixOp, getOp, kvsAt, putOp, rangeOp } from './etcd-call.js';
import { toCompare } from './guards.js';
import type { JoinPlan, PoolShape } from './join-claim.js';
import type { KeyLayout } from './keys.js';
import {
  decodeHold,
  decodePool,
  decodeReservation,
  encodeAddress,
  encodeGuard,
  encodeHold,
  encodePool,
  encodeReservation,
  type HoldState,
  type PoolRecord,
} from './records.js';
import { afterLostRemoval } from './release-rules.js';
import type {
  DropHoldRequest,
  JoinedPool,
  NodeId,
  PoolId,
  PoolIdRequest,
  PoolInfo,
  ReleasePoolResult,
  Reservation,
} from './types.js';

/** How many more rounds requestPool may take than the store's maxAttempts (see requestPool). */
const POOL_CREATE_ATTEMPTS_FACTOR = 4;

/** toPoolInfo strips what only the store needs from a pool record. */
export function toPoolInfo(state: PoolRecord): PoolInfo {
  return {
    id: state.id,
    subnet: state.subnet,
    ipRange: state.ipRange,
    gateway: state.gateway,
    dynamic: state.dynamic,
    createdAt: state.createdAt,
  };
}

function validateRequest(req: PoolIdRequest): void {
  const { subnet, ipRange, gateway, v6 } = req;
  if (!subnet) {
    if (ipRange)
      throw new StoreError('INVALID', `ip-range ${formatSubnet(ipRange)} given without a subnet`);
    if (gateway)
      throw new StoreError('INVALID', `gateway ${formatAddress(gateway)} given without a subnet`);
    return;
  }
  if (v6 !== undefined && v6 !== (subnet.family === 6)) {
    throw new StoreError(
      'INVALID',
      `subnet ${formatSubnet(subnet)} is not an IPv${v6 ? 6 : 4} subnet`,
    );
  }
  if (ipRange && (ipRange.family !== subnet.family || !subnetContains(subnet, ipRange))) {
    throw new StoreError(
      'INVALID',
      `ip-range ${formatSubnet(ipRange)} is not inside subnet ${formatSubnet(subnet)}`,
    );
  }
  if (gateway && (gateway.family !== subnet.family || !subnetContains(subnet, gateway))) {
    throw new StoreError(
      'OUT_OF_RANGE',
      `gateway ${formatAddress(gateway)} is not inside subnet ${formatSubnet(subnet)}`,
    );
  }
  if (gateway) checkHostAddress(subnet, gateway, 'gateway');
  if (ipRange) {
    const hosts = hostsOfBoth(ipRange, subnet);
    if (hosts.first.value > hosts.last.value) {
      throw new StoreError(
        'INVALID',
        `ip-range ${formatSubnet(ipRange)} holds no host address of subnet ${formatSubnet(subnet)}`,
      );
    }
  }
}

/** mismatch says how a request contradicts an existing pool, or undefined when it does not. */
export function mismatch(pool: PoolRecord, req: PoolIdRequest): string | undefined {
  const name = `network ${pool.id}`;
  if (req.subnet && !subnetEquals(req.subnet, pool.subnet)) {
    return `${name} has subnet ${formatSubnet(pool.subnet)}, not ${formatSubnet(req.subnet)}`;
  }
  if (req.ipRange && !(pool.ipRange && subnetEquals(req.ipRange, pool.ipRange))) {
    const has = pool.ipRange ? formatSubnet(pool.ipRange) : 'none';
    return `${name} has ip-range ${has}, not ${formatSubnet(req.ipRange)}`;
  }
  if (req.gateway && !addressEquals(req.gateway, pool.gateway)) {
    return `${name} has gateway ${formatAddress(pool.gateway)}, not ${formatAddress(req.gateway)}`;
  }
  if (req.v6 !== undefined && req.v6 !== (pool.subnet.family === 6)) {
    return `${name} is an IPv${pool.subnet.family} pool (${formatSubnet(pool.subnet)})`;
  }
  return undefined;
}

/** removalGuards: the pool as read, and no hold, address or attachment created or changed since `revision`. */
export function removalGuards(keys: KeyLayout, pool: PoolRecord, revision: bigint): Guard[] {
  return [
    { key: keys.pool(pool.id), modifiedAt: pool.modRevision }, // nobody changed it
    { prefix: keys.holds(pool.id), unchangedSince: revision }, // nobody joined since we counted
    // Nobody took an address since: an allocation needs no hold change when its host holds
    // the pool already, so the holds alone miss it (release-rules.ts).
    { prefix: keys.addresses(pool.id), unchangedSince: revision },
    // No CNI attachment made since we read (a host's first one also writes its hold).
    { prefix: keys.attachments(pool.id), unchangedSince: revision },
  ];
}

/** removalOps delete pool, reservation, every address, hold, block and attachment, at once. */
export function removalOps(keys: KeyLayout, pool: PoolRecord): IRequestOp[] {
  return [
    deleteOp(keys.pool(pool.id)),
    deleteOp(keys.subnet(pool.subnet)),
    deletePrefixOp(keys.addresses(pool.id)),
    deletePrefixOp(keys.holds(pool.id)),
    deletePrefixOp(keys.blocks(pool.id)),
    deletePrefixOp(keys.affinities(pool.id)),
    deletePrefixOp(keys.attachments(pool.id)),
  ];
}

/** unchanged is what a release answers when it wrote nothing. */
const unchanged = (): ReleasePoolResult => ({ removed: false, released: false });

/** How many holds to drop: one (ReleasePool) or every one of the host's (cleanup's dropHold). */
export type HoldsToDrop = 'one' | 'all';

/** AddressViews is what pool transitions tell the hosts' address views (address-store.ts). */
export interface AddressViews {
  /** left: this node no longer holds a pool (or it is gone): drop local views. */
  left(pool: PoolId): void;
  /** joining: what `node`'s join or creation of `pool` carries for its view (join-claim.ts). */
  joining(pool: PoolShape, node: NodeId): JoinPlan | undefined;
}

/** newPool is the record a creation writes (its revisions are the commit's). */
function newPool(
  req: PoolIdRequest,
  subnet: Subnet,
  token: string,
  at: string,
): Omit<PoolRecord, 'createRevision' | 'modRevision'> {
  return {
    id: req.pool,
    subnet,
    ipRange: req.ipRange,
    gateway: req.gateway ?? defaultGateway(subnet),
    dynamic: !req.subnet,
    createdAt: at,
    tokens: [token],
  };
}

/** PoolRead names what requestPool reads: a join the first three, a creation all five. */
type PoolRead = 'pool' | 'hold' | 'claims' | 'guard' | 'subnets';

/** PlanFor gives a join what it carries for the joining host's view, once its pool is known. */
type PlanFor = (pool: PoolShape) => JoinPlan | undefined;

/** PoolStore holds the pool-level transitions of IpamStore. */
export class PoolStore {
  private readonly ctx: StoreContext;
  private readonly views: AddressViews;

  constructor(ctx: StoreContext, views: AddressViews) {
    this.ctx = ctx;
    this.views = views;
  }

  private poolIn<K extends string>(id: PoolId, snap: Snapshot<K>, name: K): PoolRecord | undefined {
    const kv = snap.kv(name);
    return kv ? decodePool(id, kv) : undefined;
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
      const existing = this.poolIn(req.pool, s, 'pool');
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
          return mineNow?.tokens.includes(token)
            ? {
                ...toPoolInfo(this.poolIn(req.pool, snap, 'pool') as PoolRecord),
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
    // A host's CNI attachments hold the pool with one reference of its own (attachments.ts).
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
    return {
      write: {
        guards: [
          { key: this.ctx.keys.pool(pool.id), createdAt: pool.createRevision }, // the pool we judged, not a re-creation
          { key: holdKey, modifiedAt: hold?.modRevision ?? 0n }, // our hold as we read it
        ] satisfies Guard[],
        ops: [putOp(holdKey, encodeHold(next)), ...(plan?.ops ?? [])],
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
          plan?.take(res, 1);
          return { ...toPoolInfo(pool), held: next.count };
        },
      },
    };
  }

  private chooseSubnet(req: PoolIdRequest, reserved: Reservation[]): Subnet {
    if (req.subnet) {
      const subnet = req.subnet;
      const clash = reserved.find((r) => subnetsOverlap(r.subnet, subnet));
      if (clash) {
        throw new StoreError(
          'SUBNET_OVERLAP',
          `subnet ${formatSubnet(subnet)} overlaps ${formatSubnet(clash.subnet)} of network ${clash.pool}`,
        );
      }
      return subnet;
    }
    const v6 = req.v6 === true;
    const supernet = v6 ? this.ctx.supernet6 : this.ctx.supernet;
    if (!supernet) {
      throw new StoreError(
        'INVALID',
        'no IPv6 supernet is configured: give the IPv6 network a --subnet',
      );
    }
    const length = v6 ? this.ctx.subnetLength6 : this.ctx.subnetLength;
    const free = firstFreeSubnet(
      supernet,
      length,
      reserved.map((r) => r.subnet),
    );
    if (!free) {
      throw new StoreError(
        'SUPERNET_EXHAUSTED',
        `no free /${length} subnet left in ${formatSubnet(supernet)}`,
      );
    }
    return free;
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
    const subnet = this.chooseSubnet(req, reserved);
    const at = nowIso();
    const pool = newPool(req, subnet, token, at);
    const poolKey = keys.pool(pool.id);
    const subnetKey = keys.subnet(subnet);
    const gatewayRecord = { node: req.node, kind: 'gateway' as const, attrs: {}, at, token };
    const plan = planFor(pool);
    const ops = [
      putOp(keys.guard, encodeGuard(pool.id, at)),
      putOp(poolKey, encodePool(pool)),
      putOp(subnetKey, encodeReservation(pool.id)),
      putOp(keys.address(pool.id, pool.gateway), encodeAddress(gatewayRecord)),
      putOp(keys.hold(pool.id, req.node), encodeHold({ count: 1, tokens: [token], cni: req.cni })),
    ];
    return {
      write: {
        guards: [
          { key: keys.guard, modifiedAt: guardMod }, // no reservation since our read
          { key: poolKey, absent: true }, // nobody created this network meanwhile
          { key: subnetKey, absent: true }, // belt and braces: the subnet itself is free
        ] satisfies Guard[],
        ops: [...ops, ...(plan?.ops ?? [])],
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
            if (outcome === 'undone') void this.removeAbandoned(pool.id);
          },
        },
        done: (_revision: bigint, res: ITxnResponse): JoinedPool => {
          plan?.take(res, ops.length);
          this.ctx.logger.info(
            { pool: pool.id, subnet: formatSubnet(subnet), node: req.node },
            'pool created',
          );
          return { ...toPoolInfo({ ...pool, createRevision: 0n, modRevision: 0n }), held: 1 };
        },
      },
    };
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
    const leave = { more: false };
    const result = await this.releaseRounds(req, drop, leave, budget);
    // A leave returns BLOCKS_PER_TXN blocks with the hold; a host with more gives the rest back.
    if (leave.more && result.released && !result.removed) {
      await returnAfterLeave(this.ctx, req, budget);
    }
    return result;
  }

  /**
   * releaseRounds is release's transition; `leave.more` says whether its leave (if that is what
   * committed) left blocks to return.
   */
  private releaseRounds(
    req: DropHoldRequest,
    drop: HoldsToDrop,
    leave: { more: boolean },
    budget?: Budget,
  ): Promise<ReleasePoolResult> {
    const { keys } = this.ctx;
    const poolKey = keys.pool(req.pool);
    const holdKey = keys.hold(req.pool, req.node);
    const holdsPrefix = keys.holds(req.pool);
    const guard = req.modRevision;
    const token = newToken();
    // What the last write attempted, for `mine` to recognise after a lost compare.
    let attempted: 'decrement' | 'leave' | 'remove' | undefined;
    // The create revision of the key that write deletes (the hold, or the pool).
    let decidedOn: string | undefined;
    // What a removal decided on: the pool's and this host's hold's mod revisions.
    let removing: { pool: string; hold: string } | undefined;
    const sinceGuard: Guard[] =
      guard === undefined
        ? []
        : [
            { key: poolKey, unchangedSince: guard },
            { prefix: holdsPrefix, unchangedSince: guard },
          ];
    const claimsPrefix = keys.affinitiesOf(req.pool, req.node);
    return transact<'pool' | 'hold' | 'holders' | 'claims' | 'fresh', ReleasePoolResult>(
      this.ctx,
      {
        what: 'release pool',
        conflict: 'hold',
        pool: req.pool,
        node: req.node,
        reads: {
          pool: getOp(poolKey),
          hold: getOp(holdKey),
          // Two hold keys are enough to know whether another host holds the pool, and which.
          holders: rangeOp(holdsPrefix, { keysOnly: true, limit: 2 }),
          // The address blocks this host claimed: a host that leaves gives them back.
          claims: claimsPage(keys, req.pool, req.node),
        },
        decide: (snap) => {
          const s = snap;
          leave.more = false;
          const pool = this.poolIn(req.pool, s, 'pool');
          if (!pool) {
            this.views.left(req.pool);
            return { answer: unchanged() };
          }
          const holdKv = s.kv('hold');
          const hold = holdKv ? decodeHold(holdKv) : undefined;
          if (!hold) return { answer: unchanged() };
          // The CNI attachments' reference is theirs to give back (attachments.ts), not Docker's.
          if (drop === 'one' && hold.cni && hold.count <= 1) return { answer: unchanged() };
          const left = drop === 'all' ? 0 : hold.count - 1;
          const mineGuard: Guard = { key: holdKey, modifiedAt: hold.modRevision };
          if (left > 0) {
            attempted = 'decrement';
            const next = { count: left, tokens: [...hold.tokens, token], cni: hold.cni };
            return {
              write: {
                guards: [mineGuard, ...sinceGuard],
                ops: [putOp(holdKey, encodeHold(next))],
                done: () => ({ removed: false, released: true }),
              },
            };
          }
          const witness = s.kvs('holders').find((kv) => kv.key.toString() !== holdKey);
          if (witness) {
            // Leave while another host still holds it. Hosts leaving at once each name another
            // holder that must still be there when they commit: the last commit's witness is
            // left, so concurrent leaves never strand a pool with no hold (and no remover).
            attempted = 'leave';
            decidedOn = hold.createRevision.toString();
            const claims = s.kvs('claims');
            leave.more = claims.length >= BLOCKS_PER_TXN;
            return {
              write: {
                guards: [
                  mineGuard,
                  { key: witness.key.toString(), present: true },
                  { prefix: claimsPrefix, unchangedSince: s.revision }, // no claim since we read
                  ...sinceGuard,
                ],
                ops: [deleteOp(holdKey), ...returnOps(keys, req.pool, claims)],
                done: () => {
                  this.views.left(req.pool);
                  return { removed: false, released: true };
                },
              },
            };
          }
          attempted = 'remove';
          decidedOn = pool.createRevision.toString();
          removing = { pool: pool.modRevision.toString(), hold: hold.modRevision.toString() };
          return {
            write: {
              guards: [...this.removalGuards(pool, s.revision), ...sinceGuard],
              ops: this.removalOps(pool),
              reread: {
                pool: getOp(poolKey),
                hold: getOp(holdKey),
                holders: rangeOp(holdsPrefix, { keysOnly: true, limit: 2 }),
                // Was an address taken since the read? (see release-rules.ts)
                fresh: rangeOp(keys.addresses(pool.id), {
                  keysOnly: true,
                  limit: 1,
                  changedAfter: s.revision,
                }),
              },
              conflict: 'pool',
              done: () => {
                this.removed(pool);
                return { removed: true, released: true };
              },
            },
          };
        },
        mine: (snap) => {
          const pool = snap.kv('pool');
          const hold = snap.kv('hold');
          // A failed compare that finds our work done: an earlier, re-sent attempt of ours won.
          // Gone, or made again since (another create revision): our delete went first. What
          // is there now is someone's newer pool or hold, not ours to delete.
          if (attempted === 'remove' && pool?.create_revision !== decidedOn) {
            this.views.left(req.pool);
            return { removed: true, released: true };
          }
          if (attempted === 'leave' && hold?.create_revision !== decidedOn) {
            this.views.left(req.pool);
            return { removed: false, released: true };
          }
          if (attempted === 'decrement' && hold && decodeHold(hold).tokens.includes(token)) {
            return { removed: false, released: true };
          }
          return undefined;
        },
        lost: (snap) => {
          const removal = attempted === 'remove' ? removing : undefined;
          const next = afterLostRemoval({
            fenced: guard !== undefined,
            addressWritten: removal !== undefined && snap.kvs('fresh').length > 0,
            poolAsRead: snap.kv('pool')?.mod_revision === removal?.pool,
            holdAsRead: snap.kv('hold')?.mod_revision === removal?.hold,
            otherHolder: snap.kvs('holders').some((kv) => kv.key.toString() !== holdKey),
          });
          if (next === 'retry') return 'retry';
          if (next === 'in-use') {
            this.ctx.logger.warn(
              { pool: req.pool, node: req.node },
              'last hold kept: this host took an address in the pool while releasing it; cleanup drops the hold once no local network uses the pool',
            );
          }
          // Changed since the caller decided (or in use): write nothing.
          return { answer: unchanged() };
        },
      },
      budget,
    );
  }

  private removalGuards(pool: PoolRecord, revision: bigint): Guard[] {
    return removalGuards(this.ctx.keys, pool, revision);
  }

  private removalOps(pool: PoolRecord) {
    return removalOps(this.ctx.keys, pool);
  }

  private removed(pool: PoolRecord): void {
    this.views.left(pool.id);
    this.ctx.logger.info({ pool: pool.id, subnet: formatSubnet(pool.subnet) }, 'pool removed');
  }

  /** removeAbandoned removes a pool that nobody holds, as it is now (after an undone creation). */
  private async removeAbandoned(pool: PoolId): Promise<void> {
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
    const poolKey = keys.pool(req.pool);
    // The create revision of the pool this call decided to remove, once it has.
    let tried: string | undefined;
    return transact<'pool' | 'holders', boolean>(
      this.ctx,
      {
        what: 'remove pool',
        conflict: 'pool',
        pool: req.pool,
        reads: {
          pool: getOp(poolKey),
          holders: rangeOp(keys.holds(req.pool), { keysOnly: true, limit: 1 }),
        },
        decide: (snap) => {
          const s = snap;
          const pool = this.poolIn(req.pool, s, 'pool');
          if (!pool || pool.modRevision > req.modRevision) return { answer: false };
          if (s.kvs('holders').length > 0) return { answer: false };
          tried = pool.createRevision.toString();
          return {
            write: {
              guards: this.removalGuards(pool, s.revision),
              ops: this.removalOps(pool),
              done: () => {
                this.removed(pool);
                return true;
              },
            },
          };
        },
        // Gone after a failed compare: an earlier, re-sent attempt of this delete won.
        // Gone, or made again since: our delete went first; a new pool is not ours to remove.
        mine: (snap) =>
          tried !== undefined && snap.kv('pool')?.create_revision !== tried ? true : undefined,
        lost: () => ({ answer: false }),
      },
      budget,
    );
  }

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
