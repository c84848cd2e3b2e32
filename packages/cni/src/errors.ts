/**
 * The CNI package's error class, and the one table that turns any error of a CNI call (ours,
 * the store's, the plugin's, the cidr package's) into a CNI error object's code and message.
 * Its HTTP status is the plugin's error table's: CniError is a PluginError of kind `invalid`.
 */
import { CidrError } from '@kontena-ipam/cidr';
import { PluginError } from '@kontena-ipam/plugin';
import { StoreError, type StoreErrorCode } from '@kontena-ipam/store';
import { CNI_CODES } from './wire.js';

/** CniCode is one of the CNI error codes we answer with (wire.ts CNI_CODES). */
export type CniCode = (typeof CNI_CODES)[keyof typeof CNI_CODES];

/** CniError is a CNI call refused with a spec code; the message names the field or variable. */
export class CniError extends PluginError {
  readonly cniCode: CniCode;
  readonly details: string | undefined;

  constructor(cniCode: CniCode, message: string, details?: string) {
    super('INVALID_REQUEST', message);
    this.cniCode = cniCode;
    this.details = details;
  }
}

/** invalidConfig is code 7 (invalid network config) naming the field. */
export function invalidConfig(message: string, details?: string): CniError {
  return new CniError(CNI_CODES.invalidConfig, message, details);
}

/** invalidEnv is code 4 (invalid environment variables) naming the variable. */
export function invalidEnv(message: string): CniError {
  return new CniError(CNI_CODES.invalidEnvironment, message);
}

const STORE_CODES: Readonly<Partial<Record<StoreErrorCode, CniCode>>> = {
  ADDRESS_IN_USE: CNI_CODES.addressInUse,
  SUBNET_OVERLAP: CNI_CODES.addressInUse,
  ALREADY_HELD: CNI_CODES.addressInUse,
  POOL_EXHAUSTED: CNI_CODES.exhausted,
  SUPERNET_EXHAUSTED: CNI_CODES.exhausted,
  // Lost races in a row, etcd down or slow, a record to repair: later may work.
  CONFLICT: CNI_CODES.tryAgainLater,
  UNAVAILABLE: CNI_CODES.tryAgainLater,
  CORRUPT_RECORD: CNI_CODES.tryAgainLater,
};

/** CniErrorObject is a CNI error body without cniVersion (the client adds the caller's). */
export interface CniErrorObject {
  code: number;
  msg: string;
  details?: string;
}

/**
 * cniErrorOf is the CNI error object for `error`; `fallback` is the plugin's text for an error
 * it does not show (a bug: its log has the cause).
 */
export function cniErrorOf(error: unknown, fallback: string): CniErrorObject {
  if (error instanceof CniError) {
    return {
      code: error.cniCode,
      msg: error.message,
      ...(error.details ? { details: error.details } : {}),
    };
  }
  if (error instanceof StoreError) {
    const code = STORE_CODES[error.code] ?? CNI_CODES.invalidConfig;
    return { code, msg: error.message, details: `kontena-ipam store error ${error.code}` };
  }
  if (error instanceof CidrError) return { code: CNI_CODES.invalidConfig, msg: error.message };
  if (error instanceof PluginError) {
    if (error.code === 'TIMEOUT') return { code: CNI_CODES.tryAgainLater, msg: error.message };
    if (error.code === 'BAD_JSON') return { code: CNI_CODES.decodingFailure, msg: error.message };
    if (error.kind === 'invalid') return { code: CNI_CODES.invalidConfig, msg: error.message };
  }
  return { code: CNI_CODES.internal, msg: fallback };
}
