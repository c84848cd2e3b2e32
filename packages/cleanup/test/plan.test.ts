/**
 * planCleanup's safety rules, checked on their own (pure: no etcd, no Docker). The same
 * rules are proven end to end against real etcd and a real dockerd in the other files.
 */
import { formatAddress, parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import type { AddressKind, AddressRecord, NodeId, PoolId, PoolStatus } from '@kontena-ipam/store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dockerUsage } from '../src/docker-usage.js';
import type { DockerSnapshot } from '../src/docker-view.js';
import { planCleanup } from '../src/plan.js';

const NOW = Date.parse('2026-11-28T12:00:00Z');
const HOUR = 3_600_000;
const me = 'node-a' as NodeId;
const other = 'node-b' as NodeId;

function pool(
  id: string,
  subnet: string,
  holds: Record<string, number>,
  modRevision = 10n,
): PoolStatus {
  const s = parseSubnet(subnet);
  return {
    id: id as PoolId,
    subnet: s,
    ipRange: undefined,
    gateway: parseAddress(subnet.replace(/0\/\d+$/, '1')),
    dynamic: false,
    createdAt: '2026-11-28T00:00:00Z',
    holds,
    total: 254n,
    used: 0,
    createRevision: 5n,
    modRevision,
  };
}

function addr(
  p: PoolStatus,
  ip: string,
  opts: { node?: NodeId; kind?: AddressKind; ageMs?: number; rev?: bigint } = {},
): AddressRecord {
  return {
    pool: p.id,
    address: parseAddress(ip),
    subnet: p.subnet,
    node: opts.node ?? me,
    kind: opts.kind ?? 'endpoint',
    attrs: {},
    at: new Date(NOW - (opts.ageMs ?? HOUR)).toISOString(),
    createRevision: opts.rev ?? 20n,
    modRevision: opts.rev ?? 20n,
  };
}

function net(
  name: string,
  poolId: string,
  subnet: string,
  endpoints: string[],
  extra: { gateway?: string; aux?: string[]; driver?: string } = {},
) {
  return {
    id: `id-${name}`,
    name,
    driver: 'bridge',
    ipamDriver: extra.driver ?? 'kontena-ipam',
    ipamOptions: { network: poolId },
    ipamConfig: [
      { subnet, ipRange: undefined, gateway: extra.gateway, auxAddresses: extra.aux ?? [] },
    ],
    endpoints: endpoints.map((ip, i) => ({
      id: `c${i}`,
      name: `c${i}`,
      ipv4: ip,
      ipv6: undefined,
    })),
  };
}

function plan(
  pools: PoolStatus[],
  records: AddressRecord[],
  snapshot: DockerSnapshot,
  extra: { forgetNode?: NodeId; graceMs?: number; fence?: bigint; holdFence?: bigint } = {},
) {
  const addresses = new Map<string, AddressRecord[]>();
  for (const r of records) addresses.set(r.pool, [...(addresses.get(r.pool) ?? []), r]);
  return planCleanup({
    fence: extra.fence ?? 100n,
    holdFence: extra.holdFence ?? extra.fence ?? 100n,
    nowMs: NOW,
    graceMs: extra.graceMs ?? 5 * 60_000,
    node: me,
    forgetNode: extra.forgetNode,
    pools,
    addresses,
    usage: dockerUsage(snapshot, 'kontena-ipam'),
  });
}

const freed = (p: ReturnType<typeof plan>) =>
  p.steps
    .filter((s) => s.kind === 'free-address')
    .map((s) => ('record' in s ? formatAddress(s.record.address) : ''));

describe('planCleanup', () => {
  it('frees only old endpoint addresses of this host that Docker does not know', () => {
    const k = pool('kontena', '10.81.0.0/16', { [me]: 1 });
    const records = [
      addr(k, '10.81.0.1', { kind: 'gateway' }),
      addr(k, '10.81.0.7', { kind: 'aux' }),
      addr(k, '10.81.128.2'), // live container
      addr(k, '10.81.128.3'), // leaked
      addr(k, '10.81.128.4', { ageMs: 60_000 }), // inside the grace period
      addr(k, '10.81.128.5', { rev: 101n }), // after the fence
      addr(k, '10.81.128.6', { node: other }), // another host's
    ];
    const p = plan([k], records, {
      networks: [net('kontena', 'kontena', '10.81.0.0/16', ['10.81.128.2'])],
    });
    expect(freed(p)).toEqual(['10.81.128.3']);
    expect(p.kept).toBe(3);
    expect(p.steps.filter((s) => s.kind === 'skip-address').map((s) => s.reason)).toEqual([
      expect.stringContaining('younger than the grace period'),
      expect.stringContaining('written after the fence'),
    ]);
    expect(p.steps.some((s) => s.kind === 'drop-hold' || s.kind === 'remove-pool')).toBe(false);
  });

  it("keeps a live network's gateway and aux addresses even when recorded as endpoints", () => {
    const k = pool('kontena', '10.81.0.0/16', { [me]: 1 });
    const records = [addr(k, '10.81.0.254'), addr(k, '10.81.0.7')];
    const p = plan([k], records, {
      networks: [
        net('kontena', 'kontena', '10.81.0.0/16', [], {
          gateway: '10.81.0.254',
          aux: ['10.81.0.7'],
        }),
      ],
    });
    expect(freed(p)).toEqual([]);
    expect(p.kept).toBe(2);
  });

  it('matches IPv6 addresses however Docker writes them', () => {
    const v6 = pool('six', 'fd00:81::/64', { [me]: 1 });
    const records = [addr(v6, 'fd00:81::2'), addr(v6, 'fd00:81::3')];
    const snapshot: DockerSnapshot = {
      networks: [
        {
          ...net('six', 'six', 'fd00:81::/64', []),
          endpoints: [{ id: 'c0', name: 'c0', ipv4: undefined, ipv6: 'fd00:81:0:0:0:0:0:2' }],
        },
      ],
    };
    expect(freed(plan([v6], records, snapshot))).toEqual(['fd00:81::3']);
  });

  it('maps a dual-stack network to both its pools: NAME (IPv4) and NAME:v6 (IPv6)', () => {
    const v4 = pool('ds', '10.87.0.0/24', { [me]: 1 });
    const v6 = pool('ds:v6', 'fd00:87::/64', { [me]: 1 });
    const records = [addr(v4, '10.87.0.2'), addr(v6, 'fd00:87::2'), addr(v6, 'fd00:87::3')];
    const dualStack = {
      ...net('ds', 'ds', '10.87.0.0/24', []),
      enableIPv6: true,
      ipamConfig: [
        { subnet: '10.87.0.0/24', ipRange: undefined, gateway: undefined, auxAddresses: [] },
        { subnet: 'fd00:87::/64', ipRange: undefined, gateway: undefined, auxAddresses: [] },
      ],
      endpoints: [{ id: 'c0', name: 'c0', ipv4: '10.87.0.2', ipv6: 'fd00:87::2' }],
    };
    const live = plan([v4, v6], records, { networks: [dualStack] });
    // Both holds live; only the IPv6 address no endpoint has is freed.
    expect(live.steps.map((s) => [s.kind, s.pool.id])).toEqual([['free-address', 'ds:v6']]);
    expect(freed(live)).toEqual(['fd00:87::3']);
    // The network gone: both holds go.
    const gone = plan([v4, v6], [], { networks: [] });
    expect(gone.steps.map((s) => [s.kind, s.pool.id])).toEqual([
      ['drop-hold', 'ds'],
      ['drop-hold', 'ds:v6'],
    ]);
  });

  it('uses the id NAME:v6 for IPv6 networks alone, whatever subnet Docker shows', () => {
    const v6only = (enableIPv6: boolean, subnets: string[]) => ({
      networks: [
        {
          ...net('ds', 'ds', '10.87.0.0/24', []),
          enableIPv6,
          ipamConfig: subnets.map((subnet) => ({
            subnet,
            ipRange: undefined,
            gateway: undefined,
            auxAddresses: [],
          })),
        },
      ],
    });
    const ds6 = { id: 'ds:v6' as PoolId, subnet: parseSubnet('fd00:99::/64') };
    const ds4 = { id: 'ds' as PoolId, subnet: parseSubnet('10.99.0.0/24') };
    // By the id, not the subnet: the pools' subnets differ from what Docker shows.
    const flagged = dockerUsage(v6only(true, ['10.87.0.0/24']), 'kontena-ipam');
    expect(flagged.networksUsing(ds6)).toEqual(['ds']);
    expect(flagged.networksUsing(ds4)).toEqual(['ds']);
    const bySubnet = dockerUsage(v6only(false, ['10.87.0.0/24', 'fd00:87::/64']), 'kontena-ipam');
    expect(bySubnet.networksUsing(ds6)).toEqual(['ds']);
    // An IPv4-only network never uses a `:v6` pool.
    const v4only = dockerUsage(v6only(false, ['10.87.0.0/24']), 'kontena-ipam');
    expect(v4only.networksUsing(ds6)).toEqual([]);
    expect(v4only.networksUsing(ds4)).toEqual(['ds']);
  });

  it('drops the hold on a pool no local network uses; the pool goes only with its last hold', () => {
    const mine = pool('mine', '10.80.0.0/24', { [me]: 2 });
    const shared = pool('shared', '10.80.1.0/24', { [me]: 1, [other]: 1 });
    const p = plan([mine, shared], [], { networks: [] });
    const drops = p.steps.filter((s) => s.kind === 'drop-hold');
    expect(drops.map((s) => [s.pool.id, s.reason])).toEqual([
      ['mine', expect.stringContaining('last hold')],
      ['shared', expect.stringContaining(`still held by ${other}`)],
    ]);
  });

  it('keeps the hold of a pool where this host has CNI attachments, which Docker knows nothing of', () => {
    const lan = pool('lan', '10.68.0.0/24', { [me]: 1 });
    const records = [
      addr(lan, '10.68.0.2', { kind: 'cni' }),
      addr(lan, '10.68.0.3', { kind: 'cni' }),
    ];
    const p = plan([lan], records, { networks: [] });
    expect(freed(p)).toEqual([]);
    expect(p.kept).toBe(2);
    expect(p.steps.map((s) => [s.kind, s.reason])).toEqual([
      ['keep-pool', '2 CNI attachment(s) of node-a hold it'],
    ]);
  });

  it('never drops the hold of or removes a pool a local network uses, even under another driver name', () => {
    const held = pool('kontena', '10.81.0.0/16', { [me]: 1 });
    const unheld = pool('orphan', '10.82.0.0/16', {});
    const p = plan([held, unheld], [], {
      networks: [
        net('kontena', 'kontena', '10.81.0.0/16', []),
        net('renamed', 'whatever', '10.82.0.0/16', [], { driver: 'kontena-ipam-2' }),
      ],
    });
    expect(p.steps.map((s) => [s.kind, s.pool.id])).toEqual([['keep-pool', 'orphan']]);
  });

  it('keeps a hold that changed less than the grace period ago: its network may be being created', () => {
    const joining = pool('joining', '10.80.4.0/24', { [me]: 1 }, 60n);
    const settled = pool('settled', '10.80.5.0/24', { [me]: 1 }, 40n);
    const p = plan([joining, settled], [], { networks: [] }, { holdFence: 50n });
    expect(p.steps.map((s) => [s.kind, s.pool.id, s.kind === 'keep-pool' && s.young])).toEqual([
      ['keep-pool', 'joining', true],
      ['drop-hold', 'settled', false],
    ]);
  });

  it('keeps the hold of a pool in which this host took an address lately', () => {
    const recent = pool('recent', '10.80.6.0/24', { [me]: 1 });
    const p = plan([recent], [addr(recent, '10.80.6.5', { ageMs: 1000 })], { networks: [] });
    expect(p.steps.map((s) => [s.kind, s.reason])).toEqual([
      ['skip-address', expect.stringContaining('younger than the grace period')],
      [
        'keep-pool',
        expect.stringContaining('took an address in it less than the grace period ago'),
      ],
    ]);
  });

  it('removes pools nobody holds, unless they changed after the fence', () => {
    const old = pool('old', '10.80.2.0/24', {}, 50n);
    const fresh = pool('fresh', '10.80.3.0/24', {}, 150n);
    const p = plan([old, fresh], [], { networks: [] });
    expect(p.steps.map((s) => [s.kind, s.pool.id])).toEqual([
      ['remove-pool', 'old'],
      ['keep-pool', 'fresh'],
    ]);
  });

  it("with --forget-node acts on that host's holds and addresses only, whatever Docker here uses", () => {
    const k = pool('kontena', '10.81.0.0/16', { [me]: 1, [other]: 1 });
    const records = [addr(k, '10.81.128.2', { node: other }), addr(k, '10.81.128.3', { node: me })];
    const p = plan(
      [k],
      records,
      { networks: [net('kontena', 'kontena', '10.81.0.0/16', [])] },
      { forgetNode: other },
    );
    expect(freed(p)).toEqual(['10.81.128.2']);
    expect(
      p.steps
        .filter((s) => s.kind === 'drop-hold')
        .map((s) => (s.kind === 'drop-hold' ? s.node : '')),
    ).toEqual([other]);
  });

  it('property: nothing live, young, shared or foreign is ever planned for freeing', () => {
    const k = pool('kontena', '10.81.0.0/16', { [me]: 1, [other]: 1 });
    const arbRecord = fc.record({
      host: fc.integer({ min: 1, max: 60 }),
      node: fc.constantFrom(me, other),
      kind: fc.constantFrom<AddressKind>('endpoint', 'endpoint', 'gateway', 'aux'),
      ageMs: fc.integer({ min: -HOUR, max: 10 * HOUR }),
      rev: fc.bigInt({ min: 1n, max: 200n }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(arbRecord, { selector: (r) => r.host, maxLength: 40 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 20 }),
        fc.integer({ min: 0, max: 5 * HOUR }),
        fc.bigInt({ min: 1n, max: 200n }),
        fc.option(fc.constant(other), { nil: undefined }),
        (specs, liveHosts, graceMs, fence, forgetNode) => {
          const records = specs.map((s) => addr(k, `10.81.128.${s.host}`, s));
          const live = liveHosts.map((h) => `10.81.128.${h}`);
          const p = plan(
            [k],
            records,
            { networks: [net('kontena', 'kontena', '10.81.0.0/16', live)] },
            { graceMs, fence, ...(forgetNode ? { forgetNode } : {}) },
          );
          const target = forgetNode ?? me;
          for (const step of p.steps) {
            if (step.kind !== 'free-address') continue;
            const r = step.record;
            expect(r.node).toBe(target);
            expect(r.kind).toBe('endpoint');
            expect(live).not.toContain(formatAddress(r.address));
            expect(r.createRevision <= fence && r.modRevision <= fence).toBe(true);
            expect(NOW - Date.parse(r.at)).toBeGreaterThanOrEqual(graceMs);
          }
          // And every address that qualifies is freed: leaks are really found.
          const expected = records.filter(
            (r) =>
              r.node === target &&
              r.kind === 'endpoint' &&
              !live.includes(formatAddress(r.address)) &&
              r.modRevision <= fence &&
              NOW - Date.parse(r.at) >= graceMs,
          );
          expect(freed(p).sort()).toEqual(expected.map((r) => formatAddress(r.address)).sort());
        },
      ),
    );
  });
});
