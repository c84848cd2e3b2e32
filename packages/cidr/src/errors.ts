/** CidrErrorCode names every way this package can reject its input. Stable: callers switch on it. */
export type CidrErrorCode =
  | 'INVALID_ADDRESS'
  | 'INVALID_SUBNET'
  | 'HOST_BITS_SET'
  | 'INVALID_PREFIX'
  | 'FAMILY_MISMATCH'
  | 'OUT_OF_RANGE'
  | 'INVALID_ARGUMENT';

/**
 * CidrErrorKind classifies an error the way every package of this project does (see STYLE.md).
 * Everything this pure library rejects is the caller's input, so the kind is always 'invalid'.
 */
export type CidrErrorKind = 'invalid';

/**
 * CidrError is every error thrown by this package. `code` is stable, `input` is the offending
 * text or value as a string, and the message always names that input so that a user who sees
 * only the message (Docker shows `Err` verbatim) knows what to fix.
 */
export class CidrError extends Error {
  /** code says which rule the input broke. */
  readonly code: CidrErrorCode;
  /** kind is always 'invalid': this library has no I/O, so only its input can be wrong. */
  readonly kind: CidrErrorKind = 'invalid';
  /** input is the offending text or value, when there is one. */
  readonly input?: string;

  constructor(code: CidrErrorCode, message: string, input?: string) {
    super(message);
    this.name = 'CidrError';
    this.code = code;
    if (input !== undefined) this.input = input;
  }
}

/** quote renders an input for an error message, so that empty or blank input stays visible. */
export function quote(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (typeof input === 'bigint') return `${input}`;
  return String(input);
}
