/**
 * Pools, holds and subnet reservations. Each transition is one etcd transaction guarded on
 * revisions; a lost compare re-reads and tries again (bounded), so N hosts creating the same
 * network at once all succeed with one pool, and N hosts creating N dynamic networks at once
 * get N distinct subnets.
 *
 * No overlapping subnets: creating a pool reads every reservation and the guard key in one
 * read (one revision), chooses, then commits only if the guard's mod revision is unchanged and
 * bumps it. Deleting a reservation does not bump the guard: it only frees space, so a choice
 * made on a view that still shows it is safe.
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
import type { ITxnResponse } from 'etcd3';
import { backoff, newToken, nowIso, type StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { deleteOp, deletePrefixOp, getOp, kvsAt, putOp, rangeOp } from './etcd-call.js';
import {
  decodePool,
  decodeReservation,
  encodeAddress,
  encodeGuard,
  encodePool,
  encodeReservation,
  type PoolState,
} from './records.js';
import type {
  Pool,
  PoolId,
  PoolRelease,
  PoolRequest,
  ReleasePoolResult,
  Reservation,
} from './types.js';

/** How many more rounds requestPool may take than the store's maxAttempts (see requestPool). */
const POOL_CREATE_ATTEMPTS_FACTOR = 4;

/** toPool strips what only the store needs from a pool record. */
export function toPool(state: PoolState): Pool {
  return {
    id: state.id,
    subnet: state.subnet,
    ipRange: state.ipRange,
    gateway: state.gateway,
    dynamic: state.dynamic,
    createdAt: state.createdAt,
    holds: state.holds,
  };
}

function validateRequest(req: PoolRequest): void {
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
}

/** mismatch says how a request contradicts an existing pool, or undefined when it does not. */
function mismatch(pool: PoolState, req: PoolRequest): string | undefined {
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

/** unchanged is what a release answers when it wrote nothing. */
const unchanged = (): ReleasePoolResult => ({ removed: false, released: false });

/** PoolStore holds the pool-level transitions of IpamStore. */
export class PoolStore {
  private readonly ctx: StoreContext;
  /** Called when this node no longer holds a pool (or it is gone), to drop local views. */
  private readonly onLeft: (pool: PoolId) => void;

  constructor(ctx: StoreContext, onLeft: (pool: PoolId) => void) {
    this.ctx = ctx;
    this.onLeft = onLeft;
  }

  /** poolFrom decodes the pool record a transaction response holds at op `i`, if any. */
  poolFrom(id: PoolId, res: ITxnResponse, i: number): PoolState | undefined {
    const kv = kvsAt(res, i)[0];
    return kv ? decodePool(id, kv) : undefined;
  }

  /** read returns the pool record, or undefined. */
  async read(id: PoolId): Promise<PoolState | undefined> {
    const res = await this.ctx.calls.read('read pool', [getOp(this.ctx.keys.pool(id))]);
    return this.poolFrom(id, res, 0);
  }

  async requestPool(req: PoolRequest): Promise<Pool> {
    validateRequest(req);
    const { keys, calls } = this.ctx;
    // Every pool creation in the cluster compares the same guard key, so this race has as many
    // contenders as hosts creating networks at once: allow it more rounds than a single pool's.
    const maxAttempts = POOL_CREATE_ATTEMPTS_FACTOR * this.ctx.maxAttempts;
    const poolKey = keys.pool(req.network);
    const token = newToken();
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const snap = await calls.read('request pool', [
        getOp(poolKey),
        getOp(keys.guard),
        rangeOp(keys.subnetsPrefix),
      ]);
      const existing = this.poolFrom(req.network, snap, 0);
      // A re-sent commit of ours that failed its compare still left our token behind.
      if (existing?.tokens.includes(token)) return toPool(existing);
      const res = existing
        ? await this.addHold(existing, req, token)
        : await this.create(req, token, snap);
      if (res.succeeded) return toPool(res.pool);
      const now = this.poolFrom(req.network, res.txn, 0);
      if (now?.tokens.includes(token)) return toPool(now);
      calls.conflict({ op: existing ? 'hold' : 'pool', pool: req.network });
      this.ctx.logger.debug({ pool: req.network, attempt }, 'request pool: lost a race, retrying');
      await backoff(attempt);
    }
    throw new StoreError(
      'CONFLICT',
      `network ${req.network}: gave up after ${maxAttempts} concurrent changes; try again`,
    );
  }

  private async addHold(
    pool: PoolState,
    req: PoolRequest,
    token: string,
  ): Promise<{ succeeded: boolean; pool: PoolState; txn: ITxnResponse }> {
    const why = mismatch(pool, req);
    if (why) throw new StoreError('POOL_MISMATCH', why);
    const held = pool.holds[req.node] ?? 0;
    if (!req.subnet && held > 0) {
      // Docker asks again when the pool overlaps a route on this host; answering the same pool
      // would make it loop forever (see DESIGN.md, "Dynamic pools and host routes").
      throw new StoreError(
        'ALREADY_HELD',
        `network ${pool.id} is already held on this host with subnet ${formatSubnet(pool.subnet)}; ` +
          'Docker asks again when that subnet overlaps a route here: remove the route or give --subnet',
      );
    }
    const next: PoolState = {
      ...pool,
      holds: { ...pool.holds, [req.node]: held + 1 },
      tokens: [...pool.tokens, token],
    };
    const poolKey = this.ctx.keys.pool(pool.id);
    const txn = await this.ctx.calls.txn('request pool', (c) =>
      c
        .if(poolKey, 'Mod', '==', pool.modRevision.toString()) // nobody changed the pool since we read it
        .then(putOp(poolKey, encodePool(next)))
        .else(getOp(poolKey)),
    );
    return { succeeded: txn.succeeded, pool: next, txn };
  }

  private chooseSubnet(req: PoolRequest, reserved: Reservation[]): Subnet {
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

  private async create(
    req: PoolRequest,
    token: string,
    snap: ITxnResponse,
  ): Promise<{ succeeded: boolean; pool: PoolState; txn: ITxnResponse }> {
    const { keys, calls } = this.ctx;
    const guardMod = kvsAt(snap, 1)[0]?.mod_revision ?? '0';
    const reserved = kvsAt(snap, 2).map((kv) =>
      decodeReservation(kv.key.toString().slice(keys.subnetsPrefix.length), kv),
    );
    const subnet = this.chooseSubnet(req, reserved);
    const at = nowIso();
    const pool: PoolState = {
      id: req.network,
      subnet,
      ipRange: req.ipRange,
      gateway: req.gateway ?? defaultGateway(subnet),
      dynamic: !req.subnet,
      createdAt: at,
      holds: { [req.node]: 1 },
      tokens: [token],
      createRevision: 0n,
      modRevision: 0n,
    };
    const poolKey = keys.pool(pool.id);
    const subnetKey = keys.subnet(subnet);
    const gatewayRecord = { node: req.node, kind: 'gateway' as const, attrs: {}, at, token };
    const txn = await calls.txn('request pool', (c) =>
      c
        .if(keys.guard, 'Mod', '==', guardMod) // no reservation since our read
        .and(poolKey, 'Create', '==', 0) // nobody created this network meanwhile
        .and(subnetKey, 'Create', '==', 0) // belt and braces: the subnet itself is free
        .then(
          putOp(keys.guard, encodeGuard(pool.id, at)),
          putOp(poolKey, encodePool(pool)),
          putOp(subnetKey, encodeReservation(pool.id)),
          putOp(keys.address(pool.id, pool.gateway), encodeAddress(gatewayRecord)),
        )
        .else(getOp(poolKey)),
    );
    if (txn.succeeded) {
      const revision = BigInt(txn.header.revision);
      this.ctx.logger.info(
        { pool: pool.id, subnet: formatSubnet(subnet), node: req.node },
        'pool created',
      );
      return {
        succeeded: true,
        pool: { ...pool, createRevision: revision, modRevision: revision },
        txn,
      };
    }
    return { succeeded: false, pool, txn };
  }

  /**
   * release drops one of `node`'s holds (or all of them, for dropHold); the last hold takes the
   * pool, its reservation and its addresses with it, in one transaction. With `guard`, only
   * while the pool record's mod revision is that one: no retry, {false, false} once it moved.
   */
  async release(req: PoolRelease, all: boolean, guard?: bigint): Promise<ReleasePoolResult> {
    const { keys, calls, maxAttempts } = this.ctx;
    const poolKey = keys.pool(req.pool);
    const token = newToken();
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const pool = await this.read(req.pool);
      if (!pool) {
        this.onLeft(req.pool);
        return { removed: false, released: false };
      }
      // Changed since the caller decided: its decision no longer holds, write nothing.
      if (guard !== undefined && pool.modRevision !== guard) return unchanged();
      const held = pool.holds[req.node] ?? 0;
      if (held === 0) return { removed: false, released: false };
      const holds: Record<string, number> = { ...pool.holds };
      const left = all ? 0 : held - 1;
      if (left === 0) delete holds[req.node];
      else holds[req.node] = left;
      if (Object.keys(holds).length === 0) {
        if (await this.remove(pool)) return { removed: true, released: true };
        if (guard !== undefined) return unchanged();
        calls.conflict({ op: 'pool', pool: req.pool });
      } else {
        const next: PoolState = { ...pool, holds, tokens: [...pool.tokens, token] };
        const txn = await calls.txn('release pool', (c) =>
          c
            .if(poolKey, 'Mod', '==', pool.modRevision.toString()) // holds unchanged since read
            .then(putOp(poolKey, encodePool(next)))
            .else(getOp(poolKey)),
        );
        if (txn.succeeded || this.poolFrom(req.pool, txn, 0)?.tokens.includes(token)) {
          if (left === 0) this.onLeft(req.pool);
          return { removed: false, released: true };
        }
        if (guard !== undefined) return unchanged();
        calls.conflict({ op: 'hold', pool: req.pool });
      }
      await backoff(attempt);
    }
    throw new StoreError(
      'CONFLICT',
      `network ${req.pool}: gave up after ${maxAttempts} concurrent changes; try again`,
    );
  }

  /**
   * remove deletes pool, reservation and every address in one transaction, only if the pool
   * record is unchanged since `pool` was read. True when the pool is gone afterwards.
   */
  async remove(pool: PoolState): Promise<boolean> {
    const { keys, calls } = this.ctx;
    const poolKey = keys.pool(pool.id);
    const txn = await calls.txn('remove pool', (c) =>
      c
        .if(poolKey, 'Mod', '==', pool.modRevision.toString()) // nobody joined or changed it
        .then(
          deleteOp(poolKey),
          deleteOp(keys.subnet(pool.subnet)),
          deletePrefixOp(keys.addresses(pool.id)),
        )
        .else(getOp(poolKey)),
    );
    // A failed compare with the pool gone: an earlier, re-sent attempt of this delete won.
    const gone = txn.succeeded || kvsAt(txn, 0).length === 0;
    if (gone) {
      this.onLeft(pool.id);
      this.ctx.logger.info({ pool: pool.id, subnet: formatSubnet(pool.subnet) }, 'pool removed');
    }
    return gone;
  }

  async removeIfUnheld(req: { pool: PoolId; modRevision: bigint }): Promise<boolean> {
    const pool = await this.read(req.pool);
    if (!pool || pool.modRevision !== req.modRevision) return false;
    if (Object.keys(pool.holds).length > 0) return false;
    return this.remove(pool);
  }

  async listReservations(): Promise<Reservation[]> {
    const { keys, calls } = this.ctx;
    const res = await calls.read('list reservations', [rangeOp(keys.subnetsPrefix)], 'list');
    return kvsAt(res, 0)
      .map((kv) => decodeReservation(kv.key.toString().slice(keys.subnetsPrefix.length), kv))
      .sort((a, b) => compareSubnets(a.subnet, b.subnet));
  }
}
