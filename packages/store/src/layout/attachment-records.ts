/**
 * JSON of the attachment keys (keys.ts `attachments/<pool>/<node>/<container>/<ifname>`): which
 * address the attachment holds, its network namespace, when, and the token of the ADD that
 * wrote it. Read back checked, like every record (records.ts).
 */
import { formatAddress, type IpAddress, parseAddress } from '@kontena-ipam/cidr';
import { type AttachmentRef, parseContainerId, parseIfName } from '../attachment-types.js';
import { StoreError } from '../errors.js';
import type { RawKv } from './records.js';

/** StoredAttachment is an attachment key's value with its create revision. */
export interface StoredAttachment {
  address: IpAddress;
  netns: string;
  at: string;
  token: string;
  /** The attachment and its address record are created in one transaction: same revision. */
  createRevision: bigint;
  modRevision: bigint;
}

/** encodeAttachment is an attachment key's JSON. */
export function encodeAttachment(rec: {
  address: IpAddress;
  netns: string;
  at: string;
  token: string;
}): string {
  return JSON.stringify({
    address: formatAddress(rec.address),
    netns: rec.netns,
    at: rec.at,
    token: rec.token,
  });
}

function unreadable(key: string, why: string): StoreError {
  return new StoreError('CORRUPT_RECORD', `etcd holds an unreadable record at ${key}: ${why}`);
}

/** decodeAttachment reads an attachment key's value; CORRUPT_RECORD naming the key otherwise. */
export function decodeAttachment(kv: RawKv): StoredAttachment {
  const key = kv.key.toString();
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(kv.value.toString()) as Record<string, unknown>;
  } catch {
    throw unreadable(key, 'not JSON');
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw unreadable(key, 'not a JSON object');
  }
  const text = (name: string): string => {
    const v = obj[name];
    if (typeof v !== 'string') throw unreadable(key, `field "${name}" is missing or malformed`);
    return v;
  };
  let address: IpAddress;
  try {
    address = parseAddress(text('address'));
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw unreadable(key, `"${text('address')}" is not an address`);
  }
  return {
    address,
    netns: text('netns'),
    at: text('at'),
    token: typeof obj.token === 'string' ? obj.token : '',
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
  };
}

/** refOfKey reads the (container, ifname) at the end of an attachment key under `prefix`. */
export function refOfKey(prefix: string, key: string): AttachmentRef {
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw unreadable(key, 'an attachment key needs <container>/<ifname>');
  try {
    return {
      container: parseContainerId(rest.slice(0, slash)),
      ifname: parseIfName(rest.slice(slash + 1)),
    };
  } catch {
    throw unreadable(key, 'the key does not end in a valid <container>/<ifname>');
  }
}
