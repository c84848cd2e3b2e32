/**
 * The consistency scan's first half: every key read, filed by kind and parsed with the store's
 * own key layout and record decoders, so "unreadable" means exactly what the store would refuse.
 */
import { type IpAddress, parseAddress, type Subnet } from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import { StoreError } from '../errors.js';
import { type KeyLayout, parseBlockIndex } from '../layout/keys.js';
import {
  decodeAddress,
  decodeHold,
  decodePool,
  decodeReservation,
  type PoolRecord,
  readBlock,
} from '../layout/records.js';
import { parseNodeId, parsePoolId } from '../types.js';
import { type AddressEntry, type AttachmentEntry, parseAttachmentKey } from './consistency-cni.js';
import type { Finding, Located } from './finding.js';

/** BlockKey is one block claim or affinity key: the pool, the block's index, the claiming node. */
export type BlockKey = Located<{ pool: string; index: number; node: string }>;

/** Records is every key of one store, parsed and sorted by kind. */
export interface Records {
  pools: Map<string, PoolRecord>;
  holds: Array<Located<{ pool: string; node: string; cni?: boolean }>>;
  reservations: Array<Located<{ subnet: Subnet; pool: string }>>;
  addresses: Array<Located<AddressEntry>>;
  blocks: BlockKey[];
  affinities: BlockKey[];
  attachments: AttachmentEntry[];
}

function reasonOf(error: unknown): string {
  // The decoders' message repeats the key, which the finding already starts with.
  if (error instanceof StoreError)
    return error.message.replace(/^etcd holds an unreadable record at \S+: /, '');
  return (error as Error).message;
}

/** parseAll sorts every key into its kind; what does not parse is reported in `findings`. */
export function parseAll(keys: KeyLayout, kvs: readonly IKeyValue[], findings: Finding[]): Records {
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
