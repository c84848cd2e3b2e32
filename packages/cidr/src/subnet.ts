import {
  bitsOf,
  type Family,
  formatAddress,
  type IpAddress,
  parseAddressWithPrefix,
} from './address.js';
import { CidrError, quote } from './errors.js';

/**
 * Subnet is a network address (host bits zero) and a prefix length. Build one with parseSubnet or
 * nthSubnet; the functions here trust that the host bits of `network` are zero.
 */
export interface Subnet {
  readonly family: Family;
  readonly network: bigint;
  readonly prefix: number;
}

// 2^(bits-prefix) for every prefix, computed once so hot paths do no BigInt shifting.
const SIZES_4: readonly bigint[] = Array.from({ length: 33 }, (_, p) => 1n << BigInt(32 - p));
const SIZES_6: readonly bigint[] = Array.from({ length: 129 }, (_, p) => 1n << BigInt(128 - p));

/** blockSize is 2^(bits-prefix): how many addresses a prefix of this family spans. */
export function blockSize(family: Family, prefix: number): bigint {
  const size = (family === 4 ? SIZES_4 : SIZES_6)[prefix];
  if (size === undefined) {
    throw new CidrError(
      'INVALID_PREFIX',
      `invalid prefix length ${quote(prefix)}: expected a whole number from 0 to ${bitsOf(family)}`,
      String(prefix),
    );
  }
  return size;
}

/**
 * parseSubnet parses CIDR text ("10.81.0.0/16", "fd00::/64"). Host bits set ("10.81.0.1/16") are
 * an error (HOST_BITS_SET, naming the subnet meant) unless `normalize` is true, which clears them.
 */
export function parseSubnet(text: string, options?: { normalize?: boolean }): Subnet {
  let parsed: ReturnType<typeof parseAddressWithPrefix>;
  try {
    parsed = parseAddressWithPrefix(text);
  } catch (error) {
    if (error instanceof CidrError && error.code === 'INVALID_ADDRESS') {
      throw new CidrError(
        'INVALID_SUBNET',
        `invalid subnet ${quote(text)}: expected CIDR notation like 10.0.0.0/24 or fd00::/64`,
        String(text),
      );
    }
    throw error;
  }
  const { address, prefix } = parsed;
  if (prefix === undefined) {
    throw new CidrError(
      'INVALID_SUBNET',
      `invalid subnet ${quote(text)}: the prefix length is missing (like 10.0.0.0/24 or fd00::/64)`,
      text,
    );
  }
  const hostBits = blockSize(address.family, prefix) - 1n;
  const network = address.value & ~hostBits;
  if (network !== address.value && options?.normalize !== true) {
    const meant = formatSubnet({ family: address.family, network, prefix });
    throw new CidrError(
      'HOST_BITS_SET',
      `invalid subnet ${quote(text)}: host bits are set (did you mean ${meant}?)`,
      text,
    );
  }
  return { family: address.family, network, prefix };
}

/** formatSubnet renders canonical CIDR text: "10.81.0.0/16", "fd00::/64". */
export function formatSubnet(s: Subnet): string {
  return `${formatAddress({ family: s.family, value: s.network })}/${s.prefix}`;
}

/** subnetSize is the number of addresses in a subnet: 2^(bits-prefix). */
export function subnetSize(s: Subnet): bigint {
  return blockSize(s.family, s.prefix);
}

/** lastValue is the integer value of the highest address of a subnet. */
function lastValue(s: Subnet): bigint {
  return s.network + blockSize(s.family, s.prefix) - 1n;
}

/** lastAddress is the highest address of a subnet (the IPv4 broadcast address). */
export function lastAddress(s: Subnet): IpAddress {
  return { family: s.family, value: lastValue(s) };
}

/**
 * subnetContains tells whether `inner` (a subnet or an address) lies wholly inside `outer`.
 * Always false across families.
 */
export function subnetContains(outer: Subnet, inner: Subnet | IpAddress): boolean {
  if (outer.family !== inner.family) return false;
  if ('prefix' in inner) {
    return (
      inner.prefix >= outer.prefix &&
      inner.network >= outer.network &&
      lastValue(inner) <= lastValue(outer)
    );
  }
  return inner.value >= outer.network && inner.value <= lastValue(outer);
}

/** subnetsOverlap tells whether two subnets share any address. Always false across families. */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  return a.family === b.family && a.network <= lastValue(b) && b.network <= lastValue(a);
}

/** subnetEquals tells whether two subnets have the same family, network and prefix. */
export function subnetEquals(a: Subnet, b: Subnet): boolean {
  return a.family === b.family && a.network === b.network && a.prefix === b.prefix;
}

/** compareSubnets orders by family (IPv4 first), then network, then prefix; returns -1, 0 or 1. */
export function compareSubnets(a: Subnet, b: Subnet): number {
  if (a.family !== b.family) return a.family < b.family ? -1 : 1;
  if (a.network !== b.network) return a.network < b.network ? -1 : 1;
  return a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0;
}

/**
 * offsetOf is the position of an address inside a subnet (0 = network address). Throws
 * FAMILY_MISMATCH across families and OUT_OF_RANGE when the address lies outside the subnet.
 */
export function offsetOf(s: Subnet, a: IpAddress): bigint {
  if (s.family !== a.family) {
    throw new CidrError(
      'FAMILY_MISMATCH',
      `address ${formatAddress(a)} is IPv${a.family} but subnet ${formatSubnet(s)} is IPv${s.family}`,
      formatAddress(a),
    );
  }
  if (a.value < s.network || a.value > lastValue(s)) {
    throw new CidrError(
      'OUT_OF_RANGE',
      `address ${formatAddress(a)} is outside subnet ${formatSubnet(s)}`,
      formatAddress(a),
    );
  }
  return a.value - s.network;
}

/** addressAt is the address at `offset` inside a subnet; OUT_OF_RANGE unless 0 <= offset < size. */
export function addressAt(s: Subnet, offset: bigint): IpAddress {
  if (typeof offset !== 'bigint' || offset < 0n || offset >= subnetSize(s)) {
    throw new CidrError(
      'OUT_OF_RANGE',
      `offset ${quote(offset)} is outside subnet ${formatSubnet(s)} (size ${subnetSize(s)})`,
      String(offset),
    );
  }
  return { family: s.family, value: s.network + offset };
}
