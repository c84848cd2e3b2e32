import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressBitmap } from '../src/index.js';

/**
 * The reference model: a Set of allocated offsets and the position where the next
 * allocateNextFree search starts. Every answer of the bitmap must equal the model's.
 */
class Model {
  readonly held = new Set<number>();
  next = 0;
  constructor(readonly size: number) {}

  /** nextFree scans upward from `from`, wrapping once; O(held) steps, fine for a model. */
  nextFree(from: number): number {
    if (this.held.size === this.size) return -1;
    for (let o = from; o < this.size; o++) if (!this.held.has(o)) return o;
    for (let o = 0; o < from; o++) if (!this.held.has(o)) return o;
    return -1;
  }

  take(o: number): number {
    if (o >= 0) {
      this.held.add(o);
      this.next = o + 1 === this.size ? 0 : o + 1;
    }
    return o;
  }
}

type Op =
  | { kind: 'allocate' | 'free' | 'has' | 'findNextFree' | 'setCursor'; at: number }
  | { kind: 'allocateFirstFree' | 'allocateNextFree' | 'roundTrip' }
  | { kind: 'fillRange' | 'freeRange'; at: number; length: number; step: number };

/**
 * Offsets are drawn near interesting places (0, chunk edges, the top) so that small windows of
 * random operations still collide, fill chunks and cross their boundaries.
 */
function offsetArb(size: number): fc.Arbitrary<number> {
  const anchors = [0, 65536 - 3, 65536, 131072 - 2, size - 40, Math.floor(size / 2)].filter(
    (a) => a >= 0 && a < size,
  );
  return fc.oneof(
    fc.integer({ min: 0, max: size - 1 }),
    fc
      .tuple(fc.constantFrom(...anchors), fc.integer({ min: 0, max: 80 }))
      .map(([anchor, delta]) => Math.min(size - 1, anchor + delta)),
  );
}

function opArb(size: number): fc.Arbitrary<Op> {
  const at = offsetArb(size);
  return fc.oneof(
    { weight: 4, arbitrary: at.map((o) => ({ kind: 'allocate' as const, at: o })) },
    { weight: 3, arbitrary: at.map((o) => ({ kind: 'free' as const, at: o })) },
    { weight: 1, arbitrary: at.map((o) => ({ kind: 'has' as const, at: o })) },
    { weight: 2, arbitrary: at.map((o) => ({ kind: 'findNextFree' as const, at: o })) },
    { weight: 1, arbitrary: at.map((o) => ({ kind: 'setCursor' as const, at: o })) },
    { weight: 3, arbitrary: fc.constant({ kind: 'allocateFirstFree' as const }) },
    { weight: 3, arbitrary: fc.constant({ kind: 'allocateNextFree' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'roundTrip' as const }) },
    {
      weight: 1,
      arbitrary: fc
        .record({
          kind: fc.constantFrom('fillRange' as const, 'freeRange' as const),
          at,
          length: fc.oneof(
            fc.integer({ min: 1, max: 300 }),
            fc.integer({ min: 4000, max: 70_000 }),
          ),
          step: fc.constantFrom(1, 1, 1, 2, 3, 17),
        })
        .map((r) => r),
    },
  );
}

/** run applies the ops to a bitmap and the model, comparing every answer. */
function run(size: number, ops: Op[]): void {
  let bitmap = new AddressBitmap(size);
  const model = new Model(size);
  for (const op of ops) {
    switch (op.kind) {
      case 'allocate':
        expect(bitmap.allocate(op.at)).toBe(!model.held.has(op.at));
        model.held.add(op.at);
        break;
      case 'free':
        expect(bitmap.free(op.at)).toBe(model.held.delete(op.at));
        break;
      case 'has':
        expect(bitmap.has(op.at)).toBe(model.held.has(op.at));
        break;
      case 'findNextFree':
        expect(bitmap.findNextFree(op.at)).toBe(model.nextFree(op.at));
        break;
      case 'setCursor':
        bitmap.setCursor(op.at);
        model.next = op.at + 1 === size ? 0 : op.at + 1;
        break;
      case 'allocateFirstFree':
        expect(bitmap.allocateFirstFree()).toBe(model.take(model.nextFree(0)));
        break;
      case 'allocateNextFree':
        expect(bitmap.allocateNextFree()).toBe(model.take(model.nextFree(model.next)));
        break;
      case 'roundTrip':
        bitmap = AddressBitmap.fromBytes(bitmap.toBytes());
        break;
      case 'fillRange':
      case 'freeRange': {
        // One expect for the whole range: a per-offset expect costs more than the bitmap.
        let agreed = true;
        for (let o = op.at, n = 0; o < size && n < op.length; o += op.step, n++) {
          if (op.kind === 'fillRange') {
            if (bitmap.allocate(o) !== !model.held.has(o)) agreed = false;
            model.held.add(o);
          } else {
            if (bitmap.free(o) !== model.held.delete(o)) agreed = false;
          }
        }
        expect(agreed).toBe(true);
        break;
      }
    }
    expect(bitmap.allocatedCount).toBe(model.held.size);
    expect(bitmap.freeCount).toBe(size - model.held.size);
  }
  // Every held offset is held, and a round trip preserves everything.
  expect([...model.held].every((o) => bitmap.has(o))).toBe(true);
  const copy = AddressBitmap.fromBytes(bitmap.toBytes());
  expect(copy.allocatedCount).toBe(model.held.size);
  expect(Buffer.from(copy.toBytes()).equals(bitmap.toBytes())).toBe(true);
  expect(copy.allocateNextFree()).toBe(model.take(model.nextFree(model.next)));
}

describe('AddressBitmap against a Set model', () => {
  it('agrees on small sizes', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 70 })
          .chain((size) => fc.tuple(fc.constant(size), fc.array(opArb(size), { maxLength: 120 }))),
        ([size, ops]) => run(size, ops),
      ),
      { numRuns: 400 },
    );
  });

  it('agrees on sizes around chunk boundaries', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(4095, 4097, 65535, 65536, 65537, 65536 + 10_000, 65536 * 2 + 5, 65536 * 3)
          .chain((size) => fc.tuple(fc.constant(size), fc.array(opArb(size), { maxLength: 40 }))),
        ([size, ops]) => run(size, ops),
      ),
      { numRuns: 60 },
    );
  });

  it('agrees on huge sparse windows (IPv6 stand-in)', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(2 ** 32 + 7, 2 ** 40, Number.MAX_SAFE_INTEGER)
          .chain((size) => fc.tuple(fc.constant(size), fc.array(opArb(size), { maxLength: 60 }))),
        ([size, ops]) => run(size, ops),
      ),
      { numRuns: 100 },
    );
  });

  it('fills and drains every chunk shape in order', () => {
    for (const size of [1, 2, 3, 4096, 4097, 65536 * 2 + 1]) {
      const bitmap = new AddressBitmap(size);
      for (let i = 0; i < size; i++) bitmap.allocateNextFree();
      expect(bitmap.allocateNextFree()).toBe(-1);
      expect(AddressBitmap.fromBytes(bitmap.toBytes()).freeCount).toBe(0);
      for (let i = size - 1; i >= 0; i -= 2) expect(bitmap.free(i)).toBe(true);
      expect(bitmap.allocatedCount).toBe(Math.floor(size / 2));
      expect(bitmap.findNextFree(0)).toBe(size % 2 === 1 ? 0 : 1);
    }
  });
});
