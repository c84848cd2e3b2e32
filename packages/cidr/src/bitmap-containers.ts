/**
 * The two containers a bitmap chunk of 2^16 offsets can take when it is neither empty, a single
 * offset, nor full (those three need no container at all). This is the layout of Roaring bitmaps
 * (Lemire et al., "Better bitmap performance with Roaring bitmaps", 2016): a sorted array while a
 * chunk is sparse, a plain bitset once the array would be bigger than the bitset.
 */

/** CHUNK_SIZE is the number of offsets one chunk covers (2^16, so a low offset fits a Uint16). */
export const CHUNK_SIZE = 65536;
/** ARRAY_MAX is the most offsets an ArrayContainer holds: 4096 × 2 bytes = one bitset's 8 KiB. */
export const ARRAY_MAX = 4096;
/**
 * ARRAY_MIN_FROM_BITSET is the count at which a shrinking bitset turns back into an array. Lower
 * than ARRAY_MAX so that churn around the threshold does not convert back and forth.
 */
export const ARRAY_MIN_FROM_BITSET = 2048;

const WORDS = CHUNK_SIZE / 32; // 2048 words of 32 offsets
const L1 = WORDS; // L1 bit w is set when word w has a free (zero) bit: 64 words
const L2 = L1 + WORDS / 32; // L2 bit j is set when L1 word j is non-zero: 2 words
const TOTAL = L2 + 2;
const ALL = 0xffffffff;

/** ctz counts trailing zero bits of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * BitsetContainer holds one bit per offset of a chunk, plus two summary levels (which words still
 * have a free bit, which summary words are non-zero) so that finding the next free offset reads
 * at most four words instead of scanning 2048. Offsets at or past the chunk's capacity (only the
 * last chunk of a bitmap can be short) are kept set, so a search never returns them.
 */
export class BitsetContainer {
  /** count is the number of allocated offsets below the chunk's capacity. */
  count: number;
  /** bits holds the 2048 words, then 64 L1 summary words, then 2 L2 summary words. */
  readonly bits: Uint32Array;

  private constructor(bits: Uint32Array, count: number) {
    this.bits = bits;
    this.count = count;
    this.rebuildSummary();
  }

  /** fromWords builds a container from 2048 words holding `count` set bits below `capacity`. */
  static fromWords(words: Uint32Array, count: number, capacity: number): BitsetContainer {
    const bits = new Uint32Array(TOTAL);
    bits.set(words.subarray(0, WORDS));
    BitsetContainer.padPastCapacity(bits, capacity);
    return new BitsetContainer(bits, count);
  }

  /** fromSorted builds a container from sorted distinct low offsets. */
  static fromSorted(values: Uint16Array, count: number, capacity: number): BitsetContainer {
    const bits = new Uint32Array(TOTAL);
    for (let i = 0; i < count; i++) {
      const v = values[i]!;
      bits[v >>> 5]! |= 1 << (v & 31);
    }
    BitsetContainer.padPastCapacity(bits, capacity);
    return new BitsetContainer(bits, count);
  }

  /** fullExcept builds a container with every offset below `capacity` set but `low`. */
  static fullExcept(capacity: number, low: number): BitsetContainer {
    const bitset = new BitsetContainer(new Uint32Array(TOTAL), 0);
    bitset.resetFullExcept(capacity, low);
    return bitset;
  }

  /**
   * resetFullExcept makes this container hold every offset below `capacity` but `low`, writing
   * the one summary bit directly: a full chunk losing one address costs two fills, no allocation
   * and no summary rebuild (first-free churn hits full chunks all the time).
   */
  resetFullExcept(capacity: number, low: number): this {
    const bits = this.bits;
    bits.fill(ALL, 0, WORDS);
    bits.fill(0, WORDS, TOTAL);
    const w = low >>> 5;
    bits[w] = ~(1 << (low & 31)) >>> 0;
    bits[L1 + (w >>> 5)] = 1 << (w & 31);
    bits[L2 + (w >>> 10)] = 1 << ((w >>> 5) & 31);
    this.count = capacity - 1;
    return this;
  }

  /** padPastCapacity sets the bits at and past `capacity` so they are never found free. */
  private static padPastCapacity(bits: Uint32Array, capacity: number): void {
    if (capacity >= CHUNK_SIZE) return;
    const word = capacity >>> 5;
    if ((capacity & 31) !== 0) bits[word]! |= ALL << (capacity & 31);
    bits.fill(ALL, (capacity & 31) !== 0 ? word + 1 : word, WORDS);
  }

  private rebuildSummary(): void {
    const bits = this.bits;
    bits.fill(0, L1, TOTAL);
    for (let w = 0; w < WORDS; w++) {
      if (bits[w] !== ALL) bits[L1 + (w >>> 5)]! |= 1 << (w & 31);
    }
    for (let j = 0; j < WORDS / 32; j++) {
      if (bits[L1 + j] !== 0) bits[L2 + (j >>> 5)]! |= 1 << (j & 31);
    }
  }

  /** has tells whether `low` is set. */
  has(low: number): boolean {
    return ((this.bits[low >>> 5]! >>> (low & 31)) & 1) === 1;
  }

  /** add sets `low`; false if it was already set. */
  add(low: number): boolean {
    const bits = this.bits;
    const w = low >>> 5;
    const old = bits[w]!;
    const bit = 1 << (low & 31);
    if ((old & bit) !== 0) return false;
    const now = (old | bit) >>> 0;
    bits[w] = now;
    this.count++;
    if (now === ALL) {
      const j = L1 + (w >>> 5);
      const l1 = bits[j]! & ~(1 << (w & 31));
      bits[j] = l1;
      if (l1 === 0) bits[L2 + (w >>> 10)]! &= ~(1 << ((w >>> 5) & 31));
    }
    return true;
  }

  /** remove clears `low`; false if it was not set. */
  remove(low: number): boolean {
    const bits = this.bits;
    const w = low >>> 5;
    const old = bits[w]!;
    const bit = 1 << (low & 31);
    if ((old & bit) === 0) return false;
    bits[w] = old & ~bit;
    this.count--;
    if (old === ALL) {
      const j = L1 + (w >>> 5);
      const l1 = bits[j]!;
      bits[j] = l1 | (1 << (w & 31));
      if (l1 === 0) bits[L2 + (w >>> 10)]! |= 1 << ((w >>> 5) & 31);
    }
    return true;
  }

  /** nextFree is the lowest clear offset >= low, or -1. */
  nextFree(low: number): number {
    const bits = this.bits;
    let w = low >>> 5;
    const here = ~bits[w]! & (ALL << (low & 31));
    if (here !== 0) return (w << 5) + ctz(here);
    // Next word after w with a free bit, through L1 then L2.
    w++;
    if (w >= WORDS) return -1;
    let j = w >>> 5;
    const l1 = bits[L1 + j]! & (ALL << (w & 31));
    if (l1 === 0) {
      j++;
      if (j >= WORDS / 32) return -1;
      let t = j >>> 5;
      let l2 = bits[L2 + t]! & (ALL << (j & 31));
      if (l2 === 0 && t === 0) {
        t = 1;
        l2 = bits[L2 + 1]!;
      }
      if (l2 === 0) return -1;
      j = (t << 5) + ctz(l2);
      w = (j << 5) + ctz(bits[L1 + j]!);
    } else {
      w = (j << 5) + ctz(l1);
    }
    return (w << 5) + ctz(~bits[w]!);
  }

  /** forEachSet calls `fn` with every set offset below `capacity`, ascending. */
  forEachSet(capacity: number, fn: (low: number) => void): void {
    const bits = this.bits;
    const words = Math.ceil(capacity / 32);
    for (let w = 0; w < words; w++) {
      let x = bits[w]!;
      while (x !== 0) {
        const low = (w << 5) + ctz(x);
        if (low >= capacity) return;
        fn(low);
        x &= x - 1;
      }
    }
  }

  /** byteLength is the memory held by the container's words. */
  get byteLength(): number {
    return this.bits.byteLength;
  }
}

/** ArrayContainer holds the sorted low offsets of a sparse chunk (at most ARRAY_MAX of them). */
export class ArrayContainer {
  /** count is the number of offsets held. */
  count: number;
  /** values holds the offsets, ascending, in its first `count` slots. */
  values: Uint16Array;

  private constructor(values: Uint16Array, count: number) {
    this.values = values;
    this.count = count;
  }

  /** pair holds two distinct offsets. */
  static pair(a: number, b: number): ArrayContainer {
    const values = new Uint16Array(4);
    values[0] = Math.min(a, b);
    values[1] = Math.max(a, b);
    return new ArrayContainer(values, 2);
  }

  /** fromSorted holds a copy of `count` sorted distinct offsets. */
  static fromSorted(values: Uint16Array, count: number): ArrayContainer {
    const copy = new Uint16Array(Math.max(4, count));
    copy.set(values.subarray(0, count));
    return new ArrayContainer(copy, count);
  }

  /** fromBitset holds the set offsets of a bitset below `capacity`. */
  static fromBitset(bitset: BitsetContainer, capacity: number): ArrayContainer {
    const values = new Uint16Array(Math.max(4, bitset.count));
    let n = 0;
    bitset.forEachSet(capacity, (low) => {
      values[n++] = low;
    });
    return new ArrayContainer(values, n);
  }

  /** rangeExcept holds every offset below `capacity` but `low`. */
  static rangeExcept(capacity: number, low: number): ArrayContainer {
    const values = new Uint16Array(Math.max(4, capacity - 1));
    let n = 0;
    for (let v = 0; v < capacity; v++) if (v !== low) values[n++] = v;
    return new ArrayContainer(values, n);
  }

  /** lowerBound is the first index whose value is >= low (count if none). */
  private lowerBound(low: number): number {
    const values = this.values;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid]! < low) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** has tells whether `low` is held. */
  has(low: number): boolean {
    const i = this.lowerBound(low);
    return i < this.count && this.values[i] === low;
  }

  /** add inserts `low`; false if already held. The caller keeps count <= ARRAY_MAX. */
  add(low: number): boolean {
    const i = this.lowerBound(low);
    const count = this.count;
    if (i < count && this.values[i] === low) return false;
    if (count === this.values.length) {
      const grown = new Uint16Array(Math.min(ARRAY_MAX, count * 2));
      grown.set(this.values);
      this.values = grown;
    }
    const values = this.values;
    if (i < count) values.copyWithin(i + 1, i, count);
    values[i] = low;
    this.count = count + 1;
    return true;
  }

  /** remove deletes `low`; false if not held. */
  remove(low: number): boolean {
    const i = this.lowerBound(low);
    const count = this.count;
    const values = this.values;
    if (i >= count || values[i] !== low) return false;
    values.copyWithin(i, i + 1, count);
    this.count = count - 1;
    // Give memory back after a big drain, so a churned chunk does not keep its peak size.
    if (values.length > 64 && this.count < values.length >>> 2) {
      this.values = values.slice(0, values.length >>> 1);
    }
    return true;
  }

  /**
   * nextFree is the lowest offset >= low not held and below `capacity`, or -1. Finds the end of
   * the run of held offsets starting at `low` by binary search: values[i] - i is constant along a
   * run of consecutive offsets and grows after a gap.
   */
  nextFree(low: number, capacity: number): number {
    const values = this.values;
    const start = this.lowerBound(low);
    if (start >= this.count || values[start] !== low) return low;
    const key = low - start;
    let lo = start;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (values[mid]! - mid === key) lo = mid;
      else hi = mid - 1;
    }
    const free = values[lo]! + 1;
    return free < capacity ? free : -1;
  }

  /** byteLength is the memory held by the container's values. */
  get byteLength(): number {
    return this.values.byteLength;
  }
}
