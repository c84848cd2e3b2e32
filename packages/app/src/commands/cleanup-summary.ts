/**
 * The summary `kontena-ipam-cleanup` prints after a run's action lines: a title naming the host,
 * the fence and the grace, then one row per figure of the report, laid out by the operator
 * commands' renderTable. The wording is the command line's, so it lives here: the
 * @kontena-ipam/cleanup library hands over the report as data and formats no tables.
 */
import { type CleanupReport, formatDuration } from '@kontena-ipam/cleanup';
import { type Colors, renderTable } from '../render/table.js';

function title(report: CleanupReport): string {
  const host = report.forgetNode ? `forgotten host ${report.forgetNode}` : `host ${report.node}`;
  const dry = report.dryRun ? ' (dry run: nothing written)' : '';
  return `cleanup of ${host} at etcd revision ${report.fence}, grace ${formatDuration(report.graceMs)}${dry}`;
}

/** cleanupSummary is the title line and the figures table, ending in a newline. */
export function cleanupSummary(report: CleanupReport, c: Colors): string {
  const dry = report.dryRun;
  const figures: ReadonlyArray<readonly [string, number]> = [
    ['pools scanned', report.pools],
    ['addresses kept', report.kept],
    [dry ? 'would free' : 'addresses freed', report.freed],
    ['skipped too young', report.tooYoung],
    [dry ? 'holds to drop' : 'holds dropped', report.holdsDropped],
    [dry ? 'pools to remove' : 'pools removed', report.poolsRemoved],
    ['lost races', report.conflicts],
  ];
  const table = renderTable(
    [{ header: 'RESULT' }, { header: 'COUNT', align: 'right' }],
    figures.map(([label, count]) => [label, String(count)]),
    c,
  );
  return `${title(report)}\n${table}`;
}
