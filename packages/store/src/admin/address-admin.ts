/**
 * Address reads and writes for operators and cleanup: listing a pool's records with their
 * revisions, and deleting one only if it is unchanged since cleanup looked (its fence).
 */
import { compareAddresses, type IpAddress, parseAddress } from '@kontena-ipam/cidr';
import type { StoreContext } from '../context.js';
import { toCompare } from '../etcd/guards.js';
import { deleteOp, getOp, kvsAt, rangeOp } from '../etcd/ops.js';
import { readPrefix } from '../etcd/paging.js';
import { allocation } from '../layout/answers.js';
import { decodeAddress, decodePool } from '../layout/records.js';
import type { AddressRecord, NodeId, PoolId } from '../types.js';
import { attachmentOfAddress } from './attachment-admin.js';

/** listAddresses returns a pool's address records (optionally one node's), sorted; [] for no pool. */
export async function listAddresses(
  ctx: StoreContext,
  req: { pool: PoolId; node?: NodeId },
): Promise<AddressRecord[]> {
  const { keys, calls } = ctx;
  const prefix = keys.addresses(req.pool);
  const res = await calls.read(
    'list addresses',
    [getOp(keys.pool(req.pool)), rangeOp(prefix, { limit: ctx.pageSize })],
    'list',
  );
  const poolKv = kvsAt(res, 0)[0];
  if (!poolKv) return [];
  const pool = decodePool(req.pool, poolKv);
  const { kvs } = await readPrefix(
    calls,
    'list addresses',
    prefix,
    { pageSize: ctx.pageSize, op: 'list' },
    { res, index: 1 },
  );
  const out: AddressRecord[] = [];
  for (const kv of kvs) {
    // Unreadable records fail the listing loudly: cleanup must not act on a partial picture.
    const rec = decodeAddress(kv);
    if (req.node !== undefined && rec.node !== req.node) continue;
    out.push({
      ...allocation(pool, parseAddress(keys.addressTextOf(req.pool, kv.key.toString())), rec),
      createRevision: BigInt(kv.create_revision),
      modRevision: BigInt(kv.mod_revision),
    });
  }
  return out.sort((a, b) => compareAddresses(a.address, b.address));
}

/**
 * releaseAddressIfUnchanged deletes an address only if its mod revision is still
 * `modRevision`. True when it is gone afterwards: a failed compare with the key absent means
 * an earlier, re-sent attempt of this delete (or its owner) freed it, which is what was asked.
 * `node`, the record's owner, fences the delete like every write for that host (fences.ts).
 */
export async function releaseAddressIfUnchanged(
  ctx: StoreContext,
  req: { pool: PoolId; address: IpAddress; modRevision: bigint; node?: NodeId },
): Promise<boolean> {
  const key = ctx.keys.address(req.pool, req.address);
  const fence = req.node === undefined ? undefined : ctx.fences.of(req.node);
  // nobody re-took it since cleanup looked
  const compare = [toCompare({ key, modifiedAt: req.modRevision })];
  const failure = [getOp(key)];
  // A CNI address goes with its attachment key, or a repeated ADD would answer a freed address.
  const attached = await attachmentOfAddress(ctx, req.pool, key);
  if (attached) compare.push(toCompare({ key: attached.key, modifiedAt: attached.modRevision }));
  if (fence) {
    compare.push(toCompare(await fence.guard()));
    failure.push(getOp(fence.key));
  }
  const txn = await ctx.calls.commit('release address if unchanged', {
    compare,
    success: [deleteOp(key), ...(attached ? [deleteOp(attached.key)] : [])],
    failure,
  });
  if (txn.succeeded) return true;
  const refused = fence?.refused(kvsAt(txn, failure.length - 1)[0]);
  if (refused) throw refused;
  return kvsAt(txn, 0).length === 0;
}
