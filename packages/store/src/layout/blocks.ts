/**
 * Blocks: how a pool's dynamic window (its ip-range, else its subnet) is cut into blocks of
 * BLOCK_SIZE addresses that hosts claim (views/host-view.ts), and what one claim writes and
 * reads. The block size is part of the key layout's meaning: block i of `blocks/<pool>/<i>`
 * spans window offsets [i·BLOCK_SIZE, (i+1)·BLOCK_SIZE), so a store with another size would
 * read every claim wrong.
 */
import { addressAt, type IpAddress, type Subnet, subnetSize } from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import { getOp, putOp } from '../etcd/ops.js';
import type { OpList, Replies } from '../etcd/replies.js';
import type { NodeId, PoolId } from '../types.js';
import type { KeyLayout } from './keys.js';
import { encodeBlock } from './records.js';

/** BLOCK_SIZE is how many addresses (window offsets) one block spans. */
export const BLOCK_SIZE = 16;

/** A window of fewer blocks than this has none: its hosts share all of it (a /26 and smaller). */
export const MIN_BLOCKS = 4;

const MAX_OFFSETS = BigInt(Number.MAX_SAFE_INTEGER);

/** windowOffsets is how many offsets a view of `window` covers: its size, capped at 2^53-1. */
export function windowOffsets(window: Subnet): number {
  const size = subnetSize(window);
  return Number(size < MAX_OFFSETS ? size : MAX_OFFSETS);
}

/** BlockGeometry cuts a window into blocks: block i spans offsets [i·BLOCK_SIZE, (i+1)·BLOCK_SIZE). */
export class BlockGeometry {
  readonly window: Subnet;
  /** size is the window's offsets (capped as windowOffsets caps them). */
  readonly size: number;
  readonly count: number;

  constructor(window: Subnet) {
    this.window = window;
    this.size = windowOffsets(window);
    this.count = Math.ceil(this.size / BLOCK_SIZE);
  }

  /** blocks tells whether the window is big enough to be cut into blocks. */
  get blocks(): boolean {
    return this.count >= MIN_BLOCKS;
  }

  /** span is block i's first offset and its length (the last block may be short). */
  span(index: number): { first: number; length: number } {
    const first = index * BLOCK_SIZE;
    return { first, length: Math.min(BLOCK_SIZE, this.size - first) };
  }

  indexOf(offset: number): number {
    return Math.floor(offset / BLOCK_SIZE);
  }

  /** addresses lists block i's addresses, in order. */
  addresses(index: number): IpAddress[] {
    const { first, length } = this.span(index);
    const out: IpAddress[] = [];
    for (let o = 0; o < length; o++) out.push(addressAt(this.window, BigInt(first + o)));
    return out;
  }
}

/** BlockOf names one pool's window cut into blocks, for the claim ops below. */
export interface BlockOf {
  keys: KeyLayout;
  pool: PoolId;
  geometry: BlockGeometry;
}

/** addressGets read block i's address keys (what a claim or a load reads to know what is taken). */
export function addressGets(of: BlockOf, index: number): ReturnType<typeof getOp>[] {
  return of.geometry.addresses(index).map((a) => getOp(of.keys.address(of.pool, a)));
}

/** TakenIn names the address reads of block `index` in a claim's ops (see claimedBlock). */
export type TakenIn = `taken in ${number}`;

/**
 * addClaim adds the claim of block `index` for `node` to `ops`: its block key and this host's
 * affinity key, and the reads of the block's address keys (named `taken in <index>`). What every
 * claim writes, whether an allocation's or a join's (transitions/join-claim.ts).
 */
export function addClaim(
  ops: OpList<TakenIn>,
  of: BlockOf,
  claim: { node: NodeId; index: number; at: string; token: string },
): void {
  const { keys, pool } = of;
  const { node, index, at, token } = claim;
  ops.add(
    putOp(keys.block(pool, index), encodeBlock({ node, at, token })),
    putOp(keys.affinity(pool, node, index), JSON.stringify({ at })),
  );
  ops.named(`taken in ${index}`, ...addressGets(of, index));
}

/** ClaimedBlock is a block a claim took, with the address keys its reads found. */
export interface ClaimedBlock {
  index: number;
  present: IKeyValue[];
}

/** claimedBlock reads what a committed claim of block `index` found (see addClaim). */
export function claimedBlock(replies: Replies<TakenIn>, index: number): ClaimedBlock {
  return { index, present: replies.kvs(`taken in ${index}`) };
}
