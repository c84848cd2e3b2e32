/**
 * The decisions of one run, as a pure function of what was read: the fence, the clock,
 * Docker's snapshot and the store's pools and addresses. No I/O here, so every safety rule
 * can be checked on its own (test/plan.test.ts) before reconcile.ts carries it out.
 */
import { formatAddress, formatSubnet } from '@kontena-ipam/cidr';
import type { AddressRecord, AttachmentRecord, NodeId, PoolStatus } from '@kontena-ipam/store';
import { type AttachmentStep, planAttachments } from './cni-leaks.js';
import { addressKey, type DockerUsage } from './docker-usage.js';
import { formatDuration } from './duration.js';
import type { NetnsState } from './netns.js';

/** PlanInput is everything a run read before deciding. */
export interface PlanInput {
  fence: bigint;
  /**
   * Holds changed at or before this revision are older than the grace period (see
   * revision-age.ts); a hold changed later may belong to a network being created right now.
   */
  holdFence: bigint;
  nowMs: number;
  graceMs: number;
  /** This host. */
  node: NodeId;
  /** Set when the operator declared that host gone; then only it is considered. */
  forgetNode: NodeId | undefined;
  pools: readonly PoolStatus[];
  /** The target host's address records per pool id (listAddresses with its node). */
  addresses: ReadonlyMap<string, readonly AddressRecord[]>;
  usage: DockerUsage;
  /** The target host's CNI attachments per pool id (pools where it has any). */
  attachments?: ReadonlyMap<string, readonly AttachmentRecord[]>;
  /** The state of each attachment's recorded netns path (netns.ts). */
  netns?: ReadonlyMap<string, NetnsState>;
}

/** PlannedStep is one decision; reconcile.ts turns each into an action. */
export type PlannedStep =
  | { kind: 'free-address'; pool: PoolStatus; record: AddressRecord; reason: string }
  | { kind: 'skip-address'; pool: PoolStatus; record: AddressRecord; reason: string }
  | { kind: 'drop-hold'; pool: PoolStatus; node: NodeId; reason: string }
  | { kind: 'remove-pool'; pool: PoolStatus; reason: string }
  | { kind: 'keep-pool'; pool: PoolStatus; reason: string; young: boolean }
  | AttachmentStep;

/** Plan is the steps in the order to carry them out, and what was kept without a step. */
export interface Plan {
  steps: PlannedStep[];
  /** Target-host addresses kept because Docker uses them or they are shared (gateway, aux). */
  kept: number;
}

function heldBy(pool: PoolStatus, node: NodeId): boolean {
  return (pool.holds[node] ?? 0) > 0;
}

/**
 * addressVerdict decides one address of the target host: keep (in use or shared), skip
 * (too young to judge) or free. The checks run from "certainly live" to "maybe live".
 */
function addressVerdict(
  record: AddressRecord,
  input: PlanInput,
): { verdict: 'keep' } | { verdict: 'skip' | 'free'; reason: string } {
  // The gateway and aux addresses are shared by every host of the pool and go with it.
  if (record.kind !== 'endpoint') return { verdict: 'keep' };
  if (input.usage.liveAddresses.has(addressKey(record.address))) return { verdict: 'keep' };
  if (record.createRevision > input.fence || record.modRevision > input.fence) {
    return { verdict: 'skip', reason: `written after the fence (revision ${input.fence})` };
  }
  const takenMs = Date.parse(record.at);
  if (Number.isNaN(takenMs)) {
    return { verdict: 'skip', reason: `unknown age (taken "${record.at}")` };
  }
  const ageMs = input.nowMs - takenMs;
  if (ageMs < input.graceMs) {
    return {
      verdict: 'skip',
      reason: `younger than the grace period ${formatDuration(input.graceMs)} (taken ${record.at})`,
    };
  }
  return {
    verdict: 'free',
    reason: `no local Docker endpoint has it (taken ${record.at}, ${formatDuration(Math.floor(ageMs / 1000) * 1000)} ago)`,
  };
}

/** planCleanup decides every step of one run; see README "What one run does". */
export function planCleanup(input: PlanInput): Plan {
  const target = input.forgetNode ?? input.node;
  const steps: PlannedStep[] = [];
  let kept = 0;
  for (const pool of input.pools) {
    const addresses = planAddresses(pool, target, input);
    kept += addresses.kept;
    steps.push(...addresses.steps);
    // Leaked CNI attachments go before the pool is judged (their DEL may give the hold back).
    const attachments = planAttachments(pool, input.attachments?.get(pool.id) ?? [], {
      fence: input.fence,
      nowMs: input.nowMs,
      graceMs: input.graceMs,
      forgetNode: input.forgetNode,
      netns: input.netns ?? new Map(),
    });
    steps.push(...attachments.steps);
    const step = poolStep(pool, target, addresses, input);
    if (step) steps.push(step);
  }
  return { steps, kept };
}

/**
 * planAddresses decides each of the target host's addresses in one pool; `young` counts those
 * too young to judge (they keep the host's hold on the pool for another run, see holdStep).
 */
function planAddresses(pool: PoolStatus, target: NodeId, input: PlanInput): AddressesSeen {
  const steps: PlannedStep[] = [];
  let kept = 0;
  let young = 0;
  let cni = 0;
  for (const record of input.addresses.get(pool.id) ?? []) {
    // listAddresses was asked for the target only; check anyway, another host's addresses are never ours to free.
    if (record.node !== target) continue;
    if (record.kind === 'cni') cni++;
    const decision = addressVerdict(record, input);
    if (decision.verdict === 'keep') kept++;
    else if (decision.verdict === 'skip') {
      young++;
      steps.push({ kind: 'skip-address', pool, record, reason: decision.reason });
    } else {
      steps.push({ kind: 'free-address', pool, record, reason: decision.reason });
    }
  }
  return { steps, kept, young, cni };
}

/**
 * AddressesSeen is what planAddresses found of the target's addresses in one pool: its steps,
 * how many it kept, how many were too young to judge, and how many are CNI attachments'.
 */
interface AddressesSeen {
  steps: PlannedStep[];
  kept: number;
  young: number;
  cni: number;
}

/**
 * poolStep decides the pool itself, after its addresses: the target's hold when it has one
 * (holdStep), removal when nobody holds it (unheldStep), nothing when only others hold it.
 */
function poolStep(
  pool: PoolStatus,
  target: NodeId,
  addresses: AddressesSeen,
  input: PlanInput,
): PlannedStep | undefined {
  const holders = Object.keys(pool.holds).filter((n) => (pool.holds[n] ?? 0) > 0);
  if (heldBy(pool, target) && addresses.cni > 0 && !input.forgetNode) {
    // CNI attachments hold the pool through the host's hold, and Docker knows nothing of them:
    // they are freed by the runtime's DEL or GC, never by a comparison with Docker.
    return {
      kind: 'keep-pool',
      pool,
      young: false,
      reason: `${addresses.cni} CNI attachment(s) of ${target} hold it`,
    };
  }
  if (heldBy(pool, target)) return holdStep(pool, target, holders, addresses.young, input);
  if (holders.length === 0) return unheldStep(pool, input);
  return undefined;
}

/** holdStep: drop the target's hold, or keep it while it is in use or too young to judge. */
function holdStep(
  pool: PoolStatus,
  target: NodeId,
  holders: readonly string[],
  youngAddresses: number,
  input: PlanInput,
): PlannedStep | undefined {
  // Used locally: this host's hold is live.
  if (!input.forgetNode && input.usage.networksUsing(pool).length > 0) return undefined;
  if (pool.modRevision > input.fence) {
    return {
      kind: 'keep-pool',
      pool,
      young: true,
      reason: `holds changed after the fence (revision ${input.fence})`,
    };
  }
  if (pool.modRevision > input.holdFence) {
    return {
      kind: 'keep-pool',
      pool,
      young: true,
      reason: `holds changed less than the grace period ${formatDuration(input.graceMs)} ago, or when is not known yet (revision ${pool.modRevision})`,
    };
  }
  if (youngAddresses > 0) {
    // The host took an address here lately: whatever it is doing with this pool, it is
    // recent, so the hold waits for the next run like the address does.
    return {
      kind: 'keep-pool',
      pool,
      young: true,
      reason: `${target} took an address in it less than the grace period ago`,
    };
  }
  const others = holders.filter((n) => n !== target);
  const fate =
    others.length > 0
      ? `still held by ${others.join(', ')}, so its addresses stay`
      : `last hold: pool ${formatSubnet(pool.subnet)} goes with it`;
  const why = input.forgetNode
    ? `host ${target} was declared gone (--forget-node)`
    : 'no local Docker network uses it';
  return { kind: 'drop-hold', pool, node: target, reason: `${why}; ${fate}` };
}

/** unheldStep: a pool nobody holds is removed, unless a local network uses it or it just changed. */
function unheldStep(pool: PoolStatus, input: PlanInput): PlannedStep {
  const users = input.usage.networksUsing(pool);
  if (users.length > 0) {
    return {
      kind: 'keep-pool',
      pool,
      young: false,
      reason: `nobody holds it, but local network ${users.join(', ')} uses it`,
    };
  }
  if (pool.modRevision > input.fence) {
    return {
      kind: 'keep-pool',
      pool,
      young: true,
      reason: `nobody holds it, but it changed after the fence (revision ${input.fence})`,
    };
  }
  return {
    kind: 'remove-pool',
    pool,
    reason: `nobody holds it (subnet ${formatSubnet(pool.subnet)})`,
  };
}

/** describeAddress is the canonical text of a record's address, for report lines. */
export function describeAddress(record: AddressRecord): string {
  return formatAddress(record.address);
}
