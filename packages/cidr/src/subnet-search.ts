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

/** Interval is a closed range [start, end] of offsets from the supernet's network address. */
interface Interval<T> {
  start: T;
  end: T;
}

// Supernets of at most 2^48 addresses (every IPv4 one, IPv6 from /80 on) are swept with Numbers:
// exact there (offsets and block sums stay far below 2^53), and several times faster than BigInt,
// which allocates on every operation.
const NUMBER_SPAN = 1n << 48n;

/**
 * Union is the union of the reserved blocks as disjoint, ascending half-open ranges
 * [start[i], end[i]) of offsets from the supernet's network, for supernets of <= 2^48 addresses.
 */
interface Union {
  count: number;
  start: Float64Array;
  end: Float64Array;
}

/**
 * numberUnion clips the reserved subnets of the supernet's family to it and merges them. The union
 * depends only on the multiset of starts and of ends, so each is sorted on its own, natively (a
 * typed-array sort with no comparator), then one merge walk counts how deep each point is covered.
 */
function numberUnion(supernet: Subnet, reserved: readonly Subnet[]): Union {
  const low = supernet.network;
  const size = blockSize(supernet.family, supernet.prefix);
  const sizeNumber = Number(size);
  const lowNumber = Number(low);
  const starts = new Float64Array(reserved.length);
  const ends = new Float64Array(reserved.length);
  let n = 0;
  for (const r of reserved) {
    if (r.family !== supernet.family) continue;
    let start: number;
    let end: number; // exclusive
    if (r.family === 4) {
      // IPv4 values are below 2^32: plain Number arithmetic is exact.
      start = Number(r.network) - lowNumber;
      end = start + Number(blockSize(4, r.prefix));
      if (end <= 0 || start >= sizeNumber) continue;
    } else {
      const relative = r.network - low;
      if (relative >= size) continue;
      const relativeEnd = relative + blockSize(6, r.prefix);
      if (relativeEnd <= 0n) continue;
      start = relative < 0n ? 0 : Number(relative);
      end = relativeEnd >= size ? sizeNumber : Number(relativeEnd);
    }
    starts[n] = Math.max(start, 0);
    ends[n] = Math.min(end, sizeNumber);
    n++;
  }
  const s = starts.subarray(0, n).sort();
  const e = ends.subarray(0, n).sort();
  const union: Union = { count: 0, start: new Float64Array(n), end: new Float64Array(n) };
  let depth = 0;
  let open = 0;
  for (let i = 0, j = 0; j < n; ) {
    if (i < n && s[i]! <= e[j]!) {
      if (depth++ === 0) open = s[i]!;
      i++;
    } else {
      if (--depth === 0) {
        union.start[union.count] = open;
        union.end[union.count++] = e[j]!;
      }
      j++;
    }
  }
  return union;
}

/**
 * bigintIntervals is numberUnion's counterpart for supernets too large for Numbers (beyond
 * NUMBER_SPAN): the reserved subnets of the supernet's family clipped to it, as closed intervals
 * sorted by start. They are not merged: both sweeps skip what an earlier interval covered.
 */
function bigintIntervals(supernet: Subnet, reserved: readonly Subnet[]): Interval<bigint>[] {
  const low = supernet.network;
  const last = blockSize(supernet.family, supernet.prefix) - 1n;
  const intervals: Interval<bigint>[] = [];
  for (const r of reserved) {
    if (r.family !== supernet.family) continue;
    const start = r.network - low;
    const end = start + blockSize(r.family, r.prefix) - 1n;
    if (end < 0n || start > last) continue;
    intervals.push({ start: start < 0n ? 0n : start, end: end > last ? last : end });
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
  const size = blockSize(supernet.family, supernet.prefix);
  const block = blockSize(supernet.family, prefix);
  let offset: bigint;
  if (size <= NUMBER_SPAN) {
    const blockNumber = Number(block);
    const last = Number(size) - 1;
    const union = numberUnion(supernet, reserved);
    let candidate = 0;
    for (let i = 0; i < union.count; i++) {
      const end = union.end[i]!;
      if (end <= candidate) continue;
      if (union.start[i]! >= candidate + blockNumber) break;
      // The block overlaps the candidate: the next candidate is the first aligned one past it.
      candidate = Math.ceil(end / blockNumber) * blockNumber;
      if (candidate > last) return undefined;
    }
    offset = BigInt(candidate);
  } else {
    const last = size - 1n;
    let candidate = 0n;
    for (const { start, end } of bigintIntervals(supernet, reserved)) {
      if (end < candidate) continue;
      if (start >= candidate + block) break;
      candidate = (end / block + 1n) * block;
      if (candidate > last) return undefined;
    }
    offset = candidate;
  }
  return { family: supernet.family, network: supernet.network + offset, prefix };
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
  const size = blockSize(supernet.family, supernet.prefix);
  const block = blockSize(supernet.family, prefix);
  const total = 1n << BigInt(prefix - supernet.prefix);
  if (size <= NUMBER_SPAN) {
    const blockNumber = Number(block);
    let taken = 0;
    // Index (offset / block) of the highest candidate already counted as taken.
    let lastTaken = -1;
    const union = numberUnion(supernet, reserved);
    for (let i = 0; i < union.count; i++) {
      const first = Math.max(Math.floor(union.start[i]! / blockNumber), lastTaken + 1);
      const lastBlock = Math.floor((union.end[i]! - 1) / blockNumber);
      if (first > lastBlock) continue;
      taken += lastBlock - first + 1;
      lastTaken = lastBlock;
    }
    return total - BigInt(taken);
  }
  let taken = 0n;
  let lastTaken = -1n;
  for (const { start, end } of bigintIntervals(supernet, reserved)) {
    let first = start / block;
    const lastBlock = end / block;
    if (first <= lastTaken) first = lastTaken + 1n;
    if (first > lastBlock) continue;
    taken += lastBlock - first + 1n;
    lastTaken = lastBlock;
  }
  return total - taken;
}
