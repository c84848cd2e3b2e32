import { errorClass, type KindTable } from '@kontena-ipam/cidr';

/** CleanupErrorCode names every way a cleanup run can refuse or fail; stable for scripts. */
export type CleanupErrorCode =
  | 'INVALID_ARGUMENT' // bad flag, duration or option combination
  | 'DOCKER_UNSUPPORTED' // DOCKER_HOST is not a unix socket (we only talk to the local daemon)
  | 'DOCKER_UNAVAILABLE' // the Docker Engine API did not answer
  | 'STORE_UNAVAILABLE' // etcd did not answer (the store's UNAVAILABLE, translated)
  | 'STORE_FAILED' // any other store error (a bug or a corrupt record), with its cause
  | 'NOT_LIVE' // this host's NODE_ID is not served by a live instance on this machine
  | 'HOST_LIVE'; // forgetting a host that is registered (live), before or during the run

/** KIND_BY_CODE gives each code its kind from the project's one vocabulary (cidr's ErrorKind). */
const KIND_BY_CODE = {
  INVALID_ARGUMENT: 'invalid',
  DOCKER_UNSUPPORTED: 'invalid',
  DOCKER_UNAVAILABLE: 'unavailable',
  STORE_UNAVAILABLE: 'unavailable',
  STORE_FAILED: 'internal',
  NOT_LIVE: 'unavailable',
  HOST_LIVE: 'conflict',
} as const satisfies KindTable<CleanupErrorCode>;

/** CleanupError is the one error class this package throws; `code` is stable, `kind` groups it. */
export class CleanupError extends errorClass('CleanupError', KIND_BY_CODE) {}
