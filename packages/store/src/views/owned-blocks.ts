/**
 * OwnedBlocks: the block bookkeeping of one host in one pool, apart from any I/O. Which blocks
 * the host claimed, which of their addresses it knows to be taken, where its next candidate
 * comes from, and which run of blocks its next claim asks for. Plain values in, plain values
 * out, so the rules are tested in milliseconds (test/owned-blocks.test.ts) beside the real-etcd
 * tests of blocks (test/blocks.test.ts). HostView (host-view.ts) reads and writes etcd around it.
 */
import { AddressBitmap, addressAt, type IpAddress, offsetOf } from '@kontena-ipam/cidr';
import { BLOCK_SIZE, type BlockGeometry } from '../layout/blocks.js';

/** Owned is one claimed block: which of its offsets are taken, as far as this host knows. */
interface Owned {
  readonly index: number;
  readonly taken: AddressBitmap;
}

/** OwnedBlocks is the blocks one host holds in one pool's window (see the module comment). */
export class OwnedBlocks {
  readonly geometry: BlockGeometry;
  /** reserved: addresses never handed out (not a host address of the subnet, the gateway). */
  private readonly reserved: (address: IpAddress) => boolean;
  private readonly owned = new Map<number, Owned>();
  /** Blocks in the order they were claimed (the newest last). */
  private readonly order: Owned[] = [];
  /** Blocks with a free offset, oldest first: a host with hundreds of blocks looks at one. */
  private readonly roomy = new Set<Owned>();

  constructor(geometry: BlockGeometry, reserved: (address: IpAddress) => boolean) {
    this.geometry = geometry;
    this.reserved = reserved;
  }

  /** size is how many blocks are held. */
  get size(): number {
    return this.owned.size;
  }

  /** newest is the index of the block claimed last, if any. */
  get newest(): number | undefined {
    return this.order.at(-1)?.index;
  }

  /** full: no held block has a free address (true too when none is held). */
  get full(): boolean {
    return this.roomy.size === 0;
  }

  has(index: number): boolean {
    return this.owned.has(index);
  }

  /**
   * adopt makes block `index` this host's. Taken in it: what `present` (its address keys as
   * read) names, what this host is writing now (`pending`), and what is never handed out.
   * Adopting a block held already changes nothing.
   */
  adopt(index: number, present: readonly IpAddress[], pending: ReadonlySet<bigint>): void {
    if (this.owned.has(index)) return;
    const addresses = this.geometry.addresses(index);
    const taken = new AddressBitmap(BLOCK_SIZE);
    for (let o = addresses.length; o < BLOCK_SIZE; o++) taken.allocate(o);
    addresses.forEach((a, o) => {
      if (this.reserved(a) || pending.has(a.value)) taken.allocate(o);
    });
    const { first } = this.geometry.span(index);
    for (const a of present) {
      if (a.family !== this.geometry.window.family) continue;
      const o = Number(offsetOf(this.geometry.window, a)) - first;
      if (o >= 0 && o < BLOCK_SIZE) taken.allocate(o);
    }
    const owned = { index, taken };
    this.owned.set(index, owned);
    this.order.push(owned);
    if (taken.freeCount > 0) this.roomy.add(owned);
  }

  /** take is a free address of a held block, marked taken; undefined when none is free. */
  take(): IpAddress | undefined {
    for (const owned of this.roomy) {
      const at = owned.taken.allocateNextFree();
      if (owned.taken.freeCount === 0) this.roomy.delete(owned);
      if (at >= 0) {
        const { first } = this.geometry.span(owned.index);
        return addressAt(this.geometry.window, BigInt(first + at));
      }
    }
    return undefined;
  }

  /**
   * mark records an address of the window (`offset` in it) as taken or free, if a held block
   * spans it; a reserved address never becomes free.
   */
  mark(address: IpAddress, offset: number, taken: boolean): void {
    const owned = this.owned.get(this.geometry.indexOf(offset));
    if (!owned) return;
    const at = offset - this.geometry.span(owned.index).first;
    if (taken) {
      owned.taken.allocate(at);
      if (owned.taken.freeCount === 0) this.roomy.delete(owned);
    } else if (!this.reserved(address) && owned.taken.free(at)) {
      this.roomy.add(owned);
    }
  }

  /** takenAddresses are the addresses of held blocks this host knows to be taken, in claim order. */
  takenAddresses(): IpAddress[] {
    const out: IpAddress[] = [];
    for (const owned of this.order) {
      const { first } = this.geometry.span(owned.index);
      for (let o = 0; o < BLOCK_SIZE; o++) {
        if (!owned.taken.has(o)) continue;
        if (first + o < this.geometry.size) {
          out.push(addressAt(this.geometry.window, BigInt(first + o)));
        }
      }
    }
    return out;
  }

  /** runFrom is up to `want` consecutive block indexes from `from` that neither we nor `present` hold. */
  runFrom(from: number, want: number, present: ReadonlySet<number> = new Set()): number[] {
    const run: number[] = [];
    for (let i = from; i < this.geometry.count && run.length < want; i++) {
      if (present.has(i) || this.owned.has(i)) break;
      run.push(i);
    }
    return run;
  }

  /** randomRun is a run at `from`, or at the first index after it (wrapping) that we do not hold. */
  randomRun(from: number, want: number): number[] {
    const count = this.geometry.count;
    for (let k = 0; k < count; k++) {
      const run = this.runFrom((from + k) % count, want);
      if (run.length > 0) return run;
    }
    return [];
  }

  /**
   * freeRun is the first run of blocks free in a probe of `span` indexes that began at
   * `probed`, where `present` are the indexes the probe found claimed; [] when none is free.
   */
  freeRun(present: ReadonlySet<number>, probed: number, span: number, want: number): number[] {
    const end = Math.min(this.geometry.count, probed + span);
    for (let i = probed; i < end; i++) {
      if (!present.has(i) && !this.owned.has(i)) return this.runFrom(i, want, present);
    }
    return [];
  }

  /**
   * firstRun is where a claim looks first, blind: the blocks after the newest held one, else
   * a run at `start` (the host's hashed place).
   */
  firstRun(start: number, want: number): number[] {
    const newest = this.newest;
    const count = this.geometry.count;
    const run = newest !== undefined ? this.runFrom((newest + 1) % count, want) : [];
    return run.length > 0 ? run : this.randomRun(start, want);
  }

  /**
   * claimSize is how many blocks the next claim asks for: as many as the `waiting` callers
   * need, and as many as this host holds already (a busy host grows by more at once, so claims
   * stay a small share of its writes), at most `max`.
   */
  claimSize(waiting: number, max: number): number {
    return Math.min(max, Math.max(Math.ceil(waiting / BLOCK_SIZE), this.owned.size, 1));
  }
}
