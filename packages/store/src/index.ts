/**
 * @kontena-ipam/store: the etcd v3 compare-and-swap store behind kontena-ipam. Pools, subnet
 * reservations and addresses, each state change one etcd transaction.
 */

export type { AttachmentCheck } from './admin/attachment-admin.js';
export type {
  ConsistencyReport,
  ConsistencyRequest,
} from './admin/consistency.js';
export { checkConsistency } from './admin/consistency.js';
export type { Finding, FindingKind } from './admin/finding.js';
export type { HostStatus } from './admin/hosts.js';
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
export { STORE_DEFAULTS } from './context.js';
export type { ErrorKind, StoreErrorCode } from './errors.js';
export { isStoreError, StoreError } from './errors.js';
export { Budget } from './etcd/budget.js';
export type { ResilientClientOptions } from './etcd/client-options.js';
export { resilientClientOptions } from './etcd/client-options.js';
export { KeyLayout } from './layout/keys.js';
export type { HostRecord, InstanceInfo, Registration } from './layout/registration-record.js';
export { sameProcessGone } from './layout/registration-record.js';
export { IpamStore } from './store.js';
export type { RegistrationOptions, RegistrationState } from './transitions/registration.js';
export { NodeRegistration, REGISTRATION_TTL_SECONDS } from './transitions/registration.js';
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
