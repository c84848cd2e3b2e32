/**
 * checkConsistency reads everything under `${prefix}v2/` at one revision and reports what the
 * store's transactions should never leave behind: overlapping subnets, a pool without its
 * subnet reservation or the reverse, addresses or holds of no pool, addresses outside their
 * pool's subnet, records that do not decode, holds by nodes that own no address at all, and
 * block claims of no pool or that no longer steer anything right (stale).
 * Keys of the unreleased v1 layout (holds inside the pool record) are reported as
 * `old-layout` keys: nothing reads them any more. Read-only: it
 * writes nothing, and it reuses the store's key layout and record decoders so that "unreadable"
 * means exactly what the store itself would refuse.
 */
import type { Etcd3 } from 'etcd3';
import { STORE_DEFAULTS } from '../context.js';
import { Budget } from '../etcd/budget.js';
import { EtcdCalls } from '../etcd/calls.js';
import { kvsAt, rangeOp } from '../etcd/ops.js';
import { readPrefix } from '../etcd/paging.js';
import { KeyLayout } from '../layout/keys.js';
import { attachmentFindings } from './consistency-cni.js';
import {
  addressFindings,
  blockFindings,
  holdFindings,
  overlapFindings,
  reservationFindings,
} from './consistency-findings.js';
import { parseAll } from './consistency-records.js';
import type { Finding } from './finding.js';

/** ConsistencyReport is what checkConsistency read and what it found, at one etcd revision. */
export interface ConsistencyReport {
  revision: bigint;
  pools: number;
  reservations: number;
  addresses: number;
  findings: Finding[];
}

/** ConsistencyRequest: the client and prefix the store uses; deadline and endpoint as in StoreOptions. */
export interface ConsistencyRequest {
  client: Etcd3;
  /** Key prefix, default '/kontena/ipam/'. */
  prefix?: string;
  /** Deadline of each etcd call in ms, default STORE_DEFAULTS.deadlineMs (5000). */
  deadlineMs?: number;
  /** Named in UNAVAILABLE messages. */
  endpoint?: string;
  /** Keys (with values) per read of the scan, default CHECK_PAGE_SIZE. */
  pageSize?: number;
}

/**
 * CHECK_PAGE_SIZE is how many keys (with values) one read of the scan takes unless the request
 * says otherwise: bounded so a big IPv6 cluster never exceeds gRPC's 4 MiB reply limit.
 */
export const CHECK_PAGE_SIZE = 1000;

/** checkConsistency reads the whole key space of one store and lists every inconsistency found. */
export async function checkConsistency(req: ConsistencyRequest): Promise<ConsistencyReport> {
  const keys = new KeyLayout(req.prefix);
  const calls = new EtcdCalls(
    req.client,
    req.deadlineMs ?? STORE_DEFAULTS.deadlineMs,
    req.endpoint ?? 'the configured endpoints',
  );
  // All pages at the first one's revision. Each page has the deadline of one call, the scan as
  // a whole none: a big store takes as many pages as it needs.
  const pageSize = Math.max(1, req.pageSize ?? CHECK_PAGE_SIZE);
  const { revision, kvs } = await readPrefix(
    calls,
    'check consistency',
    keys.root,
    { pageSize, op: 'list' },
    undefined,
    Budget.until(Number.POSITIVE_INFINITY),
  );
  const findings: Finding[] = [...(await oldLayout(calls, keys))];
  const records = parseAll(keys, kvs, findings);
  findings.push(
    ...reservationFindings(keys, records),
    ...overlapFindings(keys, records),
    ...addressFindings(records),
    ...holdFindings(records),
    ...blockFindings(records.blocks, records.affinities, records.holds, records.pools),
    ...attachmentFindings(records),
  );
  return {
    revision,
    pools: records.pools.size,
    reservations: records.reservations.length,
    addresses: records.addresses.length,
    findings,
  };
}

/** oldLayout: one key of the v1 layout is enough to say so; it was never released, so no migration. */
async function oldLayout(calls: EtcdCalls, keys: KeyLayout): Promise<Finding[]> {
  const v1Root = keys.root.replace(/v2\/$/, 'v1/');
  const v1 = await calls.read(
    'check consistency',
    [rangeOp(v1Root, { keysOnly: true, limit: 1 })],
    'list',
  );
  const v1Key = kvsAt(v1, 0)[0]?.key.toString();
  if (v1Key === undefined) return [];
  return [
    {
      kind: 'old-layout',
      key: v1Key,
      message: `${v1Key}: keys of the v1 layout under ${v1Root}, which this version does not read (remove them with etcdctl del --prefix ${v1Root})`,
    },
  ];
}
