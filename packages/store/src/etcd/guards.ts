/**
 * Guards: the terms of a commit's If, typed, and their etcd compares (including a range compare
 * on a prefix, which etcd3's builder cannot express).
 */
import type { ICompare } from 'etcd3';
import { prefixEnd } from './ops.js';

/** Guard is one term of a commit's If: a condition on one key, or on every key under a prefix. */
export type Guard =
  /** The key does not exist. */
  | { key: string; absent: true }
  /** The key exists. */
  | { key: string; present: true }
  /** The key is the very one created at this revision (not deleted and made again since). */
  | { key: string; createdAt: bigint }
  /** The key is unchanged since it was read at this mod revision (0: still absent). */
  | { key: string; modifiedAt: bigint }
  /** The key was not created or changed after this revision (absent passes too). */
  | { key: string; unchangedSince: bigint }
  /** No key under the prefix was created or changed after this revision. */
  | { prefix: string; unchangedSince: bigint }
  /** The key holds exactly these bytes (what one write put there, token included). */
  | { key: string; holds: string };

/** toCompare turns a Guard into etcd's compare. */
export function toCompare(guard: Guard): ICompare {
  if ('prefix' in guard) {
    // Every key in [prefix, end) must have mod_revision < R+1; an empty range passes.
    return {
      key: Buffer.from(guard.prefix),
      range_end: prefixEnd(guard.prefix),
      target: 'Mod',
      result: 'Less',
      mod_revision: (guard.unchangedSince + 1n).toString(),
    };
  }
  const key = Buffer.from(guard.key);
  if ('holds' in guard) {
    return { key, target: 'Value', result: 'Equal', value: Buffer.from(guard.holds) };
  }
  if ('unchangedSince' in guard) {
    // An absent key compares as mod_revision 0, so it passes.
    const next = (guard.unchangedSince + 1n).toString();
    return { key, target: 'Mod', result: 'Less', mod_revision: next };
  }
  if ('absent' in guard) return { key, target: 'Create', result: 'Equal', create_revision: '0' };
  if ('present' in guard) return { key, target: 'Create', result: 'Greater', create_revision: '0' };
  if ('createdAt' in guard) {
    return { key, target: 'Create', result: 'Equal', create_revision: guard.createdAt.toString() };
  }
  return { key, target: 'Mod', result: 'Equal', mod_revision: guard.modifiedAt.toString() };
}
