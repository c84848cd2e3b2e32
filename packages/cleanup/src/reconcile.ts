/**
 * runCleanup: one reconcile run. Reads everything first (fence, Docker, store), decides
 * with planCleanup, then writes one guarded store transaction per step. Nothing is written
 * before every read has succeeded, and each write is all-or-nothing, so a run that stops
 * on an outage leaves no half-done change behind.
 */
import type { AddressRecord, NodeId, PoolStatus } from '@kontena-ipam/store';
import { StoreError } from '@kontena-ipam/store';
import {
  type CleanupAction,
  type CleanupOptions,
  type CleanupReport,
  DEFAULT_GRACE_MS,
  DEFAULT_IPAM_DRIVER,
} from './contract.js';
import { addressKey, dockerUsage } from './docker-usage.js';
import { CleanupError } from './errors.js';
import { describeAddress, type PlannedStep, planCleanup } from './plan.js';
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
        target,
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
  return step.kind === 'free-address' || step.kind === 'drop-hold' || step.kind === 'remove-pool';
}

interface StepContext {
  store: CleanupOptions['store'];
  dryRun: boolean;
  target: NodeId;
  forget: boolean;
  report: CleanupReport;
  emit: (action: CleanupAction) => void;
  confirm: ReturnType<typeof dockerUsage>;
}

/** lostRace reports a write that a concurrent change beat; the change wins. */
function lostRace(error: unknown): boolean {
  return error instanceof StoreError && (error.kind === 'conflict' || error.kind === 'not-found');
}

/** carryOut performs one step and reports it; returns true when it wrote to the store. */
async function carryOut(step: PlannedStep, ctx: StepContext): Promise<boolean> {
  const { report, emit } = ctx;
  const pool = step.pool.id;
  switch (step.kind) {
    case 'skip-address': {
      report.tooYoung++;
      emit({
        kind: 'skip-address',
        outcome: 'skipped',
        pool,
        address: describeAddress(step.record),
        node: step.record.node,
        reason: step.reason,
      });
      return false;
    }
    case 'keep-pool': {
      if (step.young) report.tooYoung++;
      emit({ kind: 'keep-pool', outcome: 'skipped', pool, reason: step.reason });
      return false;
    }
    case 'free-address':
      return await freeAddress(step.pool, step.record, step.reason, ctx);
    case 'drop-hold':
      return await dropHold(step.pool, step.node, step.reason, ctx);
    case 'remove-pool':
      return await removePool(step.pool, step.reason, ctx);
  }
}

async function freeAddress(
  pool: PoolStatus,
  record: AddressRecord,
  reason: string,
  ctx: StepContext,
): Promise<boolean> {
  const base = {
    kind: 'free-address' as const,
    pool: pool.id,
    address: describeAddress(record),
    node: record.node,
  };
  if (ctx.dryRun) {
    ctx.report.freed++;
    ctx.emit({ ...base, outcome: 'dry-run', reason });
    return false;
  }
  if (ctx.confirm.liveAddresses.has(addressKey(record.address))) {
    ctx.report.kept++;
    ctx.emit({
      ...base,
      kind: 'skip-address',
      outcome: 'skipped',
      reason: 'a local Docker endpoint took it meanwhile',
    });
    return false;
  }
  let freed: boolean;
  try {
    freed = await ctx.store.releaseAddressIfUnchanged({
      pool: pool.id,
      address: record.address,
      modRevision: record.modRevision,
    });
  } catch (error) {
    if (!lostRace(error)) throw error;
    freed = false;
  }
  if (freed) {
    ctx.report.freed++;
    ctx.emit({ ...base, outcome: 'done', reason });
    return true;
  }
  ctx.report.conflicts++;
  ctx.emit({
    ...base,
    outcome: 'changed',
    reason: 'changed or freed concurrently since it was read; left as it is',
  });
  return false;
}

function stillUsed(pool: PoolStatus, ctx: StepContext): string[] {
  return ctx.forget ? [] : ctx.confirm.networksUsing(pool);
}

async function dropHold(
  pool: PoolStatus,
  node: NodeId,
  reason: string,
  ctx: StepContext,
): Promise<boolean> {
  const base = { kind: 'drop-hold' as const, pool: pool.id, node };
  const lastHold = Object.keys(pool.holds).every((n) => n === node || (pool.holds[n] ?? 0) <= 0);
  if (ctx.dryRun) {
    ctx.report.holdsDropped++;
    ctx.emit({ ...base, outcome: 'dry-run', reason });
    if (lastHold) {
      ctx.report.poolsRemoved++;
      ctx.emit({
        kind: 'remove-pool',
        outcome: 'dry-run',
        pool: pool.id,
        reason: 'its last hold goes',
      });
    }
    return false;
  }
  const users = stillUsed(pool, ctx);
  if (users.length > 0) {
    ctx.emit({
      kind: 'keep-pool',
      outcome: 'skipped',
      pool: pool.id,
      reason: `local network ${users.join(', ')} appeared meanwhile`,
    });
    return false;
  }
  // dropHold takes no revision: re-read right before it, so a hold taken since the
  // fence (a network being created now) is not dropped. See README "Limits".
  const changedMeanwhile = (await ctx.store.getPool(pool.id))?.modRevision !== pool.modRevision;
  let result = { removed: false, released: false };
  if (!changedMeanwhile) {
    try {
      result = await ctx.store.dropHold({ pool: pool.id, node });
    } catch (error) {
      if (!lostRace(error)) throw error;
    }
  }
  if (!result.released) {
    ctx.report.conflicts++;
    ctx.emit({
      ...base,
      outcome: 'changed',
      reason: 'the pool changed since it was read; left as it is',
    });
    return false;
  }
  ctx.report.holdsDropped++;
  ctx.emit({ ...base, outcome: 'done', reason });
  if (result.removed) {
    ctx.report.poolsRemoved++;
    ctx.emit({ kind: 'remove-pool', outcome: 'done', pool: pool.id, reason: 'its last hold went' });
  }
  return true;
}

async function removePool(pool: PoolStatus, reason: string, ctx: StepContext): Promise<boolean> {
  const base = { kind: 'remove-pool' as const, pool: pool.id };
  if (ctx.dryRun) {
    ctx.report.poolsRemoved++;
    ctx.emit({ ...base, outcome: 'dry-run', reason });
    return false;
  }
  const users = ctx.confirm.networksUsing(pool);
  if (users.length > 0) {
    ctx.emit({
      kind: 'keep-pool',
      outcome: 'skipped',
      pool: pool.id,
      reason: `local network ${users.join(', ')} appeared meanwhile`,
    });
    return false;
  }
  let removed = false;
  try {
    removed = await ctx.store.removePoolIfUnheld({ pool: pool.id, modRevision: pool.modRevision });
  } catch (error) {
    if (!lostRace(error)) throw error;
  }
  if (!removed) {
    ctx.report.conflicts++;
    ctx.emit({
      ...base,
      outcome: 'changed',
      reason: 'the pool changed since it was read; left as it is',
    });
    return false;
  }
  ctx.report.poolsRemoved++;
  ctx.emit({ ...base, outcome: 'done', reason });
  return true;
}
