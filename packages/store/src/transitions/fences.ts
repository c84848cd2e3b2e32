/**
 * Fences: what a write for one host must find in etcd to commit. NODE_ID names the owner of
 * every hold, block claim and address record, so a write in a host's name is only safe while
 * the writer really is that host: the live instance holding the host's registration
 * (registration.ts), or an operator tool acting for a host that holds none (`--forget-node`).
 *
 * The fence is one more compare in the same transaction as the write (cas.ts adds it, and reads
 * the registration back on a failed commit), never a check before it: an instance that was
 * paused or partitioned past its lease still holds its local view and may still send.
 */
import type { IKeyValue } from 'etcd3';
import { StoreError } from '../errors.js';
import type { Fence } from '../etcd/fences.js';
import { decodeRegistration, describe } from '../layout/registration-record.js';
import type { NodeId } from '../types.js';

/**
 * absentFence is the fence of an operator tool writing for a host that must not be live (cleanup
 * `--forget-node`): each write commits only while the host holds no registration, so a host that
 * comes back meanwhile keeps everything not yet freed.
 */
export function absentFence(node: NodeId, key: string): Fence {
  return {
    key,
    guard: () => ({ key, absent: true }),
    refused: (kv) =>
      kv
        ? new StoreError(
            'NODE_LIVE',
            `node ${node} registered again (${describeHolder(kv)}) while it was being forgotten; nothing more of it was freed`,
          )
        : undefined,
  };
}

/**
 * heldFence is the fence of a process acting as a host whose registration another process on
 * the same machine holds (cleanup beside its plugin): each write commits only while that very
 * registration (`value`, as read) is still the host's.
 */
export function heldFence(node: NodeId, key: string, value: string): Fence {
  return {
    key,
    guard: () => ({ key, holds: value }),
    refused: (kv) =>
      kv?.value.toString() === value
        ? undefined
        : new StoreError(
            'NOT_REGISTERED',
            `node ${node}: its registration changed while this tool ran (${kv ? describeHolder(kv) : 'none now'}); nothing more was written`,
          ),
  };
}

/** describeHolder names the instance in a registration value for messages. */
export function describeHolder(kv: IKeyValue): string {
  try {
    return describe(decodeRegistration(kv));
  } catch {
    return 'an unreadable registration';
  }
}
