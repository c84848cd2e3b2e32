/**
 * 5. cidr: the cidr package's own benchmarks (packages/cidr/benchmarks/cidr.bench.ts), run in
 * this process and reported with the rest. Pure CPU and memory: no etcd.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Figure, Scenario, Target } from './scenario.js';

const MiB = 1024 * 1024;

/** BenchRow is the cidr package's figure shape (its cidr.bench.ts). */
interface BenchRow {
  scenario: string;
  value: number;
  unit: string;
  target: string;
  docker: string;
  note?: string;
}

/**
 * exposeGc gives the cidr benchmarks `gc()` for their heap figures, which `pnpm bench` does
 * not start Node with (--expose-gc): the flag can be set at run time, and a fresh context
 * then hands out the function.
 */
function exposeGc(): void {
  const scope = globalThis as { gc?: unknown };
  if (typeof scope.gc === 'function') return;
  setFlagsFromString('--expose-gc');
  scope.gc = runInNewContext('gc');
}

/**
 * parseTarget reads the package's "≥ 5 M ops/s" / "≤ 4 MiB" / "≤ 10 µs" into a Target in the
 * figure's unit (memory is shown in MiB); undefined when it does not parse.
 */
function parseTarget(text: string, unit: string): Target | undefined {
  const m = /^([≥≤])\s*([\d.]+)\s*(MiB|k|M)?/.exec(text.trim());
  if (!m) return undefined;
  const number = Number(m[2]);
  const suffix = m[3] ?? '';
  let value: number;
  if (unit === 'bytes') {
    if (suffix !== 'MiB') return undefined;
    value = number;
  } else {
    value = number * (suffix === 'k' ? 1e3 : suffix === 'M' ? 1e6 : 1);
  }
  return { op: m[1] === '≥' ? '>=' : '<=', value, kind: 'performance' };
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** toFigure shows memory in MiB (KiB when under 1 MiB and without a target) and rates as they are. */
function toFigure(row: BenchRow): Figure {
  const target = row.target ? parseTarget(row.target, row.unit) : undefined;
  const bytes = row.unit === 'bytes';
  const kib = bytes && !target && row.value < MiB;
  const notes = [row.docker && `Docker ${row.docker}`, row.note].filter(Boolean);
  if (row.target && !target) notes.push(`target ${row.target}`);
  return {
    id: `cidr.${slug(row.scenario)}`,
    name: row.scenario,
    value: kib ? row.value / 1024 : bytes ? row.value / MiB : row.value,
    unit: kib ? 'KiB' : bytes ? 'MiB' : row.unit,
    digits: bytes || row.unit === 'µs/op' ? 3 : 0,
    ...(target ? { target } : {}),
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

export const cidr: Scenario = {
  id: 'cidr',
  title: '5. cidr',
  method:
    "The cidr package's own benchmarks (packages/cidr/benchmarks/cidr.bench.ts; targets are that package's, from its issue): filling a /8, churn on a /16 at 50% load, the IPv6 /64 window with 1M scattered allocations, and firstFreeSubnet with 10k reservations, with memory. Docker's figures (moby's run-length-encoded bitmap) are quoted from that file.",
  async run(ctx) {
    exposeGc();
    ctx.progress('cidr: the package benchmarks (CPU only)');
    // Imported here, after exposeGc: the module reads globalThis.gc when it loads.
    const { runCidrBenchmarks } = (await import('../packages/cidr/benchmarks/cidr.bench.js')) as {
      runCidrBenchmarks(options: { smoke?: boolean }): BenchRow[];
    };
    return runCidrBenchmarks({ smoke: ctx.smoke }).map(toFigure);
  },
};
