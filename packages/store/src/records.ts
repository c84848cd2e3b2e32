/**
 * JSON encode/decode of the values the store keeps in etcd. Every value read back is checked:
 * etcd is shared, so a record written by an older or broken writer must fail loudly here rather
 * than turn into a wrong address later.
 */
import {
  formatAddress,
  formatSubnet,
  type IpAddress,
  parseAddress,
  parseSubnet,
  type Subnet,
} from '@kontena-ipam/cidr';
import { StoreError } from './errors.js';
import type { AddressAttrs, AddressKind, NodeId, Pool, PoolId } from './types.js';

/** RECENT_TOKENS is how many write tokens a pool record remembers (see PoolState.tokens). */
export const RECENT_TOKENS = 16;

/** PoolState is a pool record as read, with what the transactions guard on. */
export interface PoolState extends Pool {
  createRevision: bigint;
  modRevision: bigint;
  /**
   * Tokens of the last writes to this record. etcd3 may re-send a committed transaction; the
   * re-sent one fails its compare, and finding our token here tells us the first one won.
   */
  tokens: readonly string[];
}

/** StoredAddress is an address value as stored under addresses/<PoolId>/<address>. */
export interface StoredAddress {
  node: NodeId;
  kind: AddressKind;
  attrs: AddressAttrs;
  at: string;
  /** Random per request: lets a re-sent transaction recognise its own earlier success. */
  token: string;
}

/** RawKv is the part of an etcd key-value the decoders need. */
export interface RawKv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
}

function unreadable(key: string, why: string): StoreError {
  return new StoreError('UNAVAILABLE', `etcd holds an unreadable record at ${key}: ${why}`);
}

function parseJson(kv: RawKv): Record<string, unknown> {
  const key = kv.key.toString();
  let value: unknown;
  try {
    value = JSON.parse(kv.value.toString());
  } catch {
    throw unreadable(key, 'not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw unreadable(key, 'not a JSON object');
  }
  return value as Record<string, unknown>;
}

function field<T>(
  key: string,
  obj: Record<string, unknown>,
  name: string,
  ok: (v: unknown) => v is T,
): T {
  const v = obj[name];
  if (!ok(v)) throw unreadable(key, `field "${name}" is missing or malformed`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isHolds = (v: unknown): v is Record<string, number> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((n) => Number.isInteger(n) && (n as number) > 0);
const isTokens = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isKind = (v: unknown): v is AddressKind => v === 'gateway' || v === 'aux' || v === 'endpoint';

function cidrField(key: string, text: string, parse: (t: string) => Subnet): Subnet;
function cidrField(key: string, text: string, parse: (t: string) => IpAddress): IpAddress;
function cidrField(key: string, text: string, parse: (t: string) => Subnet | IpAddress) {
  try {
    return parse(text);
  } catch {
    throw unreadable(key, `"${text}" is not a valid address or subnet`);
  }
}

/** encodePool is the pool record's JSON (revisions are etcd's, not stored). */
export function encodePool(pool: Omit<PoolState, 'createRevision' | 'modRevision'>): string {
  return JSON.stringify({
    subnet: formatSubnet(pool.subnet),
    ...(pool.ipRange ? { ipRange: formatSubnet(pool.ipRange) } : {}),
    gateway: formatAddress(pool.gateway),
    dynamic: pool.dynamic,
    createdAt: pool.createdAt,
    holds: pool.holds,
    tokens: pool.tokens.slice(-RECENT_TOKENS),
  });
}

/** decodePool reads a pool record; `id` comes from its key. */
export function decodePool(id: PoolId, kv: RawKv): PoolState {
  const key = kv.key.toString();
  const obj = parseJson(kv);
  const ipRangeText = obj.ipRange;
  if (ipRangeText !== undefined && ipRangeText !== null && !isString(ipRangeText)) {
    throw unreadable(key, 'field "ipRange" is malformed');
  }
  return {
    id,
    subnet: cidrField(key, field(key, obj, 'subnet', isString), parseSubnet),
    ipRange: ipRangeText ? cidrField(key, ipRangeText, parseSubnet) : undefined,
    gateway: cidrField(key, field(key, obj, 'gateway', isString), parseAddress),
    dynamic: field(key, obj, 'dynamic', isBool),
    createdAt: field(key, obj, 'createdAt', isString),
    holds: { ...field(key, obj, 'holds', isHolds) },
    tokens: obj.tokens === undefined ? [] : field(key, obj, 'tokens', isTokens),
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
  };
}

/** encodeAddress is an address record's JSON. */
export function encodeAddress(record: StoredAddress): string {
  return JSON.stringify(record);
}

/** decodeAddress reads an address record's value. */
export function decodeAddress(kv: RawKv): StoredAddress {
  const key = kv.key.toString();
  const obj = parseJson(kv);
  const attrsIn = obj.attrs ?? {};
  if (typeof attrsIn !== 'object' || attrsIn === null || Array.isArray(attrsIn)) {
    throw unreadable(key, 'field "attrs" is malformed');
  }
  const attrs: AddressAttrs = {};
  const { mac, endpoint } = attrsIn as Record<string, unknown>;
  if (isString(mac)) attrs.mac = mac;
  if (isString(endpoint)) attrs.endpoint = endpoint;
  return {
    node: field(key, obj, 'node', isString) as NodeId,
    kind: field(key, obj, 'kind', isKind),
    attrs,
    at: field(key, obj, 'at', isString),
    token: obj.token === undefined ? '' : field(key, obj, 'token', isString),
  };
}

/** readAddress is decodeAddress for callers that treat an unreadable record as "taken, not ours". */
export function readAddress(kv: RawKv): StoredAddress | undefined {
  try {
    return decodeAddress(kv);
  } catch {
    return undefined;
  }
}

/** encodeReservation is a subnet reservation's JSON. */
export function encodeReservation(pool: PoolId): string {
  return JSON.stringify({ pool });
}

/** decodeReservation reads a subnet reservation: the subnet from its key, the pool from its value. */
export function decodeReservation(subnetText: string, kv: RawKv): { subnet: Subnet; pool: string } {
  const key = kv.key.toString();
  const obj = parseJson(kv);
  return {
    subnet: cidrField(key, subnetText, parseSubnet),
    pool: field(key, obj, 'pool', isString),
  };
}

/** encodeGuard is the guard key's value: who bumped it last, for humans reading etcd. */
export function encodeGuard(pool: PoolId, at: string): string {
  return JSON.stringify({ pool, at });
}
