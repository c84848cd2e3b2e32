/**
 * A host that leaves a pool gives its address blocks back, so other hosts can claim them
 * (views/host-view.ts) and `check` finds no stale claims. A host may hold hundreds of blocks (16
 * addresses each), and etcd takes at most 128 operations per transaction branch
 * (--max-txn-ops), two per block: the leave's own transaction (pool-release.ts) returns the
 * first BLOCKS_PER_TXN with the hold, and returnLeftBlocks the rest, page by page, each page one
 * transaction guarded on "this host has not joined again and claimed nothing since the read".
 *
 * Why after the leave, not before: until the hold is gone the host may still allocate in its
 * blocks, and a leave can lose its compare (a join on the same host meanwhile) and not happen.
 * Once it has left, its claims steer nobody; if it joins again before they are all returned,
 * the rest are its own again (a join adopts its claims), so the pages stop.
 */
import type { IKeyValue, IRequestOp } from 'etcd3';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { transact } from '../etcd/cas.js';
import { deleteOp, getOp, rangeOp } from '../etcd/ops.js';
import { type KeyLayout, parseBlockIndex } from '../layout/keys.js';
import type { NodeId, PoolId } from '../types.js';

/** BLOCKS_PER_TXN is how many blocks one transaction returns: 2 deletes each, of 128. */
export const BLOCKS_PER_TXN = 60;

/**
 * returnOps deletes the blocks that a host's affinity keys (`claims`) name, and those keys.
 * Only the claiming host writes its affinity keys, and a block is only created where none is,
 * so each named block is this host's to give back.
 */
export function returnOps(
  keys: KeyLayout,
  pool: PoolId,
  claims: readonly IKeyValue[],
): IRequestOp[] {
  const ops: IRequestOp[] = [];
  for (const kv of claims) {
    const index = parseBlockIndex(kv.key.toString());
    if (index !== undefined) ops.push(deleteOp(keys.block(pool, index)));
    ops.push(deleteOp(kv.key.toString()));
  }
  return ops;
}

/** claimsPage reads one page of a host's affinity keys (keys only). */
export function claimsPage(keys: KeyLayout, pool: PoolId, node: NodeId): IRequestOp {
  return rangeOp(keys.affinitiesOf(pool, node), { keysOnly: true, limit: BLOCKS_PER_TXN });
}

/** How a page of returnLeftBlocks ended. */
type Page = 'more' | 'done' | 'joined';

/**
 * returnLeftBlocks returns the blocks `node` still claims in `pool` after it left, a page per
 * transaction, until none is left or the host holds the pool again. Returns how many it gave
 * back.
 */
export async function returnLeftBlocks(
  ctx: StoreContext,
  req: { pool: PoolId; node: NodeId },
  budget?: Budget,
): Promise<number> {
  const { keys } = ctx;
  const holdKey = keys.hold(req.pool, req.node);
  const claimsPrefix = keys.affinitiesOf(req.pool, req.node);
  let returned = 0;
  for (;;) {
    const page = await transact<'hold' | 'claims', Page>(
      ctx,
      {
        what: 'return blocks',
        conflict: 'hold',
        pool: req.pool,
        node: req.node, // a write for the host: fenced on its registration, as its leave was
        reads: { hold: getOp(holdKey), claims: claimsPage(keys, req.pool, req.node) },
        decide: (snap) => {
          // Joined again: what it still claims is its own again.
          if (snap.kv('hold')) return { answer: 'joined' };
          const claims = snap.kvs('claims');
          if (claims.length === 0) return { answer: 'done' };
          return {
            write: {
              guards: [
                { key: holdKey, absent: true }, // it has not joined again
                { prefix: claimsPrefix, unchangedSince: snap.revision }, // nor claimed since
              ],
              ops: returnOps(keys, req.pool, claims),
              done: () => {
                returned += claims.length;
                return claims.length < BLOCKS_PER_TXN ? 'done' : 'more';
              },
            },
          };
        },
      },
      budget,
    );
    if (page !== 'more') return returned;
  }
}

/**
 * returnAfterLeave runs returnLeftBlocks for a host whose leave committed. A failure (etcd
 * down, budget spent) does not undo the leave, whose answer stands: the blocks stay this host's
 * claims until it joins again or the pool goes, and `check` reports them meanwhile.
 */
export async function returnAfterLeave(
  ctx: StoreContext,
  req: { pool: PoolId; node: NodeId },
  budget?: Budget,
): Promise<void> {
  const fields = { pool: req.pool, node: req.node };
  try {
    const blocks = await returnLeftBlocks(ctx, req, budget);
    ctx.logger.debug({ ...fields, blocks }, 'returned the blocks of a host that left');
  } catch (error) {
    ctx.logger.warn(
      { ...fields, error: String(error) },
      'left the pool, but not every block it claimed went back',
    );
  }
}
