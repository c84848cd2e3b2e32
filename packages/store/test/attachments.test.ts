/**
 * CNI attachments in the store (attach.ts, detach.ts): one address per (container, interface)
 * of a host, recorded with its attachment key in one transaction; a repeated ADD answers the
 * same address; DEL frees it; the host's attachments hold the pool with one reference, so the
 * last DEL anywhere removes the pool. Every scenario asserts the keys left in a real etcd.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import { describe, expect } from 'vitest';
import {
  type AttachmentRef,
  type AttachRequest,
  checkConsistency,
  type IpamStore,
  type NodeId,
  parseContainerId,
  parseIfName,
} from '../src/index.js';
import {
  holdsIn,
  invariantProblems,
  ip,
  net,
  node,
  pool,
  rejectsWith,
  test,
  withoutClaims,
} from './harness.js';

const A = node('node-a');
const B = node('node-b');
const LAN = pool('lan');
const SUBNET = net('10.68.0.0/24');

const ref = (container: string, ifname = 'eth0'): AttachmentRef => ({
  container: parseContainerId(container),
  ifname: parseIfName(ifname),
});

function add(store: IpamStore, host: NodeId, r: AttachmentRef, extra: Partial<AttachRequest> = {}) {
  return store.attach({
    network: LAN,
    node: host,
    ref: r,
    netns: `/var/run/netns/${r.container}`,
    subnet: SUBNET,
    ...extra,
  });
}

const del = (store: IpamStore, host: NodeId, r: AttachmentRef) =>
  store.detach({ pool: LAN, node: host, ref: r });

async function revision(store: IpamStore): Promise<bigint> {
  return await store.revision();
}

describe('attach and detach', () => {
  test('the first ADD creates the pool held by the host’s CNI reference; DEL of the last removes it', async ({
    setup,
  }) => {
    const { store, dump, keys } = setup();
    const a = await add(store, A, ref('c1'));
    expect(a).toMatchObject({
      pool: 'lan',
      node: 'node-a',
      created: true,
      netns: '/var/run/netns/c1',
    });
    expect(formatAddress(a.gateway)).toBe('10.68.0.1');
    const address = formatAddress(a.address);
    expect(address).toMatch(/^10\.68\.0\.\d+$/);
    expect(address).not.toBe('10.68.0.1');
    const d = await dump();
    expect(d['holds/lan/node-a']).toMatchObject({ count: 1, cni: true });
    expect(d[`addresses/lan/${address}`]).toMatchObject({
      node: 'node-a',
      kind: 'cni',
      attachment: { container: 'c1', ifname: 'eth0', netns: '/var/run/netns/c1' },
    });
    expect(d['attachments/lan/node-a/c1/eth0']).toMatchObject({
      address,
      netns: '/var/run/netns/c1',
    });
    expect(invariantProblems(d)).toEqual([]);

    const gone = await del(store, A, ref('c1'));
    expect(gone).toMatchObject({ released: true, removed: true });
    expect(formatAddress(gone.address as never)).toBe(address);
    expect(await keys()).toEqual(['guard/subnets']);
  });

  test('a repeated ADD answers the same address and writes nothing', async ({ setup }) => {
    const { store } = setup();
    const first = await add(store, A, ref('c1'));
    const before = await revision(store);
    const again = await add(store, A, ref('c1'));
    expect(again.created).toBe(false);
    expect(formatAddress(again.address)).toBe(formatAddress(first.address));
    expect(await revision(store)).toBe(before);
    // Another interface of the same container is another attachment.
    const eth1 = await add(store, A, ref('c1', 'eth1'));
    expect(formatAddress(eth1.address)).not.toBe(formatAddress(first.address));
  });

  test('DEL frees exactly its address; others of the host keep the hold as it was', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    const [one, two] = [await add(store, A, ref('c1')), await add(store, A, ref('c2'))];
    const holdBefore = (await dump())['holds/lan/node-a'];
    expect(await del(store, A, ref('c1'))).toMatchObject({ released: true, removed: false });
    const d = await dump();
    expect(d[`addresses/lan/${formatAddress(one.address)}`]).toBeUndefined();
    expect(d['attachments/lan/node-a/c1/eth0']).toBeUndefined();
    expect(d[`addresses/lan/${formatAddress(two.address)}`]).toMatchObject({ kind: 'cni' });
    expect(d['holds/lan/node-a']).toEqual(holdBefore);
    expect(invariantProblems(d)).toEqual([]);
  });

  test('DEL twice, and DEL of a never-added attachment, succeed and write nothing', async ({
    setup,
  }) => {
    const { store } = setup();
    await add(store, A, ref('c1'));
    await add(store, A, ref('c2'));
    await del(store, A, ref('c1'));
    const before = await revision(store);
    expect(await del(store, A, ref('c1'))).toEqual({ released: false, removed: false });
    expect(await del(store, A, ref('never'))).toEqual({ released: false, removed: false });
    expect(await del(store, B, ref('c2'))).toEqual({ released: false, removed: false });
    expect(await store.detach({ pool: pool('nope'), node: A, ref: ref('c1') })).toEqual({
      released: false,
      removed: false,
    });
    expect(await revision(store)).toBe(before);
  });

  test('two hosts: each holds the pool while it has attachments; the last DEL anywhere removes it', async ({
    setup,
  }) => {
    const { store, dump, keys } = setup();
    const a = await add(store, A, ref('ca'));
    const b = await add(store, B, ref('cb'));
    expect(formatAddress(a.address)).not.toBe(formatAddress(b.address));
    expect(holdsIn(await dump(), 'lan')).toEqual({ 'node-a': 1, 'node-b': 1 });
    expect(await del(store, A, ref('ca'))).toMatchObject({ released: true, removed: false });
    const d = await dump();
    expect(holdsIn(d, 'lan')).toEqual({ 'node-b': 1 });
    expect(Object.keys(d).filter((k) => k.includes('node-a'))).toEqual([]);
    expect(await del(store, B, ref('cb'))).toMatchObject({ released: true, removed: true });
    expect(await keys()).toEqual(['guard/subnets']);
  });

  test('Docker and CNI on one host share one hold: each gives back only its own references', async ({
    setup,
  }) => {
    const { store, dump, keys } = setup();
    await store.requestPool({ network: LAN, node: A, subnet: SUBNET });
    await add(store, A, ref('c1'));
    expect((await dump())['holds/lan/node-a']).toMatchObject({ count: 2, cni: true });
    expect(await store.releasePool({ pool: LAN, node: A })).toEqual({
      removed: false,
      released: true,
    });
    expect((await dump())['holds/lan/node-a']).toMatchObject({ count: 1, cni: true });
    // A ReleasePool Docker never asked for leaves the attachments' reference alone.
    expect(await store.releasePool({ pool: LAN, node: A })).toEqual({
      removed: false,
      released: false,
    });
    expect(await del(store, A, ref('c1'))).toMatchObject({ released: true, removed: true });
    expect(await keys()).toEqual(['guard/subnets']);
  });

  test('a dynamic Docker network on a host whose only hold is CNI’s is a join, not ALREADY_HELD', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    await store.attach({ network: LAN, node: A, ref: ref('c1'), netns: '/x' });
    const joined = await store.requestPool({ network: LAN, node: A });
    expect(joined.held).toBe(2);
    expect((await dump())['holds/lan/node-a']).toMatchObject({ count: 2, cni: true });
    await rejectsWith(store.requestPool({ network: LAN, node: A }), 'ALREADY_HELD');
  });

  test('a subnet, ip-range or gateway that disagrees with the pool is POOL_MISMATCH, nothing written', async ({
    setup,
  }) => {
    const { store } = setup();
    await add(store, A, ref('c1'));
    const before = await revision(store);
    const msg = await rejectsWith(
      add(store, A, ref('c2'), { subnet: net('10.69.0.0/24') }),
      'POOL_MISMATCH',
    );
    expect(msg).toContain('has subnet 10.68.0.0/24, not 10.69.0.0/24');
    await rejectsWith(
      add(store, A, ref('c2'), { ipRange: net('10.68.0.128/25') }),
      'POOL_MISMATCH',
    );
    await rejectsWith(add(store, A, ref('c2'), { gateway: ip('10.68.0.254') }), 'POOL_MISMATCH');
    expect(await revision(store)).toBe(before);
  });

  test('a static address (CNI_ARGS IP=): given, taken by another, or differing on a repeat', async ({
    setup,
  }) => {
    const { store } = setup();
    const s = await add(store, A, ref('c1'), { address: ip('10.68.0.50') });
    expect(formatAddress(s.address)).toBe('10.68.0.50');
    expect((await add(store, A, ref('c1'), { address: ip('10.68.0.50') })).created).toBe(false);
    const before = await revision(store);
    await rejectsWith(add(store, B, ref('c2'), { address: ip('10.68.0.50') }), 'ADDRESS_IN_USE');
    await rejectsWith(add(store, A, ref('c1'), { address: ip('10.68.0.51') }), 'ADDRESS_IN_USE');
    await rejectsWith(add(store, A, ref('c3'), { address: ip('10.69.0.5') }), 'OUT_OF_RANGE');
    await rejectsWith(add(store, A, ref('c3'), { address: ip('10.68.0.255') }), 'OUT_OF_RANGE');
    expect(await revision(store)).toBe(before);
  });

  test('a static address the pool cannot hold leaves no pool behind, new or dynamic', async ({
    setup,
  }) => {
    const { store, keys } = setup();
    const before = await revision(store);
    await rejectsWith(add(store, A, ref('c1'), { address: ip('10.99.0.5') }), 'OUT_OF_RANGE');
    await rejectsWith(add(store, A, ref('c1'), { address: ip('10.68.0.0') }), 'OUT_OF_RANGE');
    expect(await revision(store)).toBe(before);
    // No subnet: the pool is made (dynamic) before the address can be judged, then taken back.
    await rejectsWith(
      store.attach({
        network: LAN,
        node: A,
        ref: ref('c1'),
        netns: '/x',
        address: ip('192.0.2.1'),
      }),
      'OUT_OF_RANGE',
    );
    expect(await keys()).toEqual(['guard/subnets']);
  });

  test('an IPv6 attachment goes to the network’s IPv6 pool', async ({ setup }) => {
    const { store, dump } = setup();
    const v6 = await store.attach({
      network: LAN,
      node: A,
      ref: ref('c1'),
      netns: '/x',
      subnet: net('fd00:68::/64'),
    });
    expect(v6.pool).toBe('lan:v6');
    expect((await dump())['attachments/lan:v6/node-a/c1/eth0']).toMatchObject({
      address: formatAddress(v6.address),
    });
  });

  test('a CNI reference with no attachment left (an ADD that failed after taking it) goes with the next DEL', async ({
    setup,
    env,
  }) => {
    const { store, prefix, keys } = setup();
    await add(store, A, ref('c1'));
    const clean = await checkConsistency({ client: env.client, prefix });
    expect(clean.findings).toEqual([]);
    // What an undone ADD leaves: the hold's reference without its attachment and address.
    const root = `${prefix}v2/`;
    const dumped = await env.client.getAll().prefix(`${root}attachments/`).strings();
    for (const [k, v] of Object.entries(dumped)) {
      await env.client.delete().key(k);
      await env.client.delete().key(`${root}addresses/lan/${JSON.parse(v).address}`);
    }
    const idle = await checkConsistency({ client: env.client, prefix });
    expect(idle.findings.map((f) => f.kind)).toEqual(['idle-cni-hold']);
    expect(await del(store, A, ref('c1'))).toEqual({ released: false, removed: true });
    expect(await keys()).toEqual(['guard/subnets']);
  });

  test('bad ids are INVALID and write nothing', async ({ setup }) => {
    const { store } = setup();
    await add(store, A, ref('c1'));
    const before = await revision(store);
    const bad = (container: string, ifname: string) =>
      store.attach({
        network: LAN,
        node: A,
        ref: { container, ifname } as AttachmentRef,
        netns: '/x',
      });
    for (const [c, i] of [
      ['a/b', 'eth0'],
      ['', 'eth0'],
      ['-a', 'eth0'],
      ['c', 'eth/0'],
      ['c', 'eth:0'],
      ['c', '..'],
      ['c', 'x'.repeat(16)],
      ['c', 'eth 0'],
      ['c', ''],
    ] as const) {
      await rejectsWith(bad(c, i), 'INVALID');
      await rejectsWith(
        store.detach({ pool: LAN, node: A, ref: { container: c, ifname: i } as AttachmentRef }),
        'INVALID',
      );
    }
    expect(await revision(store)).toBe(before);
  });

  test('an operator’s release of a CNI address takes its attachment with it; a repeated ADD then gets a fresh address', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    const a = await add(store, A, ref('c1'));
    await add(store, A, ref('c2')); // keeps the pool
    const [rec] = (await store.listAddresses({ pool: LAN, node: A })).filter(
      (r) => formatAddress(r.address) === formatAddress(a.address),
    );
    expect(rec?.attachment).toEqual({
      container: 'c1',
      ifname: 'eth0',
      netns: '/var/run/netns/c1',
    });
    expect(
      await store.releaseAddressIfUnchanged({
        pool: LAN,
        address: a.address,
        modRevision: rec?.modRevision ?? 0n,
      }),
    ).toBe(true);
    const d = await dump();
    expect(d['attachments/lan/node-a/c1/eth0']).toBeUndefined();
    expect(invariantProblems(d)).toEqual([]);
    const again = await add(store, A, ref('c1'));
    expect(again.created).toBe(true);
  });

  test('a stale attachment (its address record gone behind it) is not answered again', async ({
    setup,
    env,
  }) => {
    const { store, prefix, dump } = setup();
    const a = await add(store, A, ref('c1'));
    await add(store, A, ref('c2'));
    // An address record deleted by hand (etcdctl), its attachment key left.
    await env.client.delete().key(`${prefix}v2/addresses/lan/${formatAddress(a.address)}`);
    const again = await add(store, A, ref('c1'));
    expect(again.created).toBe(true);
    const d = await dump();
    expect(d[`addresses/lan/${formatAddress(again.address)}`]).toMatchObject({
      kind: 'cni',
      attachment: { container: 'c1' },
    });
    expect(invariantProblems(d)).toEqual([]);
  });

  test('checkAttachment: ok while recorded for this host, not after DEL', async ({ setup }) => {
    const { store } = setup();
    const a = await add(store, A, ref('c1'));
    const ok = await store.checkAttachment({ pool: LAN, node: A, ref: ref('c1') });
    expect(ok.ok && formatAddress(ok.record.address)).toBe(formatAddress(a.address));
    await del(store, A, ref('c1'));
    const gone = await store.checkAttachment({ pool: LAN, node: A, ref: ref('c1') });
    expect(gone).toEqual({
      ok: false,
      why: 'container c1 interface eth0 has no address in network lan on node node-a',
    });
  });

  test('listAttachments lists a host’s attachments of a pool', async ({ setup }) => {
    const { store } = setup();
    await add(store, A, ref('c1'));
    await add(store, A, ref('c2', 'net1'));
    await add(store, B, ref('c3'));
    const mine = await store.listAttachments({ pool: LAN, node: A });
    expect(mine.map((r) => `${r.node}/${r.ref.container}/${r.ref.ifname}`)).toEqual([
      'node-a/c1/eth0',
      'node-a/c2/net1',
    ]);
    expect((await store.listAttachments({ pool: LAN })).length).toBe(3);
  });
});

describe('attachments under concurrency', () => {
  test('24 ADDs at once on two hosts (some repeated): distinct addresses, then all DELs at once remove the pool', async ({
    setup,
    env,
  }) => {
    const { store, dump, keys, prefix } = setup();
    const refs = Array.from({ length: 12 }, (_, i) => ref(`c${i}`));
    const results = await Promise.all([
      ...refs.map((r) => add(store, A, r)),
      ...refs.map((r) => add(store, B, r)),
      ...refs.slice(0, 4).map((r) => add(store, A, r)),
    ]);
    const byAttachment = new Map<string, string>();
    for (const [i, r] of results.entries()) {
      const who = i < 12 ? `a/${i}` : i < 24 ? `b/${i - 12}` : `a/${i - 24}`;
      const seen = byAttachment.get(who);
      if (seen) expect(formatAddress(r.address)).toBe(seen);
      byAttachment.set(who, formatAddress(r.address));
    }
    expect(new Set(byAttachment.values()).size).toBe(24);
    const d = await dump();
    expect(invariantProblems(d)).toEqual([]);
    expect(Object.keys(d).filter((k) => k.startsWith('attachments/')).length).toBe(24);
    expect(holdsIn(d, 'lan')).toEqual({ 'node-a': 1, 'node-b': 1 });
    const report = await checkConsistency({ client: env.client, prefix });
    expect(report.findings).toEqual([]);
    await Promise.all([...refs.map((r) => del(store, A, r)), ...refs.map((r) => del(store, B, r))]);
    expect(withoutClaims(await keys())).toEqual(['guard/subnets']);
  });
});
