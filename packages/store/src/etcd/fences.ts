/**
 * Fences: one more compare that every write for a host carries, in the same transaction as the
 * write (cas.ts adds it, and reads its key back on a failed commit), never a check before it:
 * an instance that was paused or partitioned past its lease still holds its local view and may
 * still send. What a host's fence compares is transitions/fences.ts's (its registration).
 */
import type { IKeyValue } from 'etcd3';
import type { StoreError } from '../errors.js';
import type { NodeId } from '../types.js';
import type { Guard } from './guards.js';

/** Fence is what writes for one host compare, and what a failed compare means. */
export interface Fence {
  /** key is the host's registration key, read back when a commit fails. */
  readonly key: string;
  /**
   * guard is the compare a write for the host carries now; it rejects with a StoreError when
   * no write may be sent at all (this instance does not hold the registration).
   */
  guard(): Guard | Promise<Guard>;
  /**
   * refused is the error when a commit failed and the registration read back (`kv`) no longer
   * passes the guard; undefined when it still passes (another compare failed).
   */
  refused(kv: IKeyValue | undefined): StoreError | undefined;
}

/** NodeFences holds the fence of each host this store writes for; hosts without one are unfenced. */
export class NodeFences {
  private readonly fences = new Map<NodeId, Fence>();

  /** set makes every later write for `node` carry `fence` (replacing any before it). */
  set(node: NodeId, fence: Fence): void {
    this.fences.set(node, fence);
  }

  /** clear removes `node`'s fence if it is still `fence`. */
  clear(node: NodeId, fence: Fence): void {
    if (this.fences.get(node) === fence) this.fences.delete(node);
  }

  /** of is `node`'s fence, if any. */
  of(node: NodeId): Fence | undefined {
    return this.fences.get(node);
  }
}
