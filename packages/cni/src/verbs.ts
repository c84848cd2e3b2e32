/**
 * The CNI verbs on the store, one function each: what a parsed CniRequest does for `node`. No
 * HTTP here (routes.ts); every store call gets the call's budget.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import {
  type Attachment,
  type Budget,
  type IpamStore,
  type NodeId,
  type PoolId,
  parseContainerId,
  parseIfName,
  poolIdFor,
} from '@kontena-ipam/store';
import type { CniRequest } from './config.js';
import { CniError, invalidEnv } from './errors.js';
import { addResult, addressesOf, type CniResult } from './result.js';
import { CNI_CODES } from './wire.js';

/** CniBackend is the part of IpamStore the CNI verbs call. */
export type CniBackend = Pick<
  IpamStore,
  'attach' | 'detach' | 'listAttachments' | 'checkAttachment' | 'ping'
>;

/** VerbContext is what a verb runs with: the store, this host, the call's budget. */
export interface VerbContext {
  backend: CniBackend;
  node: NodeId;
  budget: Budget;
  /** Told each address the call is about, for its log line. */
  noteAddress(address: string): void;
}

/** add attaches one address per range (dual-stack: two); on a failure it frees what it made. */
export async function add(req: CniRequest, ctx: VerbContext): Promise<CniResult> {
  const ref = req.ref as NonNullable<CniRequest['ref']>;
  for (const ip of req.ips) {
    if (!req.ranges.some((r) => r.v6 === (ip.family === 6))) {
      throw invalidEnv(
        `CNI_ARGS IP=${formatAddress(ip)} is IPv${ip.family}, but the config has no IPv${ip.family} range`,
      );
    }
  }
  const made: Attachment[] = [];
  try {
    for (const range of req.ranges) {
      const address = req.ips.find((ip) => (ip.family === 6) === range.v6);
      const a = await ctx.backend.attach(
        {
          network: req.network,
          v6: range.v6,
          node: ctx.node,
          ref,
          netns: req.netns,
          subnet: range.subnet,
          ipRange: range.ipRange,
          gateway: range.gateway,
          address,
        },
        ctx.budget,
      );
      ctx.noteAddress(formatAddress(a.address));
      made.push(a);
    }
  } catch (error) {
    // Dual-stack half done: give back what this call made (not what a repeated ADD found).
    for (const a of made.filter((m) => m.created)) {
      await ctx.backend
        .detach({ pool: a.pool, node: ctx.node, ref }, ctx.budget)
        .catch(() => undefined);
    }
    throw error;
  }
  return addResult(req.cniVersion, made, { routes: req.routes, dns: req.dns });
}

/** poolsOf is both of the network's pools: a DEL or GC looks in each, whatever the config says now. */
function poolsOf(req: CniRequest): PoolId[] {
  return [poolIdFor(req.network, false), poolIdFor(req.network, true)];
}

/** del frees the attachment in each of the network's pools; nothing to free is no error. */
export async function del(req: CniRequest, ctx: VerbContext): Promise<'released' | 'nothing'> {
  const ref = req.ref as NonNullable<CniRequest['ref']>;
  let released = false;
  for (const pool of poolsOf(req)) {
    const r = await ctx.backend.detach({ pool, node: ctx.node, ref }, ctx.budget);
    if (r.address) ctx.noteAddress(formatAddress(r.address));
    released ||= r.released;
  }
  return released ? 'released' : 'nothing';
}

/**
 * check verifies that each range's pool still records this attachment's address for this host,
 * and that prevResult (when given) lists it.
 */
export async function check(req: CniRequest, ctx: VerbContext): Promise<void> {
  const ref = req.ref as NonNullable<CniRequest['ref']>;
  const listed = req.prevResult === undefined ? undefined : addressesOf(req.prevResult);
  for (const range of req.ranges) {
    const pool = poolIdFor(req.network, range.v6);
    const got = await ctx.backend.checkAttachment({ pool, node: ctx.node, ref }, ctx.budget);
    if (!got.ok) throw new CniError(CNI_CODES.notRecorded, got.why);
    const address = formatAddress(got.record.address);
    ctx.noteAddress(address);
    if (listed && !listed.includes(address)) {
      throw new CniError(
        CNI_CODES.notRecorded,
        `prevResult does not list ${address}, the address recorded for container ${ref.container} interface ${ref.ifname} in network ${pool}`,
        `prevResult lists ${listed.join(', ') || 'no address'}`,
      );
    }
  }
}

/** gc frees this host's attachments of the network that `cni.dev/valid-attachments` does not list. */
export async function gc(req: CniRequest, ctx: VerbContext): Promise<number> {
  const valid = new Set<string>();
  for (const [i, v] of (req.validAttachments ?? []).entries()) {
    try {
      valid.add(`${parseContainerId(v.containerID)}/${parseIfName(v.ifname)}`);
    } catch (error) {
      throw new CniError(
        CNI_CODES.invalidConfig,
        `cni.dev/valid-attachments[${i}]: ${(error as Error).message}`,
      );
    }
  }
  let freed = 0;
  for (const pool of poolsOf(req)) {
    const mine = await ctx.backend.listAttachments({ pool, node: ctx.node }, ctx.budget);
    for (const a of mine) {
      if (valid.has(`${a.ref.container}/${a.ref.ifname}`)) continue;
      const r = await ctx.backend.detach({ pool, node: ctx.node, ref: a.ref }, ctx.budget);
      if (r.released) freed++;
    }
  }
  return freed;
}
