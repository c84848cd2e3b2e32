/**
 * The store's one error class. Callers (the plugin, cleanup) switch on `kind` to pick an HTTP
 * status and on `code` for finer handling; nothing from etcd3 or gRPC leaks past this class.
 */

import { type ErrorKind, errorClass, type KindTable } from '@kontena-ipam/cidr';

/** ErrorKind is the project's one kind vocabulary (defined in cidr), re-exported for callers. */
export type { ErrorKind };

/** StoreErrorCode names every way a store call can fail; stable across releases. */
export type StoreErrorCode =
  | 'INVALID'
  | 'POOL_MISMATCH'
  | 'POOL_NOT_FOUND'
  | 'OUT_OF_RANGE'
  | 'SUBNET_OVERLAP'
  | 'ALREADY_HELD'
  | 'ADDRESS_IN_USE'
  | 'POOL_EXHAUSTED'
  | 'SUPERNET_EXHAUSTED'
  | 'CONFLICT'
  | 'CORRUPT_RECORD'
  | 'NOT_REGISTERED'
  | 'NODE_LIVE'
  | 'UNAVAILABLE';

/** KIND_BY_CODE groups codes by what the caller should do about them (the one table). */
const KIND_BY_CODE = {
  INVALID: 'invalid',
  POOL_MISMATCH: 'invalid',
  POOL_NOT_FOUND: 'not-found',
  OUT_OF_RANGE: 'invalid',
  SUBNET_OVERLAP: 'conflict',
  ALREADY_HELD: 'conflict',
  ADDRESS_IN_USE: 'conflict',
  POOL_EXHAUSTED: 'exhausted',
  SUPERNET_EXHAUSTED: 'exhausted',
  CONFLICT: 'conflict',
  // The data this call needs cannot be used until an operator repairs it (`kontena-ipam check`).
  CORRUPT_RECORD: 'unavailable',
  // This instance does not hold its NODE_ID's registration (another live instance does, or its
  // lease lapsed): nothing is written in that host's name until it registers again.
  NOT_REGISTERED: 'unavailable',
  // An operator tool acting for a host that is gone found it registered (live) after all.
  NODE_LIVE: 'conflict',
  UNAVAILABLE: 'unavailable',
} as const satisfies KindTable<StoreErrorCode>;

/** StoreError is thrown by every store call; `code` is stable, `kind` follows from it. */
export class StoreError extends errorClass('StoreError', KIND_BY_CODE) {}

/** isStoreError tells a StoreError (optionally of one code) from anything else. */
export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  return error instanceof StoreError && (code === undefined || error.code === code);
}
