/**
 * Claiming blocks: one transaction creates up to `want` consecutive block claims of one host
 * (and its affinity keys for them) and reads their addresses. The first try is blind: the
 * blocks after the host's newest, or at its hashed place; a lost one reads the claims around
 * it, and the next round takes a free run there, or tries a random place. After PROBES places
 * with nothing free, no block is free: the host borrows (host-view.ts). Which run to ask for is
 * OwnedBlocks' decision (owned-blocks.ts), from what the lost round read.
 */
import type { StoreContext } from '../context.js';
import { StoreError } from '../errors.js';
import type { Budget } from '../etcd/budget.js';
import { type Decision, type Snapshot, transact } from '../etcd/cas.js';
import { getOp, spanOp } from '../etcd/ops.js';
import { OpList } from '../etcd/replies.js';
import { newToken, putLanded } from '../etcd/tokens.js';
import {
  addClaim,
  type BlockGeometry,
  type ClaimedBlock,
  claimedBlock,
  type TakenIn,
} from '../layout/blocks.js';
import { parseBlockIndex } from '../layout/keys.js';
import type { PoolRecord } from '../layout/records.js';
import { nowIso, readBlock } from '../layout/records.js';
import type { NodeId } from '../types.js';
import type { OwnedBlocks } from './owned-blocks.js';
import { startOffset } from './window-view.js';

/**
 * MAX_CLAIM caps the blocks one claim takes: each costs 2 puts and BLOCK_SIZE gets of the 128
 * operations etcd allows in one transaction (--max-txn-ops).
 */
export const MAX_CLAIM = 6;
/** PROBE_SPAN is how many block indexes a lost claim reads around its place to find free ones. */
const PROBE_SPAN = 64;
/** PROBES is how many places a claim looks at before it concludes no block is free. */
const PROBES = 4;

/** Claimant is the host claiming: its pool as it knows it, and the blocks it holds. */
export interface Claimant {
  readonly pool: PoolRecord;
  readonly node: NodeId;
  readonly geometry: BlockGeometry;
  readonly owned: OwnedBlocks;
  /** took is told of each block a committed claim took, with the address keys it read. */
  took(block: ClaimedBlock): void;
}

/**
 * How a claim ended: `claimed` (took() was told), `mine` (an earlier attempt of this claim
 * committed unseen: its blocks want a load), `none` (no block free: borrow), `gone` (the pool
 * was removed or made again).
 */
export type ClaimResult = 'claimed' | 'mine' | 'none' | 'gone';

type ClaimReads = 'pool' | 'hold' | 'probe';

/** claimedIn is the set of block indexes a probe read found claimed. */
function claimedIn(snap: Snapshot<ClaimReads>): Set<number> {
  const present = new Set<number>();
  for (const kv of snap.kvs('probe')) {
    const index = parseBlockIndex(kv.key.toString());
    if (index !== undefined) present.add(index);
  }
  return present;
}

/** ClaimRound is what one write of a claim decided on: its run, and where its probe began. */
interface ClaimRound {
  chosen: number[];
  probed: number;
}

/**
 * claimWrite is the guarded write of a claim of `run` (every block absent, the pool the one we
 * know) that also probes PROBE_SPAN claims from its first block, for a lost round to look at.
 */
function claimWrite(
  ctx: StoreContext,
  who: Claimant,
  run: number[],
  token: string,
  round: ClaimRound,
): Decision<ClaimReads, ClaimResult> {
  // Every block is ours already: nothing to claim.
  if (run.length === 0) return { answer: 'none' };
  const { keys } = ctx;
  const { pool, node, geometry } = who;
  const id = pool.id;
  const count = geometry.count;
  round.chosen = run;
  round.probed = count <= PROBE_SPAN ? 0 : (run[0] as number);
  const probe = spanOp(
    keys.block(id, round.probed),
    keys.block(id, Math.min(count, round.probed + PROBE_SPAN)),
  );
  const ops = new OpList<TakenIn>();
  const at = nowIso();
  for (const index of run) addClaim(ops, { keys, pool: id, geometry }, { node, index, at, token });
  return {
    write: {
      guards: [
        { key: keys.pool(id), createdAt: pool.createRevision }, // the pool we know
        // Only a host that holds the pool claims: a claim made for an allocation that then
        // fails (a full pool) would outlive it with no hold, and nobody else could claim it.
        { key: keys.hold(id, node), present: true as const },
        ...run.map((index) => ({ key: keys.block(id, index), absent: true as const })),
      ],
      ops: ops.ops,
      reread: { pool: getOp(keys.pool(id)), hold: getOp(keys.hold(id, node)), probe },
      done: (_revision, res) => {
        const replies = ops.replies(res);
        for (const index of run) who.took(claimedBlock(replies, index));
        return 'claimed';
      },
    },
  };
}

/** claimBlocks claims up to `want` blocks for `who` (see the module comment). */
export async function claimBlocks(
  ctx: StoreContext,
  who: Claimant,
  want: number,
  budget?: Budget,
): Promise<{ result: ClaimResult; chosen: number[] }> {
  const { pool, node, geometry, owned } = who;
  const count = geometry.count;
  let places = 1;
  const round: ClaimRound = { chosen: [], probed: 0 };
  const token = newToken();
  const write = (run: number[]) => claimWrite(ctx, who, run, token, round);
  const result = await transact<ClaimReads, ClaimResult>(
    ctx,
    {
      what: 'claim block',
      conflict: 'block',
      pool: pool.id,
      node,
      // Blind first try: the blocks after our newest one, else at our hash's place.
      start: () => write(owned.firstRun(startOffset(node, count), want)),
      decide: (snap) => {
        const free = owned.freeRun(claimedIn(snap), round.probed, PROBE_SPAN, want);
        if (free.length > 0) return write(free);
        if (places >= PROBES || count <= PROBE_SPAN) return { answer: 'none' };
        places++;
        return write(owned.randomRun(Math.floor(Math.random() * count), 1));
      },
      // A re-sent claim that had committed: every block it chose carries our token.
      mine: (snap) => {
        const ours = new Set<number | undefined>();
        for (const kv of snap.kvs('probe')) {
          if (putLanded(token, readBlock(kv)?.token)) ours.add(parseBlockIndex(kv.key.toString()));
        }
        const { chosen } = round;
        return chosen.length > 0 && chosen.every((i) => ours.has(i)) ? 'mine' : undefined;
      },
      lost: (snap) => {
        const now = snap.kv('pool');
        if (!now || BigInt(now.create_revision) !== pool.createRevision) return { answer: 'gone' };
        // No hold yet (its allocation writes it): borrow from the window this time.
        if (!snap.kv('hold')) return { answer: 'none' };
        return 'retry-now';
      },
      rounds: PROBES * 2,
    },
    budget,
  ).catch((error: unknown) => {
    // Claims that keep losing are no reason to refuse an address: borrow instead.
    if (error instanceof StoreError && error.code === 'CONFLICT') return 'none' as const;
    throw error;
  });
  return { result, chosen: round.chosen };
}
