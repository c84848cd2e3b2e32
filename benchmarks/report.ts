/**
 * BENCHMARKS.md, written by a full run: the machine, a summary of every figure that has a
 * target, then each scenario's method and figures, and for every missed target what limits it
 * (from limits.ts, written by hand after reading profiles; a missed target without one says so).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { charts } from './chart.js';
import { formatMet, formatTarget, formatValue } from './format.js';
import { explanations, notes } from './limits.js';
import type { MachineFacts } from './machine.js';
import { type Figure, met, type Scenario } from './scenario.js';

/** ScenarioOutcome is one scenario's figures and how long it took. */
export interface ScenarioOutcome {
  scenario: Scenario;
  figures: Figure[];
  seconds: number;
}

const REPORT = new URL('../BENCHMARKS.md', import.meta.url);
const RESULTS = new URL('./results.json', import.meta.url);

/** FullRun is everything a report is made from. */
export interface FullRun {
  facts: MachineFacts;
  outcomes: readonly ScenarioOutcome[];
  seconds: number;
}

/**
 * saveResults keeps a full run's raw figures in benchmarks/results.json (committed with
 * BENCHMARKS.md), so that the report can be re-rendered after editing limits.ts without
 * measuring again, and so that the figures are there for machines too.
 */
export function saveResults(run: FullRun): string {
  const data = {
    facts: run.facts,
    seconds: run.seconds,
    outcomes: run.outcomes.map((o) => ({
      id: o.scenario.id,
      seconds: o.seconds,
      figures: o.figures,
    })),
  };
  const path = fileURLToPath(RESULTS);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

/** loadResults reads benchmarks/results.json back, matching scenario ids to `scenarios`. */
export function loadResults(scenarios: readonly Scenario[]): FullRun {
  const data = JSON.parse(readFileSync(RESULTS, 'utf8')) as {
    facts: MachineFacts;
    seconds: number;
    outcomes: Array<{ id: string; seconds: number; figures: Figure[] }>;
  };
  const outcomes = data.outcomes.map((o) => {
    const scenario = scenarios.find((s) => s.id === o.id);
    if (!scenario) throw new Error(`results.json names an unknown scenario ${o.id}`);
    // JSON has no NaN: a figure that could not be computed comes back as null.
    const figures = o.figures.map((f) => ({ ...f, value: f.value ?? undefined }));
    return { scenario, seconds: o.seconds, figures };
  });
  return { facts: data.facts, seconds: data.seconds, outcomes };
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function figureTable(figures: readonly Figure[]): string[] {
  const lines = ['| figure | value | target | status | note |', '|---|--:|---|---|---|'];
  for (const f of figures) {
    lines.push(
      `| ${cell(f.name)} | ${cell(formatValue(f))} | ${cell(formatTarget(f))} | ${formatMet(f, true)} | ${cell(f.note ?? '')} |`,
    );
  }
  return lines;
}

/** writeReport renders the outcomes to BENCHMARKS.md (or `path`) and returns the path written. */
export function writeReport(run: FullRun & { path?: string }): string {
  const { facts, outcomes } = run;
  const out: string[] = [
    '# Benchmarks',
    '',
    '<!-- Written by `pnpm bench` (benchmarks/run.ts). Edit benchmarks/limits.ts for the explanations, then re-run; do not edit by hand. -->',
    '',
    'How fast kontena-ipam allocates, measured against the physical floor (a bare etcd transaction on the same etcd, in the same run) and against how the original kontena-ipam allocated. Every ratio below compares two figures taken in one run on one machine, so that a noisy machine does not lie about it.',
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| date | ${facts.date} |`,
    `| CPU | ${cell(facts.cpu)}, ${facts.cores} cores |`,
    `| memory | ${facts.memoryGiB} GiB |`,
    `| OS | ${cell(facts.os)} |`,
    `| Node | ${facts.node} |`,
    `| etcd | ${facts.etcd.version}, one member on loopback (testing/etcd.ts), fsync ${cell(facts.etcd.fsync)} |`,
    `| run time | ${run.seconds.toFixed(0)} s for all scenarios |`,
    '',
    '## Targets',
    '',
    '| scenario | figure | value | target | status |',
    '|---|---|--:|---|---|',
  ];
  for (const { scenario, figures } of outcomes) {
    for (const f of figures.filter((x) => x.target)) {
      out.push(
        `| ${cell(scenario.title)} | ${cell(f.name)} | ${cell(formatValue(f))} | ${cell(formatTarget(f))} | ${formatMet(f, true)} |`,
      );
    }
  }
  for (const { scenario, figures, seconds } of outcomes) {
    out.push('', `## ${scenario.title}`, '', scenario.method, '', `Took ${seconds.toFixed(1)} s.`);
    out.push('', ...figureTable(figures));
    const chart = charts[scenario.id]?.(figures) ?? [];
    if (chart.length > 0) out.push('', ...chart);
    const note = notes[scenario.id];
    if (note) out.push('', note);
  }
  const missed = outcomes.flatMap(({ scenario, figures }) =>
    figures
      .filter((f) => met(f) === false || (f.target && f.value === undefined))
      .map((f) => ({ scenario, f })),
  );
  out.push('', '## What limits the missed figures', '');
  if (missed.length === 0) out.push('Every target was met in this run.');
  for (const { scenario, f } of missed) {
    const why =
      explanations[f.id] ??
      'Not explained yet: profile it (see below) and add the finding to benchmarks/limits.ts.';
    out.push(
      `- **${scenario.title}: ${f.name}** (${formatValue(f)}, target ${formatTarget(f)}). ${why}`,
    );
  }
  out.push(
    '',
    '## Running them',
    '',
    '- `pnpm bench` builds every package, runs all scenarios (each on a fresh etcd) and rewrites this file.',
    '- `pnpm bench --smoke` runs every scenario at tiny sizes in seconds (CI does, after the tests): it still fails on a duplicate address or overlapping pools, and on any request that failed (at tiny sizes nothing may: else a run whose every request failed would pass, having granted nothing twice), never on a performance target, and leaves this file alone.',
    '- `pnpm bench --only latency,contention` runs some scenarios (ids: the `benchmarks/<id>.bench.ts` files) and leaves this file alone.',
    '- `pnpm bench --report` re-renders this file from the last full run (benchmarks/results.json), e.g. after editing the explanations in benchmarks/limits.ts.',
    '- Profile one: `node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx benchmarks/run.ts --only latency`, then open the `.cpuprofile` in Chrome DevTools (Performance tab).',
    '',
  );
  const path = run.path ?? fileURLToPath(REPORT);
  writeFileSync(path, out.join('\n'));
  return path;
}
