/**
 * @kontena-ipam/store: the etcd v3 compare-and-swap store behind kontena-ipam. Pools, subnet
 * reservations and addresses, each state change one etcd transaction.
 */

export type { AttachmentCheck } from './attachment-admin.js';
export type {
  Attachment,
  AttachmentInfo,
  AttachmentRecord,
  AttachmentRef,
  AttachRequest,
  ContainerId,
  DetachRequest,
  DetachResult,
  IfName,
} from './attachment-types.js';
export { MAX_IFNAME, parseContainerId, parseIfName } from './attachment-types.js';
export { Budget } from './budget.js';
export type { ConsistencyReport, ConsistencyRequest, Finding, FindingKind } from './consistency.js';
export { checkConsistency } from './consistency.js';
export { STORE_DEFAULTS } from './context.js';
export type { ErrorKind, StoreErrorCode } from './errors.js';
export { isStoreError, StoreError } from './errors.js';
export type { ResilientClientOptions } from './etcd-client-options.js';
export { resilientClientOptions } from './etcd-client-options.js';
export type { HostStatus } from './hosts.js';
export { KeyLayout } from './keys.js';
export type { RegistrationOptions, RegistrationState } from './registration.js';
export { NodeRegistration, REGISTRATION_TTL_SECONDS } from './registration.js';
export type { HostRecord, InstanceInfo, Registration } from './registration-record.js';
export { sameProcessGone } from './registration-record.js';
export { IpamStore } from './store.js';
export type {
  AddressAttrs,
  AddressKind,
  AddressRecord,
  AddressRelease,
  AddressRequest,
  Allocation,
  DropHoldRequest,
  JoinedPool,
  MergedCall,
  NetworkName,
  NodeId,
  Pool,
  PoolId,
  PoolInfo,
  PoolRelease,
  PoolRequest,
  PoolStatus,
  ReleasePoolResult,
  Reservation,
  StoreLogger,
  StoreObserver,
  StoreOptions,
} from './types.js';
export { parseNetworkName, parseNodeId, parsePoolId, poolIdFor, V6_POOL_SUFFIX } from './types.js';
