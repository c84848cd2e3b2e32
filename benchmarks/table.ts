/** The terminal table: one line per figure, columns padded to fit. */
import { formatMet, formatTarget, formatValue } from './format.js';
import type { Figure } from './scenario.js';

/** printTable writes the figures of one scenario to stdout. */
export function printTable(title: string, figures: readonly Figure[], judged: boolean): void {
  const rows = figures.map((f) => [
    f.name,
    formatValue(f),
    formatTarget(f),
    formatMet(f, judged),
    f.note ?? '',
  ]);
  const header = ['figure', 'value', 'target', 'status', 'note'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (c === 1 ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
}
