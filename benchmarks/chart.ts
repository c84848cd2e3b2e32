/**
 * Text bar charts for BENCHMARKS.md, where a table hides the shape: how a p99 grows (or does
 * not) with the number of hosts. Plain characters in a code block, so any markdown shows them.
 */
import type { Figure } from './scenario.js';

const WIDTH = 40;

/** bars draws one bar per row, scaled to the largest of the values and `scale`. */
function bars(
  title: string,
  rows: ReadonlyArray<{ label: string; value: number }>,
  unit: string,
  scale: number,
): string[] {
  const top = Math.max(scale, ...rows.map((r) => r.value));
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  return [
    title,
    ...rows.map((r) => {
      const n = Math.max(1, Math.round((r.value / top) * WIDTH));
      return `${r.label.padStart(labelWidth)}  ${'█'.repeat(n).padEnd(WIDTH)}  ${r.value.toFixed(1)} ${unit}`;
    }),
  ];
}

/** scaleChart: join and allocation p99 against the fleet size, each against its target. */
function scaleChart(figures: readonly Figure[]): string[] {
  const series = (what: string) =>
    figures
      .map((f) => ({ f, n: /^scale\.n(\d+)\./.exec(f.id)?.[1] }))
      .filter(
        ({ f, n }) => n !== undefined && f.id.endsWith(`.${what}-p99`) && f.value !== undefined,
      )
      .map(({ f, n }) => ({
        label: `${Number(n).toLocaleString('en-US')} hosts`,
        value: f.value as number,
        target: f.target?.value,
      }));
  const out: string[] = [];
  for (const [what, name] of [
    ['allocation', 'allocation p99'],
    ['join', 'join p99'],
  ] as const) {
    const rows = series(what);
    if (rows.length === 0) continue;
    const target = rows[0]?.target;
    out.push(
      ...(out.length > 0 ? [''] : []),
      ...bars(
        `${name} against hosts${target ? ` (target ${target} ms)` : ''}`,
        rows,
        'ms',
        target ?? 0,
      ),
    );
  }
  return out.length > 0 ? ['```', ...out, '```'] : [];
}

/** charts draw a scenario's figures, by scenario id. */
export const charts: Readonly<Record<string, (figures: readonly Figure[]) => string[]>> = {
  scale: scaleChart,
};
