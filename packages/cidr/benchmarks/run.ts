/**
 * Command line for the cidr benchmarks: `node --expose-gc --import tsx benchmarks/run.ts [--smoke]`.
 * Prints one line per figure; --smoke runs every scenario small, in seconds.
 */
import { type BenchRow, runCidrBenchmarks } from './cidr.bench.js';

function formatValue(row: BenchRow): string {
  if (row.unit === 'bytes') return `${(row.value / 1024 / 1024).toFixed(2)} MiB`;
  if (row.unit === 'µs/op') return `${row.value.toFixed(3)} µs/op`;
  if (row.value >= 1e6) return `${(row.value / 1e6).toFixed(2)} M ${row.unit}`;
  if (row.value >= 1e3) return `${(row.value / 1e3).toFixed(1)} k ${row.unit}`;
  return `${row.value.toFixed(1)} ${row.unit}`;
}

const smoke = process.argv.includes('--smoke');
const rows = runCidrBenchmarks({ smoke });
for (const row of rows) {
  const extras = [
    row.target && `target ${row.target}`,
    row.docker && `Docker ${row.docker}`,
    row.note,
  ].filter(Boolean);
  console.log(`${row.scenario.padEnd(56)} ${formatValue(row).padStart(16)}   ${extras.join('; ')}`);
}
