/**
 * runCleanup: one reconcile run. Reads everything first (fence, Docker, store), decides
 * with planCleanup, then writes one guarded store transaction per step. Nothing is written
 * before every read has succeeded, and each write is all-or-nothing, so a run that stops
 * on an outage leaves no half-done change behind.
 */
import type { AddressRecord, AttachmentRecord, NodeId, PoolStatus } from '@kontena-ipam/store';
import { StoreError } from '@kontena-ipam/store';
import { carryOut } from './carry-out.js';
import {
  type CleanupAction,
  type CleanupOptions,
  type CleanupReport,
  DEFAULT_GRACE_MS,
  DEFAULT_IPAM_DRIVER,
} from './contract.js';
import { type DockerUsage, dockerUsage } from './docker-usage.js';
import { CleanupError } from './errors.js';
import { type NetnsState, netnsStateOf } from './netns.js';
import { type Plan, type PlannedStep, planCleanup } from './plan.js';
import { type RevisionSighting, revisionOlderThan } from './revision-age.js';

/** translateStoreError turns the store's errors into ours at this boundary. */
function translateStoreError(error: unknown, changes: number): unknown {
  if (error instanceof CleanupError) return error;
  const done =
    changes === 0
      ? 'nothing was changed'
      : `stopped after ${changes} change(s), each complete; the next run continues`;
  // The forgotten host registered again: the fence refused the write. The same refusal as
  // the check before the run (HOST_LIVE), not a store failure.
  if (error instanceof StoreError && error.code === 'NODE_LIVE') {
    return new CleanupError('HOST_LIVE', `${error.message}; ${done}`, { cause: error });
  }
  if (error instanceof StoreError && error.kind === 'unavailable') {
    return new CleanupError('STORE_UNAVAILABLE', `${error.message}; ${done}`, { cause: error });
  }
  if (error instanceof StoreError) {
    return new CleanupError('STORE_FAILED', `store: ${error.message}; ${done}`, { cause: error });
  }
  return error;
}

/** RunSettings is one run's options checked, with their defaults applied. */
interface RunSettings {
  graceMs: number;
  dryRun: boolean;
  ipamDriver: string;
  now: () => number;
  /** The host whose addresses and holds this run looks at: forgetNode, else this host. */
  target: NodeId;
}

/** settingsOf checks the options (CleanupError INVALID_ARGUMENT) and applies the defaults. */
function settingsOf(options: CleanupOptions): RunSettings {
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
  return {
    graceMs,
    dryRun: options.dryRun ?? false,
    ipamDriver: options.ipamDriver ?? DEFAULT_IPAM_DRIVER,
    now: options.now ?? Date.now,
    target: options.forgetNode ?? options.node,
  };
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
  const run = settingsOf(options);
  const progress = { changes: 0 };
  try {
    const reads = await readAll(options, run);
    const decided = decide(options, run, reads);
    const report = reportOf(options, run, decided);
    await carryOutAll(options, { run, decided, report }, progress);
    const { actions: _actions, ...summary } = report;
    options.logger?.info(summary, run.dryRun ? 'cleanup dry run' : 'cleanup run');
    return report;
  } catch (error) {
    throw translateStoreError(error, progress.changes);
  }
}

/** Reads is everything a run decides from, all read after its fence. */
interface Reads {
  fence: bigint;
  fenceAtMs: number;
  pools: PoolStatus[];
  /** The target host's address records per pool id. */
  addresses: Map<string, AddressRecord[]>;
  /** The target host's CNI attachments per pool id (pools where it has CNI addresses). */
  attachments: Map<string, AttachmentRecord[]>;
  /** The state of each of those attachments' netns (cni-leaks.ts). */
  netns: Map<string, NetnsState>;
  /** What Docker used at the first look. */
  usage: DockerUsage;
}

/** readAll takes the fence, then Docker's view, then the store's, in that order. */
async function readAll(options: CleanupOptions, run: RunSettings): Promise<Reads> {
  const { store, docker } = options;
  // 1. The fence comes first: anything written after it is newer than every read below.
  const fence = await store.revision();
  const fenceAtMs = run.now();
  // 2. Docker after the fence, so an endpoint made before the fence is seen here.
  const snapshot = await docker.snapshot();
  // 3. The store's view.
  const pools = await store.listPools();
  const addresses = new Map<string, AddressRecord[]>();
  for (const pool of pools) {
    addresses.set(pool.id, await store.listAddresses({ pool: pool.id, node: run.target }));
  }
  const { attachments, netns } = await readAttachments(options, run, { pools, addresses });
  const usage = dockerUsage(snapshot, run.ipamDriver);
  return { fence, fenceAtMs, pools, addresses, attachments, netns, usage };
}

/**
 * readAttachments reads the target's CNI attachments of every pool where it has CNI addresses,
 * and the state of their containers' netns (cni-leaks.ts).
 */
async function readAttachments(
  options: CleanupOptions,
  run: RunSettings,
  read: Pick<Reads, 'pools' | 'addresses'>,
): Promise<Pick<Reads, 'attachments' | 'netns'>> {
  const attachments = new Map<string, AttachmentRecord[]>();
  const netns = new Map<string, NetnsState>();
  const netnsState = options.netnsState ?? netnsStateOf;
  for (const pool of read.pools) {
    if (!(read.addresses.get(pool.id) ?? []).some((r) => r.kind === 'cni')) continue;
    const attached = await options.store.listAttachments({ pool: pool.id, node: run.target });
    attachments.set(pool.id, attached);
    for (const a of attached) if (!netns.has(a.netns)) netns.set(a.netns, netnsState(a.netns));
  }
  return { attachments, netns };
}

/** Decided is a run's plan and the fences it was made with. */
interface Decided {
  reads: Reads;
  holdFence: bigint;
  plan: Plan;
}

/** decide plans the run from its reads (no I/O), and notes this run's fence in the clock. */
function decide(options: CleanupOptions, run: RunSettings, reads: Reads): Decided {
  const { fence, fenceAtMs, pools, addresses, usage, attachments, netns } = reads;
  const { graceMs } = run;
  const nowMs = run.now();
  const holdFence = holdFenceOf({ fence, fenceAtMs, nowMs, graceMs, options, addresses });
  options.revisionClock?.note({ revision: fence, atMs: fenceAtMs }, graceMs);
  const plan = planCleanup({
    fence,
    holdFence,
    nowMs,
    graceMs,
    node: options.node,
    forgetNode: options.forgetNode,
    pools,
    addresses,
    usage,
    attachments,
    netns,
  });
  options.logger?.debug(
    { fence, pools: pools.length, steps: plan.steps.length, dryRun: run.dryRun },
    'cleanup plan',
  );
  return { reads, holdFence, plan };
}

/** reportOf is the report of a run before any step is carried out. */
function reportOf(options: CleanupOptions, run: RunSettings, decided: Decided): CleanupReport {
  const { fence, fenceAtMs, pools } = decided.reads;
  return {
    fence,
    fenceAt: new Date(fenceAtMs).toISOString(),
    holdFence: decided.holdFence,
    pools: pools.length,
    kept: decided.plan.kept,
    freed: 0,
    tooYoung: 0,
    holdsDropped: 0,
    poolsRemoved: 0,
    conflicts: 0,
    actions: [],
    dryRun: run.dryRun,
    node: run.target,
    forgetNode: options.forgetNode,
    graceMs: run.graceMs,
  };
}

/**
 * carryOutAll looks at Docker once more, then carries out every step in order, counting the
 * steps that wrote in `progress` (a failure says how far the run got).
 */
async function carryOutAll(
  options: CleanupOptions,
  state: { run: RunSettings; decided: Decided; report: CleanupReport },
  progress: { changes: number },
): Promise<void> {
  const { run, decided, report } = state;
  const { store, docker, logger } = options;
  const emit = (action: CleanupAction): void => {
    report.actions.push(action);
    // Actions are the command's output already; the log keeps them for debugging only.
    logger?.debug({ ...action }, `cleanup ${action.kind} ${action.outcome}`);
    options.onAction?.(action);
  };
  // 4. Look at Docker once more right before writing: a network or container that was
  //    being created during the first look is visible now, and is left alone.
  const confirm =
    run.dryRun || !decided.plan.steps.some(writes)
      ? decided.reads.usage
      : dockerUsage(await docker.snapshot(), run.ipamDriver);
  const forget = options.forgetNode !== undefined;
  for (const step of decided.plan.steps) {
    const wrote = await carryOut(step, {
      store,
      dryRun: run.dryRun,
      report,
      emit,
      confirm,
      forget,
    });
    if (wrote) progress.changes++;
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
