/**
 * How a run is shown: one line per action, a summary table, or one JSON object. The
 * JSON shape is stable for scripts (bigint fence as a decimal string).
 */
import type { CleanupAction, CleanupReport } from './contract.js';
import { formatDuration } from './duration.js';

const verbs: Record<CleanupAction['kind'], { done: string; 'dry-run': string }> = {
  'free-address': { done: 'freed', 'dry-run': 'would free' },
  'skip-address': { done: 'skipped', 'dry-run': 'skipped' },
  'drop-hold': { done: 'dropped hold', 'dry-run': 'would drop hold' },
  'remove-pool': { done: 'removed pool', 'dry-run': 'would remove pool' },
  'keep-pool': { done: 'kept pool', 'dry-run': 'kept pool' },
};

/** formatAction is the one line an action prints, e.g. `freed  kontena 10.81.128.5 (node-a): …`. */
export function formatAction(action: CleanupAction): string {
  const verb =
    action.outcome === 'changed'
      ? `lost race (${action.kind})`
      : verbs[action.kind][action.outcome === 'dry-run' ? 'dry-run' : 'done'];
  const what = [action.pool, action.address].filter(Boolean).join(' ');
  const who = action.node ? ` [${action.node}]` : '';
  return `${verb.padEnd(17)} ${what}${who}: ${action.reason}`;
}

/** formatSummary is the table printed after the actions. */
export function formatSummary(report: CleanupReport): string {
  const rows: Array<[string, number | string]> = [
    ['pools scanned', report.pools],
    ['addresses kept', report.kept],
    [report.dryRun ? 'would free' : 'addresses freed', report.freed],
    ['skipped too young', report.tooYoung],
    [report.dryRun ? 'holds to drop' : 'holds dropped', report.holdsDropped],
    [report.dryRun ? 'pools to remove' : 'pools removed', report.poolsRemoved],
    ['lost races', report.conflicts],
  ];
  const head = [
    `cleanup of ${report.forgetNode ? `forgotten host ${report.forgetNode}` : `host ${report.node}`}` +
      ` at etcd revision ${report.fence}, grace ${formatDuration(report.graceMs)}` +
      (report.dryRun ? ' (dry run: nothing written)' : ''),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    ...head,
    ...rows.map(([label, n]) => `  ${label.padEnd(width)}  ${String(n).padStart(5)}`),
  ].join('\n');
}

/** CleanupReportJson is the --json shape of a report. */
export type CleanupReportJson = Omit<CleanupReport, 'fence' | 'holdFence'> & {
  fence: string;
  holdFence: string;
};

/** reportToJson makes a report JSON-safe (revisions are bigints). */
export function reportToJson(report: CleanupReport): CleanupReportJson {
  return { ...report, fence: report.fence.toString(), holdFence: report.holdFence.toString() };
}
