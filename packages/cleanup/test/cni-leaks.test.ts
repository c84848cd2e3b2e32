/** Leaked CNI attachments, decided from what was read (no etcd, no Docker), and the netns look. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress } from '@kontena-ipam/cidr';
import type { AttachmentRecord, PoolStatus } from '@kontena-ipam/store';
import { afterAll, describe, expect, it } from 'vitest';
import { planAttachments } from '../src/cni-leaks.js';
import { type NetnsState, netnsStateOf } from '../src/netns.js';

const pool = { id: 'net1' } as PoolStatus;
const HOUR = 3_600_000;
const now = Date.parse('2026-12-06T12:00:00Z');

function attachment(over: Partial<AttachmentRecord> & { netns: string }): AttachmentRecord {
  return {
    pool: 'net1',
    node: 'node-a',
    ref: { container: 'c0ffee', ifname: 'eth0' },
    address: parseAddress('10.1.0.5'),
    at: new Date(now - HOUR).toISOString(),
    createRevision: 10n,
    ...over,
  } as AttachmentRecord;
}

const input = (netns: Record<string, NetnsState>, forgetNode?: string) => ({
  fence: 100n,
  nowMs: now,
  graceMs: 5 * 60_000,
  forgetNode,
  netns: new Map(Object.entries(netns)),
});

describe('planAttachments', () => {
  it('keeps a live container, frees a gone one past the grace, skips what it cannot judge', () => {
    const live = attachment({ netns: '/run/netns/live' });
    const gone = attachment({
      netns: '/run/netns/gone',
      ref: { container: 'dead', ifname: 'eth0' } as never,
    });
    const unseen = attachment({ netns: '/elsewhere/ns' });
    const young = attachment({ netns: '/run/netns/young', at: new Date(now - 1000).toISOString() });
    const late = attachment({ netns: '/run/netns/late', createRevision: 101n });
    const plan = planAttachments(
      pool,
      [live, gone, unseen, young, late],
      input({
        '/run/netns/live': 'present',
        '/run/netns/gone': 'gone',
        '/elsewhere/ns': 'unknown',
        '/run/netns/young': 'gone',
        '/run/netns/late': 'gone',
      }),
    );
    expect(plan.kept).toBe(1);
    expect(plan.steps.map((s) => [s.kind, s.attachment.netns])).toEqual([
      ['free-attachment', '/run/netns/gone'],
      ['skip-attachment', '/elsewhere/ns'],
      ['skip-attachment', '/run/netns/young'],
      ['skip-attachment', '/run/netns/late'],
    ]);
    expect(plan.steps[0]?.reason).toContain('its netns /run/netns/gone is gone');
    expect(plan.steps[1]?.reason).toContain('cannot be looked at here');
    expect(plan.steps[3]?.reason).toContain('after the fence');
  });

  it("frees a forgotten host's attachments whatever their netns says here, but not young ones", () => {
    const plan = planAttachments(
      pool,
      [
        attachment({ netns: '/run/netns/x' }),
        attachment({ netns: '/run/netns/y', at: new Date(now).toISOString() }),
      ],
      input({ '/run/netns/x': 'present' }, 'node-a'),
    );
    expect(plan.steps.map((s) => s.kind)).toEqual(['free-attachment', 'skip-attachment']);
    expect(plan.steps[0]?.reason).toContain('declared gone');
  });
});

describe('netnsStateOf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netns-look-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('present, gone from a visible folder, or unknown (no folder, /proc, relative)', () => {
    writeFileSync(join(dir, 'ns1'), '');
    expect(netnsStateOf(join(dir, 'ns1'))).toBe('present');
    expect(netnsStateOf(join(dir, 'ns2'))).toBe('gone');
    expect(netnsStateOf(join(dir, 'missing-folder', 'ns'))).toBe('unknown');
    expect(netnsStateOf('/proc/1/ns/net')).toBe('unknown');
    expect(netnsStateOf('netns/relative')).toBe('unknown');
  });
});
