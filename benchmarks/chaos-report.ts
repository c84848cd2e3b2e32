/**
 * The fault suite's figures per fault, and RELIABILITY.md (written by a full `pnpm chaos`): the
 * machine, one table, and one paragraph per fault saying what an operator sees.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Fault } from './chaos-faults.js';
import type { CallRecord } from './chaos-load.js';
import type { MachineFacts } from './machine.js';
import { summarize } from './stats.js';

/** FaultOutcome is one fault's row. */
export interface FaultOutcome {
  fault: Fault;
  calls: number;
  failed: number;
  /** Longest time (ms) between two successful calls, from the first to the last. */
  longestGapMs: number;
  p99Ms: number;
  maxMs: number;
  duplicates: string[];
  missing: string[];
  /** Addresses in etcd that no loop holds (a failed call that committed anyway). */
  leftovers: string[];
  /** 1-minute load average when the fault's run started. */
  load: number;
  /**
   * What broke a correctness rule (duplicates, missing, a crash, calls that did not get through
   * before the fault or after its heal): non-empty fails the run.
   */
  broken: string[];
  /** Fault-specific figures (quorum loss: how fast calls failed, first success after). */
  note: string;
  /** The most common error text of the failed calls, if any. */
  error: string | undefined;
  marks: Array<{ name: string; at: number }>;
}

/**
 * progressProblems says where the load did not get through when it should have: every plugin
 * must have calls granted before the fault (its first mark) and none failed there, etcd being
 * whole, and must have calls granted again after the fault was healed (its last mark). Without
 * this a run whose every call failed would pass: nothing granted, so nothing granted twice and
 * nothing acknowledged missing.
 */
export function progressProblems(
  calls: readonly CallRecord[],
  marks: ReadonlyArray<{ name: string; at: number }>,
  plugins: number,
): string[] {
  const first = marks[0];
  const last = marks.at(-1);
  if (!first || !last) return ['the fault marked no moment: nothing to judge the calls by'];
  const problems: string[] = [];
  for (let p = 0; p < plugins; p++) {
    const mine = calls.filter((c) => c.plugin === p);
    const before = mine.filter((c) => c.end < first.at);
    const granted = (c: CallRecord) => c.ok && c.route === 'RequestAddress';
    const failed = before.filter((c) => !c.ok);
    if (!before.some(granted)) {
      problems.push(`plugin ${p}: no address granted before the fault (${first.name})`);
    }
    if (failed.length > 0) {
      problems.push(
        `plugin ${p}: ${failed.length} calls failed before the fault (${first.name}), etcd whole: ${failed[0]?.error ?? ''}`.slice(
          0,
          400,
        ),
      );
    }
    if (!mine.some((c) => c.end > last.at && granted(c))) {
      problems.push(`plugin ${p}: no address granted after the fault was healed (${last.name})`);
    }
  }
  return problems;
}

/** summarizeFault turns a run's raw records into its row. */
export function summarizeFault(
  fault: Fault,
  run: {
    /** How many plugins the fleet ran (calls name theirs by index). */
    plugins: number;
    calls: CallRecord[];
    duplicates: string[];
    missing: string[];
    leftovers: string[];
    crashed: string[];
    marks: Array<{ name: string; at: number }>;
    load: number;
  },
): FaultOutcome {
  const failedCalls = run.calls.filter((c) => !c.ok);
  const latency = summarize(run.calls.map((c) => c.ms));
  const successes = run.calls
    .filter((c) => c.ok)
    .map((c) => c.end)
    .sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let i = 1; i < successes.length; i++) {
    longestGapMs = Math.max(longestGapMs, (successes[i] as number) - (successes[i - 1] as number));
  }
  const errors = new Map<string, number>();
  for (const c of failedCalls) {
    // Group by the message without the numbers that vary (ports, ms, attempts).
    const key = (c.error ?? '').replace(/\d+/g, 'N').slice(0, 300);
    errors.set(key, (errors.get(key) ?? 0) + 1);
  }
  const common = [...errors.entries()].sort((a, b) => b[1] - a[1])[0];
  const sample = common
    ? failedCalls.find((c) => (c.error ?? '').replace(/\d+/g, 'N').slice(0, 300) === common[0])
    : undefined;
  let note = '';
  const quorum = run.marks.find((m) => m.name === 'quorum');
  const lost = run.marks.find((m) => m.name === 'kill');
  if (!fault.quorum && quorum && lost) {
    const after = successes.find((t) => t >= quorum.at);
    const during = failedCalls.filter((c) => c.end > lost.at && c.end <= quorum.at);
    const failMs = summarize(during.map((c) => c.ms));
    note =
      `without quorum ${during.length} calls failed, in ${failMs.p50.toFixed(0)} ms (median), ` +
      `${failMs.max.toFixed(0)} ms at most; first success ${
        after === undefined ? 'never' : `${Math.max(0, after - quorum.at).toFixed(0)} ms`
      } after a restarted member reported healthy`;
  }
  const broken = [
    ...run.duplicates.map((d) => `granted twice: ${d}`),
    ...run.missing.map((m) => `acknowledged but not in etcd: ${m}`),
    ...run.crashed.map((c) => `plugin process died: ${c}`),
    ...progressProblems(run.calls, run.marks, run.plugins),
  ];
  return {
    fault,
    calls: run.calls.length,
    failed: failedCalls.length,
    longestGapMs,
    p99Ms: latency.p99,
    maxMs: latency.max,
    duplicates: run.duplicates,
    missing: run.missing,
    leftovers: run.leftovers,
    load: run.load,
    broken,
    note,
    error: sample?.error,
    marks: run.marks,
  };
}

const HEADER = [
  'fault',
  'Docker calls',
  'failed',
  'longest gap without a success',
  'p99 latency',
  'max latency',
  'granted twice',
  'acknowledged, missing from etcd',
  'load avg (1 min)',
];

/** rows is the table's body, shared by the console and RELIABILITY.md. */
export function rows(outcomes: readonly FaultOutcome[]): string[][] {
  return outcomes.map((o) => [
    o.fault.id,
    o.calls.toLocaleString('en-US'),
    o.failed === 0 ? '0' : `${o.failed} (${((100 * o.failed) / o.calls).toFixed(1)} %)`,
    `${o.longestGapMs.toFixed(0)} ms`,
    `${o.p99Ms.toFixed(0)} ms`,
    `${o.maxMs.toFixed(0)} ms`,
    String(o.duplicates.length),
    String(o.missing.length),
    o.load.toFixed(1),
  ]);
}

/** markdownTable renders a header and rows. */
export function markdownTable(header: readonly string[], body: readonly string[][]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(header),
    line(header.map((_, i) => (i === 0 ? '---' : '--:'))),
    ...body.map(line),
  ].join('\n');
}

/** printOutcomes prints the table to stdout. */
export function printOutcomes(outcomes: readonly FaultOutcome[]): void {
  console.log(markdownTable(HEADER, rows(outcomes)));
  for (const o of outcomes) {
    if (o.note) console.log(`${o.fault.id}: ${o.note}`);
    if (o.error) console.log(`${o.fault.id}: most common error: ${o.error}`);
  }
}

/** What an operator sees, per fault (the figures are this run's). */
function paragraph(o: FaultOutcome): string {
  const failed =
    o.failed === 0
      ? 'No Docker call failed'
      : `${o.failed} of ${o.calls} Docker calls failed (most with \`${o.error ?? '?'}\`)`;
  const common = `${failed}; the longest stretch without a successful call was ${o.longestGapMs.toFixed(0)} ms and the slowest call took ${o.maxMs.toFixed(0)} ms.`;
  switch (o.fault.id) {
    case 'follower-kill':
      return `**A follower dies.** Nothing to see in Docker: ${common} Calls that were on the dead member fail over to another one at once (its connection is refused).`;
    case 'leader-kill':
      return `**The leader dies.** The two others elect a new leader within a few hundred ms; calls that were waiting on the old leader are answered "no leader" or time out after one 700 ms attempt and are tried again on another member. ${common} \`docker network\` and \`docker run\` just take a moment longer.`;
    case 'leader-freeze':
      return `**The leader hangs** (a stuck disk, a paused VM: its sockets stay open and nothing answers). An attempt on it ends at its 700 ms deadline; that member is then skipped for 500 ms at a time and the other two (which elect a new leader) serve. ${common} When it thaws it rejoins as a follower.`;
    case 'member-restart':
      return `**A rolling restart of every member.** ${common} A restarting member refuses connections, so calls go to the others.`;
    case 'quorum-loss':
      return `**Quorum lost** (2 of 3 members down). Calls fail with 503 and \`etcd unavailable at <endpoints>: …: no leader\` (or \`no member answered\`) once their 5 s budget (KONTENA_IPAM_ETCD_TIMEOUT) is spent, well before Docker gives up. In this run ${o.note}. ${common} Addresses in etcd that no loop holds afterwards (a failed call that committed anyway): ${o.leftovers.length}.`;
    case 'compaction-paused-plugin':
      return `**A host pauses** (its plugin and its Docker frozen for 4 s) while the other allocates and etcd compacts past the revision the paused plugin's watch had reached. When it resumes its watch is cancelled (or catches up) and its view of the pool reloads; allocations from its stale view lose their compare and retry; no address is granted twice. ${common}${o.failed === 0 ? '' : ' The calls that fail are ones the paused plugin had in flight when it froze: a budget is wall-clock time, so they resume with little of it left.'}`;
    case 'duplicate-identity':
      return `**Two hosts with one NODE_ID** (a cloned VM, or a second process). The second instance finds the first one's live registration and serves nothing: each of the 20 RequestAddress it was sent is answered 503 naming NODE_ID and the first instance (one grant would fail the run), and it writes nothing. The first one notices nothing. ${common}`;
    case 'lost-lease':
      return `**A host frozen past its registration** (its VM paused for longer than the 10 s lease) while another instance of its NODE_ID took over. Once thawed, nothing it had in flight or sends afterwards commits (every write compares the registration in the same transaction), and it waits, serving nothing, until the other instance stops; then it registers again and serves. The failed calls are the frozen host's, by design. ${common}`;
    default:
      return common;
  }
}

const REPORT = new URL('../RELIABILITY.md', import.meta.url);

/** writeReliability writes RELIABILITY.md from a full run and returns its path. */
export function writeReliability(run: {
  facts: MachineFacts;
  outcomes: readonly FaultOutcome[];
  seconds: number;
  cores: number;
}): string {
  const { facts } = run;
  const quorumFaults = run.outcomes.filter((o) => o.fault.quorum);
  const met = quorumFaults.every((o) => o.failed === 0);
  const text = `# Reliability under etcd and identity faults

Written by \`pnpm chaos\` (benchmarks/chaos.ts) on ${facts.date.slice(0, 16).replace('T', ' ')} UTC, ${run.seconds.toFixed(0)} s in all: ${facts.cpu} × ${facts.cores}, ${facts.memoryGiB} GiB, ${facts.os}, Node ${facts.node}, etcd ${facts.etcd.version}. The machine is shared (the load average column is the 1-minute load when each fault began, on ${run.cores} cores).

Each fault runs on a fresh 3-member etcd on loopback (\`--heartbeat-interval=10 --election-timeout=100\`) with 2 \`kontena-ipam\` processes (the built bin, distinct NODE_IDs, \`KONTENA_IPAM_LOCAL_ETCD=off\`, ETCD_ENDPOINT listing all 3 members, default budget of 5 s per store call), each driven over its unix socket by 8 concurrent loops of Docker's RequestAddress / ReleaseAddress (each loop keeps 2 addresses and releases the oldest). The identity faults start a second \`kontena-ipam\` with a live host's NODE_ID. The fault is injected 3 s into the load, held 10 s, healed, and the load runs 3 s more. Afterwards every address a loop holds is read back from etcd. Each store call gets 5 s at most (KONTENA_IPAM_ETCD_TIMEOUT), retries included, and never more than what is left of the Docker call's budget (the plugin's 10 s, less 250 ms), which the plugin hands down to the store. "Granted twice" and "missing" must be 0 (the run fails otherwise); failed calls and latencies are the measurement.

Goal: while a quorum is up, no Docker call fails because of an etcd fault — **${met ? 'met' : 'not met'}** in this run (${quorumFaults.map((o) => `${o.fault.id}: ${o.failed} failed`).join(', ')}).

${markdownTable(HEADER, rows(run.outcomes))}

## What an operator sees

${run.outcomes.map(paragraph).join('\n\n')}

## The client settings that matter

See docs/etcd-failures.md: first attempt 700 ms (each retry's deadline doubles), retries with jittered exponential pauses (10 ms doubling up to 200 ms) until the call's budget is spent, no 5 s per-host circuit breaker (a member that did not answer is skipped for 500 ms, unless all are), etcd's require-leader metadata on every call and watch, gRPC keepalive on the watch streams.
`;
  const path = fileURLToPath(REPORT);
  writeFileSync(path, text);
  return path;
}
