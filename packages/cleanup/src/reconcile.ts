/**
 * runCleanup: one reconcile run. Reads everything first (fence, Docker, store), decides
 * with planCleanup, then writes one guarded store transaction per step. Nothing is written
 * before every read has succeeded, and each write is all-or-nothing, so a run that stops
 * on an outage leaves no half-done change behind.
 */
import type { AddressRecord, AttachmentRecord, NodeId } from '@kontena-ipam/store';
import { StoreError } from '@kontena-ipam/store';
import { carryOut } from './carry-out.js';
import {
  type CleanupAction,
  type CleanupOptions,
  type CleanupReport,
  DEFAULT_GRACE_MS,
  DEFAULT_IPAM_DRIVER,
} from './contract.js';
import { dockerUsage } from './docker-usage.js';
import { CleanupError } from './errors.js';
import { type NetnsState, netnsStateOf } from './netns.js';
import { type PlannedStep, planCleanup } from './plan.js';
import { type RevisionSighting, revisionOlderThan } from './revision-age.js';

/** translateStoreError turns the store's errors into ours at this boundary. */
function translateStoreError(error: unknown, changes: number): unknown {
  if (error instanceof CleanupError) return error;
  const done =
    changes === 0
      ? 'nothing was changed'
      : `stopped after ${changes} change(s), each complete; the next run continues`;
  if (error instanceof StoreError && error.kind === 'unavailable') {
    return new CleanupError('STORE_UNAVAILABLE', `${error.message}; ${done}`, { cause: error });
  }
  if (error instanceof StoreError) {
    return new CleanupError('STORE_FAILED', `store: ${error.message}; ${done}`, { cause: error });
  }
  return error;
}

function validate(options: CleanupOptions): number {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new CleanupError('INVALID_ARGUMENT', `graceMs must be >= 0, got ${graceMs}`);
  }
  if (options.forgetNode !== undefined && options.forgetNode === options.node) {
    throw new CleanupError(
      'INVALID_ARGUMENT',
      `--node ${options.forgetNode} is this host (NODE_ID): a live host is cleaned without --forget-node`,
    );
  }
  return graceMs;
}

/**
 * runCleanup reconciles the store with what Docker on this host uses. It frees only the
 * target host's endpoint addresses that Docker does not know, that were written at or
 * before the fence and that are older than the grace period; it drops the target host's
 * hold on pools no local network uses and removes pools nobody holds. Every write compares
 * a revision read after the fence, so a concurrent change wins and is counted in
 * `conflicts`. Throws CleanupError (DOCKER_UNAVAILABLE, STORE_UNAVAILABLE, …).
 */
export async function runCleanup(options: CleanupOptions): Promise<CleanupReport> {
  const graceMs = validate(options);
  const { store, docker, node, forgetNode, logger } = options;
  const dryRun = options.dryRun ?? false;
  const ipamDriver = options.ipamDriver ?? DEFAULT_IPAM_DRIVER;
  const now = options.now ?? Date.now;
  const target: NodeId = forgetNode ?? node;
  let changes = 0;

  try {
    // 1. The fence comes first: anything written after it is newer than every read below.
    const fence = await store.revision();
    const fenceAtMs = now();
    // 2. Docker after the fence, so an endpoint made before the fence is seen here.
    const snapshot = await docker.snapshot();
    // 3. The store's view.
    const pools = await store.listPools();
    const addresses = new Map<string, AddressRecord[]>();
    for (const pool of pools) {
      addresses.set(pool.id, await store.listAddresses({ pool: pool.id, node: target }));
    }
    // CNI attachments of the target, where it has any, and their containers' netns (cni-leaks.ts).
    const attachments = new Map<string, AttachmentRecord[]>();
    const netns = new Map<string, NetnsState>();
    const netnsState = options.netnsState ?? netnsStateOf;
    for (const pool of pools) {
      if (!(addresses.get(pool.id) ?? []).some((r) => r.kind === 'cni')) continue;
      const records = await store.listAttachments({ pool: pool.id, node: target });
      attachments.set(pool.id, records);
      for (const a of records) if (!netns.has(a.netns)) netns.set(a.netns, netnsState(a.netns));
    }
    const usage = dockerUsage(snapshot, ipamDriver);
    const nowMs = now();
    const holdFence = holdFenceOf({ fence, fenceAtMs, nowMs, graceMs, options, addresses });
    options.revisionClock?.note({ revision: fence, atMs: fenceAtMs }, graceMs);
    const plan = planCleanup({
      fence,
      holdFence,
      nowMs,
      graceMs,
      node,
      forgetNode,
      pools,
      addresses,
      usage,
      attachments,
      netns,
    });
    logger?.debug({ fence, pools: pools.length, steps: plan.steps.length, dryRun }, 'cleanup plan');

    const report: CleanupReport = {
      fence,
      fenceAt: new Date(fenceAtMs).toISOString(),
      holdFence,
      pools: pools.length,
      kept: plan.kept,
      freed: 0,
      tooYoung: 0,
      holdsDropped: 0,
      poolsRemoved: 0,
      conflicts: 0,
      actions: [],
      dryRun,
      node: target,
      forgetNode,
      graceMs,
    };
    const emit = (action: CleanupAction): void => {
      report.actions.push(action);
      // Actions are the command's output already; the log keeps them for debugging only.
      logger?.debug({ ...action }, `cleanup ${action.kind} ${action.outcome}`);
      options.onAction?.(action);
    };

    // 4. Look at Docker once more right before writing: a network or container that was
    //    being created during the first look is visible now, and is left alone.
    const confirm =
      dryRun || !plan.steps.some(writes) ? usage : dockerUsage(await docker.snapshot(), ipamDriver);

    for (const step of plan.steps) {
      const wrote = await carryOut(step, {
        store,
        dryRun,
        report,
        emit,
        confirm,
        forget: forgetNode !== undefined,
      });
      if (wrote) changes++;
    }
    const { actions: _actions, ...summary } = report;
    logger?.info(summary, dryRun ? 'cleanup dry run' : 'cleanup run');
    return report;
  } catch (error) {
    throw translateStoreError(error, changes);
  }
}

/**
 * holdFenceOf bounds the revisions known to be older than the grace period, from this
 * host's own address records (same clock as ours) and earlier runs' fences. A forgotten
 * host takes no new holds, and a zero grace asks for no age check: both use the fence.
 */
function holdFenceOf(args: {
  fence: bigint;
  fenceAtMs: number;
  nowMs: number;
  graceMs: number;
  options: CleanupOptions;
  addresses: ReadonlyMap<string, readonly AddressRecord[]>;
}): bigint {
  const { fence, nowMs, graceMs, options } = args;
  if (options.forgetNode !== undefined || graceMs === 0) return fence;
  const sightings: RevisionSighting[] = [...(options.revisionClock?.sightings ?? [])];
  for (const records of args.addresses.values()) {
    for (const r of records) {
      const atMs = Date.parse(r.at);
      if (r.node === options.node && !Number.isNaN(atMs)) {
        sightings.push({ revision: r.createRevision, atMs });
      }
    }
  }
  const old = revisionOlderThan(sightings, nowMs - graceMs);
  // biome-ignore lint/complexity/useMathMinMax: bigints; Math.min takes numbers only
  return old < fence ? old : fence;
}

function writes(step: PlannedStep): boolean {
  return (
    step.kind === 'free-address' ||
    step.kind === 'free-attachment' ||
    step.kind === 'drop-hold' ||
    step.kind === 'remove-pool'
  );
}
