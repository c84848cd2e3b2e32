/**
 * The CNI call parsed at the edge: the network configuration (zod for its shape, cidr for its
 * values) and the CNI_ variables, into a CniRequest the verbs run. Field names follow
 * host-local's where they map (`ranges: [[{subnet, rangeStart, rangeEnd, gateway}]]`,
 * `subnet`, `rangeStart`, `rangeEnd`, `gateway`, `routes`), so switching is changing `type`;
 * `network` names the pool, as Docker's `--ipam-opt network=NAME`. Every refusal names the
 * field or variable; nothing is written before this has passed.
 */
import { type IpAddress, parseAddress } from '@kontena-ipam/cidr';
import {
  type AttachmentRef,
  type NetworkName,
  parseContainerId,
  parseIfName,
  parseNetworkName,
  StoreError,
} from '@kontena-ipam/store';
import { z } from 'zod';
import { CniError, invalidConfig, invalidEnv } from './errors.js';
import { parseRanges, type RangeRequest } from './ranges.js';
import { CNI_CODES, type CniEnv, type CniVerb, SUPPORTED_VERSIONS } from './wire.js';

/** CniRequest is one CNI call, parsed. */
export interface CniRequest {
  verb: CniVerb;
  cniVersion: string;
  network: NetworkName;
  /** One per pool the call is about: IPv4, IPv6 or both (dual-stack). */
  ranges: RangeRequest[];
  routes: Array<{ dst: string; gw?: string }>;
  dns: Record<string, unknown> | undefined;
  /** The attachment (ADD, DEL, CHECK). */
  ref: AttachmentRef | undefined;
  netns: string;
  /** CNI_ARGS `IP=` (Podman's `--ip`): static addresses, one per family at most. */
  ips: IpAddress[];
  prevResult: unknown;
  /** GC: `cni.dev/valid-attachments`. */
  validAttachments: Array<{ containerID: string; ifname: string }> | undefined;
}

const route = z.object({ dst: z.string(), gw: z.string().optional() });
const range = z.looseObject({
  subnet: z.string().optional(),
  rangeStart: z.string().optional(),
  rangeEnd: z.string().optional(),
  gateway: z.string().optional(),
  ipRange: z.string().optional(),
});
const ipam = z.looseObject({
  type: z.string(),
  network: z.string({
    error: 'is missing: name the pool (the same name as Docker’s --ipam-opt network=NAME)',
  }),
  socket: z.string().optional(),
  subnet: z.string().optional(),
  rangeStart: z.string().optional(),
  rangeEnd: z.string().optional(),
  ipRange: z.string().optional(),
  gateway: z.string().optional(),
  ranges: z.array(z.array(range)).optional(),
  routes: z.array(route).optional(),
  dns: z.looseObject({}).optional(),
});
const netconf = z.looseObject({
  cniVersion: z.string({ error: 'is missing' }),
  name: z.string().optional(),
  ipam,
  prevResult: z.unknown().optional(),
  'cni.dev/valid-attachments': z
    .array(z.object({ containerID: z.string(), ifname: z.string() }))
    .optional(),
});

/** pathText spells a zod issue's path as the config's field: `ipam.ranges[0][0].subnet`. */
function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path)
    out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || 'the network configuration';
}

/** parseNetconf checks the config's shape; code 7 naming every wrong field at once. */
function parseNetconf(config: unknown): z.infer<typeof netconf> {
  const parsed = netconf.safeParse(config);
  if (parsed.success) return parsed.data;
  const faults = parsed.error.issues.map((i) => `${pathText(i.path)} ${i.message}`);
  throw invalidConfig(`invalid network configuration: ${faults.join('; ')}`);
}

/** required reads one CNI_ variable the verb needs; code 4 naming it when missing. */
function required(env: CniEnv, name: keyof CniEnv, verb: CniVerb): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw invalidEnv(`${name} is missing (${verb} needs it)`);
  return value;
}

/** attachmentOf parses CNI_CONTAINERID and CNI_IFNAME; code 4 naming the bad one. */
function attachmentOf(env: CniEnv, verb: CniVerb): AttachmentRef {
  const container = required(env, 'CNI_CONTAINERID', verb);
  const ifname = required(env, 'CNI_IFNAME', verb);
  try {
    return { container: parseContainerId(container), ifname: parseIfName(ifname) };
  } catch (error) {
    if (error instanceof StoreError) throw invalidEnv(error.message);
    throw error;
  }
}

/** staticIps reads `IP=` of CNI_ARGS (`K=V;K2=V2`; several addresses comma-separated). */
export function staticIps(args: string | undefined): IpAddress[] {
  const out: IpAddress[] = [];
  for (const pair of (args ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== 'IP') continue;
    for (const text of pair.slice(eq + 1).split(',')) {
      try {
        out.push(parseAddress(text.trim()));
      } catch {
        throw invalidEnv(`CNI_ARGS IP=${JSON.stringify(text)} is not an IP address`);
      }
    }
  }
  return out;
}

/** parseCniCall turns one route's body into a CniRequest; CniError naming the fault otherwise. */
export function parseCniCall(verb: CniVerb, body: unknown): CniRequest {
  if (typeof body !== 'object' || body === null)
    throw invalidConfig('the request body is not an object');
  const { env = {}, config } = body as { env?: CniEnv; config?: unknown };
  const conf = parseNetconf(config);
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(conf.cniVersion)) {
    throw new CniError(
      CNI_CODES.incompatibleVersion,
      `cniVersion ${JSON.stringify(conf.cniVersion)} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }
  let network: NetworkName;
  try {
    network = parseNetworkName(conf.ipam.network);
  } catch (error) {
    throw invalidConfig(`ipam.network: ${(error as Error).message}`);
  }
  const needsRef = verb === 'ADD' || verb === 'DEL' || verb === 'CHECK';
  const ref = needsRef ? attachmentOf(env, verb) : undefined;
  const netns =
    verb === 'ADD' || verb === 'CHECK' ? required(env, 'CNI_NETNS', verb) : (env.CNI_NETNS ?? '');
  return {
    verb,
    cniVersion: conf.cniVersion,
    network,
    ranges: parseRanges(conf.ipam),
    routes: parseRoutes(conf.ipam.routes ?? []),
    dns: conf.ipam.dns,
    ref,
    netns,
    ips: verb === 'ADD' ? staticIps(env.CNI_ARGS) : [],
    prevResult: conf.prevResult,
    validAttachments: conf['cni.dev/valid-attachments'],
  };
}

/** parseRoutes checks each route's `dst` (CIDR) and `gw` (address); passes them on as text. */
function parseRoutes(routes: ReadonlyArray<{ dst: string; gw?: string | undefined }>) {
  return routes.map((r, i) => {
    try {
      const dst = parseSubnetLoose(r.dst);
      const gw = r.gw === undefined ? undefined : parseAddress(r.gw);
      return { dst: dst.text, ...(gw ? { gw: r.gw as string } : {}) };
    } catch (error) {
      throw invalidConfig(`ipam.routes[${i}]: ${(error as Error).message}`);
    }
  });
}

/** A route's dst may have host bits set (as in many configs' 0.0.0.0/0 it has none): checked only as CIDR. */
function parseSubnetLoose(text: string): { text: string } {
  const slash = text.indexOf('/');
  const prefix = Number(text.slice(slash + 1));
  const address = parseAddress(text.slice(0, slash < 0 ? undefined : slash));
  const bits = address.family === 4 ? 32 : 128;
  if (slash < 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new Error(`dst ${JSON.stringify(text)} is not a CIDR like 0.0.0.0/0`);
  }
  return { text };
}
