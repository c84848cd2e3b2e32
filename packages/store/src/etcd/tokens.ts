/**
 * "Did an earlier attempt of mine commit?", answered one way everywhere. The store re-sends a
 * transaction whose answer was lost (attempts.ts; etcd3's own retries are off), though etcd may
 * have applied it: the re-sent one then fails its compare, and its Else reads show what is there.
 * From those reads a transition's `mine` (cas.ts) tells its own earlier success by this rule:
 *
 *   - a put is ours when the record there carries this call's token (putLanded): every record
 *     a transition writes carries a fresh token (newToken), and a record that keeps several
 *     (a pool's, a hold's: their recent writers) counts if any is ours;
 *   - a delete is ours when the key it decided to delete is gone, or was created again since
 *     (deleteLanded): another create revision than the one the decision read. A key made again
 *     is someone's newer record, not ours to delete again.
 *
 * Anything else is somebody else's change, and the transition decides again (`lost`).
 */
import { randomBytes } from 'node:crypto';
import type { IKeyValue } from 'etcd3';

/** Random per process: with a counter, tokens are unique without 12 random bytes per request. */
const TOKEN_PREFIX = randomBytes(12).toString('base64url');
let tokens = 0;

/**
 * newToken is the per-request token every written record carries: unique across processes
 * (the random prefix) and requests (the counter), which is all a re-sent transaction needs to
 * recognise its own earlier success.
 */
export function newToken(): string {
  tokens += 1;
  return `${TOKEN_PREFIX}${tokens.toString(36)}`;
}

/** putLanded: the record read back carries `token` (one token, or a record's recent ones). */
export function putLanded(token: string, carried: string | readonly string[] | undefined): boolean {
  if (carried === undefined) return false;
  return typeof carried === 'string' ? carried === token : carried.includes(token);
}

/**
 * deleteLanded: the key a delete decided on (created at `decidedOn`) is gone or was made again,
 * as `now` (the key read back) shows. Undefined `decidedOn`: no delete was decided, so no.
 */
export function deleteLanded(
  decidedOn: bigint | string | undefined,
  now: IKeyValue | undefined,
): boolean {
  if (decidedOn === undefined) return false;
  return now === undefined || now.create_revision !== decidedOn.toString();
}
