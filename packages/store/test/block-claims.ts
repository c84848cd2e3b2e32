/**
 * What the model tests check and count of block claims. Claims only steer where a host looks
 * (the store chooses them by hash, by probe and at random), so the models do not predict them;
 * they check what must hold whatever was chosen, from the keys alone, and count what the runs
 * made happen, so that a run set whose pools are too small for blocks fails instead of passing
 * without ever claiming, borrowing or returning one.
 */
import {
  type IpAddress,
  parseAddress,
  parseSubnet,
  type Subnet,
  subnetSize,
} from '@kontena-ipam/cidr';
import { blockOf, claimsIn } from './harness.js';

/** BLOCK is the addresses of one block; a window of fewer than MIN_BLOCKS blocks has none. */
const BLOCK = 16n;
const MIN_BLOCKS = 4n;

/** PoolKeys is one pool as a key dump shows it. */
interface PoolKeys {
  window: Subnet;
  createdAt: string;
  holders: Set<string>;
  /** block index (as the keys spell it) → claiming node. */
  claims: Record<string, string>;
}

/** poolsIn reads every IPv4 pool of a dump with its window, holders and block claims. */
function poolsIn(dump: Record<string, unknown>): Map<string, PoolKeys> {
  const pools = new Map<string, PoolKeys>();
  for (const [key, value] of Object.entries(dump)) {
    if (!key.startsWith('pools/')) continue;
    const id = key.slice('pools/'.length);
    const rec = value as { subnet: string; ipRange?: string; createdAt: string };
    pools.set(id, {
      window: parseSubnet(rec.ipRange ?? rec.subnet),
      createdAt: rec.createdAt,
      holders: new Set(),
      claims: claimsIn(dump, id),
    });
  }
  for (const key of Object.keys(dump)) {
    if (!key.startsWith('holds/')) continue;
    const [, id, holder] = key.split('/') as [string, string, string];
    pools.get(id)?.holders.add(holder);
  }
  return pools;
}

/** blockCount is how many blocks a window has; 0 when it is too small to have any. */
function blockCount(window: Subnet): bigint {
  const count = (subnetSize(window) + BLOCK - 1n) / BLOCK;
  return count >= MIN_BLOCKS ? count : 0n;
}

/**
 * claimProblems lists what is wrong with the block claims of a dump: a claim without its
 * affinity key or the reverse, a claim in a window too small for blocks or past its end, a
 * claim by a host that holds no reference to the pool (a leave gives its blocks back, and a host
 * claims only while it holds the pool).
 */
export function claimProblems(dump: Record<string, unknown>): string[] {
  const problems: string[] = [];
  let pools: Map<string, PoolKeys>;
  try {
    pools = poolsIn(dump);
  } catch (error) {
    return [(error as Error).message];
  }
  for (const [id, p] of pools) {
    const count = blockCount(p.window);
    for (const [index, holder] of Object.entries(p.claims)) {
      if (BigInt(`0x${index}`) >= count) {
        problems.push(`pool ${id}: claim ${index} outside its ${count} blocks`);
      }
      if (!p.holders.has(holder)) {
        problems.push(`pool ${id}: block ${index} claimed by ${holder}, who holds no reference`);
      }
    }
  }
  return problems;
}

/** A dynamic address a host was given in one step (no address asked for). */
export interface DynamicGrant {
  pool: string;
  node: string;
  address: IpAddress;
}

/** BlockCounts is what the runs made happen to blocks. */
export interface BlockCounts {
  /** Steps after which a claim existed that did not before. */
  claimed: number;
  /** Steps after which a host held a second block of a pool (claimed beyond its join's). */
  grown: number;
  /** Steps in which a host gave its blocks back (it left a pool that others still hold). */
  returned: number;
  /** Dynamic addresses given outside the host's own blocks, in a pool that has blocks. */
  borrowed: number;
}

/** noBlocks is a zero count to add steps to. */
export function noBlocks(): BlockCounts {
  return { claimed: 0, grown: 0, returned: 0, borrowed: 0 };
}

/**
 * countBlocks adds to `counts` what one step (an op, or a batch of them) did to blocks, from
 * the dumps before and after it and the dynamic addresses it gave. `unsure` names pool/node
 * pairs whose grants are not judged (the host left the pool in the same batch: its claims are
 * gone, so its address would look borrowed).
 */
export function countBlocks(
  counts: BlockCounts,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  grants: readonly DynamicGrant[],
  unsure: ReadonlySet<string> = new Set(),
): void {
  const was = poolsIn(before);
  const now = poolsIn(after);
  let claimed = false;
  let grown = false;
  let returned = false;
  for (const [id, p] of now) {
    const old = was.get(id);
    const same = old?.createdAt === p.createdAt;
    const perNode = new Map<string, number>();
    for (const [index, holder] of Object.entries(p.claims)) {
      if (!same || !Object.hasOwn(old.claims, index)) claimed = true;
      perNode.set(holder, (perNode.get(holder) ?? 0) + 1);
    }
    if ([...perNode.values()].some((n) => n >= 2)) grown = true;
    if (!same) continue;
    const left = new Set(Object.values(old.claims));
    for (const holder of Object.values(p.claims)) left.delete(holder);
    // A host whose claims all went while the pool stayed gave them back on leaving.
    if ([...left].some((holder) => !p.holders.has(holder))) returned = true;
  }
  if (claimed) counts.claimed++;
  if (grown) counts.grown++;
  if (returned) counts.returned++;
  for (const g of grants) {
    const p = now.get(g.pool);
    if (!p || blockCount(p.window) === 0n || unsure.has(`${g.pool}/${g.node}`)) continue;
    if (p.claims[blockOf(g.address, p.window)] !== g.node) counts.borrowed++;
  }
}

/** grantOf is a DynamicGrant from a pool id, a node and the address text or value given. */
export function grantOf(pool: string, node: string, address: IpAddress | string): DynamicGrant {
  return { pool, node, address: typeof address === 'string' ? parseAddress(address) : address };
}
