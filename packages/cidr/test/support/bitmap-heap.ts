/**
 * Measures what an AddressBitmap really costs on the heap, as opposed to its own estimate
 * (memoryBytes): run as `node --expose-gc --import tsx bitmap-heap.ts SCENARIO`, it builds the
 * scenario's bitmap between two full collections and prints one JSON line: the growth of the
 * V8 heap plus ArrayBuffers (typed arrays live there), and the bitmap's estimate.
 */
import { AddressBitmap } from '../../src/index.js';

/** xorshift32 is a small deterministic PRNG (the same as the memory tests'). */
function xorshift32(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** SCENARIOS build the bitmaps the memory tests bound. */
const SCENARIOS: Record<string, () => AddressBitmap> = {
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
};

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const name = process.argv[2] ?? '';
const build = SCENARIOS[name];
if (!build)
  throw new Error(`unknown scenario ${name}: one of ${Object.keys(SCENARIOS).join(', ')}`);
const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const before = used();
const bitmap = build();
const after = used();
process.stdout.write(
  `${JSON.stringify({ heapBytes: after - before, estimate: bitmap.memoryBytes(), allocated: bitmap.allocatedCount })}\n`,
);
