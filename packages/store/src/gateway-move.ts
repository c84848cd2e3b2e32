/**
 * Moving a pool's gateway, for `docker network create --gateway X`. Docker 20.10 asks
 * RequestPool first (we answer the default gateway in Data) and only then
 * RequestAddress(gateway, X): libnetwork's `ipamAllocateVersion` asks for the user's gateway
 * "irrespective of whether ipam driver returned a gateway already". So the host that creates
 * the network alone may move the pool's gateway to X, in one transaction:
 *   If(pool mod == seen, X's address key absent)
 *   Then(put pool with gateway X, delete the old gateway's record, put X's gateway record)
 *   Else(get pool, get X)
 * Any other host holding the pool may already have given the old gateway to its bridge, so
 * then (or when X is outside the subnet, or taken) the request is refused as POOL_MISMATCH.
 */
import {
  addressEquals,
  formatAddress,
  formatSubnet,
  type IpAddress,
  isHostAddress,
} from '@kontena-ipam/cidr';
import { backoff, newToken, nowIso, type StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { deleteOp, getOp, kvsAt, putOp } from './etcd-call.js';
import {
  decodePool,
  encodeAddress,
  encodePool,
  type PoolState,
  readAddress,
  type StoredAddress,
} from './records.js';
import type { NodeId, PoolId } from './types.js';

/** why says why the gateway of `pool` cannot move to `to` for `node`, or undefined when it can. */
function why(
  pool: PoolState,
  to: IpAddress,
  node: NodeId,
  taken: StoredAddress | 'unreadable' | undefined,
): string | undefined {
  const others = Object.keys(pool.holds).filter((n) => n !== node);
  if (others.length > 0) return `the pool is held by other hosts too (${others.sort().join(', ')})`;
  if (!(pool.holds[node] ?? 0)) return `host ${node} does not hold the pool`;
  if (to.family !== pool.subnet.family || !isHostAddress(pool.subnet, to)) {
    return `${formatAddress(to)} is not a host address of subnet ${formatSubnet(pool.subnet)}`;
  }
  if (taken === 'unreadable') return `${formatAddress(to)} is taken`;
  if (taken) return `${formatAddress(to)} is taken by node ${taken.node} (${taken.kind})`;
  return undefined;
}

/** MovedGateway is the pool record with its new gateway and that gateway's address record. */
export interface MovedGateway {
  pool: PoolState;
  record: StoredAddress;
}

/**
 * moveGateway makes `to` the gateway of pool `pool` when `node` alone holds it and `to` is a
 * free host address of its subnet; POOL_MISMATCH naming both gateways otherwise.
 */
export async function moveGateway(
  ctx: StoreContext,
  req: { pool: PoolId; node: NodeId; to: IpAddress },
): Promise<MovedGateway> {
  const { keys, calls, maxAttempts } = ctx;
  const poolKey = keys.pool(req.pool);
  const toKey = keys.address(req.pool, req.to);
  const token = newToken();
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const snap = await calls.read('move gateway', [getOp(poolKey), getOp(toKey)]);
    const poolKv = kvsAt(snap, 0)[0];
    if (!poolKv) throw new StoreError('POOL_NOT_FOUND', `network ${req.pool} does not exist`);
    const pool = decodePool(req.pool, poolKv);
    const toKv = kvsAt(snap, 1)[0];
    const held = toKv ? (readAddress(toKv) ?? 'unreadable') : undefined;
    if (addressEquals(pool.gateway, req.to)) {
      // Moved already (by another request of this host, or a re-sent commit of ours).
      const record =
        held && held !== 'unreadable' ? held : gatewayRecord(req.node, pool.createdAt, '');
      return { pool, record };
    }
    const problem = why(pool, req.to, req.node, held);
    if (problem) {
      throw new StoreError(
        'POOL_MISMATCH',
        `network ${pool.id} has gateway ${formatAddress(pool.gateway)}, not ${formatAddress(req.to)}, and cannot move it: ${problem}`,
      );
    }
    const record = gatewayRecord(req.node, nowIso(), token);
    const next: PoolState = { ...pool, gateway: req.to, tokens: [...pool.tokens, token] };
    const txn = await calls.txn('move gateway', (c) =>
      c
        .if(poolKey, 'Mod', '==', pool.modRevision.toString()) // holds and gateway as we judged them
        .and(toKey, 'Create', '==', 0) // the new gateway address is free
        .then(
          putOp(poolKey, encodePool(next)),
          deleteOp(keys.address(pool.id, pool.gateway)),
          putOp(toKey, encodeAddress(record)),
        )
        .else(getOp(poolKey), getOp(toKey)),
    );
    const nowKv = kvsAt(txn, 0)[0];
    const now = nowKv ? decodePool(req.pool, nowKv) : undefined;
    // A failed compare that finds our token: an earlier, re-sent attempt of this move won.
    const written = txn.succeeded
      ? { ...next, modRevision: BigInt(txn.header.revision) }
      : now?.tokens.includes(token)
        ? now
        : undefined;
    if (written) {
      ctx.logger.info(
        {
          pool: pool.id,
          from: formatAddress(pool.gateway),
          to: formatAddress(req.to),
          node: req.node,
        },
        'pool gateway moved',
      );
      return { pool: written, record };
    }
    calls.conflict({ op: 'pool', pool: req.pool });
    await backoff(attempt);
  }
  throw new StoreError(
    'CONFLICT',
    `network ${req.pool}: gave up after ${maxAttempts} concurrent changes; try again`,
  );
}

function gatewayRecord(node: NodeId, at: string, token: string): StoredAddress {
  return { node, kind: 'gateway', attrs: {}, at, token };
}
