import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RevisionClock, revisionOlderThan } from '../src/revision-age.js';

describe('revisionOlderThan', () => {
  it('is the newest revision seen at or before the cut-off, 0n when none is', () => {
    const seen = [
      { revision: 10n, atMs: 1000 },
      { revision: 30n, atMs: 3000 },
      { revision: 20n, atMs: 2000 },
    ];
    expect(revisionOlderThan(seen, 999)).toBe(0n);
    expect(revisionOlderThan(seen, 2000)).toBe(20n);
    expect(revisionOlderThan(seen, 10_000)).toBe(30n);
  });
});

describe('RevisionClock', () => {
  it('keeps what a later cut-off can still need, and answers as if it kept everything', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 30_000 }),
        (steps, graceMs, lookAhead) => {
          const clock = new RevisionClock();
          const all: Array<{ revision: bigint; atMs: number }> = [];
          let atMs = 0;
          steps.forEach((step, i) => {
            atMs += step;
            const sighting = { revision: BigInt(i + 1), atMs };
            all.push(sighting);
            clock.note(sighting, graceMs);
          });
          // Any later run's cut-off (now - grace, now >= last sighting) gets the same answer.
          const cutoff = atMs + lookAhead - graceMs;
          expect(revisionOlderThan(clock.sightings, cutoff)).toBe(revisionOlderThan(all, cutoff));
          expect(clock.sightings.length).toBeLessThanOrEqual(all.length);
        },
      ),
    );
  });

  it('forgets sightings nobody can need any more', () => {
    const clock = new RevisionClock();
    for (let i = 1; i <= 100; i++) clock.note({ revision: BigInt(i), atMs: i * 1000 }, 5000);
    expect(clock.sightings.map((s) => s.revision)).toEqual([95n, 96n, 97n, 98n, 99n, 100n]);
  });
});
