/**
 * HostView: where this host looks for a free address in one pool. The pool's dynamic window is
 * cut into blocks of BLOCK_SIZE addresses; a host claims blocks by compare-and-swap (create if
 * absent) and allocates inside its own blocks first, so hosts do not race for the same
 * addresses and nobody needs to watch anybody else: a host reads its own blocks (16 gets each)
 * when it claims them or starts, and knows the rest from its own writes. Only when no block is
 * left to claim does it borrow: it loads the whole window (PoolView, kept current by a watch)
 * and takes any free address, as every host did before blocks. Windows of fewer than
 * MIN_BLOCKS blocks are shared that way from the start.
 *
 * Claims only steer. The allocation transaction still compares the address key itself, so an
 * address another host took inside our block (a static --ip, a borrower) costs a retry, never a
 * duplicate; and a claim whose host no longer holds the pool is never trusted for more than
 * that. Shaped after Calico's block affinities (its blocks carry their allocations; ours leave
 * them in the address keys that cleanup, `check` and `status` already read).
 */
import {
  AddressBitmap,
  addressAt,
  type IpAddress,
  offsetOf,
  parseAddress,
  type Subnet,
  subnetContains,
} from '@kontena-ipam/cidr';
import type { IKeyValue, IRequestOp, IResponseOp, ITxnResponse } from 'etcd3';
import { hostsOfBoth, neverDynamic } from './address-rules.js';
import type { Budget } from './budget.js';
import { type Decision, type Snapshot, transact } from './cas.js';
import { newToken, nowIso, type StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { getOp, kvsAt, putOp, rangeOp, spanOp } from './etcd-call.js';
import type { ClaimedAtJoin, JoinReads } from './join-claim.js';
import { parseBlockIndex } from './keys.js';
import { PoolView, startOffset, windowOffsets } from './pool-view.js';
import { decodePool, encodeBlock, type PoolRecord, readBlock } from './records.js';
import type { NodeId, PoolId } from './types.js';

/** BLOCK_SIZE is how many addresses (window offsets) one block spans. */
export const BLOCK_SIZE = 16;
/** A window of fewer blocks than this has none: its hosts share all of it (a /26 and smaller). */
const MIN_BLOCKS = 4;
/**
 * MAX_CLAIM caps the blocks one claim takes: each costs 2 puts and BLOCK_SIZE gets of the 128
 * operations etcd allows in one transaction (--max-txn-ops).
 */
const MAX_CLAIM = 6;
/** PROBE_SPAN is how many block indexes a lost claim reads around its place to find free ones. */
const PROBE_SPAN = 64;
/** PROBES is how many places a claim looks at before it concludes no block is free. */
const PROBES = 4;
/** LOAD_OPS caps the gets of one block-loading read (etcd's --max-txn-ops is 128). */
const LOAD_OPS = 120;

/** BlockGeometry cuts a window into blocks: block i spans offsets [i·BLOCK_SIZE, (i+1)·BLOCK_SIZE). */
export class BlockGeometry {
  readonly window: Subnet;
  /** size is the window's offsets (capped as PoolView caps them). */
  readonly size: number;
  readonly count: number;

  constructor(window: Subnet) {
    this.window = window;
    this.size = windowOffsets(window);
    this.count = Math.ceil(this.size / BLOCK_SIZE);
  }

  /** blocks tells whether the window is big enough to be cut into blocks. */
  get blocks(): boolean {
    return this.count >= MIN_BLOCKS;
  }

  /** span is block i's first offset and its length (the last block may be short). */
  span(index: number): { first: number; length: number } {
    const first = index * BLOCK_SIZE;
    return { first, length: Math.min(BLOCK_SIZE, this.size - first) };
  }

  indexOf(offset: number): number {
    return Math.floor(offset / BLOCK_SIZE);
  }

  /** addresses lists block i's addresses, in order. */
  addresses(index: number): IpAddress[] {
    const { first, length } = this.span(index);
    const out: IpAddress[] = [];
    for (let o = 0; o < length; o++) out.push(addressAt(this.window, BigInt(first + o)));
    return out;
  }
}

/** addressGets reads block i's address keys (what a claim reads to know what is taken in it). */
function addressGets(
  ctx: StoreContext,
  pool: PoolId,
  geometry: BlockGeometry,
  index: number,
): IRequestOp[] {
  return geometry.addresses(index).map((a) => getOp(ctx.keys.address(pool, a)));
}

/** A claim's ops begin with its two puts (the block, the affinity key); its gets follow. */
const CLAIM_PUTS = 2;

/**
 * claimOps claim block `index` for `node` (its block key and affinity key) and read the block's
 * address keys: what every claim writes, whether an allocation's or a join's (join-claim.ts).
 */
export function claimOps(
  ctx: StoreContext,
  pool: PoolId,
  node: NodeId,
  geometry: BlockGeometry,
  index: number,
  claim: { at: string; token: string },
): IRequestOp[] {
  return [
    putOp(ctx.keys.block(pool, index), encodeBlock({ node, ...claim })),
    putOp(ctx.keys.affinity(pool, node, index), JSON.stringify({ at: claim.at })),
    ...addressGets(ctx, pool, geometry, index),
  ];
}

/** claimedAddresses are the address keys present in the responses of claimOps from `from`. */
export function claimedAddresses(
  responses: readonly IResponseOp[],
  from: number,
  geometry: BlockGeometry,
  index: number,
): IKeyValue[] {
  const first = from + CLAIM_PUTS;
  return responses
    .slice(first, first + geometry.span(index).length)
    .flatMap((r) => r.response_range?.kvs ?? []);
}

/** claimLength is how many ops (and responses) claimOps of block `index` takes. */
export function claimLength(geometry: BlockGeometry, index: number): number {
  return CLAIM_PUTS + geometry.span(index).length;
}

/** Owned is one claimed block: which of its offsets are taken, as far as this host knows. */
interface Owned {
  readonly index: number;
  readonly taken: AddressBitmap;
}

/** HostView is this host's blocks of one pool, and the shared window view once it borrows. */
export class HostView {
  readonly pool: PoolRecord;
  /** window is where dynamic addresses come from: the ip-range, else the subnet. */
  readonly window: Subnet;
  /** stale: the pool changed under this view (or its shared view broke); reload before use. */
  stale = false;
  private readonly ctx: StoreContext;
  private readonly node: NodeId;
  /** Addresses this host is writing right now. */
  private readonly pending: ReadonlySet<bigint>;
  private readonly geometry: BlockGeometry;
  /** The window's host addresses (network, broadcast and what lies outside never are). */
  private readonly hosts: { first: IpAddress; last: IpAddress };
  private readonly owned = new Map<number, Owned>();
  /** Blocks in the order they were claimed (the newest last). */
  private readonly order: Owned[] = [];
  /** Blocks with a free offset, oldest first: a host with hundreds of blocks looks at one. */
  private readonly roomy = new Set<Owned>();
  private claiming: Promise<void> | undefined;
  /** waiting counts callers waiting on a claim: a burst claims several blocks at once. */
  private waiting = 0;
  /** No block was free at the last look: borrow from the shared view. */
  private noFreeBlock = false;
  private shared: Promise<PoolView | undefined> | undefined;
  private sharedView: PoolView | undefined;

  private constructor(
    ctx: StoreContext,
    pool: PoolRecord,
    node: NodeId,
    pending: ReadonlySet<bigint>,
  ) {
    this.ctx = ctx;
    this.pool = pool;
    this.node = node;
    this.pending = pending;
    this.window = pool.ipRange ?? pool.subnet;
    this.geometry = new BlockGeometry(this.window);
    this.hosts = hostsOfBoth(this.window, pool.subnet);
    if (!this.geometry.blocks) this.noFreeBlock = true;
  }

  /**
   * load reads the pool record and this host's claims in one round trip, then its blocks'
   * addresses (one more, usually). Nothing it reads grows with the number of hosts. Undefined
   * when the pool does not exist.
   */
  static async load(
    ctx: StoreContext,
    id: PoolId,
    node: NodeId,
    pending: ReadonlySet<bigint>,
    budget?: Budget,
  ): Promise<HostView | undefined> {
    const res = await ctx.calls.read(
      'load pool',
      [getOp(ctx.keys.pool(id)), rangeOp(ctx.keys.affinitiesOf(id, node), { keysOnly: true })],
      'load',
      budget,
    );
    const poolKv = kvsAt(res, 0)[0];
    if (!poolKv) return undefined;
    const view = new HostView(ctx, decodePool(id, poolKv), node, pending);
    const indexes = kvsAt(res, 1)
      .map((kv) => parseBlockIndex(kv.key.toString()))
      .filter((i): i is number => i !== undefined && i < view.geometry.count);
    await view.loadBlocks(indexes, budget);
    return view;
  }

  /**
   * fromJoin makes the view from what this host's join read after its claim (join-claim.ts):
   * the pool record and this host's claims, at the join's revision. Undefined when the host
   * holds blocks the join did not read (it restarted): those want a load of their own.
   */
  static fromJoin(
    ctx: StoreContext,
    node: NodeId,
    pending: ReadonlySet<bigint>,
    reads: JoinReads,
    claimed: ClaimedAtJoin | undefined,
  ): HostView | undefined {
    if (!reads.pool) return undefined;
    const view = new HostView(ctx, decodePool(reads.id, reads.pool), node, pending);
    const others = reads.claims
      .map((kv) => parseBlockIndex(kv.key.toString()))
      .filter((i) => i !== claimed?.index);
    if (others.length > 0) return undefined;
    if (claimed) view.adoptJoined(claimed, reads.pool);
    return view;
  }

  /** adoptJoined takes the block this host's join claimed (a view of the same pool only). */
  adoptJoined(claimed: ClaimedAtJoin, pool: IKeyValue): void {
    if (this.stale || BigInt(pool.create_revision) !== this.pool.createRevision) return;
    if (claimed.index < this.geometry.count) this.adopt(claimed.index, claimed.present);
  }

  /**
   * next is a free candidate, marked taken locally: from this host's blocks, else from newly
   * claimed ones, else borrowed from the shared view. Undefined when the window is full.
   */
  async next(budget?: Budget): Promise<IpAddress | undefined> {
    for (;;) {
      const own = this.takeOwned();
      if (own) return own;
      if (this.noFreeBlock) break;
      await this.claim(budget);
      // The pool was removed or made again: the caller reloads.
      if (this.stale) return undefined;
    }
    const shared = await this.borrowView(budget);
    return shared?.take();
  }

  /**
   * knownFull: the shared view was loaded fresh and found the window full, and nothing was
   * freed since, so a request can be refused without reading the pool again.
   */
  get knownFull(): boolean {
    return this.sharedView?.knownFull === true && this.roomy.size === 0;
  }

  /** confirmFull records that a fresh look found the window full (see knownFull). */
  confirmFull(): void {
    this.sharedView?.confirmFull();
  }

  /** mark records an address as taken or free (no-op outside the window). */
  mark(address: IpAddress, taken: boolean): void {
    this.sharedView?.mark(address, taken);
    if (address.family !== this.window.family || !subnetContains(this.window, address)) return;
    const offset = Number(offsetOf(this.window, address));
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

  /** jump: repeated conflicts in the shared window; step out of the way of whoever is ahead. */
  jump(): void {
    this.sharedView?.jump();
  }

  /** invalidate marks the view stale; the next request reloads. */
  invalidate(why: string): void {
    if (this.stale) return;
    this.stale = true;
    this.ctx.logger.debug({ pool: this.pool.id, why }, 'pool view stale');
    void this.close();
  }

  async close(): Promise<void> {
    this.stale = true;
    const shared = this.shared;
    this.shared = undefined;
    this.sharedView = undefined;
    await shared?.then((v) => v?.close()).catch(() => undefined);
  }

  private reserved(address: IpAddress): boolean {
    return neverDynamic(this.hosts, this.pool.gateway, address);
  }

  private takeOwned(): IpAddress | undefined {
    for (const owned of this.roomy) {
      const at = owned.taken.allocateNextFree();
      if (owned.taken.freeCount === 0) this.roomy.delete(owned);
      if (at >= 0) {
        const { first } = this.geometry.span(owned.index);
        return addressAt(this.window, BigInt(first + at));
      }
    }
    return undefined;
  }

  private addressGets(index: number): IRequestOp[] {
    return addressGets(this.ctx, this.pool.id, this.geometry, index);
  }

  /** adopt makes block i this host's, taking what `present` (its address keys) says is taken. */
  private adopt(index: number, present: readonly IKeyValue[]): void {
    if (this.owned.has(index)) return;
    const addresses = this.geometry.addresses(index);
    const taken = new AddressBitmap(BLOCK_SIZE);
    for (let o = addresses.length; o < BLOCK_SIZE; o++) taken.allocate(o);
    addresses.forEach((a, o) => {
      if (this.reserved(a) || this.pending.has(a.value)) taken.allocate(o);
    });
    const prefix = this.ctx.keys.addresses(this.pool.id);
    for (const kv of present) {
      try {
        const a = parseAddress(kv.key.toString().slice(prefix.length));
        const o = Number(offsetOf(this.window, a)) - this.geometry.span(index).first;
        if (o >= 0 && o < BLOCK_SIZE) taken.allocate(o);
      } catch {
        // not an address key: nothing to mark
      }
    }
    const owned = { index, taken };
    this.owned.set(index, owned);
    this.order.push(owned);
    if (taken.freeCount > 0) this.roomy.add(owned);
  }

  /**
   * loadBlocks reads blocks this host's affinity keys name: each claim (still ours?) and its
   * addresses, LOAD_OPS gets per round trip.
   */
  private async loadBlocks(indexes: readonly number[], budget?: Budget): Promise<void> {
    const per = Math.max(1, Math.floor(LOAD_OPS / (BLOCK_SIZE + 1)));
    for (let i = 0; i < indexes.length; i += per) {
      const batch = indexes.slice(i, i + per);
      const ops = batch.flatMap((index) => [
        getOp(this.ctx.keys.block(this.pool.id, index)),
        ...this.addressGets(index),
      ]);
      const res = await this.ctx.calls.read('load blocks', ops, 'load', budget);
      let at = 0;
      for (const index of batch) {
        const claim = kvsAt(res, at)[0];
        const n = this.geometry.span(index).length;
        const present = Array.from({ length: n }, (_, k) => kvsAt(res, at + 1 + k)[0]).filter(
          (kv): kv is IKeyValue => kv !== undefined,
        );
        at += 1 + n;
        // Another host took the block over while we held nothing (see claim()): not ours now.
        if (claim && readBlock(claim)?.node === this.node) this.adopt(index, present);
      }
    }
  }

  /** claim takes more blocks; concurrent callers share one claim (single flight). */
  private async claim(budget?: Budget): Promise<void> {
    this.waiting++;
    try {
      if (!this.claiming) {
        // As many blocks as the callers waiting need, and as many as this host holds already
        // (a busy host grows by more at once, so claims stay a small share of its writes).
        const need = Math.max(Math.ceil(this.waiting / BLOCK_SIZE), this.owned.size, 1);
        const want = Math.min(MAX_CLAIM, need);
        this.claiming = this.claimBlocks(want, budget).finally(() => {
          this.claiming = undefined;
        });
      }
      await this.claiming;
    } finally {
      this.waiting--;
    }
  }

  /**
   * claimBlocks creates up to `want` consecutive block claims (and this host's affinity keys
   * for them) in one transaction that also reads their addresses. The first try is blind: the
   * blocks after our newest, or at our hash's place; a lost one reads the claims around it, and
   * the next round takes a free run there, or tries a random place. After PROBES places with
   * nothing free, no block is free: the host borrows.
   */
  private async claimBlocks(want: number, budget?: Budget): Promise<void> {
    const { keys } = this.ctx;
    const id = this.pool.id;
    const count = this.geometry.count;
    const newest = this.order.at(-1)?.index;
    let places = 1;
    let chosen: number[] = [];
    /** Where the last write's probe began (its Else reads the claims from there). */
    let probed = 0;
    const token = newToken();
    const poolKey = keys.pool(id);
    const write = (run: number[]): Decision<ClaimReads, ClaimResult> => {
      // Every block is ours already: nothing to claim.
      if (run.length === 0) return { answer: 'none' };
      chosen = run;
      probed = count <= PROBE_SPAN ? 0 : (run[0] as number);
      const probe = spanOp(
        keys.block(id, probed),
        keys.block(id, Math.min(count, probed + PROBE_SPAN)),
      );
      const claim = { at: nowIso(), token };
      const ops = run.flatMap((index) =>
        claimOps(this.ctx, id, this.node, this.geometry, index, claim),
      );
      return {
        write: {
          guards: [
            { key: poolKey, createdAt: this.pool.createRevision }, // the pool we know
            ...run.map((index) => ({ key: keys.block(id, index), absent: true as const })),
          ],
          ops,
          reread: { pool: getOp(poolKey), probe },
          done: (_revision, res) => {
            this.adoptClaimed(run, res);
            return 'claimed';
          },
        },
      };
    };
    const result = await transact<ClaimReads, ClaimResult>(
      this.ctx,
      {
        what: 'claim block',
        conflict: 'block',
        pool: id,
        node: this.node,
        // Blind first try: the blocks after our newest one, else at our hash's place.
        start: () => {
          const run = newest !== undefined ? this.runFrom((newest + 1) % count, want) : [];
          return write(run.length > 0 ? run : this.randomRun(startOffset(this.node, count), want));
        },
        decide: (snap) => {
          const free = this.freeRun(snap, probed, want);
          if (free.length > 0) return write(free);
          if (places >= PROBES || count <= PROBE_SPAN) return { answer: 'none' };
          places++;
          return write(this.randomRun(Math.floor(Math.random() * count), 1));
        },
        // A re-sent claim that had committed: its blocks carry our token.
        mine: (snap) => {
          const ours = new Set<number | undefined>();
          for (const kv of snap.kvs('probe')) {
            if (readBlock(kv)?.token === token) ours.add(parseBlockIndex(kv.key.toString()));
          }
          return chosen.length > 0 && chosen.every((i) => ours.has(i)) ? 'mine' : undefined;
        },
        lost: (snap) => {
          const pool = snap.kv('pool');
          if (!pool || BigInt(pool.create_revision) !== this.pool.createRevision) {
            return { answer: 'gone' };
          }
          return 'retry-now';
        },
        rounds: PROBES * 2,
      },
      budget,
    ).catch((error: unknown) => {
      // Claims that keep losing are no reason to refuse an address: borrow instead.
      if (error instanceof StoreError && error.code === 'CONFLICT') return 'none' as const;
      throw error;
    });
    if (result === 'mine') await this.loadBlocks(chosen, budget);
    if (result === 'gone') this.invalidate('pool removed or re-created');
    if (result === 'none') {
      this.noFreeBlock = true;
      this.ctx.logger.info(
        { pool: id, node: this.node, blocks: this.owned.size },
        'no free block left in the pool: borrowing addresses from the whole window',
      );
    } else if (result !== 'gone') {
      this.ctx.logger.debug(
        { pool: id, node: this.node, blocks: chosen },
        'claimed address blocks',
      );
    }
  }

  /** runFrom is up to `want` consecutive block indexes from `from` that neither we nor `present` hold. */
  private runFrom(from: number, want: number, present: ReadonlySet<number> = new Set()): number[] {
    const run: number[] = [];
    for (let i = from; i < this.geometry.count && run.length < want; i++) {
      if (present.has(i) || this.owned.has(i)) break;
      run.push(i);
    }
    return run;
  }

  /** randomRun is a run at `from`, or at the first index after it that we do not hold. */
  private randomRun(from: number, want: number): number[] {
    const count = this.geometry.count;
    for (let k = 0; k < count; k++) {
      const run = this.runFrom((from + k) % count, want);
      if (run.length > 0) return run;
    }
    return [];
  }

  /** freeRun finds the first run of free blocks in a probe that began at `probed`. */
  private freeRun(snap: Snapshot<ClaimReads>, probed: number, want: number): number[] {
    const present = new Set<number>();
    for (const kv of snap.kvs('probe')) {
      const index = parseBlockIndex(kv.key.toString());
      if (index !== undefined) present.add(index);
    }
    const end = Math.min(this.geometry.count, probed + PROBE_SPAN);
    for (let i = probed; i < end; i++) {
      if (!present.has(i) && !this.owned.has(i)) return this.runFrom(i, want, present);
    }
    return [];
  }

  /** adoptClaimed takes the blocks a committed claim wrote, with the addresses it read. */
  private adoptClaimed(run: readonly number[], res: ITxnResponse): void {
    let at = 0;
    for (const index of run) {
      this.adopt(index, claimedAddresses(res.responses, at, this.geometry, index));
      at += claimLength(this.geometry, index);
    }
  }

  /** borrowView loads the shared view of the whole window (once; again when it went stale). */
  private async borrowView(budget?: Budget): Promise<PoolView | undefined> {
    if (this.sharedView?.stale) {
      this.shared = undefined;
      this.sharedView = undefined;
    }
    if (!this.shared) {
      const loading = PoolView.load(this.ctx, this.pool.id, this.node, this.pending, budget).then(
        (view) => {
          if (view && view.pool.createRevision !== this.pool.createRevision) {
            void view.close();
            this.invalidate('pool re-created');
            return undefined;
          }
          if (view) {
            for (const owned of this.order) {
              // What we took in our blocks is taken in the shared view too (it may lag).
              for (let o = 0; o < BLOCK_SIZE; o++) {
                if (!owned.taken.has(o)) continue;
                const offset = this.geometry.span(owned.index).first + o;
                if (offset < this.geometry.size)
                  view.mark(addressAt(this.window, BigInt(offset)), true);
              }
            }
          }
          this.sharedView = view;
          return view;
        },
      );
      this.shared = loading;
      loading.catch(() => {
        if (this.shared === loading) this.shared = undefined;
      });
    }
    return await this.shared;
  }
}

type ClaimReads = 'pool' | 'probe';
type ClaimResult = 'claimed' | 'mine' | 'none' | 'gone';
