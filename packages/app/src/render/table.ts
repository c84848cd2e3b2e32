/**
 * Aligned text tables for the operator commands. Widths are measured on the plain text and
 * colour is applied after padding, so ANSI codes never skew the columns; colour is used only
 * when the output is a terminal (see useColor).
 */
import pc from 'picocolors';

/** Paint turns plain text into styled text (a picocolors function, or identity). */
export type Paint = (text: string) => string;

/** Cell is a table cell: plain text, or text with a style applied only on a terminal. */
export type Cell = string | { text: string; paint: Paint };

/** Column describes one table column: its header and which side it aligns to. */
export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** Colors is the small palette the commands use; every function is the identity without colour. */
export interface Colors {
  enabled: boolean;
  bold: Paint;
  dim: Paint;
  red: Paint;
  yellow: Paint;
  green: Paint;
  cyan: Paint;
}

/**
 * useColor decides whether to colour: a terminal on `stream`, unless NO_COLOR is set; FORCE_COLOR
 * (not "0") turns it on anyway, as in most CLIs.
 */
export function useColor(stream: object, env: NodeJS.ProcessEnv): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  // Any stream will do: only a tty.WriteStream has isTTY (a plain Writable has no such field).
  return 'isTTY' in stream && stream.isTTY === true;
}

/** colors returns the palette, live or inert. */
export function colors(enabled: boolean): Colors {
  const c = pc.createColors(enabled);
  return {
    enabled,
    bold: c.bold,
    dim: c.dim,
    red: c.red,
    yellow: c.yellow,
    green: c.green,
    cyan: c.cyan,
  };
}

function plain(cell: Cell): string {
  return typeof cell === 'string' ? cell : cell.text;
}

/**
 * renderTable lays out a header row and `rows` with two spaces between columns; the last
 * column is not padded (no trailing blanks). Returns the lines joined, ending in a newline.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly Cell[][],
  c: Colors,
): string {
  const widths = columns.map((col, i) =>
    Math.max(col.header.length, ...rows.map((row) => plain(row[i] ?? '').length)),
  );
  const line = (cells: readonly Cell[], header: boolean): string =>
    columns
      .map((col, i) => {
        const cell = cells[i] ?? '';
        const text = plain(cell);
        const width = widths[i] ?? 0;
        const last = i === columns.length - 1;
        const padded =
          col.align === 'right' ? text.padStart(width) : last ? text : text.padEnd(width);
        // Blank cells stay unpainted so that trimEnd can drop trailing blanks.
        if (padded.trim() === '') return padded;
        if (header) return c.bold(padded);
        return typeof cell === 'string' ? padded : cell.paint(padded);
      })
      .join('  ')
      .trimEnd();
  return `${[
    line(
      columns.map((col) => col.header),
      true,
    ),
    ...rows.map((r) => line(r, false)),
  ].join('\n')}\n`;
}
