/**
 * CNI ADD: one address for one attachment (container id, interface) of one host, made in one
 * transaction with the attachment key and, for the host's first attachment in the pool, its
 * hold's CNI reference:
 *
 *   If(pool create == known, hold mod == seen, attachment absent, address absent)
 *   Then(put address {kind: cni, attachment}, put attachment {address}, [put hold {cni}])
 *
 * The address comes from this host's blocks like a Docker endpoint's (allocation-run.ts; this
 * file adds the attachment's writes to its rounds through a RunExtra). A repeated ADD finds the
 * attachment key and answers its address again; a pool that does not exist yet is created first
 * (a join with the CNI reference: the one case that takes two transactions).
 */
import {
  formatAddress,
  formatSubnet,
  type IpAddress,
  type Subnet,
  subnetContains,
} from '@kontena-ipam/cidr';
import type { Attachment, AttachRequest } from '../attachment-types.js';
import type { StoreContext } from '../context.js';
import { StoreError } from '../errors.js';
import type { Budget } from '../etcd/budget.js';
import type { AfterLoss, Snapshot } from '../etcd/cas.js';
import { deleteOp, getOp, kvsAt, putOp } from '../etcd/ops.js';
import { newToken } from '../etcd/tokens.js';
import { checkHostAddress } from '../layout/address-rules.js';
import {
  decodeAttachment,
  encodeAttachment,
  type StoredAttachment,
} from '../layout/attachment-records.js';
import {
  decodeHold,
  decodePool,
  encodeHold,
  type HoldState,
  nowIso,
  type PoolRecord,
} from '../layout/records.js';
import type { Allocation, NodeId, PoolId } from '../types.js';
import type { AddressStore } from './address-store.js';
import type { AddressReads, RunExtra } from './allocation-run.js';
import { type DetachDeps, detach } from './detach.js';
import { mismatch } from './pool-rules.js';
import type { PoolStore } from './pool-store.js';

/** How often attach reads again after the pool or the attachment changed under it. */
const ATTACH_ROUNDS = 4;

/** AttachedMeanwhile: the same attachment was made by a concurrent ADD; read it and answer it. */
class AttachedMeanwhile extends Error {}

/** AttachDeps is what attach needs of the IpamStore around it. */
export interface AttachDeps extends DetachDeps {
  pools: PoolStore;
  addresses(node: NodeId): AddressStore;
}

/** attach makes (or finds) the attachment of `req` in the pool `pool` (the network's v4 or v6). */
export async function attach(
  deps: AttachDeps,
  req: AttachRequest & { pool: PoolId },
  budget?: Budget,
): Promise<Attachment> {
  const { keys, calls } = deps.ctx;
  const attachmentKey = keys.attachment(req.pool, req.node, req.ref);
  // A static address the requested subnet cannot hold is refused before the pool is made.
  if (req.address && req.subnet) checkStaticIn(req.subnet, req.address);
  let joined = false;
  for (let round = 1; ; round++) {
    const res = await calls.read(
      'attach',
      [getOp(keys.pool(req.pool)), getOp(keys.hold(req.pool, req.node)), getOp(attachmentKey)],
      'get',
      budget,
    );
    const [poolKv, holdKv, attachmentKv] = res.responses.map((r) => r.response_range?.kvs?.[0]);
    if (!poolKv) {
      if (round >= ATTACH_ROUNDS) throw gaveUp(req.pool);
      // The first attachment of a network anywhere: create the pool with this host's CNI hold.
      const { pool: _pool, ...rest } = req;
      await deps.pools.requestPool({ ...rest, pool: req.pool, cni: true }, budget);
      joined = true;
      continue;
    }
    const pool = decodePool(req.pool, poolKv);
    const why = mismatch(pool, { ...req, node: req.node });
    if (why) throw new StoreError('POOL_MISMATCH', why);
    if (attachmentKv) {
      const stored = decodeAttachment(attachmentKv);
      if (await recorded(deps, req, stored, budget)) return existing(req, pool, stored);
      // Its address was freed behind it (an operator's release): drop the stale attachment,
      // then allocate afresh, so a repeated ADD never answers an address that is not ours.
      if (round >= ATTACH_ROUNDS) throw gaveUp(req.pool);
      await detach(deps, req, budget);
      continue;
    }
    const hold = holdKv ? decodeHold(holdKv) : undefined;
    try {
      return await allocate(deps, req, pool, hold, budget);
    } catch (error) {
      if (!(error instanceof AttachedMeanwhile) || round >= ATTACH_ROUNDS) {
        // The pool this call made (and its CNI reference) goes again if nothing came of it: a
        // detach of nothing gives back a reference no attachment uses (detach.ts).
        if (joined) await detach(deps, req, budget).catch(() => undefined);
        throw error;
      }
    }
  }
}

function gaveUp(pool: PoolId): StoreError {
  return new StoreError(
    'CONFLICT',
    `network ${pool}: the pool changed too often meanwhile; try again`,
  );
}

/** checkStaticIn refuses a static address outside `subnet` or not a host address of it. */
function checkStaticIn(subnet: Subnet, address: IpAddress): void {
  if (address.family !== subnet.family || !subnetContains(subnet, address)) {
    throw new StoreError(
      'OUT_OF_RANGE',
      `address ${formatAddress(address)} is not inside subnet ${formatSubnet(subnet)}`,
    );
  }
  checkHostAddress(subnet, address, 'address');
}

/** recorded: the attachment's address record is still the one made with it (same revision). */
async function recorded(
  deps: AttachDeps,
  req: AttachRequest & { pool: PoolId },
  stored: StoredAttachment,
  budget?: Budget,
): Promise<boolean> {
  const key = deps.ctx.keys.address(req.pool, stored.address);
  const res = await deps.ctx.calls.read('attach', [getOp(key)], 'get', budget);
  return kvsAt(res, 0)[0]?.create_revision === stored.createRevision.toString();
}

/** existing answers a repeated ADD: the attachment's address, unless it asks for another. */
function existing(
  req: AttachRequest & { pool: PoolId },
  pool: PoolRecord,
  stored: StoredAttachment,
): Attachment {
  if (req.address && formatAddress(req.address) !== formatAddress(stored.address)) {
    throw new StoreError(
      'ADDRESS_IN_USE',
      `container ${req.ref.container} interface ${req.ref.ifname} already has address ${formatAddress(stored.address)} in network ${pool.id}, not ${formatAddress(req.address)}: DEL it first`,
    );
  }
  return answer(req, pool, { address: stored.address, at: stored.at, netns: stored.netns }, false);
}

function answer(
  req: AttachRequest & { pool: PoolId },
  pool: PoolRecord,
  made: { address: IpAddress; at: string; netns: string },
  created: boolean,
): Attachment {
  return {
    pool: pool.id,
    node: req.node,
    ref: req.ref,
    netns: made.netns,
    address: made.address,
    subnet: pool.subnet,
    gateway: pool.gateway,
    at: made.at,
    created,
  };
}

/** allocate runs the allocation with the attachment's writes added to each round. */
async function allocate(
  deps: AttachDeps,
  req: AttachRequest & { pool: PoolId },
  pool: PoolRecord,
  hold: HoldState | undefined,
  budget?: Budget,
): Promise<Attachment> {
  const extra = new AttachmentExtra(deps.ctx, req, hold);
  const got: Allocation = await deps
    .addresses(req.node)
    .request({ pool: req.pool, node: req.node, address: req.address, kind: 'cni' }, budget, extra);
  deps.ctx.logger.info(
    {
      pool: req.pool,
      address: formatAddress(got.address),
      node: req.node,
      container: req.ref.container,
      ifname: req.ref.ifname,
    },
    'cni attachment made',
  );
  return answer(req, pool, { address: got.address, at: extra.at, netns: req.netns }, true);
}

/** AttachmentExtra is the attachment's part of each allocation round (see RunExtra). */
class AttachmentExtra implements RunExtra {
  readonly record;
  readonly reads;
  readonly at = nowIso();
  private readonly token = newToken();
  private readonly key: string;
  private readonly holdKey: string;
  /** The hold as last read: its guard, and whether this write must add the CNI reference. */
  private hold: HoldState | undefined;
  private readonly written = new Map<bigint, string>();

  private readonly req: AttachRequest & { pool: PoolId };

  constructor(
    ctx: StoreContext,
    req: AttachRequest & { pool: PoolId },
    hold: HoldState | undefined,
  ) {
    this.req = req;
    this.key = ctx.keys.attachment(req.pool, req.node, req.ref);
    this.holdKey = ctx.keys.hold(req.pool, req.node);
    this.hold = hold;
    this.record = {
      attachment: { container: req.ref.container, ifname: req.ref.ifname, netns: req.netns },
    };
    this.reads = { attachment: getOp(this.key) };
  }

  write(address: IpAddress) {
    const encoded = encodeAttachment({
      address,
      netns: this.req.netns,
      at: this.at,
      token: this.token,
    });
    this.written.set(address.value, encoded);
    const hold = this.hold;
    return {
      guards: [
        // The hold as read: a concurrent last DEL may be taking the CNI reference away.
        hold
          ? { key: this.holdKey, modifiedAt: hold.modRevision }
          : { key: this.holdKey, absent: true as const },
        { key: this.key, absent: true as const }, // no ADD of this attachment won meanwhile
      ],
      ops: [
        putOp(this.key, encoded),
        // The host's first attachment here takes the CNI reference, in the same transaction.
        ...(hold?.cni
          ? []
          : [
              putOp(
                this.holdKey,
                encodeHold({
                  count: (hold?.count ?? 0) + 1,
                  tokens: [...(hold?.tokens ?? []), this.token],
                  cni: true,
                }),
              ),
            ]),
      ],
    };
  }

  lost(snap: Snapshot<AddressReads>): AfterLoss<Allocation> | undefined {
    if (snap.kv('attachment')) throw new AttachedMeanwhile();
    const kv = snap.kv('hold');
    const now = kv ? decodeHold(kv) : undefined;
    if (now?.modRevision !== this.hold?.modRevision) {
      this.hold = now;
      return 'retry-now';
    }
    return undefined;
  }

  undo(address: IpAddress) {
    // The CNI reference, if this write added it, stays: a DEL or GC that finds the host with
    // no attachment here gives it back (detach.ts).
    const encoded = this.written.get(address.value) ?? '';
    return { guards: [{ key: this.key, holds: encoded }], ops: [deleteOp(this.key)] };
  }
}
