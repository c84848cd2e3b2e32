/**
 * Measures what an AddressBitmap really costs on the heap, as opposed to its own estimate
 * (memoryBytes): run as `node --expose-gc --import tsx bitmap-heap.ts SCENARIO`, it builds the
 * scenario's bitmap between two full collections and prints one JSON line: the growth of the
 * V8 heap plus ArrayBuffers (typed arrays live there), and the bitmap's estimate.
 */
import { SCENARIOS } from './bitmap-scenarios.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const name = process.argv[2] ?? '';
const build = Object.hasOwn(SCENARIOS, name)
  ? SCENARIOS[name as keyof typeof SCENARIOS]
  : undefined;
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
