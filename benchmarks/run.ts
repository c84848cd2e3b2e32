/**
 * `pnpm bench [--smoke] [--only id,id]`: runs the benchmark scenarios, each on a fresh etcd,
 * prints a table per scenario, and rewrites BENCHMARKS.md and benchmarks/results.json (a run
 * with --only replaces just those scenarios' figures). `pnpm bench --report` re-renders BENCHMARKS.md from the latter.
 *
 * Exit status: 1 when a correctness invariant broke (an address handed out twice, overlapping
 * pools, leftovers) or a scenario failed to run; performance targets never change it: a missed
 * target is reported and explained in BENCHMARKS.md, and --smoke does not judge them at all,
 * except that in a smoke run a request that failed breaks the run (scenario.ts, Target.smoke):
 * without that, a run whose every request failed would pass, having granted nothing twice.
 */
import { performance } from 'node:perf_hooks';
import { churn } from './churn.bench.js';
import { cidr } from './cidr.bench.js';
import { cni } from './cni.bench.js';
import { contention } from './contention.bench.js';
import { fill } from './fill.bench.js';
import { latency } from './latency.bench.js';
import { machineFacts } from './machine.js';
import { pluginOverhead } from './plugin-overhead.bench.js';
import { loadResults, type ScenarioOutcome, saveResults, writeReport } from './report.js';
import { scale } from './scale.bench.js';
import { invariantBroken, type Scenario } from './scenario.js';
import { printTable } from './table.js';

const scenarios: readonly Scenario[] = [
  latency,
  fill,
  contention,
  churn,
  cidr,
  pluginOverhead,
  scale,
  cni,
];

interface Args {
  smoke: boolean;
  only: Set<string> | undefined;
  /** report: re-render BENCHMARKS.md from results.json, measure nothing. */
  report: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let smoke = false;
  let report = false;
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--smoke') smoke = true;
    else if (arg === '--report') report = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const list = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      only = new Set((list ?? '').split(',').filter(Boolean));
      const unknown = [...only].filter((id) => !scenarios.some((s) => s.id === id));
      if (unknown.length > 0 || only.size === 0) {
        throw new Error(
          `--only takes scenario ids from: ${scenarios.map((s) => s.id).join(', ')} (got ${list ?? 'nothing'})`,
        );
      }
    } else if (arg === '--') {
      // pnpm may pass a separator through; nothing follows that we need.
    } else {
      throw new Error(
        `unknown argument ${arg}; usage: pnpm bench [--smoke] [--only id,id] | pnpm bench --report`,
      );
    }
  }
  return { smoke, only, report };
}

async function main(): Promise<number> {
  const { smoke, only, report } = parseArgs(process.argv.slice(2));
  if (report) {
    console.log(`wrote ${writeReport(loadResults(scenarios))} from benchmarks/results.json`);
    return 0;
  }
  const started = performance.now();
  const facts = machineFacts();
  const mode = smoke ? 'smoke (tiny sizes; performance targets not judged)' : 'full';
  console.log(
    `kontena-ipam benchmarks, ${mode}: ${facts.cpu} × ${facts.cores}, Node ${facts.node}, etcd ${facts.etcd.version}, fsync ${facts.etcd.fsync}`,
  );
  const outcomes: ScenarioOutcome[] = [];
  let failed = false;
  for (const scenario of scenarios) {
    if (only && !only.has(scenario.id)) continue;
    const t0 = performance.now();
    try {
      const figures = await scenario.run({
        smoke,
        progress: (message) => process.stderr.write(`  … ${message}\n`),
      });
      const seconds = (performance.now() - t0) / 1000;
      outcomes.push({ scenario, figures, seconds });
      printTable(`${scenario.title} (${seconds.toFixed(1)} s)`, figures, !smoke);
      const broken = figures.filter((f) => invariantBroken(f, smoke));
      for (const f of broken) {
        console.error(`INVARIANT BROKEN: ${scenario.title}: ${f.name} = ${f.value ?? 'n/a'}`);
      }
      if (broken.length > 0) failed = true;
    } catch (error) {
      failed = true;
      console.error(`\n${scenario.title} FAILED:`, error);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nall scenarios: ${seconds.toFixed(1)} s`);
  if (smoke) {
    console.log('BENCHMARKS.md left as it is (a smoke run judges no performance target).');
  } else if (only && !failed) {
    // A partial run replaces those scenarios' figures and keeps the others' from their run.
    const earlier = loadResults(scenarios);
    const kept = earlier.outcomes.filter((o) => !only.has(o.scenario.id));
    const run = { facts, outcomes: [...kept, ...outcomes], seconds: earlier.seconds };
    run.outcomes.sort((a, b) => scenarios.indexOf(a.scenario) - scenarios.indexOf(b.scenario));
    console.log(`wrote ${saveResults(run)} (${[...only].join(', ')} re-measured)`);
    console.log(`wrote ${writeReport(run)}`);
  } else if (failed) {
    console.log('BENCHMARKS.md left as it is: a scenario failed or broke an invariant.');
  } else {
    const run = { facts, outcomes, seconds };
    console.log(`wrote ${saveResults(run)}`);
    console.log(`wrote ${writeReport(run)}`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
