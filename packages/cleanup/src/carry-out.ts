/**
 * Carrying out a run's planned steps: one guarded store write per step (or, in a dry run,
 * only the report of it), each re-checked against Docker's second look first. A write that
 * a concurrent change beats is reported as `changed`, never retried: the change wins.
 */
import type { AddressRecord, AttachmentRecord, NodeId, PoolStatus } from '@kontena-ipam/store';
import { StoreError } from '@kontena-ipam/store';
import { describeAttachment } from './cni-leaks.js';
import type { CleanupAction, CleanupOptions, CleanupReport } from './contract.js';
import { addressKey, type DockerUsage } from './docker-usage.js';
import { describeAddress, type PlannedStep } from './plan.js';

/** StepContext is what carrying out a step needs from its run. */
export interface StepContext {
  store: CleanupOptions['store'];
  dryRun: boolean;
  forget: boolean;
  report: CleanupReport;
  emit: (action: CleanupAction) => void;
  /** Docker as seen right before writing. */
  confirm: DockerUsage;
}

/** lostRace reports a write that a concurrent change beat; the change wins. */
function lostRace(error: unknown): boolean {
  // A forgotten host that registered again is no lost race: the whole run must stop.
  if (error instanceof StoreError && error.code === 'NODE_LIVE') return false;
  return error instanceof StoreError && (error.kind === 'conflict' || error.kind === 'not-found');
}

/** guardedWrite runs one guarded store write; a write a concurrent change beat yields `lost`. */
async function guardedWrite<T>(write: () => Promise<T>, lost: T): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!lostRace(error)) throw error;
    return lost;
  }
}

/** changedMeanwhile reports a write a concurrent change beat (nothing written); returns false. */
function changedMeanwhile(base: FreeBase, reason: string, ctx: StepContext): false {
  ctx.report.conflicts++;
  ctx.emit({ ...base, outcome: 'changed', reason });
  return false;
}

/** keptForNetworks reports a pool kept because local networks `users` appeared on it; true if any. */
function keptForNetworks(pool: PoolStatus, users: string[], ctx: StepContext): boolean {
  if (users.length === 0) return false;
  ctx.emit({
    kind: 'keep-pool',
    outcome: 'skipped',
    pool: pool.id,
    reason: `local network ${users.join(', ')} appeared meanwhile`,
  });
  return true;
}

/** POOL_CHANGED is the reason given when a pool write loses to a concurrent change. */
const POOL_CHANGED = 'the pool changed since it was read; left as it is';

/** carryOut performs one step and reports it; returns true when it wrote to the store. */
export async function carryOut(step: PlannedStep, ctx: StepContext): Promise<boolean> {
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
    case 'skip-attachment': {
      report.tooYoung++;
      emit({
        kind: 'skip-address',
        outcome: 'skipped',
        pool,
        address: describeAttachment(step.attachment),
        node: step.attachment.node,
        reason: step.reason,
      });
      return false;
    }
    case 'free-attachment':
      return await freeAttachment(step.pool, step.attachment, step.reason, ctx);
  }
}

/** FreeBase is what a free's report lines say of it. */
type FreeBase = Omit<CleanupAction, 'outcome' | 'reason'>;

/**
 * freed finishes a free of `base`: in a dry run only its report; else the guarded `write`
 * (false: a concurrent change won, reported as `changed` with `lost`), then its report.
 */
async function freed(
  base: FreeBase,
  reason: string,
  ctx: StepContext,
  write: () => Promise<boolean>,
  lost: string,
): Promise<boolean> {
  if (ctx.dryRun) {
    ctx.report.freed++;
    ctx.emit({ ...base, outcome: 'dry-run', reason });
    return false;
  }
  if (!(await guardedWrite(write, false))) return changedMeanwhile(base, lost, ctx);
  ctx.report.freed++;
  ctx.emit({ ...base, outcome: 'done', reason });
  return true;
}

/** freeAttachment does the CNI DEL a runtime never sent: the attachment and its address go. */
function freeAttachment(
  pool: PoolStatus,
  attachment: AttachmentRecord,
  reason: string,
  ctx: StepContext,
): Promise<boolean> {
  const base = {
    kind: 'free-address' as const,
    pool: pool.id,
    address: describeAttachment(attachment),
    node: attachment.node,
  };
  const write = async () =>
    (await ctx.store.detach({ pool: pool.id, node: attachment.node, ref: attachment.ref }))
      .released;
  return freed(base, reason, ctx, write, 'freed concurrently (a DEL came); left as it is');
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
  if (!ctx.dryRun && ctx.confirm.liveAddresses.has(addressKey(record.address))) {
    ctx.report.kept++;
    ctx.emit({
      ...base,
      kind: 'skip-address',
      outcome: 'skipped',
      reason: 'a local Docker endpoint took it meanwhile',
    });
    return false;
  }
  const write = () =>
    ctx.store.releaseAddressIfUnchanged({
      pool: pool.id,
      address: record.address,
      modRevision: record.modRevision,
      // The owner's fence (the app sets it): only while cleanup may act for that host.
      node: record.node,
    });
  return freed(
    base,
    reason,
    ctx,
    write,
    'changed or freed concurrently since it was read; left as it is',
  );
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
  if (keptForNetworks(pool, stillUsed(pool, ctx), ctx)) return false;
  // Guarded by the mod revision the plan judged: a hold taken or dropped since (a network
  // being created right now) makes the store write nothing, and the change wins.
  const result = await guardedWrite(
    () => ctx.store.dropHold({ pool: pool.id, node, modRevision: pool.modRevision }),
    { removed: false, released: false },
  );
  if (!result.released) return changedMeanwhile(base, POOL_CHANGED, ctx);
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
  if (keptForNetworks(pool, ctx.confirm.networksUsing(pool), ctx)) return false;
  const removed = await guardedWrite(
    () => ctx.store.removePoolIfUnheld({ pool: pool.id, modRevision: pool.modRevision }),
    false,
  );
  if (!removed) return changedMeanwhile(base, POOL_CHANGED, ctx);
  ctx.report.poolsRemoved++;
  ctx.emit({ ...base, outcome: 'done', reason });
  return true;
}
