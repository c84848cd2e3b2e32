/**
 * What the consistency scan reports (consistency.ts), as types every part of it shares: each
 * kind of finding, a finding, and a parsed record with the key it was read at.
 */

/** CniFindingKind names the findings about CNI attachments; stable across releases. */
export type CniFindingKind =
  | 'attachment-without-pool'
  | 'attachment-without-address'
  | 'cni-address-without-attachment'
  | 'attachment-without-hold'
  | 'idle-cni-hold';

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

/** Located is one parsed record and the key it was read at. */
export interface Located<T> {
  key: string;
  value: T;
  /** The key's create revision, where a check needs it. */
  createRevision?: string;
}
