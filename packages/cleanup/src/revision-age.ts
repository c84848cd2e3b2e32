/**
 * How old is an etcd revision? etcd does not say, but the store does indirectly: every
 * address record carries the time it was taken (`at`) and the revision that wrote it, and
 * every cleanup run knows when it read its fence. Each such pair says "revision R existed
 * by time t", so the newest R whose t is older than the grace period bounds which
 * revisions are certainly older than it. Cleanup uses that bound for pool holds, which
 * carry no time of their own: a hold taken by a `docker network create` that is still
 * running must not be dropped just because Docker does not list the network yet.
 */

/** RevisionSighting: revision `revision` existed by `atMs` (ms since the epoch). */
export interface RevisionSighting {
  readonly revision: bigint;
  readonly atMs: number;
}

/**
 * RevisionClock keeps sightings across runs (the CLI's --interval loop holds one), so that a
 * long-running cleanup can always age a hold by its own earlier fences. It keeps only what
 * can still matter: the newest sighting older than the last cut-off, and everything after it.
 */
export class RevisionClock {
  #sightings: RevisionSighting[] = [];

  /** note records a sighting (a run's fence and the time it was read). */
  note(sighting: RevisionSighting, graceMs: number): void {
    this.#sightings.push(sighting);
    this.#sightings.sort((a, b) => a.atMs - b.atMs);
    const cutoff = sighting.atMs - graceMs;
    let keepFrom = 0;
    this.#sightings.forEach((s, i) => {
      if (s.atMs <= cutoff) keepFrom = i;
    });
    this.#sightings = this.#sightings.slice(keepFrom);
  }

  /** sightings are the ones kept, oldest first. */
  get sightings(): readonly RevisionSighting[] {
    return this.#sightings;
  }
}

/**
 * revisionOlderThan returns the newest revision seen at or before `cutoffMs`, or 0n when
 * none was: then no revision is known to be that old, and nothing is judged old by it.
 */
export function revisionOlderThan(sightings: Iterable<RevisionSighting>, cutoffMs: number): bigint {
  let best = 0n;
  for (const s of sightings) {
    if (s.atMs <= cutoffMs && s.revision > best) best = s.revision;
  }
  return best;
}
