import { errorClass, type KindTable } from './error-class.js';

/** CidrErrorCode names every way this package can reject its input. Stable: callers switch on it. */
export type CidrErrorCode =
  | 'INVALID_ADDRESS'
  | 'INVALID_SUBNET'
  | 'HOST_BITS_SET'
  | 'INVALID_PREFIX'
  | 'FAMILY_MISMATCH'
  | 'OUT_OF_RANGE'
  | 'INVALID_ARGUMENT';

// Everything this pure library rejects is the caller's input: it has no I/O.
const KIND_BY_CODE = {
  INVALID_ADDRESS: 'invalid',
  INVALID_SUBNET: 'invalid',
  HOST_BITS_SET: 'invalid',
  INVALID_PREFIX: 'invalid',
  FAMILY_MISMATCH: 'invalid',
  OUT_OF_RANGE: 'invalid',
  INVALID_ARGUMENT: 'invalid',
} as const satisfies KindTable<CidrErrorCode>;

/**
 * CidrError is every error thrown by this package. `code` is stable, `kind` follows from it
 * (always 'invalid': this library has no I/O), `input` is the offending text or value as a
 * string, and the message always names that input so that a user who sees only the message
 * (Docker shows `Err` verbatim) knows what to fix.
 */
export class CidrError extends errorClass('CidrError', KIND_BY_CODE) {
  /** input is the offending text or value, when there is one. */
  readonly input?: string;

  constructor(code: CidrErrorCode, message: string, input?: string) {
    super(code, message);
    if (input !== undefined) this.input = input;
  }
}

/** quote renders an input for an error message, so that empty or blank input stays visible. */
export function quote(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (typeof input === 'bigint') return `${input}`;
  return String(input);
}
