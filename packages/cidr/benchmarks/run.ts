/**
 * Command line for the cidr benchmarks:
 *   node --expose-gc --import tsx benchmarks/run.ts [--smoke] [--runs N] [--markdown]
 * Prints one line per figure (or a Markdown table). --smoke runs every scenario small, in
 * seconds; --runs N repeats the whole set and keeps each figure's best run, the usual way to
 * read through noise from other work on a shared machine (memory figures do not vary).
 */
import { loadavg } from 'node:os';
import { type BenchRow, runCidrBenchmarks } from './cidr.bench.js';

function formatValue(row: BenchRow): string {
  if (row.unit === 'bytes') {
    return row.value < 1024 * 1024
      ? `${(row.value / 1024).toFixed(1)} KiB`
      : `${(row.value / 1024 / 1024).toFixed(2)} MiB`;
  }
  if (row.unit === 'µs/op') return `${row.value.toFixed(3)} µs/op`;
  if (row.value >= 1e6) return `${(row.value / 1e6).toFixed(2)} M ${row.unit}`;
  if (row.value >= 1e3) return `${(row.value / 1e3).toFixed(1)} k ${row.unit}`;
  return `${row.value.toFixed(1)} ${row.unit}`;
}

/** better tells whether `a` is a better figure than `b` (higher rate, lower cost). */
function better(a: BenchRow, b: BenchRow): boolean {
  if (a.unit === 'bytes') return false;
  return a.unit === 'µs/op' ? a.value < b.value : a.value > b.value;
}

const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const runsAt = args.indexOf('--runs');
const runs = runsAt === -1 ? 1 : Math.max(1, Number(args[runsAt + 1]) || 1);
const loads: number[] = [];
let best: BenchRow[] = [];
for (let r = 0; r < runs; r++) {
  loads.push(loadavg()[0] ?? 0);
  const rows = runCidrBenchmarks({ smoke });
  best = r === 0 ? rows : best.map((row, i) => (rows[i] && better(rows[i], row) ? rows[i] : row));
}
const header = `${runs === 1 ? 'one run' : `best of ${runs} runs`}; 1-minute load average at the start of each run: ${loads.map((l) => l.toFixed(1)).join(', ')}`;
if (args.includes('--markdown')) {
  console.log(`| Scenario | Ours | Target | Docker | Notes |\n| --- | --: | --- | --- | --- |`);
  for (const row of best) {
    console.log(
      `| ${row.scenario} | ${formatValue(row)} | ${row.target} | ${row.docker} | ${row.note ?? ''} |`,
    );
  }
  console.log(`\n${header}`);
} else {
  for (const row of best) {
    const extras = [
      row.target && `target ${row.target}`,
      row.docker && `Docker ${row.docker}`,
      row.note,
    ].filter(Boolean);
    console.log(
      `${row.scenario.padEnd(56)} ${formatValue(row).padStart(16)}   ${extras.join('; ')}`,
    );
  }
  console.log(header);
}
