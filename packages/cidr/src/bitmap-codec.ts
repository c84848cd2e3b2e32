import { ARRAY_MAX, ArrayContainer, BitsetContainer, CHUNK_SIZE } from './bitmap-containers.js';
import { ChunkedSet, FULL, type Slot } from './chunked-set.js';
import { CidrError } from './errors.js';

/*
 * Byte layout (all integers LEB128 varints unless said otherwise):
 *   'A' 'B' version(1)  size  next  chunks
 *   per non-empty chunk, ascending:  gap (index - previous index - 1)  kind  payload
 *     SINGLE: low                         FULL: nothing
 *     LIST:   n, then n deltas (first value, then value - previous - 1)
 *     RUNS:   r, then r pairs (start - previous end - 1 (first: start), length - 1)
 *     BITS:   8192 raw bytes, little-endian words
 * The encoder picks the smallest of LIST, RUNS and BITS per chunk, so a sequentially filled pool
 * costs a few bytes per run and a random half-full chunk 8 KiB at most.
 */
const MAGIC_0 = 0x41;
const MAGIC_1 = 0x42;
const VERSION = 1;
const SINGLE = 0;
const KIND_FULL = 1;
const LIST = 2;
const RUNS = 3;
const BITS = 4;
const BITS_BYTES = CHUNK_SIZE / 8;

/** varintLength is the number of bytes LEB128 takes for `value`. */
function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 128; v = Math.floor(v / 128)) n++;
  return n;
}

/** ByteWriter is a growable byte buffer. */
class ByteWriter {
  bytes = new Uint8Array(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }

  varint(value: number): void {
    this.reserve(8);
    let v = value;
    while (v >= 128) {
      this.bytes[this.length++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.bytes[this.length++] = v;
  }

  raw(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }
}

/** collect writes the members of a chunk, ascending, into `out`; returns how many. */
function collect(slot: Slot, capacity: number, out: Uint16Array): number {
  if (typeof slot === 'number') {
    out[0] = slot;
    return 1;
  }
  if (slot instanceof ArrayContainer) {
    out.set(slot.values.subarray(0, slot.count));
    return slot.count;
  }
  let n = 0;
  slot.forEachSet(capacity, (low) => {
    out[n++] = low;
  });
  return n;
}

/** encodeBitmap serializes a set and the bitmap's next-search position. */
export function encodeBitmap(set: ChunkedSet, next: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(MAGIC_0);
  w.byte(MAGIC_1);
  w.byte(VERSION);
  w.varint(set.size);
  w.varint(next);
  const chunks = set.sortedChunks();
  w.varint(chunks.length);
  const values = new Uint16Array(CHUNK_SIZE);
  let previous = -1;
  for (const chunk of chunks) {
    const slot = set.chunks.get(chunk)!;
    w.varint(chunk - previous - 1);
    previous = chunk;
    if (slot === FULL) {
      w.byte(KIND_FULL);
      continue;
    }
    if (typeof slot === 'number') {
      w.byte(SINGLE);
      w.varint(slot);
      continue;
    }
    const capacity = set.capacityOf(chunk);
    const n = collect(slot, capacity, values);
    let listBytes = varintLength(n);
    let runs = 0;
    let runBytes = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      listBytes += varintLength(i === 0 ? v : v - values[i - 1]! - 1);
      if (i === 0 || v !== values[i - 1]! + 1) {
        let end = i;
        while (end + 1 < n && values[end + 1] === values[end]! + 1) end++;
        runs++;
        runBytes += varintLength(i === 0 ? v : v - values[i - 1]! - 1) + varintLength(end - i);
      }
    }
    runBytes += varintLength(runs);
    if (listBytes <= runBytes && listBytes <= BITS_BYTES) {
      w.byte(LIST);
      w.varint(n);
      for (let i = 0; i < n; i++) w.varint(i === 0 ? values[0]! : values[i]! - values[i - 1]! - 1);
    } else if (runBytes <= BITS_BYTES) {
      w.byte(RUNS);
      w.varint(runs);
      let previousEnd = -1;
      for (let i = 0; i < n; ) {
        let end = i;
        while (end + 1 < n && values[end + 1] === values[end]! + 1) end++;
        w.varint(values[i]! - previousEnd - 1);
        w.varint(end - i);
        previousEnd = values[end]!;
        i = end + 1;
      }
    } else {
      w.byte(BITS);
      const words = new Uint32Array(CHUNK_SIZE / 32);
      for (let i = 0; i < n; i++) words[values[i]! >>> 5]! |= 1 << (values[i]! & 31);
      w.raw(new Uint8Array(words.buffer));
    }
  }
  return w.bytes.slice(0, w.length);
}

/** invalid builds the error for malformed bytes. */
function invalid(why: string): CidrError {
  return new CidrError('INVALID_ARGUMENT', `invalid AddressBitmap bytes: ${why}`);
}

/** ByteReader reads what ByteWriter wrote, refusing truncated or oversized values. */
class ByteReader {
  position = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    const b = this.bytes[this.position++];
    if (b === undefined) throw invalid('truncated');
    return b;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      value += (b & 127) * scale;
      if (b < 128) {
        if (value > Number.MAX_SAFE_INTEGER) throw invalid('number too large');
        return value;
      }
      scale *= 128;
    }
    throw invalid('number too long');
  }
}

/** decodeBitmap parses encodeBitmap's bytes; INVALID_ARGUMENT on any inconsistency. */
export function decodeBitmap(bytes: Uint8Array): { set: ChunkedSet; next: number } {
  if (!(bytes instanceof Uint8Array)) throw invalid('expected a Uint8Array');
  const r = new ByteReader(bytes);
  if (r.byte() !== MAGIC_0 || r.byte() !== MAGIC_1) throw invalid('wrong magic');
  const version = r.byte();
  if (version !== VERSION) throw invalid(`unknown version ${version}`);
  const size = r.varint();
  if (size < 1) throw invalid('size 0');
  const next = r.varint();
  if (next >= size) throw invalid(`cursor ${next} outside size ${size}`);
  const set = new ChunkedSet(size);
  const chunkCount = Math.ceil(size / CHUNK_SIZE);
  const chunks = r.varint();
  if (chunks > chunkCount) throw invalid(`${chunks} chunks for size ${size}`);
  const words = new Uint32Array(CHUNK_SIZE / 32);
  let chunk = -1;
  for (let c = 0; c < chunks; c++) {
    chunk += r.varint() + 1;
    if (chunk >= chunkCount) throw invalid(`chunk ${chunk} outside size ${size}`);
    const capacity = set.capacityOf(chunk);
    const kind = r.byte();
    if (kind === KIND_FULL) {
      set.setChunk(chunk, FULL, capacity);
      continue;
    }
    if (kind === SINGLE) {
      const low = r.varint();
      if (low >= capacity) throw invalid(`offset ${low} outside chunk ${chunk}`);
      set.setChunk(chunk, capacity === 1 ? FULL : low, 1);
      continue;
    }
    words.fill(0);
    let count = 0;
    if (kind === LIST || kind === RUNS) {
      const n = r.varint();
      let v = -1;
      for (let i = 0; i < n; i++) {
        v += r.varint() + 1;
        const length = kind === RUNS ? r.varint() + 1 : 1;
        if (v + length > capacity) throw invalid(`offset ${v + length - 1} outside chunk ${chunk}`);
        for (let end = v + length; v < end; v++) words[v >>> 5]! |= 1 << (v & 31);
        v--;
        count += length;
      }
    } else if (kind === BITS) {
      if (r.position + BITS_BYTES > bytes.length) throw invalid('truncated');
      const view = new DataView(bytes.buffer, bytes.byteOffset + r.position, BITS_BYTES);
      for (let i = 0; i < words.length; i++) {
        const word = view.getUint32(i * 4, true);
        words[i] = word;
        let x = word;
        while (x !== 0) {
          x &= x - 1;
          count++;
        }
      }
      r.position += BITS_BYTES;
      if (capacity < CHUNK_SIZE) {
        for (let v = capacity; v < CHUNK_SIZE; v++) {
          if ((words[v >>> 5]! >>> (v & 31)) & 1)
            throw invalid(`offset ${v} outside chunk ${chunk}`);
        }
      }
    } else {
      throw invalid(`unknown chunk kind ${kind}`);
    }
    if (count === 0) throw invalid(`empty chunk ${chunk}`);
    set.setChunk(chunk, slotFromWords(words, count, capacity), count);
  }
  if (r.position !== bytes.length) throw invalid('trailing bytes');
  return { set, next };
}

/** slotFromWords picks the smallest slot for a decoded chunk. */
function slotFromWords(words: Uint32Array, count: number, capacity: number): Slot {
  if (count === capacity) return FULL;
  const bitset = BitsetContainer.fromWords(words, count, capacity);
  if (count > ARRAY_MAX) return bitset;
  const array = ArrayContainer.fromBitset(bitset, capacity);
  return count === 1 ? array.values[0]! : array;
}
