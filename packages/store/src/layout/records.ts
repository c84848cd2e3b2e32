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
import type { AttachmentInfo } from '../attachment-types.js';
import { StoreError } from '../errors.js';
import {
  type AddressAttrs,
  type AddressKind,
  type NodeId,
  type Pool,
  type PoolId,
  parseNodeId,
} from '../types.js';

/** RECENT_TOKENS is how many write tokens a pool record remembers (see PoolRecord.tokens). */
export const RECENT_TOKENS = 16;

/**
 * PoolRecord is the pool key's record as read, with what the transactions guard on. It holds
 * no holds: those are keys of their own (HoldSet).
 */
export interface PoolRecord extends Omit<Pool, 'holds'> {
  createRevision: bigint;
  modRevision: bigint;
  /**
   * Tokens of the last writes to this record. The store's retries (etcd/attempts.ts) may re-send a
   * transaction that had committed; the re-sent one fails its compare, and finding our token
   * here tells us the first one won.
   */
  tokens: readonly string[];
}

/** HoldState is one host's hold key as read: how many references, and the key's revisions. */
export interface HoldState {
  /** References: one per Docker RequestPool not yet released, plus one while `cni` is set. */
  count: number;
  /**
   * cni: this host has CNI attachments in the pool; they hold it with one reference of
   * `count`, taken by the first attachment and given back by the last (attach.ts, detach.ts).
   */
  cni?: boolean;
  /** Tokens of the last writes to this hold (see PoolRecord.tokens). */
  tokens: readonly string[];
  createRevision: bigint;
  modRevision: bigint;
}

/**
 * HoldSet is every host's hold on one pool, read at one revision. Node ids are client-chosen
 * (a hostname such as `constructor` or `__proto__` is legal), so they live in a Map and the
 * plain-object view handed to callers has no prototype.
 */
export class HoldSet {
  private readonly byNode: ReadonlyMap<NodeId, HoldState>;

  constructor(byNode: ReadonlyMap<NodeId, HoldState> = new Map()) {
    this.byNode = byNode;
  }

  /** count is how many references `node` holds (0 for none). */
  count(node: NodeId): number {
    return this.byNode.get(node)?.count ?? 0;
  }

  /** size is the number of hosts holding the pool. */
  get size(): number {
    return this.byNode.size;
  }

  /** nodes lists the holding hosts, sorted. */
  nodes(): NodeId[] {
    return [...this.byNode.keys()].sort();
  }

  /** others lists the holding hosts other than `node`, sorted. */
  others(node: NodeId): NodeId[] {
    return this.nodes().filter((n) => n !== node);
  }

  /** latestRevision is the newest mod revision among the holds (0 for none). */
  latestRevision(): bigint {
    let latest = 0n;
    for (const hold of this.byNode.values())
      if (hold.modRevision > latest) latest = hold.modRevision;
    return latest;
  }

  /** toRecord is the node → count view callers get: no prototype, so no inherited names. */
  toRecord(): Readonly<Record<string, number>> {
    const out: Record<string, number> = Object.create(null);
    for (const node of this.nodes()) out[node] = this.count(node);
    return out;
  }
}

/** StoredAddress is an address value as stored under addresses/<PoolId>/<address>. */
export interface StoredAddress {
  node: NodeId;
  kind: AddressKind;
  attrs: AddressAttrs;
  at: string;
  /** Random per request: lets a re-sent transaction recognise its own earlier success. */
  token: string;
  /** The CNI attachment that holds the address (kind `cni` only). */
  attachment?: AttachmentInfo;
}

/** RawKv is the part of an etcd key-value the decoders need. */
export interface RawKv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
}

function unreadable(key: string, why: string): StoreError {
  return new StoreError('CORRUPT_RECORD', `etcd holds an unreadable record at ${key}: ${why}`);
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
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isTokens = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isKind = (v: unknown): v is AddressKind =>
  v === 'gateway' || v === 'aux' || v === 'endpoint' || v === 'cni';

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
export function encodePool(pool: Omit<PoolRecord, 'createRevision' | 'modRevision'>): string {
  return JSON.stringify({
    subnet: formatSubnet(pool.subnet),
    ...(pool.ipRange ? { ipRange: formatSubnet(pool.ipRange) } : {}),
    gateway: formatAddress(pool.gateway),
    dynamic: pool.dynamic,
    createdAt: pool.createdAt,
    tokens: pool.tokens.slice(-RECENT_TOKENS),
  });
}

/** decodePool reads a pool record; `id` comes from its key. */
export function decodePool(id: PoolId, kv: RawKv): PoolRecord {
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
    tokens: obj.tokens === undefined ? [] : field(key, obj, 'tokens', isTokens),
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
  };
}

/** encodeHold is one host's hold record's JSON. */
export function encodeHold(hold: {
  count: number;
  tokens: readonly string[];
  cni?: boolean;
}): string {
  return JSON.stringify({
    count: hold.count,
    tokens: hold.tokens.slice(-RECENT_TOKENS),
    // Written only when set, so a Docker-only hold's bytes stay what they always were.
    ...(hold.cni ? { cni: true } : {}),
  });
}

/** decodeHold reads one hold key's record. */
export function decodeHold(kv: RawKv): HoldState {
  const key = kv.key.toString();
  const obj = parseJson(kv);
  return {
    count: field(key, obj, 'count', isCount),
    tokens: obj.tokens === undefined ? [] : field(key, obj, 'tokens', isTokens),
    ...(obj.cni === true ? { cni: true } : {}),
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
  };
}

/**
 * decodeHolds reads a pool's hold keys (all under `prefix`, each ending in a node id) into a
 * HoldSet; a key whose node id does not parse is an unreadable record.
 */
export function decodeHolds(prefix: string, kvs: readonly RawKv[]): HoldSet {
  const byNode = new Map<NodeId, HoldState>();
  for (const kv of kvs) {
    const key = kv.key.toString();
    let node: NodeId;
    try {
      node = parseNodeId(key.slice(prefix.length));
    } catch {
      throw unreadable(key, 'the key does not end in a valid node id');
    }
    byNode.set(node, decodeHold(kv));
  }
  return new HoldSet(byNode);
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
  const kind = field(key, obj, 'kind', isKind);
  return {
    node: field(key, obj, 'node', isString) as NodeId,
    kind,
    attrs,
    at: field(key, obj, 'at', isString),
    token: obj.token === undefined ? '' : field(key, obj, 'token', isString),
    ...(kind === 'cni' ? { attachment: attachmentField(key, obj.attachment) } : {}),
  };
}

/** attachmentField reads the attachment a `cni` address record names. */
function attachmentField(key: string, value: unknown): AttachmentInfo {
  const obj = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return {
    container: field(key, obj, 'container', isString),
    ifname: field(key, obj, 'ifname', isString),
    netns: field(key, obj, 'netns', isString),
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

/** BlockClaim is one host's claim on one block of a pool's window (see views/host-view.ts). */
export interface BlockClaim {
  node: NodeId;
  /** Random per claim: a re-sent claim recognises its own earlier success. */
  token: string;
}

/** encodeBlock is a block claim's JSON. */
export function encodeBlock(claim: { node: NodeId; at: string; token: string }): string {
  return JSON.stringify({ node: claim.node, at: claim.at, token: claim.token });
}

/** readBlock reads a block claim; an unreadable one is treated as claimed by nobody we know. */
export function readBlock(kv: RawKv): BlockClaim | undefined {
  try {
    const obj = parseJson(kv);
    const key = kv.key.toString();
    // `at` is for people reading etcd; a claim without one is no claim this store wrote.
    field(key, obj, 'at', isString);
    return {
      node: parseNodeId(field(key, obj, 'node', isString)),
      token: obj.token === undefined ? '' : field(key, obj, 'token', isString),
    };
  } catch {
    return undefined;
  }
}

/** nowIso is the time stamp written into records. */
export function nowIso(): string {
  return new Date().toISOString();
}
