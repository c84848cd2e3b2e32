/**
 * How a run is shown: one line per action as it happens, or one JSON object. The JSON shape
 * is stable for scripts (bigint fence as a decimal string). The summary table a terminal
 * shows is the command line's (the app renders it from the CleanupReport).
 */
import type { CleanupAction, CleanupReport } from './contract.js';

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

/** CleanupReportJson is the --json shape of a report. */
export type CleanupReportJson = Omit<CleanupReport, 'fence' | 'holdFence'> & {
  fence: string;
  holdFence: string;
};

/** reportToJson makes a report JSON-safe (revisions are bigints). */
export function reportToJson(report: CleanupReport): CleanupReportJson {
  return { ...report, fence: report.fence.toString(), holdFence: report.holdFence.toString() };
}
