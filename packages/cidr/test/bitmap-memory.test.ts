import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AddressBitmap } from '../src/index.js';
import { errorOf } from './error-of.js';
import { SCENARIOS } from './support/bitmap-scenarios.js';

const MiB = 1024 * 1024;

describe("AddressBitmap memory and serialized size (the issue's bounds)", () => {
  it('a full /8 holds under 4 MiB and serializes to a few bytes per chunk', () => {
    const b = SCENARIOS['full-8']();
    expect(b.freeCount).toBe(0);
    expect(b.memoryBytes()).toBeLessThan(4 * MiB);
    expect(b.toBytes().length).toBeLessThan(1024);
    expect(AddressBitmap.fromBytes(b.toBytes()).allocatedCount).toBe(2 ** 24);
  });

  it('a /8 at 50% random load holds under 2.5 MiB', () => {
    const b = SCENARIOS['half-8']();
    expect(b.allocatedCount).toBeGreaterThan(2 ** 23 - 20_000);
    expect(b.memoryBytes()).toBeLessThan(2.5 * MiB);
    expect(b.toBytes().length).toBeLessThan(2.1 * MiB);
  });

  it('a 2^53-1 window with 100,000 scattered offsets stays near 5 MB (64 MiB per million)', () => {
    const b = SCENARIOS['scattered-2^53']();
    expect(b.memoryBytes()).toBeLessThan(6.4 * MiB);
    const copy = AddressBitmap.fromBytes(b.toBytes());
    expect(copy.allocatedCount).toBe(100_000);
    // Buffer.equals: vitest's deep equality walks a 700 KB array element by element, slowly.
    expect(Buffer.from(copy.toBytes()).equals(b.toBytes())).toBe(true);
  });
});

/**
 * heapOf builds a scenario's bitmap in a child process with --expose-gc (support/bitmap-heap.ts)
 * and returns what the heap and ArrayBuffers grew by between two full collections, with the
 * bitmap's own estimate: the bounds below hold the real memory, not only the estimate.
 */
function heapOf(
  scenario: string,
): Promise<{ heapBytes: number; estimate: number; allocated: number }> {
  const script = fileURLToPath(new URL('./support/bitmap-heap.ts', import.meta.url));
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', script, scenario],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    ),
  );
}

describe('AddressBitmap memory measured on the heap (a child process, --expose-gc)', () => {
  // Generous bounds, well above what is measured here (in brackets), that a structure growing
  // with the window's size cannot meet: one byte per offset of a /8 is 16 MiB, and anything in
  // proportion to a 2^53-1 window would not fit in any machine.
  it.each([
    // [scenario, allocated offsets, bound on the heap's growth]
    ['full-8', 2 ** 24, 4 * MiB], // a full /8 [~16 KB]
    ['half-8', 8_391_089, 4 * MiB], // a /8 at 50% random load [~2.3 MiB]
    ['scattered-2^53', 100_000, 16 * MiB], // 100,000 offsets in 2^53-1 [~5 MiB]
    ['empty-2^53', 2, 1 * MiB], // two offsets at the ends of 2^53-1 [~4 KB]
  ])('%s', async (scenario, allocated, bound) => {
    const measured = await heapOf(scenario);
    expect(measured.allocated).toBe(allocated);
    expect(measured.heapBytes).toBeLessThan(bound);
    // The estimate the other tests bound is of the same order as what the heap grew by.
    expect(measured.estimate).toBeLessThan(bound);
  });
});

describe('AddressBitmap.fromBytes rejects corrupt input', () => {
  const good = (() => {
    const b = new AddressBitmap(70_000);
    b.allocate(5);
    b.allocate(6);
    b.allocate(69_999);
    return b.toBytes();
  })();

  /** corrupt returns a copy of `good` with byte i replaced, or cut at `length`. */
  const corrupt = (i: number, value: number) => {
    const bytes = good.slice();
    bytes[i] = value;
    return bytes;
  };

  it('accepts the untouched bytes', () => {
    expect(AddressBitmap.fromBytes(good).allocatedCount).toBe(3);
  });

  it.each([
    ['wrong magic', () => corrupt(0, 0)],
    ['unknown version', () => corrupt(2, 9)],
    ['empty', () => new Uint8Array()],
    ['truncated', () => good.subarray(0, good.length - 1)],
    ['trailing bytes', () => Uint8Array.from([...good, 0])],
    ['unknown chunk kind', () => corrupt(good.indexOf(2, 8), 7)],
  ])('%s', (_name, bytes) => {
    const error = errorOf(() => AddressBitmap.fromBytes(bytes()));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/^invalid AddressBitmap bytes: /);
  });

  it('rejects a cursor or an offset outside the size', () => {
    // Header: 'A' 'B' 1, size 1 (varint), cursor 3, one chunk, gap 0, SINGLE, offset 0.
    expect(AddressBitmap.fromBytes(Uint8Array.from([0x41, 0x42, 1, 4, 3, 1, 0, 0, 3])).has(3)).toBe(
      true,
    );
    expect(
      errorOf(() => AddressBitmap.fromBytes(Uint8Array.from([0x41, 0x42, 1, 4, 4, 0]))).message,
    ).toContain('cursor');
    expect(
      errorOf(() => AddressBitmap.fromBytes(Uint8Array.from([0x41, 0x42, 1, 4, 0, 1, 0, 0, 4])))
        .message,
    ).toContain('offset 4');
    expect(
      errorOf(() => AddressBitmap.fromBytes(Uint8Array.from([0x41, 0x42, 1, 4, 0, 1, 1, 1])))
        .message,
    ).toContain('chunk 1');
    expect(
      errorOf(() => AddressBitmap.fromBytes(Uint8Array.from([0x41, 0x42, 1, 0, 0, 0]))).code,
    ).toBe('INVALID_ARGUMENT');
  });
});
