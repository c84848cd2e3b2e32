import { bitsOf } from './address.js';
import { CidrError, quote } from './errors.js';
import { blockSize, formatSubnet, type Subnet } from './subnet.js';

/** checkPrefix throws INVALID_PREFIX unless supernet.prefix <= prefix <= the family's width. */
function checkPrefix(supernet: Subnet, prefix: number): void {
  const bits = bitsOf(supernet.family);
  if (!Number.isInteger(prefix) || prefix < supernet.prefix || prefix > bits) {
    throw new CidrError(
      'INVALID_PREFIX',
      `invalid prefix length ${quote(prefix)} for subnets of ${formatSubnet(supernet)}: expected ${supernet.prefix} to ${bits}`,
      String(prefix),
    );
  }
}

/**
 * nthSubnet is the k-th (from 0) subnet of length `prefix` inside `supernet`. INVALID_PREFIX if
 * `prefix` is shorter than the supernet's or longer than the family's width; OUT_OF_RANGE unless
 * 0 <= k < 2^(prefix - supernet.prefix).
 */
export function nthSubnet(supernet: Subnet, prefix: number, k: bigint): Subnet {
  checkPrefix(supernet, prefix);
  const count = 1n << BigInt(prefix - supernet.prefix);
  if (typeof k !== 'bigint' || k < 0n || k >= count) {
    throw new CidrError(
      'OUT_OF_RANGE',
      `subnet index ${quote(k)} is out of range: ${formatSubnet(supernet)} holds ${count} subnets of /${prefix}`,
      String(k),
    );
  }
  return {
    family: supernet.family,
    network: supernet.network + k * blockSize(supernet.family, prefix),
    prefix,
  };
}

/** Interval is a closed range of address values, [start, end]. */
interface Interval {
  start: bigint;
  end: bigint;
}

/** reservedIntervals clips the reserved subnets of the supernet's family to it, sorted by start. */
function reservedIntervals(supernet: Subnet, reserved: readonly Subnet[]): Interval[] {
  const low = supernet.network;
  const high = low + blockSize(supernet.family, supernet.prefix) - 1n;
  const intervals: Interval[] = [];
  for (const r of reserved) {
    if (r.family !== supernet.family) continue;
    const start = r.network;
    const end = start + blockSize(r.family, r.prefix) - 1n;
    if (end < low || start > high) continue;
    // Clip to the supernet (BigInt: Math.max does not apply).
    const interval = { start, end };
    if (interval.start < low) interval.start = low;
    if (interval.end > high) interval.end = high;
    intervals.push(interval);
  }
  intervals.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return intervals;
}

/**
 * firstFreeSubnet is the lowest subnet of length `prefix` inside `supernet` that overlaps none of
 * `reserved` (of any size, in any order; other families are ignored), or undefined when there is
 * none. It sorts the reserved blocks and sweeps once, jumping past each block, so its cost is
 * O(r log r) in the number of reserved subnets whatever the number of candidates.
 */
export function firstFreeSubnet(
  supernet: Subnet,
  prefix: number,
  reserved: readonly Subnet[],
): Subnet | undefined {
  checkPrefix(supernet, prefix);
  const block = blockSize(supernet.family, prefix);
  const last = supernet.network + blockSize(supernet.family, supernet.prefix) - 1n;
  let candidate = supernet.network;
  for (const { start, end } of reservedIntervals(supernet, reserved)) {
    if (end < candidate) continue;
    if (start > candidate + block - 1n) break;
    // The block overlaps the candidate: the next candidate is the first aligned one past it.
    // Aligned relative to 0 is aligned relative to the supernet, whose network is a multiple of block.
    candidate = ((end + block) / block) * block;
    if (candidate > last) return undefined;
  }
  return { family: supernet.family, network: candidate, prefix };
}

/**
 * countFreeSubnets is how many subnets of length `prefix` inside `supernet` overlap none of
 * `reserved` (other families ignored). O(r log r), like firstFreeSubnet.
 */
export function countFreeSubnets(
  supernet: Subnet,
  prefix: number,
  reserved: readonly Subnet[],
): bigint {
  checkPrefix(supernet, prefix);
  const block = blockSize(supernet.family, prefix);
  let taken = 0n;
  // Index (value / block) of the highest candidate already counted as taken.
  let lastTaken = -1n;
  for (const { start, end } of reservedIntervals(supernet, reserved)) {
    let first = start / block;
    const lastBlock = end / block;
    if (first <= lastTaken) first = lastTaken + 1n;
    if (first > lastBlock) continue;
    taken += lastBlock - first + 1n;
    lastTaken = lastBlock;
  }
  return (1n << BigInt(prefix - supernet.prefix)) - taken;
}
