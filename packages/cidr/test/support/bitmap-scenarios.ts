/** The bitmaps bitmap-memory.test.ts measures, built the same way wherever they are measured. */
import { AddressBitmap } from '../../src/index.js';

/** xorshift32 is a small deterministic PRNG, so each run sees the same "random" load. */
function xorshift32(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/**
 * SCENARIOS build the bitmaps the memory tests bound: in the test's own process (size and
 * estimate) and in bitmap-heap.ts's child (the real heap).
 */
export const SCENARIOS = {
  'full-8': () => {
    const b = new AddressBitmap(2 ** 24);
    for (let i = 0; i < 2 ** 24; i++) b.allocateFirstFree();
    return b;
  },
  'half-8': () => {
    const b = new AddressBitmap(2 ** 24);
    const rand = xorshift32(12345);
    for (let o = 0; o < 2 ** 24; o++) if ((rand() & 1) === 1) b.allocate(o);
    return b;
  },
  'scattered-2^53': () => {
    const size = Number.MAX_SAFE_INTEGER;
    const b = new AddressBitmap(size);
    const rand = xorshift32(777);
    while (b.allocatedCount < 100_000) b.allocate(((rand() & 0x1fffff) * 2 ** 32 + rand()) % size);
    return b;
  },
  'empty-2^53': () => {
    const b = new AddressBitmap(Number.MAX_SAFE_INTEGER);
    b.allocate(0);
    b.allocate(Number.MAX_SAFE_INTEGER - 1);
    return b;
  },
} satisfies Record<string, () => AddressBitmap>;
