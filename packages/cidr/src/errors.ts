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
 * ErrorKind is the one vocabulary of error kinds every package of this project uses: it says
 * what the caller should do about an error, and the plugin turns it into an HTTP status. Each
 * package maps its own stable codes to these kinds in one table (a code's kind never depends on
 * who throws it); it lives here because cidr is the package every other one depends on.
 */
export type ErrorKind =
  | 'invalid' // the caller's input is wrong: fix the command
  | 'not-found' // the thing named does not exist
  | 'conflict' // someone else holds it, or the state moved: retry or choose another
  | 'exhausted' // no room left: capacity, not the caller's mistake
  | 'unavailable' // a dependency (etcd, Docker) did not answer, or its data is unusable
  | 'too-large' // a request over a size limit (the plugin's HTTP edge)
  | 'method' // a request with the wrong HTTP method (the plugin's HTTP edge)
  | 'internal'; // a bug: shown without detail, logged with its cause

/** KindTable maps every code of one package to its kind: the one place that decides it. */
export type KindTable<Code extends string> = Readonly<Record<Code, ErrorKind>>;

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
 * CidrError is every error thrown by this package. `code` is stable, `input` is the offending
 * text or value as a string, and the message always names that input so that a user who sees
 * only the message (Docker shows `Err` verbatim) knows what to fix.
 */
export class CidrError extends Error {
  /** code says which rule the input broke. */
  readonly code: CidrErrorCode;
  /** kind follows from `code` (always 'invalid': this library has no I/O). */
  readonly kind: (typeof KIND_BY_CODE)[CidrErrorCode];
  /** input is the offending text or value, when there is one. */
  readonly input?: string;

  constructor(code: CidrErrorCode, message: string, input?: string) {
    super(message);
    this.name = 'CidrError';
    this.code = code;
    this.kind = KIND_BY_CODE[code];
    if (input !== undefined) this.input = input;
  }
}

/** quote renders an input for an error message, so that empty or blank input stays visible. */
export function quote(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (typeof input === 'bigint') return `${input}`;
  return String(input);
}
