/**
 * Moving a pool's gateway, for `docker network create --gateway X`. Docker 20.10 asks
 * RequestPool first (we answer the default gateway in Data) and only then
 * RequestAddress(gateway, X): libnetwork's `ipamAllocateVersion` asks for the user's gateway
 * "irrespective of whether ipam driver returned a gateway already". So the host that creates
 * the network alone may move the pool's gateway to X, in one transaction:
 *   If(pool mod == seen, no hold under the pool changed since the read, X's address key absent)
 *   Then(put pool with gateway X, delete the old gateway's record, put X's gateway record)
 *   Else(get pool, get X, get the holds)
 * Any other host holding the pool may already have given the old gateway to its bridge, and so
 * may a second network of this same host on the pool (held twice), so then (or when X is no
 * host address of the subnet, or taken) the request is refused as POOL_MISMATCH.
 */
import {
  addressEquals,
  formatAddress,
  formatSubnet,
  type IpAddress,
  isHostAddress,
} from '@kontena-ipam/cidr';
import type { StoreContext } from '../context.js';
import { StoreError } from '../errors.js';
import type { Budget } from '../etcd/budget.js';
import { type Decision, type Snapshot, transact } from '../etcd/cas.js';
import { deleteOp, getOp, putOp, rangeOp } from '../etcd/ops.js';
import { newToken } from '../etcd/tokens.js';
import {
  decodeHolds,
  decodePool,
  encodeAddress,
  encodePool,
  type HoldSet,
  nowIso,
  type PoolRecord,
  readAddress,
  type StoredAddress,
} from '../layout/records.js';
import type { NodeId, PoolId } from '../types.js';

/** why says why the gateway of `pool` cannot move to `to` for `node`, or undefined when it can. */
function why(
  pool: PoolRecord,
  holds: HoldSet,
  to: IpAddress,
  node: NodeId,
  taken: StoredAddress | 'unreadable' | undefined,
): string | undefined {
  const others = holds.others(node);
  if (others.length > 0) return `the pool is held by other hosts too (${others.join(', ')})`;
  const held = holds.count(node);
  if (held === 0) return `host ${node} does not hold the pool`;
  if (held > 1) {
    // Two networks of this host (or a create Docker rolled back) name this pool: the other
    // one's bridge may use the gateway already, so moving it could hand a live address out.
    return `host ${node} holds the pool ${held} times, so another network here may use its gateway`;
  }
  if (to.family !== pool.subnet.family || !isHostAddress(pool.subnet, to)) {
    return `${formatAddress(to)} is not a host address of subnet ${formatSubnet(pool.subnet)}`;
  }
  if (taken === 'unreadable') return `${formatAddress(to)} is taken`;
  if (taken) return `${formatAddress(to)} is taken by node ${taken.node} (${taken.kind})`;
  return undefined;
}

/** MovedGateway is the pool record with its new gateway and that gateway's address record. */
export interface MovedGateway {
  pool: PoolRecord;
  record: StoredAddress;
}

type MoveReads = 'pool' | 'to' | 'holds';
type MoveRequest = { pool: PoolId; node: NodeId; to: IpAddress };

/**
 * moveGateway makes `to` the gateway of pool `pool` when `node` alone holds it, once, and `to`
 * is a free host address of its subnet; POOL_MISMATCH naming both gateways otherwise.
 */
export async function moveGateway(
  ctx: StoreContext,
  req: MoveRequest,
  budget?: Budget,
): Promise<MovedGateway> {
  const { keys } = ctx;
  const token = newToken();
  return transact<MoveReads, MovedGateway>(
    ctx,
    {
      what: 'move gateway',
      conflict: 'pool',
      pool: req.pool,
      node: req.node,
      reads: {
        pool: getOp(keys.pool(req.pool)),
        to: getOp(keys.address(req.pool, req.to)),
        holds: rangeOp(keys.holds(req.pool)),
      },
      decide: (snap) => decideMove(ctx, req, token, snap),
    },
    budget,
  );
}

/** decideMove is one round of a move: the answer when moved already, a refusal, or the write. */
function decideMove(
  ctx: StoreContext,
  req: MoveRequest,
  token: string,
  snap: Snapshot<MoveReads>,
): Decision<MoveReads, MovedGateway> {
  const { keys } = ctx;
  const poolKey = keys.pool(req.pool);
  const toKey = keys.address(req.pool, req.to);
  const holdsPrefix = keys.holds(req.pool);
  const poolKv = snap.kv('pool');
  if (!poolKv) throw new StoreError('POOL_NOT_FOUND', `network ${req.pool} does not exist`);
  const pool = decodePool(req.pool, poolKv);
  const toKv = snap.kv('to');
  const held = toKv ? (readAddress(toKv) ?? 'unreadable') : undefined;
  if (addressEquals(pool.gateway, req.to)) {
    // Moved already (by another request of this host, or a re-sent commit of ours).
    const record =
      held && held !== 'unreadable' ? held : gatewayRecord(req.node, pool.createdAt, '');
    return { answer: { pool, record } };
  }
  const problem = why(pool, decodeHolds(holdsPrefix, snap.kvs('holds')), req.to, req.node, held);
  if (problem) {
    throw new StoreError(
      'POOL_MISMATCH',
      `network ${pool.id} has gateway ${formatAddress(pool.gateway)}, not ${formatAddress(req.to)}, and cannot move it: ${problem}`,
    );
  }
  const record = gatewayRecord(req.node, nowIso(), token);
  const next: PoolRecord = { ...pool, gateway: req.to, tokens: [...pool.tokens, token] };
  return {
    write: {
      guards: [
        { key: poolKey, modifiedAt: pool.modRevision }, // the gateway as we judged it
        { prefix: holdsPrefix, unchangedSince: snap.revision }, // nobody joined since
        { key: toKey, absent: true }, // the new gateway address is free
      ],
      ops: [
        putOp(poolKey, encodePool(next)),
        deleteOp(keys.address(pool.id, pool.gateway)),
        putOp(toKey, encodeAddress(record)),
      ],
      done: (revision) => {
        ctx.logger.info(
          {
            pool: pool.id,
            from: formatAddress(pool.gateway),
            to: formatAddress(req.to),
            node: req.node,
          },
          'pool gateway moved',
        );
        return { pool: { ...next, modRevision: revision }, record };
      },
    },
  };
}

function gatewayRecord(node: NodeId, at: string, token: string): StoredAddress {
  return { node, kind: 'gateway', attrs: {}, at, token };
}
