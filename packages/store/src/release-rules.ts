/**
 * What a release of a pool's last hold does when its removal lost its compare. The removal
 * reads the pool, the holds and this host's hold at one revision, then deletes the pool with
 * every key under it, guarded on all of that, and on the pool's address keys, being unchanged
 * since that read (pool-store.ts). Its compare fails when one of them changed meanwhile.
 *
 * The address keys matter because an allocation needs a hold (allocation-run.ts compares its
 * host's hold present), and the hold it compares can be the very one being released: this
 * host allocating in the pool while it drops its last hold (Docker removing a network while
 * another of its calls still allocates there, or hold counts that lost track of a network).
 * That address was granted a moment ago, under this hold; removing the pool would take a live
 * address with it, and hand it out again if the subnet is reused. So the release keeps the
 * hold it was asked to drop, writes nothing, and answers "nothing released"; the host's
 * cleanup (which asks the host's Docker) drops the hold once no local network uses the pool,
 * and the pool goes then. An address that was there when the release read is not protected
 * this way: the last hold takes the pool with every address it holds (leaks that Docker never
 * released), as it always did.
 *
 * Kept apart from the transaction so that the rule is tested without etcd
 * (test/release-rules.test.ts).
 */

/** LostRemoval is what the lost removal's Else reads say, against what it decided on. */
export interface LostRemoval {
  /** The caller gave a modRevision (cleanup): any change means it decided on old data. */
  fenced: boolean;
  /** An address key of the pool was created or changed after the removal's read. */
  addressWritten: boolean;
  /** The pool record is the one read (same mod revision). */
  poolAsRead: boolean;
  /** This host's hold is the one read (same mod revision). */
  holdAsRead: boolean;
  /** Another host holds the pool now. */
  otherHolder: boolean;
}

/**
 * AfterLostRemoval: `unchanged` answer "nothing released" (the caller decided on old data);
 * `in-use` keep hold and pool (an address was granted under this hold since the read);
 * `retry` read again and decide anew (a join, a decrement, another holder, a new pool).
 */
export type AfterLostRemoval = 'unchanged' | 'in-use' | 'retry';

/** afterLostRemoval decides what follows a last hold's removal that lost its compare. */
export function afterLostRemoval(r: LostRemoval): AfterLostRemoval {
  if (r.fenced) return 'unchanged';
  // Only an address written since: this host allocated under the hold it is dropping. With
  // another holder now, or our hold or the pool changed, deciding again is right (a leave keeps
  // the pool and the address; a decrement keeps both).
  if (r.addressWritten && r.poolAsRead && r.holdAsRead && !r.otherHolder) return 'in-use';
  return 'retry';
}
