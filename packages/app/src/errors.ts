/**
 * The app's error codes and their kinds (the project's one vocabulary, cidr's ErrorKind):
 * ConfigError and LocalEtcdError are AppErrors, so a caller can switch on `code` and `kind`
 * the way it does for the store's and the plugin's errors.
 */
import { errorClass, type KindTable } from '@kontena-ipam/cidr';

/** AppErrorCode names every failure the app itself raises; stable for scripts. */
export type AppErrorCode =
  | 'INVALID_CONFIG' // an environment value is wrong (ConfigError)
  | 'NO_ETCD_BINARY' // single-host mode found no etcd to start (LocalEtcdError)
  | 'START_FAILED'; // the single-host etcd did not come up (LocalEtcdError)

const KIND_BY_CODE = {
  INVALID_CONFIG: 'invalid',
  NO_ETCD_BINARY: 'unavailable',
  START_FAILED: 'unavailable',
} as const satisfies KindTable<AppErrorCode>;

const AppErrorBase = errorClass('AppError', KIND_BY_CODE);

/**
 * AppError is the base of the app's errors: a stable `code`, and `kind` follows from it. A
 * subclass narrows `Code` to its own codes and sets its own `name`.
 */
export class AppError<Code extends AppErrorCode = AppErrorCode> extends AppErrorBase<Code> {}
