/**
 * Reading CNI attachments: one host's in one pool (GC, operators), and one attachment with the
 * address record it points at (CHECK: is its address still recorded for this host?).
 */
import { formatAddress } from '@kontena-ipam/cidr';
import {
  type AttachmentRecord,
  type DetachRequest,
  parseContainerId,
  parseIfName,
} from '../attachment-types.js';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { getOp, kvsAt } from '../etcd/ops.js';
import { readPrefix } from '../etcd/paging.js';
import { decodeAttachment, refOfKey } from '../layout/attachment-records.js';
import { readAddress } from '../layout/records.js';
import { type NodeId, type PoolId, parseNodeId } from '../types.js';

/** listAttachments returns `node`'s attachments in `pool` (every host's without `node`). */
export async function listAttachments(
  ctx: StoreContext,
  req: { pool: PoolId; node?: NodeId },
  budget?: Budget,
): Promise<AttachmentRecord[]> {
  const { keys, calls } = ctx;
  const prefix = req.node ? keys.attachmentsOf(req.pool, req.node) : keys.attachments(req.pool);
  const { kvs } = await readPrefix(
    calls,
    'list attachments',
    prefix,
    { pageSize: ctx.pageSize, op: 'list' },
    undefined,
    budget,
  );
  return kvs.map((kv) => {
    const key = kv.key.toString();
    // <node>/<container>/<ifname> under the pool's prefix.
    const rest = key.slice(keys.attachments(req.pool).length);
    const node = rest.slice(0, rest.indexOf('/')) as NodeId;
    const stored = decodeAttachment(kv);
    return {
      pool: req.pool,
      node,
      ref: refOfKey(keys.attachmentsOf(req.pool, node), key),
      netns: stored.netns,
      address: stored.address,
      at: stored.at,
      createRevision: stored.createRevision,
    };
  });
}

/** AttachmentCheck is what CHECK learns of one attachment. */
export type AttachmentCheck = { ok: true; record: AttachmentRecord } | { ok: false; why: string };

/**
 * checkAttachment reads an attachment and the address record it names: ok when both exist, were
 * made together (one revision) and the record is this host's `cni` address of this attachment.
 */
export async function checkAttachment(
  ctx: StoreContext,
  req: DetachRequest,
  budget?: Budget,
): Promise<AttachmentCheck> {
  const { keys, calls } = ctx;
  const key = keys.attachment(req.pool, req.node, req.ref);
  const what = `container ${req.ref.container} interface ${req.ref.ifname}`;
  const first = kvsAt(await calls.read('check attachment', [getOp(key)], 'get', budget), 0)[0];
  if (!first)
    return { ok: false, why: `${what} has no address in network ${req.pool} on node ${req.node}` };
  const stored = decodeAttachment(first);
  const address = formatAddress(stored.address);
  const res = await calls.read(
    'check attachment',
    [getOp(keys.address(req.pool, stored.address))],
    'get',
    budget,
  );
  const kv = kvsAt(res, 0)[0];
  const rec = kv ? readAddress(kv) : undefined;
  if (!kv || !rec) {
    return { ok: false, why: `${what}: address ${address} of network ${req.pool} is not recorded` };
  }
  const same =
    kv.create_revision === first.create_revision &&
    rec.kind === 'cni' &&
    rec.node === req.node &&
    rec.attachment?.container === req.ref.container &&
    rec.attachment?.ifname === req.ref.ifname;
  if (!same) {
    return {
      ok: false,
      why: `${what}: address ${address} of network ${req.pool} is recorded for another holder (node ${rec.node}, ${rec.kind})`,
    };
  }
  return {
    ok: true,
    record: {
      pool: req.pool,
      node: req.node,
      ref: req.ref,
      netns: stored.netns,
      address: stored.address,
      at: stored.at,
      createRevision: stored.createRevision,
    },
  };
}

/**
 * attachmentOfAddress finds the attachment key a `cni` address record at `key` names, made with
 * it (the same create revision); undefined for any other record, or none.
 */
export async function attachmentOfAddress(
  ctx: StoreContext,
  pool: PoolId,
  key: string,
): Promise<{ key: string; modRevision: bigint } | undefined> {
  const kv = kvsAt(await ctx.calls.read('release address', [getOp(key)], 'get'), 0)[0];
  const rec = kv ? readAddress(kv) : undefined;
  if (!kv || rec?.kind !== 'cni' || !rec.attachment) return undefined;
  let attachmentKey: string;
  try {
    const node = parseNodeId(rec.node);
    const ref = {
      container: parseContainerId(rec.attachment.container),
      ifname: parseIfName(rec.attachment.ifname),
    };
    attachmentKey = ctx.keys.attachment(pool, node, ref);
  } catch {
    return undefined; // names no key this store could have written
  }
  const att = kvsAt(await ctx.calls.read('release address', [getOp(attachmentKey)], 'get'), 0)[0];
  if (!att || att.create_revision !== kv.create_revision) return undefined;
  return { key: attachmentKey, modRevision: BigInt(att.mod_revision) };
}
