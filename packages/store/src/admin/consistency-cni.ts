/**
 * checkConsistency's part for CNI attachments (keys.ts `attachments/…`): each attachment and
 * its `cni` address record must name each other and have been made together (one revision),
 * in a pool that exists, by a host whose hold carries the CNI reference; and a hold with the
 * CNI reference needs an attachment of its host (else it keeps the pool alive for nobody).
 */
import { formatAddress, type IpAddress } from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import type { AttachmentInfo } from '../attachment-types.js';
import { decodeAttachment, refOfKey } from '../layout/attachment-records.js';
import type { KeyLayout } from '../layout/keys.js';
import type { PoolRecord } from '../layout/records.js';
import { type AddressKind, parseNodeId, parsePoolId } from '../types.js';
import type { Finding, Located } from './finding.js';

/** AddressEntry is what the check keeps of one address record. */
export interface AddressEntry {
  pool: string;
  address: IpAddress;
  node: string;
  kind: AddressKind;
  attachment: AttachmentInfo | undefined;
}

/** AttachmentEntry is one parsed attachment key. */
export type AttachmentEntry = Located<{
  pool: string;
  node: string;
  container: string;
  ifname: string;
  address: string;
}>;

/** parseAttachmentKey parses `attachments/<pool>/<node>/<container>/<ifname>`; throws if it cannot. */
export function parseAttachmentKey(keys: KeyLayout, kv: IKeyValue): AttachmentEntry {
  const key = kv.key.toString();
  const rest = key.slice(keys.attachmentsRoot.length);
  const [poolText, nodeText] = rest.split('/');
  if (!poolText || !nodeText)
    throw new Error('an attachment key needs <pool>/<node>/<container>/<ifname>');
  const pool = parsePoolId(poolText);
  const node = parseNodeId(nodeText);
  const ref = refOfKey(keys.attachmentsOf(pool, node), key);
  const stored = decodeAttachment(kv);
  return {
    key,
    value: {
      pool,
      node,
      container: ref.container,
      ifname: ref.ifname,
      address: formatAddress(stored.address),
    },
    createRevision: kv.create_revision,
  };
}

interface CniRecords {
  pools: ReadonlyMap<string, PoolRecord>;
  holds: ReadonlyArray<Located<{ pool: string; node: string; cni?: boolean }>>;
  addresses: ReadonlyArray<Located<AddressEntry>>;
  attachments: readonly AttachmentEntry[];
}

/** attachmentFindings: see the file comment. */
export function attachmentFindings(records: CniRecords): Finding[] {
  const out: Finding[] = [];
  const byAddress = new Map(
    records.addresses.map((a) => [`${a.value.pool}/${formatAddress(a.value.address)}`, a]),
  );
  const cniHolds = new Set(
    records.holds.filter((h) => h.value.cni).map((h) => `${h.value.pool}/${h.value.node}`),
  );
  const attachedHosts = new Set<string>();
  const pointedAt = new Set<string>();
  for (const { key, value, createRevision } of records.attachments) {
    const what = `attachment ${value.container}/${value.ifname} of node ${value.node} in pool ${value.pool}`;
    const base = { key, pool: value.pool, node: value.node, address: value.address };
    attachedHosts.add(`${value.pool}/${value.node}`);
    if (!records.pools.has(value.pool)) {
      out.push({
        kind: 'attachment-without-pool',
        ...base,
        message: `${what}: the pool does not exist`,
      });
      continue;
    }
    const rec = byAddress.get(`${value.pool}/${value.address}`);
    const a = rec?.value;
    if (
      !rec ||
      a?.kind !== 'cni' ||
      a.node !== value.node ||
      a.attachment?.container !== value.container ||
      a.attachment?.ifname !== value.ifname ||
      rec.createRevision !== createRevision
    ) {
      const why = rec
        ? `is recorded for another holder (node ${a?.node}, ${a?.kind})`
        : 'is not recorded';
      out.push({
        kind: 'attachment-without-address',
        ...base,
        message: `${what}: its address ${value.address} ${why}`,
      });
    } else {
      pointedAt.add(rec.key);
    }
    if (!cniHolds.has(`${value.pool}/${value.node}`)) {
      out.push({
        kind: 'attachment-without-hold',
        ...base,
        message: `${what}: the node's hold on the pool does not carry the CNI reference`,
      });
    }
  }
  for (const { key, value } of records.addresses) {
    if (value.kind !== 'cni' || pointedAt.has(key)) continue;
    const address = formatAddress(value.address);
    const by = value.attachment
      ? ` (${value.attachment.container}/${value.attachment.ifname})`
      : '';
    out.push({
      kind: 'cni-address-without-attachment',
      key,
      pool: value.pool,
      node: value.node,
      address,
      message: `address ${address} of pool ${value.pool} is a CNI address of node ${value.node}${by} that no attachment key names`,
    });
  }
  for (const { key, value } of records.holds) {
    if (!value.cni || attachedHosts.has(`${value.pool}/${value.node}`)) continue;
    out.push({
      kind: 'idle-cni-hold',
      key,
      pool: value.pool,
      node: value.node,
      message: `pool ${value.pool}: node ${value.node}'s hold carries a CNI reference but the node has no attachment there (its next CNI DEL or GC gives it back)`,
    });
  }
  return out;
}
