/**
 * The decision on a host's CNI attachments, pure like plan.ts: an attachment is freed (its CNI
 * DEL done for the runtime that never sent it) only when its container is provably gone (its
 * netns, see netns.ts), it was made at or before the fence and it is older than the grace; a
 * forgotten host's attachments go with the host. Docker knows nothing of them, so Docker's view
 * plays no part.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import type { AttachmentRecord, PoolStatus } from '@kontena-ipam/store';
import { formatDuration } from './duration.js';
import type { NetnsState } from './netns.js';

/** AttachmentStep is one attachment's decision. */
export type AttachmentStep =
  | { kind: 'free-attachment'; pool: PoolStatus; attachment: AttachmentRecord; reason: string }
  | { kind: 'skip-attachment'; pool: PoolStatus; attachment: AttachmentRecord; reason: string };

/** AttachmentInput is what the decision reads besides the attachments themselves. */
export interface AttachmentInput {
  fence: bigint;
  nowMs: number;
  graceMs: number;
  /** Set when the host was declared gone: its attachments go whatever their netns. */
  forgetNode: string | undefined;
  /** The state of each recorded netns path, looked at after the fence. */
  netns: ReadonlyMap<string, NetnsState>;
}

/** describeAttachment names an attachment in report lines: `cni:CONTAINER/IFNAME`. */
export function describeAttachment(a: AttachmentRecord): string {
  return `cni:${a.ref.container.slice(0, 12)}/${a.ref.ifname}`;
}

/** attachmentVerdict: undefined keeps it (its netns is there), else a step. */
function attachmentVerdict(
  pool: PoolStatus,
  a: AttachmentRecord,
  input: AttachmentInput,
): AttachmentStep | undefined {
  const who = `${describeAttachment(a)} ${formatAddress(a.address)}`;
  if (a.createRevision > input.fence) {
    return { kind: 'skip-attachment', pool, attachment: a, reason: `${who}: made after the fence` };
  }
  if (input.forgetNode === undefined) {
    const state = input.netns.get(a.netns) ?? 'unknown';
    if (state === 'present') return undefined;
    if (state === 'unknown') {
      return {
        kind: 'skip-attachment',
        pool,
        attachment: a,
        reason: `${who}: its netns ${a.netns} cannot be looked at here (mount the runtime's netns folder into cleanup to judge it)`,
      };
    }
  }
  const takenMs = Date.parse(a.at);
  const ageMs = input.nowMs - takenMs;
  if (Number.isNaN(takenMs) || ageMs < input.graceMs) {
    return {
      kind: 'skip-attachment',
      pool,
      attachment: a,
      reason: `${who}: younger than the grace period ${formatDuration(input.graceMs)} (made ${a.at})`,
    };
  }
  const why =
    input.forgetNode === undefined
      ? `its netns ${a.netns} is gone (the container is), and no DEL came`
      : `host ${input.forgetNode} was declared gone (--forget-node)`;
  return { kind: 'free-attachment', pool, attachment: a, reason: `${who}: ${why}` };
}

/** planAttachments decides the target host's attachments in one pool; `kept` counts the live ones. */
export function planAttachments(
  pool: PoolStatus,
  attachments: readonly AttachmentRecord[],
  input: AttachmentInput,
): { steps: AttachmentStep[]; kept: number } {
  const steps: AttachmentStep[] = [];
  let kept = 0;
  for (const a of attachments) {
    const step = attachmentVerdict(pool, a, input);
    if (step) steps.push(step);
    else kept++;
  }
  return { steps, kept };
}
