/**
 * Raw request bodies → domain requests. Docker sends no Content-Type, ends bodies with a
 * newline, sends empty bodies for the handshake calls and `Options: null`; all of that
 * parses here. Anything else wrong becomes one 400 whose message names the field and value.
 * These are the wire-shape checks; the domain rules (how subnet, ip-range, gateway and family
 * fit together) are the store's, which checks them before it writes anything.
 */
import {
  CidrError,
  type IpAddress,
  parseAddressWithPrefix,
  parseSubnet,
  type Subnet,
} from '@kontena-ipam/cidr';
import {
  type AddressAttrs,
  type AddressKind,
  type NetworkName,
  type PoolId,
  parseNetworkName,
  parsePoolId,
  StoreError,
} from '@kontena-ipam/store';
import { z } from 'zod';
import { invalid, PluginError } from './errors.js';
import {
  ENDPOINT_NAME_OPTION,
  GATEWAY_LABEL,
  GATEWAY_OPTION,
  MAC_ADDRESS_OPTION,
  NETWORK_OPTION,
  REQUEST_ADDRESS_TYPE,
} from './protocol.js';

/**
 * ParsedPoolRequest is a validated RequestPool body. The Parsed* types are the plugin's side of
 * a call; routes.ts turns each into the store's request (its PoolRequest, AddressRequest, …).
 */
export interface ParsedPoolRequest {
  /** The network name; the store makes the PoolID (`NAME`, or `NAME:v6` when V6). */
  network: NetworkName;
  subnet: Subnet | undefined;
  ipRange: Subnet | undefined;
  /** From `--ipam-opt gateway=…`; undefined = the first host of the subnet. */
  gateway: IpAddress | undefined;
  v6: boolean;
}

/** ParsedAddressRequest is a validated RequestAddress. */
export interface ParsedAddressRequest {
  pool: PoolId;
  address: IpAddress | undefined;
  kind: AddressKind;
  attrs: AddressAttrs;
}

/** ParsedAddressRelease is a validated ReleaseAddress. */
export interface ParsedAddressRelease {
  pool: PoolId;
  address: IpAddress;
}

/** ParsedPoolRelease is a validated ReleasePool. */
export interface ParsedPoolRelease {
  pool: PoolId;
}

// Longest text worth parsing: an IPv6 CIDR is at most 43 characters; names are capped by the store.
const MAX_FIELD = 256;
const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5,19}$/i;
const MAX_ENDPOINT_NAME = 256;

/** Endpoint names are container names: bounded, and no control characters (they would corrupt logs). */
function isEndpointName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_ENDPOINT_NAME) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** quote shows a client value in a message: JSON, shortened so a hostile value cannot flood logs. */
export function quote(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Too deep to print (a hostile body): say what it is instead; String() would recurse too.
    text = Array.isArray(value) ? 'a deeply nested array' : 'a deeply nested object';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** decodeBody turns the raw bytes into JSON; an empty (or whitespace) body is `undefined`. */
export function decodeBody(bytes: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PluginError('BAD_JSON', 'request body is not UTF-8 text');
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new PluginError('BAD_JSON', `request body is not valid JSON (${quote(detail)})`);
  }
}

/** Failures inside a transform: pushed as a zod issue with the path, message already complete. */
type Ctx = z.core.$RefinementCtx<unknown>;

function attempt<T>(
  ctx: Ctx,
  path: string,
  value: string,
  what: string,
  fn: () => T,
): T | undefined {
  try {
    return fn();
  } catch (error) {
    // Only the lower packages' validation errors are the caller's fault; anything else is a bug.
    if (error instanceof CidrError || error instanceof StoreError) {
      ctx.issues.push({
        code: 'custom',
        path: path.split('.'),
        message: `${path} ${quote(value)} ${what} (${error.message})`,
        input: value,
      });
      return undefined;
    }
    throw error;
  }
}

function subnetField(ctx: Ctx, path: string, text: string): Subnet | undefined {
  return attempt(ctx, path, text, 'is not a valid CIDR subnet', () => parseSubnet(text));
}

function addressField(ctx: Ctx, path: string, text: string): IpAddress | undefined {
  const parsed = attempt(ctx, path, text, 'is not a valid IP address', () =>
    parseAddressWithPrefix(text),
  );
  if (!parsed) return undefined;
  if (parsed.prefix !== undefined) {
    // Docker always sends a bare IP; a prefix here means the caller is not Docker or is confused.
    ctx.issues.push({
      code: 'custom',
      path: [path],
      message: `${path} ${quote(text)} must be a bare IP address, without /${parsed.prefix}`,
      input: text,
    });
    return undefined;
  }
  return parsed.address;
}

function poolIdField(ctx: Ctx, path: string, text: string, hint: string): PoolId | undefined {
  return attempt(ctx, path, text, `is not a valid pool name${hint}`, () => parsePoolId(text));
}

/** networkField reads `--ipam-opt network=NAME`: a name without ':' (the store adds `:v6`). */
function networkField(ctx: Ctx, path: string, text: string, hint: string): NetworkName | undefined {
  return attempt(ctx, path, text, `is not a valid pool name${hint}`, () => parseNetworkName(text));
}

const field = z.string().max(MAX_FIELD);
const options = z.record(z.string(), z.string()).nullable().optional();

const requestPoolSchema = z
  .object({
    AddressSpace: field.optional(),
    Pool: field.optional(),
    SubPool: field.optional(),
    Options: options,
    V6: z.boolean().optional(),
  })
  .transform((body, ctx): ParsedPoolRequest => {
    const v6 = body.V6 ?? false;
    const name = body.Options?.[NETWORK_OPTION];
    let network: NetworkName | undefined;
    if (name === undefined) {
      ctx.issues.push({
        code: 'custom',
        path: ['Options', NETWORK_OPTION],
        message: `Options.${NETWORK_OPTION} is missing: name the pool with --ipam-opt ${NETWORK_OPTION}=NAME (the same NAME on every host shares one pool)`,
        input: body.Options,
      });
    } else {
      network = networkField(
        ctx,
        `Options.${NETWORK_OPTION}`,
        name,
        ` (--ipam-opt ${NETWORK_OPTION}=NAME)`,
      );
    }
    // Only the shape of each field is checked here. How they fit together (SubPool inside Pool,
    // the family against V6, the gateway a host address of Pool) is the store's rule, checked
    // there before anything is written; its INVALID / OUT_OF_RANGE reaches Docker as a 400.
    const subnet = body.Pool ? subnetField(ctx, 'Pool', body.Pool) : undefined;
    const ipRange = body.SubPool ? subnetField(ctx, 'SubPool', body.SubPool) : undefined;
    const gatewayText = body.Options?.[GATEWAY_OPTION];
    const gateway =
      gatewayText === undefined
        ? undefined
        : addressField(ctx, `Options.${GATEWAY_OPTION}`, gatewayText);
    // Only reached without issues: zod discards the value when any issue was pushed.
    return { network: network as NetworkName, subnet, ipRange, gateway, v6 };
  });

const requestAddressSchema = z
  .object({ PoolID: field, Address: field.optional(), Options: options })
  .transform((body, ctx): ParsedAddressRequest => {
    const pool = poolIdField(ctx, 'PoolID', body.PoolID, '');
    const address = body.Address ? addressField(ctx, 'Address', body.Address) : undefined;
    const opts = body.Options ?? {};
    const type = opts[REQUEST_ADDRESS_TYPE];
    if (type !== undefined && type !== GATEWAY_LABEL) {
      ctx.issues.push({
        code: 'custom',
        path: ['Options', REQUEST_ADDRESS_TYPE],
        message: `Options.${REQUEST_ADDRESS_TYPE} ${quote(type)} is not a known request type (only ${quote(GATEWAY_LABEL)})`,
        input: type,
      });
    }
    const attrs: AddressAttrs = {};
    const mac = opts[MAC_ADDRESS_OPTION];
    if (mac !== undefined) {
      if (MAC_PATTERN.test(mac)) attrs.mac = mac.toLowerCase();
      else
        ctx.issues.push({
          code: 'custom',
          path: ['Options', MAC_ADDRESS_OPTION],
          message: `Options.${MAC_ADDRESS_OPTION} ${quote(mac)} is not a MAC address`,
          input: mac,
        });
    }
    const endpoint = opts[ENDPOINT_NAME_OPTION];
    if (endpoint !== undefined) {
      if (isEndpointName(endpoint)) attrs.endpoint = endpoint;
      else
        ctx.issues.push({
          code: 'custom',
          path: ['Options', ENDPOINT_NAME_OPTION],
          message: `Options.${ENDPOINT_NAME_OPTION} ${quote(endpoint)} is not a valid endpoint name`,
          input: endpoint,
        });
    }
    return { pool: pool as PoolId, address, kind: addressKind(type, address, attrs), attrs };
  });

/**
 * addressKind tells the three kinds of RequestAddress apart. Docker 20.10 sends the gateway
 * with RequestAddressType; `--aux-address` with `Options: null`; a container's address with
 * its MAC (because GetCapabilities says RequiresMACAddress) and, from Docker 29, its name.
 * So a static address without any endpoint option is an aux address (shared by every host
 * that creates the network), and one with them is a container's `--ip` (exclusive).
 */
function addressKind(
  type: string | undefined,
  address: IpAddress | undefined,
  attrs: AddressAttrs,
): AddressKind {
  if (type === GATEWAY_LABEL) return 'gateway';
  if (address === undefined) return 'endpoint';
  return attrs.mac !== undefined || attrs.endpoint !== undefined ? 'endpoint' : 'aux';
}

const releaseAddressSchema = z
  .object({ PoolID: field, Address: field })
  .transform((body, ctx): ParsedAddressRelease => {
    const pool = poolIdField(ctx, 'PoolID', body.PoolID, '');
    let address: IpAddress | undefined;
    if (body.Address === '') {
      ctx.issues.push({
        code: 'custom',
        path: ['Address'],
        message: 'Address is empty: say which address to release',
        input: '',
      });
    } else {
      address = addressField(ctx, 'Address', body.Address);
    }
    return { pool: pool as PoolId, address: address as IpAddress };
  });

const releasePoolSchema = z.object({ PoolID: field }).transform(
  (body, ctx): ParsedPoolRelease => ({
    pool: poolIdField(ctx, 'PoolID', body.PoolID, '') as PoolId,
  }),
);

/** describeIssue writes one zod issue as "<field> <problem>, got <value>". */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'custom') return issue.message;
  const path = issue.path.map(String).join('.');
  const value = valueAt(input, issue.path);
  const where = path === '' ? 'request body' : path;
  if (value === undefined && path !== '') return `${where} is missing`;
  if (issue.code === 'invalid_type')
    return `${where} must be ${article(issue.expected)}, got ${quote(value)}`;
  if (issue.code === 'too_big')
    return `${where} is too long (at most ${String(issue.maximum)} characters), got ${quote(value)}`;
  return `${where}: ${issue.message}, got ${quote(value)}`;
}

function article(expected: string): string {
  if (expected === 'object') return 'a JSON object';
  if (expected === 'record') return 'a JSON object of strings';
  return `a ${expected}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = Object.hasOwn(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return value;
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown): T {
  if (input === undefined) throw invalid('request body is empty: expected a JSON object');
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  // Every problem at once: the user fixes the command in one go.
  throw invalid(result.error.issues.map((issue) => describeIssue(issue, input)).join('; '));
}

/** parseRequestPool validates a RequestPool body (already JSON-decoded). */
export function parseRequestPool(input: unknown): ParsedPoolRequest {
  return parseWith(requestPoolSchema, input);
}

/** parseRequestAddress validates a RequestAddress body. */
export function parseRequestAddress(input: unknown): ParsedAddressRequest {
  return parseWith(requestAddressSchema, input);
}

/** parseReleaseAddress validates a ReleaseAddress body. */
export function parseReleaseAddress(input: unknown): ParsedAddressRelease {
  return parseWith(releaseAddressSchema, input);
}

/** parseReleasePool validates a ReleasePool body. */
export function parseReleasePool(input: unknown): ParsedPoolRelease {
  return parseWith(releasePoolSchema, input);
}

/**
 * parseHandshake accepts what the handshake calls may carry: nothing (Docker), or a JSON
 * object / null (other clients). Anything else is a client bug worth a 400.
 */
export function parseHandshake(input: unknown): void {
  if (input === undefined || input === null) return;
  if (typeof input === 'object' && !Array.isArray(input)) return;
  throw invalid(`request body must be empty or a JSON object, got ${quote(input)}`);
}
