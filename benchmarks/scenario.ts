/**
 * What every scenario offers the runner: a name, a run function, and the figures it measured.
 * A figure may carry a target; an `invariant` target (duplicates, overlaps) fails the run in
 * every mode, a `performance` target never does: it is reported, met or not. A performance
 * target marked `smoke: 'invariant'` (requests that failed) fails a smoke run: there nothing may
 * fail, or a run whose every request failed would pass (no grant, hence no duplicate).
 */

/** Target is the goal a figure is held to. */
export interface Target {
  op: '<=' | '>=' | '==';
  value: number;
  /** invariant: correctness, fails the run; performance: reported only. */
  kind: 'invariant' | 'performance';
  /**
   * smoke 'invariant': a performance target that a smoke run judges as an invariant. Its sizes
   * are tiny and the machine is not pushed, so a request that should have succeeded and did not
   * is a fault there, not a measurement (at full size a few may fail under load: reported).
   */
  smoke?: 'invariant';
}

/** Figure is one measured number (undefined when it could not be measured: printed "n/a"). */
export interface Figure {
  /** id is stable across runs ("latency.p50-ratio"): limits.ts explains missed targets by it. */
  id: string;
  /** name says what was measured, for the table. */
  name: string;
  value: number | undefined;
  unit: string;
  /** digits after the decimal point when printed (default 2). */
  digits?: number;
  target?: Target;
  /** note adds what the number alone does not say. */
  note?: string;
}

/** ScenarioContext is what the runner hands each scenario. */
export interface ScenarioContext {
  /** smoke: tiny sizes, seconds; performance targets are not judged. */
  smoke: boolean;
  /** progress prints one line to stderr (the table goes to stdout). */
  progress(message: string): void;
}

/** Scenario is one benchmark suite: benchmarks/<id>.bench.ts exports one. */
export interface Scenario {
  /** id names the file and the --only filter. */
  id: string;
  title: string;
  /** method describes in a sentence or two how the figures are taken (for BENCHMARKS.md). */
  method: string;
  run(ctx: ScenarioContext): Promise<Figure[]>;
}

/** met says whether a figure meets its target (undefined: no target, or no value). */
export function met(figure: Figure): boolean | undefined {
  const { target, value } = figure;
  if (!target || value === undefined || Number.isNaN(value)) return undefined;
  if (target.op === '<=') return value <= target.value;
  if (target.op === '>=') return value >= target.value;
  return value === target.value;
}

/** judgedAsInvariant tells whether a figure's target fails the run in this mode. */
export function judgedAsInvariant(figure: Figure, smoke: boolean): boolean {
  const target = figure.target;
  return target?.kind === 'invariant' || (smoke && target?.smoke === 'invariant');
}

/**
 * invariantBroken is a figure whose correctness target failed (or could not be measured); in a
 * smoke run, also one whose target is an invariant there (see Target.smoke).
 */
export function invariantBroken(figure: Figure, smoke = false): boolean {
  return judgedAsInvariant(figure, smoke) && met(figure) !== true;
}

/**
 * failedRequests is the figure every multi-host scenario reports: requests that failed, by code.
 * Reported at full size; in a smoke run any failure breaks the run (see Target.smoke).
 */
export function failedRequests(id: string, failures: ReadonlyMap<string, number>): Figure {
  const failed = [...failures.values()].reduce((a, b) => a + b, 0);
  return {
    id,
    name: 'requests that failed',
    value: failed,
    unit: '',
    digits: 0,
    target: { op: '==', value: 0, kind: 'performance', smoke: 'invariant' },
    ...(failed > 0 ? { note: [...failures].map(([code, n]) => `${code}: ${n}`).join(', ') } : {}),
  };
}
