/**
 * Benchmarks of @kontena-ipam/cidr, scenario by scenario, with the targets and the figures
 * of Docker's own allocator (moby's run-length-encoded bitmap, Go, measured on a machine of this
 * kind; quoted from issue 2) beside each. Run with `pnpm --filter @kontena-ipam/cidr bench`.
 * Figures, not assertions: nothing here fails a build.
 *
 * Every rate is the median of several timed batches, not one long mean: the machines this runs on
 * are shared, and a batch that the scheduler preempted should not move the figure.
 */
import {
  AddressBitmap,
  firstFreeSubnet,
  formatSubnet,
  parseSubnet,
  type Subnet,
} from '../src/index.js';

/** BenchRow is one measured figure. */
export interface BenchRow {
  /** scenario names what was measured. */
  scenario: string;
  /** value is the figure, in `unit`. */
  value: number;
  unit: 'ops/s' | 'pairs/s' | 'µs/op' | 'bytes' | 'calls/s';
  /** target is the goal, as text ('' when it sets none). */
  target: string;
  /** docker is Docker's figure for the same scenario, as text ('' when unknown). */
  docker: string;
  /** note adds what else was seen (heap delta, tail latency). */
  note?: string;
}

/** CidrBenchOptions: smoke makes every scenario small, for a seconds-long check that they run. */
export interface CidrBenchOptions {
  smoke?: boolean;
}

const MiB = 1024 * 1024;
const BATCHES = 15;

/** xorshift32 is a tiny deterministic PRNG: comparable runs, no allocation per draw. */
function xorshift32(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

/** heapBytes is V8 heap plus typed-array memory after a full GC (undefined without --expose-gc). */
function heapBytes(): number | undefined {
  if (gc === undefined) return undefined;
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function heapNote(before: number | undefined, after: number | undefined): string {
  if (before === undefined || after === undefined) return 'heap delta: run with --expose-gc';
  return `heap delta after GC ${((after - before) / MiB).toFixed(2)} MiB`;
}

function now(): bigint {
  return process.hrtime.bigint();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * batchedRate runs `batch(n)` (which must do n operations) `batches` times and returns the
 * median operations per second.
 */
function batchedRate(batches: number, n: number, batch: (n: number) => void): number {
  const rates: number[] = [];
  for (let b = 0; b < batches; b++) {
    const start = now();
    batch(n);
    rates.push(n / (Number(now() - start) / 1e9));
  }
  return median(rates);
}

/** randomHalf allocates each offset of a bitmap with probability 1/2 (the "50% random load"). */
function randomHalf(
  size: number,
  seed: number,
): { bitmap: AddressBitmap; held: Uint32Array; count: number } {
  const bitmap = new AddressBitmap(size);
  const held = new Uint32Array(size);
  const rand = xorshift32(seed);
  let count = 0;
  for (let o = 0; o < size; o++) {
    if ((rand() & 1) === 1) {
      bitmap.allocate(o);
      held[count++] = o;
    }
  }
  return { bitmap, held, count };
}

function fill(rows: BenchRow[], prefix: number, docker: string, target: string): void {
  const size = 2 ** (32 - prefix);
  let rate: number;
  let note: string;
  if (size <= 65536) {
    // A batch fills enough fresh bitmaps to make about 2^20 allocations.
    const perBatch = Math.max(1, Math.floor(2 ** 20 / size));
    rate = batchedRate(BATCHES, perBatch * size, () => {
      for (let r = 0; r < perBatch; r++) {
        const bitmap = new AddressBitmap(size);
        for (let i = 0; i < size; i++) bitmap.allocateFirstFree();
      }
    });
    note = `median of ${BATCHES} batches of ${perBatch} fresh bitmaps, construction included`;
  } else {
    // One bitmap, its fill cut into 16 timed slices.
    const bitmap = new AddressBitmap(size);
    rate = batchedRate(16, size / 16, (n) => {
      for (let i = 0; i < n; i++) bitmap.allocateFirstFree();
    });
    note = 'median of 16 slices of one fill';
  }
  rows.push({
    scenario: `fill /${prefix} first-free`,
    value: rate,
    unit: 'ops/s',
    target,
    docker,
    note,
  });
  const before = heapBytes();
  const full = new AddressBitmap(size);
  for (let i = 0; i < size; i++) full.allocateFirstFree();
  const after = heapBytes();
  rows.push({
    scenario: `full /${prefix} memory`,
    value: full.memoryBytes(),
    unit: 'bytes',
    target: prefix === 8 ? '≤ 4 MiB' : '',
    docker: '',
    note: heapNote(before, after),
  });
}

function churn(rows: BenchRow[], mode: 'first-free' | 'next-free', pairs: number): void {
  const { bitmap, held, count } = randomHalf(65536, 42);
  const rand = xorshift32(7);
  const first = mode === 'first-free';
  const rate = batchedRate(BATCHES, Math.ceil(pairs / BATCHES), (n) => {
    for (let i = 0; i < n; i++) {
      const k = rand() % count;
      bitmap.free(held[k]!);
      held[k] = first ? bitmap.allocateFirstFree() : bitmap.allocateNextFree();
    }
  });
  rows.push({
    scenario: `churn /16 at 50%: free random + allocate ${mode}`,
    value: rate,
    unit: 'pairs/s',
    target: first ? '≥ 1 M pairs/s' : '≥ 300 k pairs/s',
    docker: first ? '≈ 540 k pairs/s' : '≈ 30 k pairs/s',
  });
}

/**
 * perOp is the median cost in µs of `op` over batches, plus the 99.9th percentile and worst of
 * `sample` calls timed one by one (a worst case includes any GC pause or preemption).
 */
function perOp(
  n: number,
  sample: number,
  op: () => void,
): { mean: number; p999: number; worst: number } {
  const rate = batchedRate(BATCHES, Math.ceil(n / BATCHES), (m) => {
    for (let i = 0; i < m; i++) op();
  });
  const times = new Float64Array(sample);
  for (let i = 0; i < sample; i++) {
    const t = now();
    op();
    times[i] = Number(now() - t) / 1e3;
  }
  times.sort();
  return {
    mean: 1e6 / rate,
    p999: times[Math.floor(sample * 0.999)] ?? 0,
    worst: times[sample - 1] ?? 0,
  };
}

function slash8HalfLoad(rows: BenchRow[], n: number): void {
  const size = 2 ** 24;
  const before = heapBytes();
  const { bitmap, held, count } = randomHalf(size, 4242);
  const after = heapBytes();
  rows.push({
    scenario: '/8 at 50% random load: memory',
    value: bitmap.memoryBytes(),
    unit: 'bytes',
    target: '≤ 2.5 MiB',
    docker: '≈ 12.6 MB',
    note: heapNote(before, after === undefined ? undefined : after - held.byteLength),
  });
  const rand = xorshift32(99);
  const sample = 20_000;
  const ops: Array<[string, () => void]> = [
    ['has(random)', () => void bitmap.has(rand() % size)],
    ['findNextFree(random)', () => void bitmap.findNextFree(rand() % size)],
    [
      'free random + allocateFirstFree',
      () => {
        const k = rand() % count;
        bitmap.free(held[k]!);
        held[k] = bitmap.allocateFirstFree();
      },
    ],
    [
      'free random + allocateNextFree',
      () => {
        const k = rand() % count;
        bitmap.free(held[k]!);
        held[k] = bitmap.allocateNextFree();
      },
    ],
    [
      'free random + allocate(random free)',
      () => {
        const k = rand() % count;
        bitmap.free(held[k]!);
        let o = rand() % size;
        while (!bitmap.allocate(o)) o = rand() % size;
        held[k] = o;
      },
    ],
  ];
  for (const [name, op] of ops) {
    const { mean, p999, worst } = perOp(n, sample, op);
    rows.push({
      scenario: `/8 at 50% random load: ${name}`,
      value: mean,
      unit: 'µs/op',
      target: '≤ 10 µs',
      docker: '≈ 18 ms',
      note: `p99.9 ${p999.toFixed(1)} µs, worst ${worst.toFixed(0)} µs of ${sample} timed singly`,
    });
  }
}

function ipv6Window(rows: BenchRow[], n: number): void {
  const size = Number.MAX_SAFE_INTEGER;
  const before = heapBytes();
  const bitmap = new AddressBitmap(size);
  const rand = xorshift32(2024);
  const rate = batchedRate(10, n / 10, (m) => {
    for (let placed = 0; placed < m; ) {
      // 53 random bits from two draws.
      const o = ((rand() & 0x1fffff) * 2 ** 32 + rand()) % size;
      if (bitmap.allocate(o)) placed++;
    }
  });
  const after = heapBytes();
  rows.push({
    scenario: `IPv6 window 2^53-1: allocate ${n} scattered offsets`,
    value: rate,
    unit: 'ops/s',
    target: '',
    docker: '',
  });
  rows.push({
    scenario: `IPv6 window 2^53-1 holding ${n}: memory`,
    value: bitmap.memoryBytes(),
    unit: 'bytes',
    target: n >= 1_000_000 ? '≤ 64 MiB' : '',
    docker: '',
    note: heapNote(before, after),
  });
  const { mean } = perOp(100_000, 1, () => void bitmap.allocateNextFree());
  rows.push({
    scenario: 'IPv6 window: allocateNextFree',
    value: mean,
    unit: 'µs/op',
    target: '',
    docker: '',
  });
}

function subnetSearch(rows: BenchRow[], reservedCount: number, calls: number): void {
  const supernet = parseSubnet('10.0.0.0/8');
  // Worst case for a sweep: the first `reservedCount` /24s are all taken (shuffled), plus a
  // static /18 among them, so the answer lies past every reservation.
  const reserved: Subnet[] = [];
  for (let k = 0; k < reservedCount; k++) {
    reserved.push({ family: 4, network: 0x0a000000n + BigInt(k) * 256n, prefix: 24 });
  }
  reserved.push(parseSubnet('10.0.64.0/18'));
  const rand = xorshift32(5);
  for (let i = reserved.length - 1; i > 0; i--) {
    const j = rand() % (i + 1);
    [reserved[i], reserved[j]] = [reserved[j]!, reserved[i]!];
  }
  let found: Subnet | undefined;
  const rate = batchedRate(calls, 1, () => {
    found = firstFreeSubnet(supernet, 24, reserved);
  });
  const answer = found === undefined ? 'none' : formatSubnet(found);
  rows.push({
    scenario: `firstFreeSubnet /24 in 10.0.0.0/8, ${reserved.length} reserved`,
    value: rate,
    unit: 'calls/s',
    target: '',
    docker: '',
    note: `median of ${calls} calls; answer ${answer}`,
  });
}

/** runScenarios runs every scenario once. */
function runScenarios(smoke: boolean): BenchRow[] {
  const rows: BenchRow[] = [];
  fill(rows, 24, '', '');
  fill(rows, 16, '≈ 9 M ops/s', '≥ 5 M ops/s');
  if (!smoke) fill(rows, 8, '', '≥ 5 M ops/s');
  churn(rows, 'first-free', smoke ? 60_000 : 3_000_000);
  churn(rows, 'next-free', smoke ? 60_000 : 3_000_000);
  if (!smoke) slash8HalfLoad(rows, 300_000);
  ipv6Window(rows, smoke ? 20_000 : 1_000_000);
  subnetSearch(rows, smoke ? 1_000 : 10_000, smoke ? 11 : 101);
  return rows;
}

/**
 * runCidrBenchmarks runs every scenario and returns the figures. A full run first runs the smoke
 * set untimed, so that V8 has compiled the hot paths before anything is measured (Go's figures
 * are of compiled code too); smoke runs every scenario small, in seconds.
 */
export function runCidrBenchmarks(options: CidrBenchOptions = {}): BenchRow[] {
  const smoke = options.smoke === true;
  if (!smoke) runScenarios(true);
  return runScenarios(smoke);
}
