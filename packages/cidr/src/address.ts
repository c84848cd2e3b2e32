import { CidrError, quote } from './errors.js';

/** Family is the IP version: 4 or 6. */
export type Family = 4 | 6;

/** IpAddress is an IP address as its family and integer value (0 .. 2^32-1 or 2^128-1). */
export interface IpAddress {
  readonly family: Family;
  readonly value: bigint;
}

/** bitsOf gives the address width of a family: 32 or 128. */
export function bitsOf(family: Family): 32 | 128 {
  return family === 4 ? 32 : 128;
}

// Strict decimal: no sign, no leading zeros (Go's net.ParseIP and inet_pton refuse "010" too,
// because some parsers read it as octal), at most three digits.
const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

/** parseIPv4Value returns the value of a dotted quad, or undefined when `text` is not one. */
function parseIPv4Value(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** parseGroups appends the colon-separated hex groups of `text` ("" has none) to `out`; false if one is malformed. */
function parseGroups(text: string, out: number[]): boolean {
  if (text === '') return true;
  for (const group of text.split(':')) {
    if (!HEX_GROUP.test(group)) return false;
    out.push(Number.parseInt(group, 16));
  }
  return true;
}

/** parseIPv6Value returns the value of an IPv6 address in any RFC 4291 text form, or undefined. */
function parseIPv6Value(text: string): bigint | undefined {
  let body = text;
  const tail: number[] = [];
  // RFC 4291 2.2 form 3: the last 32 bits may be written as a dotted quad ("::ffff:10.0.0.1").
  const lastColon = body.lastIndexOf(':');
  if (body.indexOf('.', lastColon) !== -1) {
    const v4 = parseIPv4Value(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push(Math.floor(v4 / 65536), v4 % 65536);
    // Keep the colon so that "::1.2.3.4" leaves "::" and "a:b:…:1.2.3.4" leaves "a:b:…:".
    body = body.slice(0, lastColon + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const head: number[] = [];
  const rest: number[] = [];
  if (!parseGroups(halves[0] ?? '', head)) return undefined;
  if (halves.length === 2 && !parseGroups(halves[1] ?? '', rest)) return undefined;
  rest.push(...tail);
  const given = head.length + rest.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return undefined;
  const groups = [...head, ...new Array<number>(8 - given).fill(0), ...rest];
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(group);
  return value;
}

/** parseBareAddress parses an address without prefix; `input` is named in errors. */
function parseBareAddress(text: string, input: string): IpAddress {
  if (text.includes(':')) {
    if (text.includes('%')) {
      throw new CidrError(
        'INVALID_ADDRESS',
        `invalid IP address ${quote(input)}: zone indexes (%…) are not supported`,
        input,
      );
    }
    const value = parseIPv6Value(text);
    if (value !== undefined) return { family: 6, value };
  } else {
    const value = parseIPv4Value(text);
    if (value !== undefined) return { family: 4, value: BigInt(value) };
  }
  throw new CidrError(
    'INVALID_ADDRESS',
    `invalid IP address ${quote(input)}: expected a dotted quad like 10.0.0.1 or IPv6 like fd00::1`,
    input,
  );
}

/**
 * parseAddressWithPrefix parses "10.0.0.1", "10.0.0.1/24", "fd00::1" or "fd00::1/64" (Docker
 * sends both forms). The prefix, when present, must be a plain decimal within the family's width.
 * IPv4-mapped IPv6 ("::ffff:10.0.0.1") stays an IPv6 address: it is never silently turned into
 * IPv4, because Docker keeps the two families in separate pools.
 */
export function parseAddressWithPrefix(text: string): {
  address: IpAddress;
  prefix: number | undefined;
} {
  if (typeof text !== 'string') {
    throw new CidrError('INVALID_ADDRESS', `invalid IP address ${quote(text)}: not a string`);
  }
  const slash = text.indexOf('/');
  if (slash === -1) return { address: parseBareAddress(text, text), prefix: undefined };
  const address = parseBareAddress(text.slice(0, slash), text);
  const prefixText = text.slice(slash + 1);
  const bits = bitsOf(address.family);
  if (!PREFIX.test(prefixText) || Number(prefixText) > bits) {
    throw new CidrError(
      'INVALID_PREFIX',
      `invalid prefix length in ${quote(text)}: expected a whole number from 0 to ${bits}`,
      text,
    );
  }
  return { address, prefix: Number(prefixText) };
}

/** parseAddress parses an address with or without a prefix length; the prefix is ignored. */
export function parseAddress(text: string): IpAddress {
  return parseAddressWithPrefix(text).address;
}

/** formatIPv4 renders a 32-bit value as a dotted quad. */
function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * formatAddress renders the canonical text: a dotted quad, or RFC 5952 IPv6 (lower case, no
 * leading zeros, the longest run of two or more zero groups as "::", the first on a tie, and
 * IPv4-mapped addresses as "::ffff:a.b.c.d" per RFC 5952 section 5).
 */
export function formatAddress(a: IpAddress): string {
  if (a.family === 4) return formatIPv4(Number(a.value));
  if (a.value >> 32n === 0xffffn) {
    return `::ffff:${formatIPv4(Number(a.value & 0xffffffffn))}`;
  }
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n)
    groups.push(Number((a.value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // a lone zero group is never compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

/** formatAddressWithPrefix renders "10.81.128.25/16" (what Docker expects from RequestAddress). */
export function formatAddressWithPrefix(a: IpAddress, prefix: number): string {
  const bits = bitsOf(a.family);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new CidrError(
      'INVALID_PREFIX',
      `invalid prefix length ${quote(prefix)}: expected a whole number from 0 to ${bits}`,
      String(prefix),
    );
  }
  return `${formatAddress(a)}/${prefix}`;
}

/** compareAddresses orders by family (IPv4 first), then by value; returns -1, 0 or 1. */
export function compareAddresses(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family < b.family ? -1 : 1;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** addressEquals tells whether two addresses are the same family and value. */
export function addressEquals(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.value === b.value;
}

/** isIPv4Mapped tells whether an IPv6 address lies in ::ffff:0:0/96 (RFC 4291 2.5.5.2). */
export function isIPv4Mapped(a: IpAddress): boolean {
  return a.family === 6 && a.value >> 32n === 0xffffn;
}

/** unmapIPv4 turns "::ffff:a.b.c.d" into the IPv4 address a.b.c.d; other addresses pass as is. */
export function unmapIPv4(a: IpAddress): IpAddress {
  return isIPv4Mapped(a) ? { family: 4, value: a.value & 0xffffffffn } : a;
}
