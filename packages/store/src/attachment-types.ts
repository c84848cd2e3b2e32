/**
 * What the store offers CNI runtimes, as types: the ids of one attachment (a container's
 * interface), and the requests and answers of attach, detach and listing. An attachment is
 * what a CNI ADD makes: one address of one pool, for one (container id, interface) on one host.
 */
import type { IpAddress, Subnet } from '@kontena-ipam/cidr';
import { StoreError } from './errors.js';
import type { NetworkName, NodeId, PoolId } from './types.js';

/** ContainerId is CNI_CONTAINERID, checked against the CNI spec's charset (so: no '/'). */
export type ContainerId = string & { readonly __brand: 'ContainerId' };
/** IfName is CNI_IFNAME, checked against Linux's rules for interface names (so: no '/'). */
export type IfName = string & { readonly __brand: 'IfName' };

/** AttachmentRef names one attachment on one host: the container and its interface. */
export interface AttachmentRef {
  container: ContainerId;
  ifname: IfName;
}

// The CNI spec: "must start with an alphanumeric character, optionally followed by any
// combination of one or more alphanumeric characters, underscore, dot or hyphen".
const containerPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** MAX_CONTAINER_ID bounds a container id (runtimes use 64 hex digits; etcd keys stay small). */
export const MAX_CONTAINER_ID = 256;
/** MAX_IFNAME is Linux's IFNAMSIZ (16) less the terminating NUL. */
export const MAX_IFNAME = 15;
// Linux (dev_valid_name) refuses '/', ':' and whitespace, and the names '.' and '..'. We also
// keep to printable ASCII: a name that is not is surely a mistake, and it ends up in a key.
const ifnamePattern = /^[\x21-\x7e]+$/;

/** parseContainerId checks CNI_CONTAINERID; StoreError INVALID naming the value otherwise. */
export function parseContainerId(text: string): ContainerId {
  if (typeof text !== 'string' || text.length === 0) {
    throw new StoreError('INVALID', 'the container id (CNI_CONTAINERID) must not be empty');
  }
  if (text.length > MAX_CONTAINER_ID) {
    throw new StoreError(
      'INVALID',
      `the container id (CNI_CONTAINERID) "${text.slice(0, 40)}…" is longer than ${MAX_CONTAINER_ID} chars`,
    );
  }
  if (!containerPattern.test(text)) {
    throw new StoreError(
      'INVALID',
      `the container id (CNI_CONTAINERID) ${JSON.stringify(text)} must start with a letter or digit and hold only letters, digits, '_', '.', '-'`,
    );
  }
  return text as ContainerId;
}

/** parseIfName checks CNI_IFNAME by Linux's rules; StoreError INVALID naming the value otherwise. */
export function parseIfName(text: string): IfName {
  if (typeof text !== 'string' || text.length === 0) {
    throw new StoreError('INVALID', 'the interface name (CNI_IFNAME) must not be empty');
  }
  const quoted = JSON.stringify(text);
  if (text.length > MAX_IFNAME) {
    throw new StoreError(
      'INVALID',
      `the interface name (CNI_IFNAME) ${quoted} is longer than ${MAX_IFNAME} chars (Linux's limit)`,
    );
  }
  if (text === '.' || text === '..' || !ifnamePattern.test(text) || /[/:]/.test(text)) {
    throw new StoreError(
      'INVALID',
      `the interface name (CNI_IFNAME) ${quoted} is not a valid Linux interface name (printable, no '/', ':' or spaces, not '.' or '..')`,
    );
  }
  return text as IfName;
}

/** MAX_NETNS bounds the recorded network namespace path (PATH_MAX). */
export const MAX_NETNS = 4096;

/** AttachRequest is a CNI ADD for one pool of a network. */
export interface AttachRequest {
  /** The pool's network name, as Docker's `--ipam-opt network=NAME`. */
  network: NetworkName;
  /** The network's IPv6 pool (`NAME:v6`) instead of its IPv4 one. */
  v6?: boolean;
  node: NodeId;
  ref: AttachmentRef;
  /** CNI_NETNS, recorded for operators and cleanup. */
  netns: string;
  /** What the pool must be (or is created with): as in PoolRequest. */
  subnet?: Subnet;
  ipRange?: Subnet;
  gateway?: IpAddress;
  /** A static address (Podman's `--ip`, CNI_ARGS `IP=`). */
  address?: IpAddress;
}

/** Attachment is one CNI attachment as answered: its address and the pool it is in. */
export interface Attachment {
  pool: PoolId;
  node: NodeId;
  ref: AttachmentRef;
  netns: string;
  address: IpAddress;
  subnet: Subnet;
  gateway: IpAddress;
  /** ISO time the attachment was made. */
  at: string;
  /** False when the attachment existed already (a repeated ADD): the same address again. */
  created: boolean;
}

/** DetachRequest is a CNI DEL for one pool. */
export interface DetachRequest {
  pool: PoolId;
  node: NodeId;
  ref: AttachmentRef;
}

/** DetachResult: `released` when an attachment was freed, `removed` when its pool went with it. */
export interface DetachResult {
  released: boolean;
  removed: boolean;
  /** The address that was freed. */
  address?: IpAddress;
}

/** AttachmentRecord is one stored attachment, as listed (GC, operators). */
export interface AttachmentRecord {
  pool: PoolId;
  node: NodeId;
  ref: AttachmentRef;
  netns: string;
  address: IpAddress;
  at: string;
  createRevision: bigint;
}

/** AttachmentInfo is what an address record of kind `cni` says of its attachment. */
export interface AttachmentInfo {
  container: string;
  ifname: string;
  netns: string;
}
