/**
 * The plugin's error class and the ONE table that turns any error (ours, the store's, the
 * cidr package's) into an HTTP status and the `Err` text Docker shows the user.
 */
import { CidrError, type ErrorKind, errorClass, type KindTable } from '@kontena-ipam/cidr';
import { StoreError } from '@kontena-ipam/store';

/** PluginErrorCode names every failure the plugin itself raises. */
export type PluginErrorCode =
  | 'INVALID_REQUEST' // body parsed but a field is wrong (invalid)
  | 'BAD_JSON' // body is not JSON / not UTF-8 (invalid)
  | 'ROUTE_NOT_FOUND' // no such RPC (not-found)
  | 'METHOD_NOT_ALLOWED' // RPCs are POST, /health is GET (method)
  | 'BODY_TOO_LARGE' // over bodyLimitBytes (too-large)
  | 'TIMEOUT' // the store did not answer within callTimeoutMs (unavailable)
  | 'SOCKET_IN_USE' // listen(): a live process serves the socket path (conflict)
  | 'SOCKET_PATH_INVALID' // listen(): the path exists and is not a socket (invalid)
  | 'INTERNAL'; // a bug: never shown in detail to Docker (internal)

/**
 * KIND_BY_CODE gives each code its kind (the project's one vocabulary, cidr's ErrorKind): the
 * HTTP-only kinds (too-large 413, method 405) and `internal` for a bug are the plugin's.
 */
const KIND_BY_CODE = {
  INVALID_REQUEST: 'invalid',
  BAD_JSON: 'invalid',
  ROUTE_NOT_FOUND: 'not-found',
  METHOD_NOT_ALLOWED: 'method',
  BODY_TOO_LARGE: 'too-large',
  TIMEOUT: 'unavailable',
  SOCKET_IN_USE: 'conflict',
  SOCKET_PATH_INVALID: 'invalid',
  INTERNAL: 'internal',
} as const satisfies KindTable<PluginErrorCode>;

/** PluginError is every error the plugin raises, with a stable `code`; `kind` follows from it. */
export class PluginError extends errorClass('PluginError', KIND_BY_CODE) {}

/** STATUS_BY_KIND is the one mapping from error kind to HTTP status. */
const STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: 400, // the caller's mistake: Docker shows the message, the user fixes the command
  'not-found': 404, // unknown pool (or route)
  method: 405,
  conflict: 409, // subnet overlap, address in use, pool re-requested on a holding host
  'too-large': 413,
  internal: 500,
  unavailable: 503, // etcd unreachable or too slow: retrying later can succeed
  exhausted: 507, // no free subnet / address: capacity, not the caller's mistake
};

/** INTERNAL_ERR is the only text Docker sees for an unrecognised error; the cause goes to the log. */
export const INTERNAL_ERR = 'internal error in the kontena-ipam plugin (see its log)';

/** ErrorReply is what the edge answers for one error. */
export interface ErrorReply {
  status: number;
  err: string;
  code: string;
  kind: ErrorKind;
  /** true when the error was not recognised and its cause must be logged. */
  unexpected: boolean;
}

/** errorReply translates any thrown value into status + `Err` text, via STATUS_BY_KIND. */
export function errorReply(error: unknown): ErrorReply {
  const known = classify(error);
  if (!known) {
    return {
      status: STATUS_BY_KIND.internal,
      err: INTERNAL_ERR,
      code: 'INTERNAL',
      kind: 'internal',
      unexpected: true,
    };
  }
  return {
    status: STATUS_BY_KIND[known.kind],
    err: known.message,
    code: known.code,
    kind: known.kind,
    unexpected: false,
  };
}

function classify(error: unknown): { code: string; kind: ErrorKind; message: string } | undefined {
  if (error instanceof PluginError) {
    if (error.kind === 'internal') return undefined;
    return { code: error.code, kind: error.kind, message: error.message };
  }
  // The plugin validates addresses before calling the store, so a CidrError here means
  // the store passed one through; its kind says it is still the caller's input at fault.
  if (error instanceof StoreError || error instanceof CidrError)
    return { code: error.code, kind: error.kind, message: error.message };
  return undefined;
}

/** invalid builds the 400 error for a request field; `message` names the field and value. */
export function invalid(message: string): PluginError {
  return new PluginError('INVALID_REQUEST', message);
}
