import { describe, expect, it } from 'vitest';
import { AddressBitmap } from '../src/index.js';
import { errorOf } from './error-of.js';

describe('AddressBitmap', () => {
  it('allocates first free, specific offsets, frees and counts', () => {
    const b = new AddressBitmap(256);
    expect(b.allocate(0)).toBe(true);
    expect(b.allocate(0)).toBe(false);
    expect(b.allocateFirstFree()).toBe(1);
    expect(b.allocateFirstFree()).toBe(2);
    expect(b.has(1)).toBe(true);
    expect(b.free(1)).toBe(true);
    expect(b.free(1)).toBe(false);
    expect(b.has(1)).toBe(false);
    expect(b.allocateFirstFree()).toBe(1);
    expect(b.allocatedCount).toBe(3);
    expect(b.freeCount).toBe(253);
  });

  it('allocates next after the cursor, wrapping, a just-freed offset last', () => {
    const b = new AddressBitmap(4);
    expect([b.allocateNextFree(), b.allocateNextFree(), b.allocateNextFree()]).toEqual([0, 1, 2]);
    b.free(1);
    expect(b.allocateNextFree()).toBe(3);
    expect(b.allocateNextFree()).toBe(1);
    expect(b.allocateNextFree()).toBe(-1);
    b.free(2);
    b.free(0);
    // The cursor sits on 1: the search runs 2, 3, 0.
    expect(b.allocateNextFree()).toBe(2);
    expect(b.allocateNextFree()).toBe(0);
  });

  it('moves the cursor with setCursor and from allocateFirstFree', () => {
    const b = new AddressBitmap(10);
    b.setCursor(4);
    expect(b.allocateNextFree()).toBe(5);
    b.setCursor(9);
    expect(b.allocateNextFree()).toBe(0);
    expect(b.allocateFirstFree()).toBe(1);
    expect(b.allocateNextFree()).toBe(2);
  });

  it('finds the next free offset without changing anything', () => {
    const b = new AddressBitmap(8);
    for (const o of [3, 4, 5, 7]) b.allocate(o);
    expect(b.findNextFree(3)).toBe(6);
    expect(b.findNextFree(7)).toBe(0);
    expect(b.allocatedCount).toBe(4);
    for (const o of [0, 1, 2, 6]) b.allocate(o);
    expect(b.findNextFree(0)).toBe(-1);
    expect(b.allocateFirstFree()).toBe(-1);
  });

  it('works for one offset and for sizes crossing chunk boundaries', () => {
    const one = new AddressBitmap(1);
    expect(one.allocateNextFree()).toBe(0);
    expect(one.allocateNextFree()).toBe(-1);
    expect(one.free(0)).toBe(true);
    expect(one.allocateFirstFree()).toBe(0);

    const b = new AddressBitmap(65536 + 3);
    let inOrder = true;
    for (let i = 0; i < 65536 + 3; i++) inOrder &&= b.allocateFirstFree() === i;
    expect(inOrder).toBe(true);
    expect(b.allocateFirstFree()).toBe(-1);
    expect(b.free(65537)).toBe(true);
    expect(b.free(7)).toBe(true);
    expect(b.findNextFree(8)).toBe(65537);
    expect(b.allocateFirstFree()).toBe(7);
    expect(b.allocateFirstFree()).toBe(65537);
  });

  it('fills a /16 and drains it', () => {
    const b = new AddressBitmap(65536);
    for (let i = 0; i < 65536; i++) b.allocateFirstFree();
    expect(b.freeCount).toBe(0);
    // A full chunk is a marker; one spare 8 KiB bitset is kept for the next full chunk to lose an offset.
    expect(b.memoryBytes()).toBeLessThan(10_000);
    for (let i = 0; i < 65536; i += 2) b.free(i);
    expect(b.allocatedCount).toBe(32768);
    expect(b.findNextFree(1)).toBe(2);
    for (let i = 1; i < 65536; i += 2) b.free(i);
    expect(b.allocatedCount).toBe(0);
    expect(b.findNextFree(12345)).toBe(12345);
  });

  it('constructs a 2^53-1 window instantly and handles offsets near its top', () => {
    const size = Number.MAX_SAFE_INTEGER;
    const b = new AddressBitmap(size);
    expect(b.memoryBytes()).toBeLessThan(4096);
    expect(b.allocate(size - 1)).toBe(true);
    expect(b.allocate(2 ** 40)).toBe(true);
    expect(b.has(size - 1)).toBe(true);
    expect(b.findNextFree(size - 1)).toBe(0);
    expect(b.findNextFree(2 ** 40)).toBe(2 ** 40 + 1);
    b.setCursor(size - 2);
    expect(b.allocateNextFree()).toBe(0);
    expect(b.allocatedCount).toBe(3);
  });

  it('round-trips through bytes, cursor included', () => {
    const b = new AddressBitmap(200_000);
    for (let i = 0; i < 70_000; i++) b.allocateFirstFree();
    for (let i = 100_000; i < 200_000; i += 3) b.allocate(i);
    b.allocate(199_999);
    b.setCursor(99_999);
    const bytes = b.toBytes();
    expect(bytes.length).toBeLessThan(20_000);
    const c = AddressBitmap.fromBytes(bytes);
    expect(c.size).toBe(200_000);
    expect(c.allocatedCount).toBe(b.allocatedCount);
    expect(c.allocateNextFree()).toBe(b.allocateNextFree());
    expect(c.toBytes()).toEqual(b.toBytes());
  });

  it('rejects bad sizes, offsets and bytes, naming them', () => {
    expect(errorOf(() => new AddressBitmap(0)).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => new AddressBitmap(2 ** 53)).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => new AddressBitmap(1.5)).message).toContain('1.5');
    const b = new AddressBitmap(10);
    for (const offset of [-1, 10, 1.5, Number.NaN]) {
      const error = errorOf(() => b.allocate(offset));
      expect(error.code).toBe('OUT_OF_RANGE');
      expect(error.message).toContain(String(offset));
    }
    expect(errorOf(() => b.setCursor(10)).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => b.findNextFree(-1)).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => AddressBitmap.fromBytes(new Uint8Array([1, 2, 3]))).code).toBe(
      'INVALID_ARGUMENT',
    );
    const good = b.toBytes();
    expect(errorOf(() => AddressBitmap.fromBytes(good.subarray(0, good.length - 1))).code).toBe(
      'INVALID_ARGUMENT',
    );
  });
});
