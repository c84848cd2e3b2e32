/**
 * checkConsistency reads everything under `${prefix}v2/` at one revision and reports what the
 * store's transactions should never leave behind: overlapping subnets, a pool without its
 * subnet reservation or the reverse, addresses or holds of no pool, addresses outside their
 * pool's subnet, records that do not decode, holds by nodes that own no address at all, and
 * block claims of no pool or that no longer steer anything right (stale).
 * Keys of the unreleased v1 layout (holds inside the pool record) are reported as
 * `old-layout` keys: nothing reads them any more. Read-only: it
 * writes nothing, and it reuses the store's key layout and record decoders so that "unreadable"
 * means exactly what the store itself would refuse.
 */
import {
  compareSubnets,
  formatAddress,
  formatSubnet,
  type IpAddress,
  lastAddress,
  parseAddress,
  type Subnet,
  subnetContains,
  subnetEquals,
} from '@kontena-ipam/cidr';
import type { Etcd3, IKeyValue, IRequestOp } from 'etcd3';
import {
  type AddressEntry,
  type AttachmentEntry,
  attachmentFindings,
  type CniFindingKind,
  parseAttachmentKey,
} from './consistency-cni.js';
import { StoreError } from './errors.js';
import { EtcdCalls, kvsAt, revisionOf } from './etcd-call.js';
import { KeyLayout, parseBlockIndex, prefixEnd } from './keys.js';
import {
  decodeAddress,
  decodeHold,
  decodePool,
  decodeReservation,
  type PoolRecord,
  readBlock,
} from './records.js';
import { parseNodeId, parsePoolId } from './types.js';

/** FindingKind names each kind of inconsistency checkConsistency reports; stable across releases. */
export type FindingKind =
  | 'overlapping-subnets'
  | 'pool-without-reservation'
  | 'reservation-without-pool'
  | 'address-without-pool'
  | 'address-outside-pool'
  | 'hold-without-pool'
  | 'block-without-pool'
  | 'stale-block'
  | 'old-layout'
  | 'idle-hold'
  | CniFindingKind
  | 'unreadable-record'
  | 'unknown-key';

/** Finding is one inconsistency: its kind, the etcd key it is about, and a one-line message. */
export interface Finding {
  kind: FindingKind;
  /** key is the full etcd key at fault (for overlaps: the second of the two). */
  key: string;
  /** message is one line for operators, naming the pool, subnet, address or node involved. */
  message: string;
  pool?: string;
  subnet?: string;
  address?: string;
  node?: string;
  /** other names the second record of a pair (overlapping subnets). */
  other?: string;
}

/** ConsistencyReport is what checkConsistency read and what it found, at one etcd revision. */
export interface ConsistencyReport {
  revision: bigint;
  pools: number;
  reservations: number;
  addresses: number;
  findings: Finding[];
}

/** ConsistencyRequest: the client and prefix the store uses; deadline and endpoint as in StoreOptions. */
export interface ConsistencyRequest {
  client: Etcd3;
  /** Key prefix, default '/kontena/ipam/'. */
  prefix?: string;
  /** Deadline of each etcd call in ms, default 5000. */
  deadlineMs?: number;
  /** Named in UNAVAILABLE messages. */
  endpoint?: string;
}

// Keys per read: bounded so a big IPv6 cluster never exceeds gRPC's 4 MiB reply limit.
const PAGE = 1000;

/** readAll pages through every key under `root`, all pages at the first page's revision. */
async function readAll(
  calls: EtcdCalls,
  root: string,
): Promise<{ revision: bigint; kvs: IKeyValue[] }> {
  const end = prefixEnd(root);
  const kvs: IKeyValue[] = [];
  let from = Buffer.from(root);
  let revision: bigint | undefined;
  for (;;) {
    const op: IRequestOp = {
      request_range: {
        key: from,
        range_end: end,
        limit: String(PAGE),
        ...(revision !== undefined ? { revision: revision.toString() } : {}),
      },
    };
    const res = await calls.read('check consistency', [op], 'list');
    revision ??= revisionOf(res);
    const page = kvsAt(res, 0);
    kvs.push(...page);
    const more = res.responses[0]?.response_range?.more ?? false;
    const last = page[page.length - 1];
    if (!more || !last) return { revision, kvs };
    // The next page starts right after the last key read: key + "\0".
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/** rangeOpKeys reads at most `limit` keys (keys only) under `prefix`. */
function rangeOpKeys(prefix: string, limit: number): IRequestOp {
  return {
    request_range: {
      key: Buffer.from(prefix),
      range_end: prefixEnd(prefix),
      keys_only: true,
      limit: String(limit),
    },
  };
}

function reasonOf(error: unknown): string {
  // The decoders' message repeats the key, which the finding already starts with.
  if (error instanceof StoreError)
    return error.message.replace(/^etcd holds an unreadable record at \S+: /, '');
  return (error as Error).message;
}

/** Located is one parsed record and the key it was read at. */
export interface Located<T> {
  key: string;
  value: T;
  /** The key's create revision, where a check needs it. */
  createRevision?: string;
}

/** Overlap sweep over subnets sorted by family then network: each is compared with its successors while they start inside it. */
function overlaps(entries: Array<Located<{ subnet: Subnet; owner: string }>>): Finding[] {
  const sorted = [...entries].sort((a, b) => compareSubnets(a.value.subnet, b.value.subnet));
  const out: Finding[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as (typeof sorted)[number];
    const aEnd = lastAddress(a.value.subnet);
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as (typeof sorted)[number];
      if (b.value.subnet.family !== a.value.subnet.family || b.value.subnet.network > aEnd.value) {
        break;
      }
      const as = formatSubnet(a.value.subnet);
      const bs = formatSubnet(b.value.subnet);
      out.push({
        kind: 'overlapping-subnets',
        key: b.key,
        subnet: bs,
        other: as,
        pool: b.value.owner,
        message: `subnet ${bs} (pool ${b.value.owner}) overlaps ${as} (pool ${a.value.owner})`,
      });
    }
  }
  return out;
}

/** Records is every key of one store, parsed and sorted by kind. */
interface Records {
  pools: Map<string, PoolRecord>;
  holds: Array<Located<{ pool: string; node: string; cni?: boolean }>>;
  reservations: Array<Located<{ subnet: Subnet; pool: string }>>;
  addresses: Array<Located<AddressEntry>>;
  blocks: BlockKey[];
  affinities: BlockKey[];
  attachments: AttachmentEntry[];
}

/** checkConsistency reads the whole key space of one store and lists every inconsistency found. */
export async function checkConsistency(req: ConsistencyRequest): Promise<ConsistencyReport> {
  const keys = new KeyLayout(req.prefix);
  const calls = new EtcdCalls(
    req.client,
    req.deadlineMs ?? 5000,
    req.endpoint ?? 'the configured endpoints',
  );
  const { revision, kvs } = await readAll(calls, keys.root);
  const findings: Finding[] = [...(await oldLayout(calls, keys))];
  const records = parseAll(keys, kvs, findings);
  findings.push(
    ...reservationFindings(keys, records),
    ...overlapFindings(keys, records),
    ...addressFindings(records),
    ...holdFindings(records),
    ...blockFindings(records.blocks, records.affinities, records.holds, records.pools),
    ...attachmentFindings(records),
  );
  return {
    revision,
    pools: records.pools.size,
    reservations: records.reservations.length,
    addresses: records.addresses.length,
    findings,
  };
}

/** oldLayout: one key of the v1 layout is enough to say so; it was never released, so no migration. */
async function oldLayout(calls: EtcdCalls, keys: KeyLayout): Promise<Finding[]> {
  const v1Root = keys.root.replace(/v2\/$/, 'v1/');
  const v1 = await calls.read('check consistency', [rangeOpKeys(v1Root, 1)], 'list');
  const v1Key = kvsAt(v1, 0)[0]?.key.toString();
  if (v1Key === undefined) return [];
  return [
    {
      kind: 'old-layout',
      key: v1Key,
      message: `${v1Key}: keys of the v1 layout under ${v1Root}, which this version does not read (remove them with etcdctl del --prefix ${v1Root})`,
    },
  ];
}

/** parseAll sorts every key into its kind; what does not parse is reported in `findings`. */
function parseAll(keys: KeyLayout, kvs: readonly IKeyValue[], findings: Finding[]): Records {
  const records: Records = {
    pools: new Map(),
    holds: [],
    reservations: [],
    addresses: [],
    blocks: [],
    affinities: [],
    attachments: [],
  };
  for (const kv of kvs) {
    const key = kv.key.toString();
    try {
      parseOne(keys, key, kv, records, findings);
    } catch (error) {
      findings.push({ kind: 'unreadable-record', key, message: `${key}: ${reasonOf(error)}` });
    }
  }
  return records;
}

/** parseOne files one key into `records`; throws (unreadable) when it does not parse. */
function parseOne(
  keys: KeyLayout,
  key: string,
  kv: IKeyValue,
  records: Records,
  findings: Finding[],
): void {
  if (key.startsWith(keys.poolsPrefix)) {
    const id = parsePoolId(keys.poolIdOf(key));
    records.pools.set(id, decodePool(id, kv));
  } else if (key.startsWith(keys.holdsRoot)) {
    const rest = key.slice(keys.holdsRoot.length);
    const slash = rest.indexOf('/');
    if (slash < 0) throw new Error('a hold key needs <pool>/<node>');
    const pool = parsePoolId(rest.slice(0, slash));
    const node = parseNodeId(rest.slice(slash + 1));
    const hold = decodeHold(kv);
    records.holds.push({ key, value: { pool, node, ...(hold.cni ? { cni: true } : {}) } });
  } else if (key.startsWith(keys.subnetsPrefix)) {
    const r = decodeReservation(key.slice(keys.subnetsPrefix.length), kv);
    records.reservations.push({ key, value: r });
  } else if (key.startsWith(keys.addressesRoot)) {
    const rest = key.slice(keys.addressesRoot.length);
    const slash = rest.indexOf('/');
    if (slash < 0) throw new Error('an address key needs <pool>/<address>');
    const pool = parsePoolId(rest.slice(0, slash));
    const text = rest.slice(slash + 1);
    let address: IpAddress;
    try {
      address = parseAddress(text);
    } catch {
      throw new Error(`"${text}" is not an address`);
    }
    const rec = decodeAddress(kv);
    records.addresses.push({
      key,
      value: { pool, address, node: rec.node, kind: rec.kind, attachment: rec.attachment },
      createRevision: kv.create_revision,
    });
  } else if (key.startsWith(keys.blocksRoot)) {
    const [pool, indexText, extra] = key.slice(keys.blocksRoot.length).split('/');
    const index = parseBlockIndex(key);
    if (!pool || indexText === undefined || extra !== undefined || index === undefined) {
      throw new Error('a block key needs <pool>/<index>');
    }
    const claim = readBlock(kv);
    if (!claim) throw new Error('not a block claim (node, at)');
    records.blocks.push({ key, value: { pool: parsePoolId(pool), index, node: claim.node } });
  } else if (key.startsWith(keys.affinityRoot)) {
    const [pool, node, indexText, extra] = key.slice(keys.affinityRoot.length).split('/');
    const index = parseBlockIndex(key);
    if (!pool || !node || !indexText || extra !== undefined || index === undefined) {
      throw new Error('an affinity key needs <pool>/<node>/<index>');
    }
    records.affinities.push({
      key,
      value: { pool: parsePoolId(pool), index, node: parseNodeId(node) },
    });
  } else if (key.startsWith(keys.nodesPrefix) || key.startsWith(keys.hostsPrefix)) {
    // Hosts' registrations (registration.ts): read by hosts.ts, nothing here to match them with.
  } else if (key.startsWith(keys.attachmentsRoot)) {
    records.attachments.push(parseAttachmentKey(keys, kv));
  } else if (key !== keys.guard) {
    findings.push({ kind: 'unknown-key', key, message: `${key}: not a key this store writes` });
  }
}

/** A reservation is keyed by its subnet, so each pool must find its own subnet's key naming it. */
function reservationFindings(keys: KeyLayout, { pools, reservations }: Records): Finding[] {
  const out: Finding[] = [];
  const bySubnet = new Map(reservations.map((r) => [formatSubnet(r.value.subnet), r.value]));
  for (const pool of pools.values()) {
    const subnet = formatSubnet(pool.subnet);
    const r = bySubnet.get(subnet);
    if (r?.pool === pool.id) continue;
    out.push({
      kind: 'pool-without-reservation',
      key: keys.pool(pool.id),
      pool: pool.id,
      subnet,
      message: r
        ? `pool ${pool.id}: its subnet ${subnet} is reserved for pool ${r.pool}`
        : `pool ${pool.id}: no reservation for its subnet ${subnet}`,
    });
  }
  for (const { key, value } of reservations) {
    const pool = pools.get(value.pool);
    if (pool && subnetEquals(pool.subnet, value.subnet)) continue;
    const subnet = formatSubnet(value.subnet);
    out.push({
      kind: 'reservation-without-pool',
      key,
      pool: value.pool,
      subnet,
      message: pool
        ? `reservation ${subnet} names pool ${value.pool}, whose subnet is ${formatSubnet(pool.subnet)}`
        : `reservation ${subnet} names pool ${value.pool}, which does not exist`,
    });
  }
  return out;
}

/** Overlaps among reservations, plus pools whose subnet has no reservation of its own. */
function overlapFindings(keys: KeyLayout, { pools, reservations }: Records): Finding[] {
  const reservedFor = new Set(
    reservations.map((r) => `${formatSubnet(r.value.subnet)} ${r.value.pool}`),
  );
  return overlaps([
    ...reservations.map((r) => ({
      key: r.key,
      value: { subnet: r.value.subnet, owner: r.value.pool },
    })),
    ...[...pools.values()]
      .filter((p) => !reservedFor.has(`${formatSubnet(p.subnet)} ${p.id}`))
      .map((p) => ({ key: keys.pool(p.id), value: { subnet: p.subnet, owner: p.id as string } })),
  ]);
}

/** Addresses of no pool, and addresses outside their pool's subnet. */
function addressFindings({ pools, addresses }: Records): Finding[] {
  const out: Finding[] = [];
  for (const { key, value } of addresses) {
    const pool = pools.get(value.pool);
    const address = formatAddress(value.address);
    if (!pool) {
      out.push({
        kind: 'address-without-pool',
        key,
        pool: value.pool,
        address,
        node: value.node,
        message: `address ${address} (node ${value.node}) belongs to pool ${value.pool}, which does not exist`,
      });
    } else if (!subnetContains(pool.subnet, value.address)) {
      out.push({
        kind: 'address-outside-pool',
        key,
        pool: value.pool,
        address,
        node: value.node,
        subnet: formatSubnet(pool.subnet),
        message: `address ${address} (node ${value.node}) lies outside pool ${value.pool}'s subnet ${formatSubnet(pool.subnet)}`,
      });
    }
  }
  return out;
}

/**
 * Holds of no pool; and a node that holds pools but owns no address anywhere, often a host
 * that is gone (cleanup's --forget-node), or one with networks but no containers: reported,
 * for an operator to judge.
 */
function holdFindings({ pools, holds, addresses }: Records): Finding[] {
  const out: Finding[] = [];
  const owners = new Set(addresses.map((a) => a.value.node));
  for (const { key, value } of [...holds].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (!pools.has(value.pool)) {
      out.push({
        kind: 'hold-without-pool',
        key,
        pool: value.pool,
        node: value.node,
        message: `node ${value.node} holds pool ${value.pool}, which does not exist`,
      });
      continue;
    }
    if (owners.has(value.node)) continue;
    out.push({
      kind: 'idle-hold',
      key,
      pool: value.pool,
      node: value.node,
      message: `pool ${value.pool}: held by node ${value.node}, which owns no address in any pool`,
    });
  }
  return out;
}

type BlockKey = Located<{ pool: string; index: number; node: string }>;

/**
 * blockFindings: a block claim (or its affinity key) of a pool that does not exist, and claims
 * that no longer steer anything right: by a node that holds no reference to the pool (blocks go
 * back when a host leaves, so this is an etcd restore or a hand edit), or a claim and its
 * affinity key that disagree. Harmless to addresses (the address keys decide), reported so an
 * operator can tidy up.
 */
function blockFindings(
  blocks: readonly BlockKey[],
  affinities: readonly BlockKey[],
  holds: ReadonlyArray<Located<{ pool: string; node: string }>>,
  pools: ReadonlyMap<string, PoolRecord>,
): Finding[] {
  const out: Finding[] = [];
  const held = new Set(holds.map((h) => `${h.value.pool}/${h.value.node}`));
  const claimed = new Map(blocks.map((b) => [`${b.value.pool}/${b.value.index}`, b.value.node]));
  const named = new Set(affinities.map((a) => `${a.value.pool}/${a.value.index}/${a.value.node}`));
  for (const { key, value } of [...blocks, ...affinities]) {
    const what = `block ${value.index} of pool ${value.pool} (node ${value.node})`;
    const base = { key, pool: value.pool, node: value.node };
    if (!pools.has(value.pool)) {
      out.push({
        kind: 'block-without-pool',
        ...base,
        message: `${what}: the pool does not exist`,
      });
    } else if (!held.has(`${value.pool}/${value.node}`)) {
      out.push({
        kind: 'stale-block',
        ...base,
        message: `${what}: the node does not hold the pool`,
      });
    } else if (claimed.get(`${value.pool}/${value.index}`) !== value.node) {
      out.push({
        kind: 'stale-block',
        ...base,
        message: `${what}: the block is claimed by another node`,
      });
    } else if (!named.has(`${value.pool}/${value.index}/${value.node}`)) {
      out.push({ kind: 'stale-block', ...base, message: `${what}: no affinity key names it` });
    }
  }
  return out;
}
