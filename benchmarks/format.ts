/** How figures and targets read, the same in the terminal table and in BENCHMARKS.md. */
import { type Figure, judgedAsInvariant, met } from './scenario.js';

/** formatNumber prints large counts with a thin grouping and small ones with `digits`. */
export function formatNumber(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 10_000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
}

/** formatValue is the figure with its unit, or "n/a". */
export function formatValue(figure: Figure): string {
  if (figure.value === undefined) return 'n/a';
  const text = formatNumber(figure.value, figure.digits);
  return figure.unit ? `${text} ${figure.unit}` : text;
}

const ops = { '<=': '≤', '>=': '≥', '==': '=' } as const;

/** formatTarget is the target as text ("≤ 1.5 ×"), or '' when there is none. */
export function formatTarget(figure: Figure): string {
  const { target } = figure;
  if (!target) return '';
  const text = `${ops[target.op]} ${formatNumber(target.value, figure.digits)}`;
  return figure.unit ? `${text} ${figure.unit}` : text;
}

/**
 * formatMet says how the figure stands against its target; `judged` is false in a smoke run,
 * where only invariants count (and the targets a smoke run judges as invariants).
 */
export function formatMet(figure: Figure, judged: boolean): string {
  if (!figure.target) return '';
  const ok = met(figure);
  if (ok === undefined) return 'n/a';
  if (ok) return 'met';
  if (judgedAsInvariant(figure, !judged)) return 'BROKEN';
  return judged ? 'missed' : 'missed (not judged in smoke)';
}
