/**
 * A host's registration as etcd keeps it, and the pure decision of what an instance does with
 * what it read there. Keys (keys.ts): `nodes/<NodeId>` is the live registration, put under the
 * instance's lease, so it vanishes when the lease is revoked (a clean stop) or expires (a crash,
 * a partition, a frozen VM); `hosts/<NodeId>` is the last registration without a lease, so
 * operators can see since when a host is gone.
 */
import type { IKeyValue } from 'etcd3';
import { StoreError } from '../errors.js';
import type { NodeId } from '../types.js';

/** InstanceInfo is what helps an operator tell two instances apart (the app fills it in). */
export interface InstanceInfo {
  hostname: string;
  /** /etc/machine-id where readable: cloned VMs often share it, so it is shown, never trusted. */
  machineId?: string;
  /** The kernel's boot id: random per boot, so clones differ; the same on one machine's containers. */
  bootId?: string;
  /** The pid namespace the pid is counted in (`pid:[4026531836]`). */
  pidNamespace?: string;
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/PID/stat), to tell a reused pid. */
  processStart?: string;
  version: string;
  /** ISO time the instance started. */
  startedAt: string;
}

/** Registration is one instance's claim to serve a NODE_ID, as stored under its lease. */
export interface Registration extends InstanceInfo {
  node: NodeId;
  /** Random per process: what makes two instances with one NODE_ID distinguishable. */
  instance: string;
  /** The etcd lease (hex): a new one each time the instance registers again. */
  lease: string;
}

/** HostRecord is the last registration of a host, kept without a lease (`hosts/<NodeId>`). */
export interface HostRecord extends Registration {
  /** ISO time of the clean stop that ended it; absent while it runs or after a crash. */
  stoppedAt?: string;
}

/** encodeRegistration is the exact bytes writes for the host compare (see fences.ts). */
export function encodeRegistration(r: Registration): string {
  return JSON.stringify(r);
}

/** decodeRegistration reads a registration or host record; CORRUPT_RECORD if unreadable. */
export function decodeRegistration(kv: IKeyValue): HostRecord {
  const key = kv.key.toString();
  let obj: unknown;
  try {
    obj = JSON.parse(kv.value.toString());
  } catch {
    throw new StoreError('CORRUPT_RECORD', `${key}: not JSON`);
  }
  const r = obj as Record<string, unknown>;
  for (const field of ['node', 'instance', 'lease', 'hostname', 'version', 'startedAt']) {
    if (typeof r[field] !== 'string') {
      throw new StoreError('CORRUPT_RECORD', `${key}: field "${field}" is missing or not text`);
    }
  }
  if (typeof r.pid !== 'number') {
    throw new StoreError('CORRUPT_RECORD', `${key}: field "pid" is missing or not a number`);
  }
  return r as unknown as HostRecord;
}

/** describe names an instance in messages: the fields an operator looks for first. */
export function describe(r: InstanceInfo & { instance: string }): string {
  return `instance ${r.instance} on host ${r.hostname}, pid ${r.pid}, since ${r.startedAt}`;
}

/** RegisterDecision is what an instance does after reading the host's registration key. */
export type RegisterDecision =
  /** Nobody holds it (the create-if-absent compare failed on a key gone since): try again. */
  | { kind: 'retry' }
  /** It is ours already (an earlier attempt of ours committed, its answer lost). */
  | { kind: 'ours' }
  /** Another instance holds it and is live as far as anyone can tell: wait for it to go. */
  | { kind: 'wait'; holder: HostRecord }
  /**
   * Another instance held it on this very machine and is provably dead (its process is gone):
   * delete its registration (guarded on this revision) and register at once, not after its TTL.
   */
  | { kind: 'take-over'; holder: HostRecord; modRevision: bigint };

/**
 * decideRegistration decides from the registration key as read (after our create-if-absent
 * failed). `provablyDead` is the app's check of a holder on this machine; an unreadable
 * registration is waited out like a live one (its lease still ends it).
 */
export function decideRegistration(
  kv: IKeyValue | undefined,
  instance: string,
  provablyDead: (holder: HostRecord) => boolean,
): RegisterDecision {
  if (!kv) return { kind: 'retry' };
  let holder: HostRecord;
  try {
    holder = decodeRegistration(kv);
  } catch {
    return {
      kind: 'wait',
      holder: {
        node: '' as NodeId,
        instance: 'unreadable',
        lease: '',
        hostname: 'unknown',
        pid: 0,
        version: '',
        startedAt: 'unknown',
      },
    };
  }
  if (holder.instance === instance) return { kind: 'ours' };
  if (provablyDead(holder)) {
    return { kind: 'take-over', holder, modRevision: BigInt(kv.mod_revision) };
  }
  return { kind: 'wait', holder };
}

/**
 * sameProcessGone is the check `provablyDead` is built on: true only when the holder ran on this
 * machine in this boot and in this pid namespace (so its pid means the same process here) and
 * that process is gone or is another one now. Anything less (another machine, a clone sharing
 * hostname and machine-id, a container restarted into a new pid namespace) proves nothing.
 */
export function sameProcessGone(
  holder: HostRecord,
  here: Pick<InstanceInfo, 'bootId' | 'pidNamespace'>,
  processStartOf: (pid: number) => string | undefined,
): boolean {
  if (!here.bootId || holder.bootId !== here.bootId) return false;
  if (!here.pidNamespace || holder.pidNamespace !== here.pidNamespace) return false;
  const start = processStartOf(holder.pid);
  return (
    start === undefined || (holder.processStart !== undefined && start !== holder.processStart)
  );
}
