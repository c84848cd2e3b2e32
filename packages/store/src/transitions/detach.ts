/**
 * CNI DEL: frees one attachment's address in one transaction with its attachment key and, for
 * the host's last attachment in the pool, its hold's CNI reference (which takes the pool with it
 * when it was the pool's last hold anywhere, as the last `docker network rm` does):
 *
 *   another attachment of this host remains:
 *     If(attachment mod == seen, address mod == seen, that other one present)
 *     Then(delete attachment, delete address)
 *   the last one:
 *     If(…, no attachment of this host made since the read, hold mod == seen, [witness hold])
 *     Then(delete attachment, delete address, put hold count-1 | delete hold | remove the pool)
 *
 * A DEL that finds nothing is answered "nothing to free" and writes nothing, except when this
 * host holds the CNI reference with no attachment left (an ADD that failed after it took it):
 * then the reference goes, so a pool is never kept alive by nobody.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import type { IKeyValue, IRequestOp } from 'etcd3';
import type { DetachRequest, DetachResult } from '../attachment-types.js';
import type { StoreContext } from '../context.js';
import type { Budget } from '../etcd/budget.js';
import { type Decision, type Guard, type Snapshot, transact } from '../etcd/cas.js';
import { deleteOp, getOp, kvsAt, putOp, rangeOp } from '../etcd/ops.js';
import { newToken } from '../etcd/tokens.js';
import { decodeAttachment } from '../layout/attachment-records.js';
import { decodeHold, decodePool, encodeHold, type PoolRecord } from '../layout/records.js';
import { BLOCKS_PER_TXN, claimsPage, returnAfterLeave, returnOps } from './block-return.js';
import { removalGuards, removalOps } from './pool-rules.js';

type DetachReads = 'pool' | 'hold' | 'attachment' | 'address' | 'mine' | 'holders' | 'claims';

/** How often detach starts over when the attachment changed between its two reads. */
const DETACH_ROUNDS = 4;

/** DetachDeps is what detach needs of the IpamStore around it. */
export interface DetachDeps {
  ctx: StoreContext;
  /** left: this host no longer holds the pool (or it is gone): drop its local views. */
  left(pool: DetachRequest['pool']): void;
}

/** Again: the attachment changed between the first read and the transaction's; start over. */
class Again extends Error {}

/** detach frees the attachment `req` names; see the file comment. */
export async function detach(
  deps: DetachDeps,
  req: DetachRequest,
  budget?: Budget,
): Promise<DetachResult> {
  const { keys, calls } = deps.ctx;
  const key = keys.attachment(req.pool, req.node, req.ref);
  for (let round = 1; ; round++) {
    // The address key is only known from the attachment: read it first, with what tells a DEL
    // of nothing (the common repeat, and a dual-stack network's other family) it has no work.
    const res = await calls.read(
      'detach',
      [
        getOp(key),
        getOp(keys.hold(req.pool, req.node)),
        rangeOp(keys.attachmentsOf(req.pool, req.node), { keysOnly: true, limit: 1 }),
      ],
      'get',
      budget,
    );
    const first = kvsAt(res, 0)[0];
    if (!first && !danglingReference(kvsAt(res, 1)[0], kvsAt(res, 2))) {
      return { released: false, removed: false };
    }
    const address = first ? decodeAttachment(first).address : undefined;
    try {
      const leave = { more: false };
      const key = address ? keys.address(req.pool, address) : undefined;
      const result = await run(deps, req, { addressKey: key, leave }, budget);
      // The leave gave back one page of blocks with the hold; a host with more returns the rest.
      if (leave.more) await returnAfterLeave(deps.ctx, req, budget);
      return result;
    } catch (error) {
      if (!(error instanceof Again) || round >= DETACH_ROUNDS) throw error;
    }
  }
}

/** danglingReference: the host's hold carries the CNI reference but it has no attachment left. */
function danglingReference(hold: IKeyValue | undefined, mine: readonly IKeyValue[]): boolean {
  return hold !== undefined && decodeHold(hold).cni === true && mine.length === 0;
}

async function run(
  deps: DetachDeps,
  req: DetachRequest,
  known: { addressKey: string | undefined; leave: { more: boolean } },
  budget?: Budget,
): Promise<DetachResult> {
  const { addressKey, leave } = known;
  const { ctx } = deps;
  const { keys } = ctx;
  const key = keys.attachment(req.pool, req.node, req.ref);
  const mine = keys.attachmentsOf(req.pool, req.node);
  const state: DetachState = { tried: undefined, outcome: { released: false, removed: false } };
  return transact<DetachReads, DetachResult>(
    ctx,
    {
      what: 'detach',
      conflict: 'release',
      pool: req.pool,
      // Fenced on the host's registration like every write for it (fences.ts).
      node: req.node,
      reads: {
        pool: getOp(keys.pool(req.pool)),
        hold: getOp(keys.hold(req.pool, req.node)),
        attachment: getOp(key),
        // Read even when unknown (then the attachment key again): every round has the name.
        address: getOp(addressKey ?? key),
        // Two of this host's attachments tell whether this one is its last.
        mine: rangeOp(mine, { keysOnly: true, limit: 2 }),
        holders: rangeOp(keys.holds(req.pool), { keysOnly: true, limit: 2 }),
        // Its first page of blocks go back with its last attachment (as a Docker leave's do).
        claims: claimsPage(keys, req.pool, req.node),
      },
      decide: (snap) => decideDetach(deps, req, { key, addressKey, leave }, state, snap),
      // Gone, or made again since: an earlier, re-sent attempt of this delete went first.
      mine: (snap) => {
        const { tried } = state;
        if (tried === undefined || snap.kv('attachment')?.create_revision === tried)
          return undefined;
        const removed = !snap.kv('pool');
        if (removed) deps.left(req.pool);
        return { ...state.outcome, removed };
      },
      exhausted: `container ${req.ref.container} interface ${req.ref.ifname}: too many concurrent changes`,
    },
    budget,
  );
}

/** DetachState is what a detach's rounds remember: what it tried to delete, and its answer. */
interface DetachState {
  /** The create revision of the attachment this call decided to delete, once it has. */
  tried: string | undefined;
  outcome: DetachResult;
}

/** decideDetach is one round of a detach: from its reads, an answer or a guarded write. */
function decideDetach(
  deps: DetachDeps,
  req: DetachRequest,
  known: { key: string; addressKey: string | undefined; leave: { more: boolean } },
  state: DetachState,
  snap: Snapshot<DetachReads>,
): Decision<DetachReads, DetachResult> {
  const { key, addressKey, leave } = known;
  const { keys } = deps.ctx;
  const poolKv = snap.kv('pool');
  if (!poolKv) return { answer: { released: false, removed: false } };
  const pool = decodePool(req.pool, poolKv);
  const kv = snap.kv('attachment');
  const others = snap.kvs('mine').filter((k) => k.key.toString() !== key);
  if (!kv) {
    // Nothing to free; a CNI reference with no attachment left is given back.
    if (others.length > 0) return { answer: state.outcome };
    const drop = dropReference(deps, req, { pool, snap, leave }, [], []);
    return drop ? { write: drop } : { answer: state.outcome };
  }
  const stored = decodeAttachment(kv);
  const storedKey = keys.address(req.pool, stored.address);
  if (storedKey !== addressKey) throw new Again();
  state.tried = kv.create_revision;
  // The address record made with this attachment (same revision), not a later one.
  const addressKv = snap.kv('address');
  const ours = addressKv?.create_revision === kv.create_revision;
  const guards: Guard[] = [
    { key, modifiedAt: BigInt(kv.mod_revision) },
    ours
      ? { key: storedKey, modifiedAt: BigInt(addressKv?.mod_revision ?? '0') }
      : { key: storedKey, unchangedSince: snap.revision },
  ];
  const ops = [deleteOp(key), ...(ours ? [deleteOp(storedKey)] : [])];
  state.outcome = { released: true, removed: false, address: stored.address };
  const witness = others[0];
  const drop = witness ? undefined : dropReference(deps, req, { pool, snap, leave }, guards, ops);
  if (drop) return { write: drop };
  return {
    write: {
      guards: [
        ...guards,
        ...(witness ? [{ key: witness.key.toString(), present: true as const }] : []),
      ],
      ops,
      done: () => logged(deps, req, state.outcome),
    },
  };
}

/**
 * dropReference adds giving back this host's CNI reference to a detach's write (`guards`,
 * `ops`): the hold count less one, or the hold (with its blocks) when it was the last
 * reference, or the whole pool when it was the last hold. Undefined when the host holds no CNI
 * reference (then the detach is a plain delete).
 */
function dropReference(
  deps: DetachDeps,
  req: DetachRequest,
  read: { pool: PoolRecord; snap: Snapshot<DetachReads>; leave: { more: boolean } },
  guards: Guard[],
  ops: IRequestOp[],
) {
  const { pool, snap } = read;
  const { keys } = deps.ctx;
  const holdKey = keys.hold(req.pool, req.node);
  const holdKv = snap.kv('hold');
  const hold = holdKv ? decodeHold(holdKv) : undefined;
  if (!hold?.cni) return undefined;
  const common: Guard[] = [
    ...guards,
    { key: holdKey, modifiedAt: hold.modRevision },
    // No attachment of this host made since the read: it would need the reference.
    { prefix: keys.attachmentsOf(req.pool, req.node), unchangedSince: snap.revision },
  ];
  const freed = ops.length > 0;
  const result = (removed: boolean) => () => {
    if (removed || hold.count <= 1) deps.left(req.pool);
    return logged(deps, req, { released: freed, removed, ...addressOf(snap, freed) });
  };
  if (hold.count > 1) {
    const next = { count: hold.count - 1, tokens: [...hold.tokens, newToken()] };
    return {
      guards: common,
      ops: [...ops, putOp(holdKey, encodeHold(next))],
      done: result(false),
    };
  }
  const witness = snap.kvs('holders').find((kv: IKeyValue) => kv.key.toString() !== holdKey);
  if (witness) {
    return {
      guards: [
        ...common,
        { key: witness.key.toString(), present: true as const },
        { prefix: keys.affinitiesOf(req.pool, req.node), unchangedSince: snap.revision },
      ],
      ops: [...ops, deleteOp(holdKey), ...returnOps(keys, req.pool, snap.kvs('claims'))],
      done: () => {
        read.leave.more = snap.kvs('claims').length >= BLOCKS_PER_TXN;
        return result(false)();
      },
    };
  }
  return {
    guards: [...common, ...removalGuards(keys, pool, snap.revision)],
    ops: [...ops, ...removalOps(keys, pool)],
    conflict: 'pool' as const,
    done: result(true),
  };
}

function addressOf(snap: Snapshot<DetachReads>, freed: boolean) {
  const kv = snap.kv('attachment');
  return freed && kv ? { address: decodeAttachment(kv).address } : {};
}

function logged(deps: DetachDeps, req: DetachRequest, result: DetachResult): DetachResult {
  deps.ctx.logger.info(
    {
      pool: req.pool,
      node: req.node,
      container: req.ref.container,
      ifname: req.ref.ifname,
      ...(result.address ? { address: formatAddress(result.address) } : {}),
      removed: result.removed,
    },
    result.released ? 'cni attachment freed' : 'cni reference given back',
  );
  return result;
}
