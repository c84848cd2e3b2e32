/** absentHosts: which absent hosts --forget-after forgets, from what listHosts read. */
import type { HostRecord, HostStatus, NodeId } from '@kontena-ipam/store';
import { describe, expect, it } from 'vitest';
import { absentHosts, type Sighting } from '../src/absent-hosts.js';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-06T12:00:00Z');
const self = 'node-a' as NodeId;

function record(instance: string, stoppedAt?: string): HostRecord {
  return {
    node: 'x',
    instance,
    lease: '1',
    hostname: 'vm',
    version: '0',
    startedAt: '2026-12-01T00:00:00Z',
    ...(stoppedAt ? { stoppedAt } : {}),
  } as unknown as HostRecord;
}

function host(node: string, over: Partial<HostStatus> = {}): HostStatus {
  return {
    node: node as NodeId,
    live: undefined,
    last: undefined,
    since: undefined,
    addresses: 2,
    gateways: 0,
    pools: ['lan'],
    ...over,
  };
}

const decide = (
  hosts: HostStatus[],
  sightings: ReadonlyMap<NodeId, Sighting> = new Map(),
  now = NOW,
) => absentHosts({ hosts, self, now, afterMs: HOUR, sightings });

describe('absentHosts', () => {
  it('a host that stopped cleanly longer ago than --forget-after is due, counted from its stop', () => {
    const stopped = new Date(NOW - 2 * HOUR).toISOString();
    const out = decide([host('node-b', { last: record('i1', stopped) })]);
    expect(out.due).toEqual([{ node: 'node-b', absentMs: 2 * HOUR, from: 'stopped' }]);
  });

  it('a host that stopped more recently is not due', () => {
    const stopped = new Date(NOW - HOUR + 1).toISOString();
    expect(decide([host('node-b', { last: record('i1', stopped) })]).due).toEqual([]);
  });

  it('a crashed or never-registered host is counted from this process’s first sighting', () => {
    const crashed = host('node-b', { last: record('i1') });
    const never = host('node-c');
    const first = decide([crashed, never]);
    expect(first.due).toEqual([]);
    expect(first.sightings.get('node-b' as NodeId)).toEqual({ instance: 'i1', since: NOW });
    expect(first.sightings.get('node-c' as NodeId)).toEqual({ instance: undefined, since: NOW });
    const later = decide([crashed, never], first.sightings, NOW + HOUR);
    expect(later.due).toEqual([
      { node: 'node-b', absentMs: HOUR, from: 'first-seen' },
      { node: 'node-c', absentMs: HOUR, from: 'first-seen' },
    ]);
  });

  it('a host that came back and went again (another instance) starts its count over', () => {
    const first = decide([host('node-b', { last: record('i1') })]);
    const again = decide([host('node-b', { last: record('i2') })], first.sightings, NOW + HOUR);
    expect(again.due).toEqual([]);
    expect(again.sightings.get('node-b' as NodeId)).toEqual({ instance: 'i2', since: NOW + HOUR });
  });

  it('never this host, a live host, or one that owns nothing; a live host’s sighting is dropped', () => {
    const long = new Date(NOW - 9 * HOUR).toISOString();
    const seen = new Map<NodeId, Sighting>([
      ['node-b' as NodeId, { instance: 'i1', since: NOW - 9 * HOUR }],
    ]);
    const out = decide(
      [
        host('node-a', { last: record('i0', long) }),
        host('node-b', { live: record('i3'), last: record('i3') }),
        host('node-c', { last: record('i4', long), addresses: 0, pools: [] }),
      ],
      seen,
    );
    expect(out.due).toEqual([]);
    expect([...out.sightings.keys()]).toEqual(['node-c']);
  });

  it('a host whose only addresses are gateways of pools it no longer holds is not due', () => {
    const stopped = new Date(NOW - 2 * HOUR).toISOString();
    const gatewaysOnly = { last: record('i1', stopped), addresses: 2, gateways: 2, pools: [] };
    expect(decide([host('node-b', gatewaysOnly)]).due).toEqual([]);
  });

  it('a host holding a pool but no address is due (its hold keeps the pool alive)', () => {
    const stopped = new Date(NOW - 2 * HOUR).toISOString();
    const out = decide([host('node-b', { last: record('i1', stopped), addresses: 0 })]);
    expect(out.due.map((d) => d.node)).toEqual(['node-b']);
  });
});
