/**
 * Benchmarks of @kontena-ipam/cidr, scenario by scenario, with the issue's targets and the figures
 * of Docker's own allocator (moby's run-length-encoded bitmap, Go, measured on a machine of this
 * kind; quoted from issue 2) beside each. Run with `pnpm --filter @kontena-ipam/cidr bench`.
 * Figures, not assertions: nothing here fails a build.
 */
import { AddressBitmap, firstFreeSubnet, parseSubnet, type Subnet } from '../src/index.js';

/** BenchRow is one measured figure. */
export interface BenchRow {
  /** scenario names what was measured. */
  scenario: string;
  /** value is the figure, in `unit`. */
  value: number;
  unit: 'ops/s' | 'pairs/s' | 'µs/op' | 'bytes' | 'calls/s';
  /** target is the issue's goal, as text ('' when it sets none). */
  target: string;
  /** docker is Docker's figure for the same scenario, as text ('' when unknown). */
  docker: string;
  /** note adds what else was seen (heap delta, worst single op). */
  note?: string;
}

/** CidrBenchOptions: smoke makes every scenario small, for a seconds-long check that they run. */
export interface CidrBenchOptions {
  smoke?: boolean;
}

const MiB = 1024 * 1024;

/** xorshift32 is a tiny deterministic PRNG, so runs are comparable and no allocation happens per draw. */
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
  return `heap delta ${((after - before) / MiB).toFixed(2)} MiB`;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
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
  // Small pools fill in microseconds: repeat on fresh bitmaps so the clock sees enough work.
  const repeats = Math.max(1, Math.floor(2 ** 22 / size));
  let bitmap = new AddressBitmap(size);
  const start = process.hrtime.bigint();
  for (let r = 0; r < repeats; r++) {
    bitmap = new AddressBitmap(size);
    for (let i = 0; i < size; i++) bitmap.allocateFirstFree();
  }
  const elapsed = seconds(start);
  rows.push({
    scenario: `fill /${prefix} first-free`,
    value: (size * repeats) / elapsed,
    unit: 'ops/s',
    target,
    docker,
    ...(repeats > 1 ? { note: `${repeats} fresh bitmaps` } : {}),
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
  const size = 65536;
  const { bitmap, held, count } = randomHalf(size, 42);
  const rand = xorshift32(7);
  const next = mode === 'first-free';
  const start = process.hrtime.bigint();
  for (let i = 0; i < pairs; i++) {
    const k = rand() % count;
    bitmap.free(held[k]!);
    held[k] = next ? bitmap.allocateFirstFree() : bitmap.allocateNextFree();
  }
  const elapsed = seconds(start);
  rows.push({
    scenario: `churn /16 at 50% (free random + allocate ${mode})`,
    value: pairs / elapsed,
    unit: 'pairs/s',
    target: mode === 'first-free' ? '≥ 1 M pairs/s' : '≥ 300 k pairs/s',
    docker: mode === 'first-free' ? '≈ 540 k pairs/s' : '≈ 30 k pairs/s',
  });
}

/**
 * perOp measures the mean cost of `op` over n calls, then times `sample` more calls one by one
 * for the 99.9th percentile and the worst (which includes any GC pause or scheduler preemption
 * that happened to land on that call; the machine is shared).
 */
function perOp(
  n: number,
  sample: number,
  op: () => void,
): { mean: number; p999: number; worst: number } {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op();
  const mean = (seconds(start) / n) * 1e6;
  const times = new Float64Array(sample);
  for (let i = 0; i < sample; i++) {
    const t = process.hrtime.bigint();
    op();
    times[i] = Number(process.hrtime.bigint() - t) / 1e3;
  }
  times.sort();
  return { mean, p999: times[Math.floor(sample * 0.999)] ?? 0, worst: times[sample - 1] ?? 0 };
}

function slash8HalfLoad(rows: BenchRow[], n: number): void {
  const size = 2 ** 24;
  const before = heapBytes();
  const { bitmap, held, count } = randomHalf(size, 4242);
  const after = heapBytes();
  rows.push({
    scenario: '/8 at 50% random load memory',
    value: bitmap.memoryBytes(),
    unit: 'bytes',
    target: '≤ 2.5 MiB',
    docker: '≈ 12.6 MB',
    note: heapNote(before, after === undefined ? undefined : after - held.byteLength),
  });
  const rand = xorshift32(99);
  const sample = Math.min(n, 20_000);
  const ops: Array<[string, () => void]> = [
    ['has', () => void bitmap.has(rand() % size)],
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
      note: `${sample} timed singly: p99.9 ${p999.toFixed(1)} µs, worst ${worst.toFixed(1)} µs`,
    });
  }
}

function ipv6Window(rows: BenchRow[], n: number): void {
  const size = Number.MAX_SAFE_INTEGER;
  const before = heapBytes();
  const bitmap = new AddressBitmap(size);
  const start = process.hrtime.bigint();
  let placed = 0;
  while (placed < n) {
    // 53 random bits from two draws.
    const o = Math.floor((Math.random() * 2 ** 21 + Math.random()) * 2 ** 32) % size;
    if (bitmap.allocate(o)) placed++;
  }
  const elapsed = seconds(start);
  const after = heapBytes();
  rows.push({
    scenario: `IPv6 window 2^53-1: ${n} scattered allocations`,
    value: n / elapsed,
    unit: 'ops/s',
    target: '',
    docker: '',
  });
  rows.push({
    scenario: `IPv6 window 2^53-1 holding ${n} memory`,
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
  // static /16 in the middle, so the answer lies past every reservation.
  const reserved: Subnet[] = [];
  for (let k = 0; k < reservedCount; k++)
    reserved.push({ family: 4, network: 0x0a000000n + BigInt(k) * 256n, prefix: 24 });
  reserved.push(parseSubnet('10.0.64.0/18'));
  const rand = xorshift32(5);
  for (let i = reserved.length - 1; i > 0; i--) {
    const j = rand() % (i + 1);
    [reserved[i], reserved[j]] = [reserved[j]!, reserved[i]!];
  }
  let found: Subnet | undefined;
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) found = firstFreeSubnet(supernet, 24, reserved);
  const elapsed = seconds(start);
  rows.push({
    scenario: `firstFreeSubnet /24 in 10.0.0.0/8 with ${reserved.length} reserved`,
    value: calls / elapsed,
    unit: 'calls/s',
    target: '',
    docker: '',
    note: `answer ${found === undefined ? 'none' : `${found.network >> 24n}.${(found.network >> 16n) & 255n}.${(found.network >> 8n) & 255n}.0/24`}`,
  });
}

/** runScenarios runs every scenario once. */
function runScenarios(smoke: boolean): BenchRow[] {
  const rows: BenchRow[] = [];
  fill(rows, 24, '', '');
  fill(rows, 16, '≈ 9 M ops/s', '≥ 5 M ops/s');
  if (!smoke) fill(rows, 8, '', '≥ 5 M ops/s');
  churn(rows, 'first-free', smoke ? 50_000 : 2_000_000);
  churn(rows, 'next-free', smoke ? 50_000 : 2_000_000);
  if (!smoke) slash8HalfLoad(rows, 200_000);
  ipv6Window(rows, smoke ? 20_000 : 1_000_000);
  subnetSearch(rows, smoke ? 1_000 : 10_000, smoke ? 10 : 200);
  return rows;
}

/**
 * runCidrBenchmarks runs every scenario and returns the figures. A full run first runs the smoke
 * set untimed, so that V8 has compiled the hot paths before anything is measured (as Go's
 * figures are of compiled code); smoke runs every scenario small, in seconds.
 */
export function runCidrBenchmarks(options: CidrBenchOptions = {}): BenchRow[] {
  const smoke = options.smoke === true;
  if (!smoke) runScenarios(true);
  return runScenarios(smoke);
}
