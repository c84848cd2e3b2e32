import {
  ARRAY_MAX,
  ARRAY_MIN_FROM_BITSET,
  ArrayContainer,
  BitsetContainer,
  CHUNK_SIZE,
} from './bitmap-containers.js';

/** FULL marks a chunk whose every offset is held: no container at all. */
export const FULL = -1;

/**
 * Slot is what a chunk holds: absent (no offsets), a number >= 0 (its single offset, stored inline
 * so a sparse IPv6 window costs no object per offset), FULL, or a container.
 */
export type Slot = number | ArrayContainer | BitsetContainer;

const TWO_32 = 4294967296;

/**
 * ChunkedSet is a set of integers 0 .. size-1 (size up to 2^53-1) split into chunks of 2^16. Only
 * non-empty chunks are stored, so memory follows what is held, not the size. The indexes of full
 * chunks are themselves a ChunkedSet (`fullChunks`, 2^16 times smaller, and so on up), which lets
 * nextAbsent jump over any number of full chunks in a few steps: a size of 2^53 needs 4 levels.
 */
export class ChunkedSet {
  /** size is one past the largest member allowed. */
  readonly size: number;
  /** count is the number of members. */
  count = 0;
  /** chunks maps a chunk index to its slot; absent chunks are empty. */
  readonly chunks = new Map<number, Slot>();
  /** fullChunks holds the indexes of FULL chunks; undefined when there is one chunk only. */
  readonly fullChunks: ChunkedSet | undefined;
  private readonly chunkCount: number;
  private readonly lastChunk: number;
  private readonly lastCapacity: number;
  // The bitset of the chunk that last became full, kept for the next full chunk that loses an
  // offset: churn on a nearly full pool then never allocates (one spare: O(1) memory).
  private spare: BitsetContainer | undefined;

  constructor(size: number) {
    this.size = size;
    this.chunkCount = Math.ceil(size / CHUNK_SIZE);
    this.lastChunk = this.chunkCount - 1;
    this.lastCapacity = size - this.lastChunk * CHUNK_SIZE;
    this.fullChunks = this.chunkCount > 1 ? new ChunkedSet(this.chunkCount) : undefined;
  }

  /** capacityOf is how many offsets chunk `chunk` covers (only the last can be short). */
  capacityOf(chunk: number): number {
    return chunk === this.lastChunk ? this.lastCapacity : CHUNK_SIZE;
  }

  /** has tells whether `offset` is a member. */
  has(offset: number): boolean {
    const chunk = offset < TWO_32 ? offset >>> 16 : Math.floor(offset / CHUNK_SIZE);
    const low = offset - chunk * CHUNK_SIZE;
    const slot = this.chunks.get(chunk);
    if (slot === undefined) return false;
    if (typeof slot === 'number') return slot === FULL || slot === low;
    return slot.has(low);
  }

  /** add makes `offset` a member; false if it already was. */
  add(offset: number): boolean {
    const chunk = offset < TWO_32 ? offset >>> 16 : Math.floor(offset / CHUNK_SIZE);
    const low = offset - chunk * CHUNK_SIZE;
    const slot = this.chunks.get(chunk);
    const capacity = chunk === this.lastChunk ? this.lastCapacity : CHUNK_SIZE;
    if (slot === undefined) {
      if (capacity === 1) this.markFull(chunk);
      else this.chunks.set(chunk, low);
    } else if (typeof slot === 'number') {
      if (slot === FULL || slot === low) return false;
      if (capacity === 2) this.markFull(chunk);
      else this.chunks.set(chunk, ArrayContainer.pair(slot, low));
    } else if (slot instanceof BitsetContainer) {
      if (!slot.add(low)) return false;
      if (slot.count === capacity) {
        this.spare = slot;
        this.markFull(chunk);
      }
    } else if (slot.count < ARRAY_MAX) {
      if (!slot.add(low)) return false;
      if (slot.count === capacity) this.markFull(chunk);
    } else {
      // The array is as big as a bitset: switch (Roaring's rule).
      if (slot.has(low)) return false;
      const bitset = BitsetContainer.fromSorted(slot.values, slot.count, capacity);
      bitset.add(low);
      if (bitset.count === capacity) this.markFull(chunk);
      else this.chunks.set(chunk, bitset);
    }
    this.count++;
    return true;
  }

  /** remove takes `offset` out; false if it was not a member. */
  remove(offset: number): boolean {
    const chunk = offset < TWO_32 ? offset >>> 16 : Math.floor(offset / CHUNK_SIZE);
    const low = offset - chunk * CHUNK_SIZE;
    const slot = this.chunks.get(chunk);
    if (slot === undefined) return false;
    if (typeof slot === 'number') {
      if (slot === FULL) {
        const capacity = chunk === this.lastChunk ? this.lastCapacity : CHUNK_SIZE;
        if (capacity === 1) this.chunks.delete(chunk);
        else if (capacity === 2) this.chunks.set(chunk, 1 - low);
        else if (capacity - 1 <= ARRAY_MAX)
          this.chunks.set(chunk, ArrayContainer.rangeExcept(capacity, low));
        else {
          const spare = this.spare;
          this.spare = undefined;
          this.chunks.set(
            chunk,
            spare?.resetFullExcept(capacity, low) ?? BitsetContainer.fullExcept(capacity, low),
          );
        }
        this.fullChunks?.remove(chunk);
      } else if (slot === low) {
        this.chunks.delete(chunk);
      } else {
        return false;
      }
    } else if (slot instanceof BitsetContainer) {
      if (!slot.remove(low)) return false;
      if (slot.count <= ARRAY_MIN_FROM_BITSET) {
        this.chunks.set(chunk, ArrayContainer.fromBitset(slot, this.capacityOf(chunk)));
      }
    } else {
      if (!slot.remove(low)) return false;
      if (slot.count === 1) this.chunks.set(chunk, slot.values[0]!);
    }
    this.count--;
    return true;
  }

  private markFull(chunk: number): void {
    this.chunks.set(chunk, FULL);
    this.fullChunks?.add(chunk);
  }

  /** nextAbsent is the lowest non-member >= from (from < size), or -1 if there is none. */
  nextAbsent(from: number): number {
    let chunk = from < TWO_32 ? from >>> 16 : Math.floor(from / CHUNK_SIZE);
    let low = from - chunk * CHUNK_SIZE;
    for (;;) {
      const slot = this.chunks.get(chunk);
      let found: number;
      if (slot === undefined) {
        found = low;
      } else if (typeof slot === 'number') {
        if (slot === FULL) found = -1;
        else if (slot !== low) found = low;
        else found = low + 1 < this.capacityOf(chunk) ? low + 1 : -1;
      } else if (slot instanceof BitsetContainer) {
        found = slot.nextFree(low);
      } else {
        found = slot.nextFree(low, this.capacityOf(chunk));
      }
      if (found >= 0) return chunk * CHUNK_SIZE + found;
      // Nothing free in this chunk past `low`: the next chunk that is not full has a free offset.
      if (this.fullChunks === undefined || chunk + 1 >= this.chunkCount) return -1;
      chunk = this.fullChunks.nextAbsent(chunk + 1);
      if (chunk < 0) return -1;
      low = 0;
    }
  }

  /** setChunk installs a decoded chunk (the caller guarantees it is absent and consistent). */
  setChunk(chunk: number, slot: Slot, count: number): void {
    this.chunks.set(chunk, slot);
    if (slot === FULL) this.fullChunks?.add(chunk);
    this.count += count;
  }

  /** sortedChunks lists the indexes of the non-empty chunks, ascending. */
  sortedChunks(): Float64Array {
    const keys = Float64Array.from(this.chunks.keys());
    keys.sort();
    return keys;
  }

  /**
   * memoryBytes estimates the bytes held: V8 Map entries (3 words each plus a bucket share and
   * growth slack, about 30 bytes, and a 16-byte boxed number for keys beyond 2^31: what heap
   * deltas after GC show on Node 20), containers with their typed arrays, and the levels above.
   */
  memoryBytes(): number {
    let bytes = 96;
    for (const [chunk, slot] of this.chunks) {
      bytes += 30 + (chunk >= 2 ** 31 ? 16 : 0);
      if (typeof slot !== 'number') bytes += 120 + slot.byteLength;
    }
    if (this.spare !== undefined) bytes += 120 + this.spare.byteLength;
    return bytes + (this.fullChunks?.memoryBytes() ?? 0);
  }
}
