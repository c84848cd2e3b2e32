/**
 * Address blocks (host-blocks.ts) on a real etcd: hosts on a big window allocate inside blocks
 * of their own, so they never race for an address; a host's blocks outlive its process and go
 * back when it leaves; a small window is shared and can still be filled to its last address;
 * and a full pool says so again without reading the pool.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import { describe, expect } from 'vitest';
import { checkConsistency, type IpamStore } from '../src/index.js';
import {
  dumpKeys,
  inFlight,
  invariantProblems,
  keysOf,
  net,
  node,
  observed,
  pool,
  rejectsWith,
  test,
  uniquePrefix,
} from './harness.js';

const K = pool('kontena');

/** claims maps each block key's index to the node that claimed it. */
function claims(dump: Record<string, unknown>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [key, value] of Object.entries(dump)) {
    if (key.startsWith('blocks/kontena/')) {
      out.set(
        Number.parseInt(key.slice('blocks/kontena/'.length), 16),
        (value as { node: string }).node,
      );
    }
  }
  return out;
}

const blockOf = (address: bigint, network: bigint) => Number((address - network) / 16n);

describe('address blocks', () => {
  test('hosts on a /16 allocate in blocks of their own: no lost compare, every address in its host’s block', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const subnet = net('10.90.0.0/16');
    const hosts = Array.from({ length: 4 }, (_, i) => {
      const rec = observed();
      const store = env.store({ prefix, client: env.newClient(), observer: rec.observer });
      return { store, node: node(`host-${i}`), rec };
    });
    for (const h of hosts) await h.store.requestPool({ network: K, node: h.node, subnet });
    // 40 each, 8 in flight per host: each host needs three blocks, claimed as it goes.
    const granted = await Promise.all(
      hosts.map(async (h) => {
        const out: Array<{ address: bigint; node: string }> = [];
        for (let round = 0; round < 5; round++) {
          const batch = await Promise.all(
            Array.from({ length: 8 }, () =>
              h.store.requestAddress({ pool: K, node: h.node, kind: 'endpoint' }),
            ),
          );
          for (const a of batch) out.push({ address: a.address.value, node: h.node });
        }
        return out;
      }),
    );
    const all = granted.flat();
    expect(new Set(all.map((g) => g.address)).size).toBe(4 * 40);
    for (const h of hosts) expect(h.rec.conflicts.filter((op) => op === 'allocate')).toEqual([]);
    const dump = await dumpKeys(env.client, prefix);
    const owner = claims(dump);
    for (const g of all) expect(owner.get(blockOf(g.address, subnet.network))).toBe(g.node);
    for (const h of hosts) {
      const mine = [...owner].filter(([, n]) => n === h.node).map(([i]) => i);
      expect(mine.length).toBeGreaterThanOrEqual(3);
      for (const i of mine) {
        expect(
          dump[`affinity/kontena/${h.node}/${i.toString(16).padStart(14, '0')}`],
        ).toBeDefined();
      }
    }
    expect(invariantProblems(dump)).toEqual([]);
    const report = await checkConsistency({ client: env.client, prefix });
    expect(report.findings).toEqual([]);
  });

  test('a join claims its host a block (the first allocation is one round trip), a restarted host finds its blocks again (no new claim), and a host that leaves gives them back', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const A = node('host-a');
    const B = node('host-b');
    const subnet = net('10.91.0.0/20');
    const b = env.store({ prefix });
    await b.requestPool({ network: K, node: B, subnet });
    const joined = observed();
    let a: IpamStore = env.store({ prefix, client: env.newClient(), observer: joined.observer });
    await a.requestPool({ network: K, node: A, subnet });
    joined.calls.length = 0;
    const first = await a.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    // The join claimed A's first block and read what its view needs: one round trip.
    expect(joined.calls.map((c) => c.op)).toEqual(['txn']);
    const before = claims(await dumpKeys(env.client, prefix));
    expect([...before.values()].sort()).toEqual(['host-a', 'host-b']);
    expect(before.get(blockOf(first.address.value, subnet.network))).toBe('host-a');
    // A new process for the same host: its first allocation reads its claims and that block.
    await a.close();
    const rec = observed();
    a = env.store({ prefix, client: env.newClient(), observer: rec.observer });
    const second = await a.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    expect(rec.calls.map((c) => c.op)).toEqual(['load', 'load', 'txn']);
    expect(blockOf(second.address.value, subnet.network)).toBe(
      blockOf(first.address.value, subnet.network),
    );
    expect(second.address.value).not.toBe(first.address.value);
    expect(claims(await dumpKeys(env.client, prefix))).toEqual(before);
    // A releases its addresses and leaves; B still holds the pool: A's block goes back.
    for (const x of [first, second]) {
      expect(await a.releaseAddress({ pool: K, node: A, address: x.address })).toEqual({
        released: true,
      });
    }
    expect(await a.releasePool({ pool: K, node: A })).toEqual({ removed: false, released: true });
    const left = claims(await dumpKeys(env.client, prefix));
    expect([...left.values()]).toEqual(['host-b']);
    // B allocates inside the block its join claimed; the last leave takes every key.
    const fromB = await b.requestAddress({ pool: K, node: B, kind: 'endpoint' });
    expect(claims(await dumpKeys(env.client, prefix))).toEqual(left);
    expect(left.get(blockOf(fromB.address.value, subnet.network))).toBe('host-b');
    expect(await b.releasePool({ pool: K, node: B })).toEqual({ removed: true, released: true });
    expect(await keysOf(env.client, prefix)).toEqual(['guard/subnets']);
  });

  test('a /24 shared by 50 hosts is filled to its last address; a full pool then says so without reading it', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const subnet = net('10.92.0.0/24');
    const client = env.newClient();
    const hosts = Array.from({ length: 50 }, (_, i) => {
      const rec = observed();
      return {
        store: env.store({ prefix, client, observer: rec.observer }),
        node: node(`h-${i}`),
        rec,
      };
    });
    for (const h of hosts) await h.store.requestPool({ network: K, node: h.node, subnet });
    const granted: string[] = [];
    let exhausted = 0;
    // Every host asks until it is told the pool is full.
    await Promise.all(
      hosts.map(async (h) => {
        for (;;) {
          try {
            const a = await h.store.requestAddress({ pool: K, node: h.node, kind: 'endpoint' });
            granted.push(formatAddress(a.address));
          } catch (error) {
            expect((error as { code?: string }).code).toBe('POOL_EXHAUSTED');
            exhausted++;
            return;
          }
        }
      }),
    );
    expect(exhausted).toBe(50);
    // 256 addresses less the network, broadcast and gateway ones.
    expect(new Set(granted).size).toBe(253);
    expect(granted.length).toBe(253);
    // Docker retries on a full pool: each host answers from what it knows, with no etcd read.
    for (const h of hosts.slice(0, 10)) {
      h.rec.calls.length = 0;
      await expect(
        h.store.requestAddress({ pool: K, node: h.node, kind: 'endpoint' }),
      ).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' });
      expect(h.rec.calls).toEqual([]);
    }
    // A release anywhere is heard (the shared window is watched) and the address is granted again.
    const dump = await dumpKeys(env.client, prefix);
    // Any host that got one (racing 49 others, a host may have got none).
    const mine = Object.entries(dump).find(
      ([k, v]) => k.startsWith('addresses/') && (v as { kind: string }).kind === 'endpoint',
    );
    expect(mine).toBeDefined();
    const owner = (mine as [string, { node: string }])[1].node;
    const freed = hosts.find((h) => h.node === owner) as (typeof hosts)[number];
    const address = net(`${(mine as [string, unknown])[0].slice('addresses/kontena/'.length)}/32`);
    await freed.store.releaseAddress({
      pool: K,
      node: freed.node,
      address: { family: 4, value: address.network },
    });
    const other = hosts[3] as (typeof hosts)[number];
    let again: string | undefined;
    for (let i = 0; i < 50 && !again; i++) {
      try {
        again = formatAddress(
          (await other.store.requestAddress({ pool: K, node: other.node, kind: 'endpoint' }))
            .address,
        );
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(again).toBe(formatAddress({ family: 4, value: address.network }));
    expect(invariantProblems(await dumpKeys(env.client, prefix))).toEqual([]);
  });

  test('a host that holds no reference and finds the pool full leaves no block claim behind', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const a = env.store({ prefix });
    const b = env.store({ prefix });
    const c = env.store({ prefix });
    const A = node('host-a');
    const B = node('host-b');
    const C = node('host-c');
    // A /26: 61 dynamic addresses (blocks need 4 x 16). A and B hold it, A fills it, B leaves.
    await a.requestPool({ network: K, node: A, subnet: net('10.94.0.0/26') });
    await b.requestPool({ network: K, node: B, subnet: net('10.94.0.0/26') });
    for (;;) {
      const got = await a
        .requestAddress({ pool: K, node: A, kind: 'endpoint' })
        .catch((e: { code?: string }) => e.code);
      if (got === 'POOL_EXHAUSTED') break;
    }
    await b.releasePool({ pool: K, node: B });
    // C holds no reference (as after --forget-node while it lived) and asks for a dynamic one.
    await rejectsWith(c.requestAddress({ pool: K, node: C, kind: 'endpoint' }), 'POOL_EXHAUSTED');
    const keys = Object.keys(await dumpKeys(env.client, prefix));
    expect(keys.filter((k) => k.includes('/host-c'))).toEqual([]);
    const report = await checkConsistency({ client: env.client, prefix });
    expect(report.findings.filter((f) => f.kind === 'stale-block')).toEqual([]);
  });

  test('a claim by a host that no longer holds the pool is reported by check as stale', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const a = env.store({ prefix });
    const b = env.store({ prefix });
    const A = node('host-a');
    const B = node('host-b');
    await a.requestPool({ network: K, node: A, subnet: net('10.93.0.0/24') });
    await b.requestPool({ network: K, node: B, subnet: net('10.93.0.0/24') });
    await a.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    // As an etcd restore or a hand edit could leave it: A's hold gone, its claim still there.
    await env.client.delete().key(`${prefix}v2/holds/kontena/host-a`);
    const report = await checkConsistency({ client: env.client, prefix });
    // (B holds the pool with no address: an idle hold, reported apart.)
    const stale = report.findings.filter((f) => f.kind !== 'idle-hold');
    expect(stale.map((f) => [f.kind, f.node, f.key.split('/v2/')[1]?.split('/')[0]])).toEqual([
      ['stale-block', 'host-a', 'blocks'],
      ['stale-block', 'host-a', 'affinity'],
    ]);
    expect(stale[0]?.message).toContain('the node does not hold the pool');
  });

  test('a host that leaves with more blocks than one transaction can return gives every one back', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const A = node('host-a');
    const B = node('host-b');
    const subnet = net('10.98.0.0/20'); // 256 blocks
    const a = env.store({ prefix });
    const b = env.store({ prefix, client: env.newClient() });
    await b.requestPool({ network: K, node: B, subnet });
    await a.requestPool({ network: K, node: A, subnet });
    // 130 blocks' worth of addresses: more than two transactions' worth of blocks (60 each).
    await inFlight(130 * 16, 64, () => a.requestAddress({ pool: K, node: A, kind: 'endpoint' }));
    const mine = () => [...claims(dump)].filter(([, n]) => n === 'host-a').length;
    let dump = await dumpKeys(env.client, prefix);
    expect(mine()).toBeGreaterThan(120);
    // Its addresses stay (as leaks would, for cleanup): only its claims are at stake here.
    expect(await a.releasePool({ pool: K, node: A })).toEqual({ removed: false, released: true });
    dump = await dumpKeys(env.client, prefix);
    expect(mine()).toBe(0);
    expect(Object.keys(dump).filter((k) => k.startsWith('affinity/kontena/host-a/'))).toEqual([]);
    expect(Object.keys(dump).filter((k) => k.includes('host-a'))).toEqual([]);
    expect([...claims(dump).values()]).toEqual(['host-b']);
    const report = await checkConsistency({ client: env.client, prefix });
    expect(report.findings.filter((f) => f.kind === 'stale-block')).toEqual([]);
    expect(invariantProblems(dump)).toEqual([]);
  });
});
