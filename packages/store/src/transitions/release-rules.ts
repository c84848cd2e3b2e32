/**
 * What a release of a pool's last hold does when its removal lost its compare. The removal
 * reads the pool, the holds and this host's hold at one revision, then deletes the pool with
 * every key under it, guarded on all of that, and on the pool's address keys, being unchanged
 * since that read (pool-release.ts). Its compare fails when one of them changed meanwhile.
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
 * Before that, releaseStep decides what a release does at all, from what it read: nothing,
 * one hold less, leave (naming a witness holder), or remove the pool with its last hold; and
 * releaseLanded tells, after a lost compare, whether an earlier attempt of this very release
 * committed (the rule of etcd/tokens.ts).
 *
 * Kept apart from the transaction so that the rules are tested without etcd
 * (test/release-rules.test.ts).
 */
import type { IKeyValue } from 'etcd3';
import { deleteLanded, putLanded } from '../etcd/tokens.js';
import { decodeHold, type HoldState, type PoolRecord } from '../layout/records.js';

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

/** How many holds to drop: one (ReleasePool) or every one of the host's (cleanup's dropHold). */
export type HoldsToDrop = 'one' | 'all';

/** ReleaseReads is what one round of a release read, decoded. */
export interface ReleaseReads {
  pool: PoolRecord | undefined;
  /** This host's hold. */
  hold: HoldState | undefined;
  /** Up to two hold keys of the pool (enough to know whether another host holds it). */
  holders: readonly string[];
  /** This host's hold key. */
  holdKey: string;
  drop: HoldsToDrop;
}

/**
 * ReleaseStep is what a release decides: `gone` (no pool: nothing to do), `unchanged` (no hold
 * of this host, or only its CNI attachments' reference, which is theirs to give back), or a
 * write: `decrement` to `left` holds, `leave` while `witness` (another host's hold key) still
 * holds the pool, or `remove` the pool with this last hold.
 */
export type ReleaseStep =
  | { step: 'gone' }
  | { step: 'unchanged' }
  | { step: 'decrement'; pool: PoolRecord; hold: HoldState; left: number }
  | { step: 'leave'; pool: PoolRecord; hold: HoldState; witness: string }
  | { step: 'remove'; pool: PoolRecord; hold: HoldState };

/** releaseStep decides a release from one round's reads (see ReleaseStep). */
export function releaseStep(r: ReleaseReads): ReleaseStep {
  const { pool, hold } = r;
  if (!pool) return { step: 'gone' };
  if (!hold) return { step: 'unchanged' };
  // The CNI attachments' reference is theirs to give back (attach.ts, detach.ts), not Docker's.
  if (r.drop === 'one' && hold.cni && hold.count <= 1) return { step: 'unchanged' };
  const left = r.drop === 'all' ? 0 : hold.count - 1;
  if (left > 0) return { step: 'decrement', pool, hold, left };
  const witness = r.holders.find((key) => key !== r.holdKey);
  if (witness !== undefined) return { step: 'leave', pool, hold, witness };
  return { step: 'remove', pool, hold };
}

/**
 * Attempted is the write a release's last round tried, and what it decided on: a decrement's
 * token, or the create revision of the key a leave (the hold) or a removal (the pool) deletes.
 */
export type Attempted =
  | { step: 'decrement'; token: string }
  | { step: 'leave'; decidedOn: bigint }
  | { step: 'remove'; decidedOn: bigint };

/**
 * releaseLanded: after a lost compare, did an earlier attempt of this release commit (a re-sent
 * transaction)? A decrement's hold carries its token; a leave's hold, or a removal's pool, is
 * gone or made again since (etcd/tokens.ts). `pool` and `hold` are the keys read back.
 */
export function releaseLanded(
  attempted: Attempted | undefined,
  pool: IKeyValue | undefined,
  hold: IKeyValue | undefined,
): boolean {
  switch (attempted?.step) {
    case 'remove':
      return deleteLanded(attempted.decidedOn, pool);
    case 'leave':
      return deleteLanded(attempted.decidedOn, hold);
    case 'decrement':
      return hold !== undefined && putLanded(attempted.token, decodeHold(hold).tokens);
    default:
      return false;
  }
}
