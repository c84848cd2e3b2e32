/**
 * How the etcd layer classifies what a call threw: transient (try again, maybe on another
 * member), a compacted revision (start a paged read over), any other etcd failure (UNAVAILABLE
 * with its cause), or not etcd's at all (propagates as it is).
 */
import { isBrokenCircuitError } from 'cockatiel';
import {
  ClientClosedError,
  ClientRuntimeError,
  EtcdAuthenticationFailedError,
  EtcdError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCGenericError,
  GRPCOutOfRangeError,
  isRecoverableError,
} from 'etcd3';
import { StoreError } from '../errors.js';

/**
 * AttemptTimeout is an attempt that had no answer by its deadline (our timer, for time spent
 * before the request reached the wire).
 */
export class AttemptTimeout extends Error {}

/**
 * isTransient: etcd did not do it, and a moment later or another member may. gRPC's
 * unavailable / deadline / internal family (etcd3 marks them recoverable; "etcdserver: no
 * leader", "leader changed" and "request timed out" arrive as UNAVAILABLE), a member skipped
 * by the host policy, or our own attempt timer.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof AttemptTimeout) return true;
  if (!(error instanceof Error)) return false;
  return isRecoverableError(error) || isBrokenCircuitError(error);
}

/** isCompacted: a read pinned to a revision etcd has compacted away. */
export function isCompacted(error: unknown): boolean {
  const cause = error instanceof StoreError ? error.cause : error;
  return (
    cause instanceof GRPCOutOfRangeError &&
    cause.message.includes('required revision has been compacted')
  );
}

/**
 * isEtcdFailure: any other error etcd3 raised. Its Etcd* classes do not share a base class,
 * so the ones a store call can meet are listed (permissions, auth, a closed client, …).
 */
export function isEtcdFailure(error: unknown): boolean {
  return (
    isTransient(error) ||
    error instanceof GRPCGenericError ||
    error instanceof EtcdError ||
    error instanceof EtcdPermissionDeniedError ||
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof ClientClosedError ||
    error instanceof ClientRuntimeError
  );
}

/** noLeader: the last transient failure said the cluster had no leader (for the message). */
export function noLeader(last: unknown): boolean {
  return last instanceof Error && /no leader|leader changed/.test(last.message);
}

/** unavailable builds the one message shape operators grep for. */
export function unavailable(
  endpoint: string,
  what: string,
  detail: string,
  cause?: unknown,
): StoreError {
  return new StoreError('UNAVAILABLE', `etcd unavailable at ${endpoint}: ${what}: ${detail}`, {
    cause,
  });
}

/**
 * outOfTime is the UNAVAILABLE of a call whose budget was spent before it could ask etcd
 * (waiting locally, or between rounds): it says so instead of blaming etcd, which may be fine.
 */
export function outOfTime(what: string, when: string): StoreError {
  return new StoreError('UNAVAILABLE', `${what}: the call's time ran out ${when}`);
}
