/**
 * The summary kontena-ipam-cleanup prints after a run, to the character: it is what an operator
 * reads (and a script greps) to see what a run did.
 */
import type { CleanupReport } from '@kontena-ipam/cleanup';
import { parseNodeId } from '@kontena-ipam/store';
import { describe, expect, it } from 'vitest';
import { cleanupSummary } from '../src/commands/cleanup-summary.js';
import { colors } from '../src/render/table.js';

const report: CleanupReport = {
  fence: 1234n,
  fenceAt: '2026-11-28T01:04:00.000Z',
  holdFence: 1230n,
  pools: 2,
  kept: 3,
  freed: 1,
  tooYoung: 1,
  holdsDropped: 1,
  poolsRemoved: 1,
  conflicts: 0,
  actions: [],
  dryRun: false,
  node: parseNodeId('node-a'),
  forgetNode: undefined,
  graceMs: 5 * 60_000,
};

describe('cleanupSummary', () => {
  it('titles the run with its host, fence and grace, and lists every figure', () => {
    expect(cleanupSummary(report, colors(false))).toBe(
      [
        'cleanup of host node-a at etcd revision 1234, grace 5m',
        'RESULT             COUNT',
        'pools scanned          2',
        'addresses kept         3',
        'addresses freed        1',
        'skipped too young      1',
        'holds dropped          1',
        'pools removed          1',
        'lost races             0',
        '',
      ].join('\n'),
    );
  });

  it('says a dry run wrote nothing, and words what it would do', () => {
    const dry = { ...report, dryRun: true, freed: 12_345, node: parseNodeId('node-b') };
    expect(cleanupSummary({ ...dry, forgetNode: dry.node }, colors(false))).toBe(
      [
        'cleanup of forgotten host node-b at etcd revision 1234, grace 5m (dry run: nothing written)',
        'RESULT             COUNT',
        'pools scanned          2',
        'addresses kept         3',
        'would free         12345',
        'skipped too young      1',
        'holds to drop          1',
        'pools to remove        1',
        'lost races             0',
        '',
      ].join('\n'),
    );
  });

  it('paints only the header on a terminal, after padding', () => {
    const lines = cleanupSummary(report, colors(true)).split('\n');
    expect(lines[1]).toBe('\u001b[1mRESULT           \u001b[22m  \u001b[1mCOUNT\u001b[22m');
    expect(lines[2]).toBe('pools scanned          2');
  });
});
