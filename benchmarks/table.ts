/**
 * The terminal table: one line per figure, laid out by the app's renderTable (the one table
 * renderer of the project); on a terminal the header is bold and the status says its verdict in
 * colour.
 */
import { formatMet, formatTarget, formatValue } from './format.js';
import { type Figure, judgedAsInvariant, met } from './scenario.js';
import { type Cell, type Colors, type Column, colors, renderTable, useColor } from './workspace.js';

const columns: readonly Column[] = [
  { header: 'figure' },
  { header: 'value', align: 'right' },
  { header: 'target' },
  { header: 'status' },
  { header: 'note' },
];

/** statusCell paints the verdict: met green, a broken invariant red, a missed target yellow. */
function statusCell(figure: Figure, judged: boolean, c: Colors): Cell {
  const text = formatMet(figure, judged);
  const ok = met(figure);
  if (!figure.target || ok === undefined) return text;
  if (ok) return { text, paint: c.green };
  return { text, paint: judgedAsInvariant(figure, !judged) ? c.red : c.yellow };
}

/** printTable writes the figures of one scenario to stdout. */
export function printTable(title: string, figures: readonly Figure[], judged: boolean): void {
  const c = colors(useColor(process.stdout, process.env));
  const rows: Cell[][] = figures.map((f) => [
    f.name,
    formatValue(f),
    formatTarget(f),
    statusCell(f, judged, c),
    f.note ?? '',
  ]);
  process.stdout.write(`\n${title}\n${renderTable(columns, rows, c)}`);
}
