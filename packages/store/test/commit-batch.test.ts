/**
 * Group commit (commit-batch.ts) on a real etcd: a busy host's allocations go to etcd merged,
 * and what each caller is told is exactly what etcd holds. A merged transaction whose compare
 * fails commits nothing, and each of its allocations is then decided alone.
 */
import { addressAt, formatAddress, parseSubnet } from '@kontena-ipam/cidr';
import { describe, expect } from 'vitest';
import { type Allocation, Budget, KeyLayout } from '../src/index.js';
import {
  claimsIn,
  dumpKeys,
  type Env,
  invariantProblems,
  net,
  node,
  observed,
  pool,
  rejectsWith,
  test,
  uniquePrefix,
} from './harness.js';

const K = pool('kontena');
const A = node('host-a');

/** inEtcd checks that every allocation is an endpoint record of `node` in the dump. */
function expectInEtcd(dump: Record<string, unknown>, granted: readonly Allocation[], who: string) {
  for (const a of granted) {
    expect(dump[`addresses/kontena/${formatAddress(a.address)}`]).toMatchObject({
      node: who,
      kind: 'endpoint',
    });
  }
}

describe('group commit', () => {
  test('64 allocations in flight on one host go to etcd in fewer calls, each one granted once and in etcd', async ({
    env,
  }) => {
    const prefix = uniquePrefix();
    const rec = observed();
    const store = env.store({ prefix, observer: rec.observer });
    await store.requestPool({ network: K, node: A, subnet: net('10.93.0.0/16') });
    rec.calls.length = 0;
    const granted = await Promise.all(
      Array.from({ length: 64 }, () =>
        store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
      ),
    );
    expect(new Set(granted.map((a) => a.address.value)).size).toBe(64);
    const txns = rec.calls.filter((c) => c.op === 'txn');
    const merged = txns.filter((c) => c.merged);
    // Some went together (only MAX_IN_FLIGHT go alone while others wait), all of them won.
    expect(merged.length).toBeGreaterThan(0);
    expect(merged.every((c) => c.merged?.committed && c.merged.transactions > 1)).toBe(true);
    expect(rec.conflicts).toEqual([]);
    // Every won allocation is counted once: alone, or in the merged call that carried it. The
    // block claims in between are transactions too (one per 16 addresses at most).
    const carried = txns.reduce((n, c) => n + (c.merged ? c.merged.transactions : 1), 0);
    expect(carried).toBeGreaterThanOrEqual(64);
    expect(carried).toBeLessThanOrEqual(64 + 8);
    expect(txns.length).toBeLessThan(64);
    const dump = await dumpKeys(env.client, prefix);
    expectInEtcd(dump, granted, 'host-a');
    expect(invariantProblems(dump)).toEqual([]);
  });

  test('a merged transaction whose compare fails commits nothing; each allocation is then decided alone', async ({
    env,
  }) => {
    // Race again until a merged call loses (it needs several allocations waiting at once);
    // every round is checked in full.
    let lostMerges = 0;
    for (let round = 0; round < 5 && lostMerges === 0; round++) {
      const prefix = uniquePrefix();
      const rec = observed();
      const store = env.store({ prefix, observer: rec.observer });
      const subnet = parseSubnet('10.94.0.0/16');
      await store.requestPool({ network: K, node: A, subnet });
      // Somebody else (a borrower, a static --ip elsewhere) took every address of the block
      // this host's join claimed: its view, which watches nothing in its own blocks, has them
      // as free, so every candidate it offers from that block loses its compare.
      const index = Number.parseInt(
        Object.keys(claimsIn(await dumpKeys(env.client, prefix), 'kontena'))[0] as string,
        16,
      );
      const keys = new KeyLayout(prefix);
      const taken = new Set<string>();
      for (let o = 0; o < 16; o++) {
        const address = addressAt(subnet, BigInt(index * 16 + o));
        taken.add(formatAddress(address));
        const record = {
          node: 'host-z',
          kind: 'endpoint',
          attrs: {},
          at: new Date().toISOString(),
          token: `z${o}`,
        };
        await env.client.put(keys.address(K, address)).value(JSON.stringify(record));
      }
      rec.calls.length = 0;
      const granted = await Promise.all(
        Array.from({ length: 24 }, () =>
          store.requestAddress({ pool: K, node: A, kind: 'endpoint' }),
        ),
      );
      expect(new Set(granted.map((a) => a.address.value)).size).toBe(24);
      for (const a of granted) expect(taken.has(formatAddress(a.address))).toBe(false);
      const dump = await dumpKeys(env.client, prefix);
      expectInEtcd(dump, granted, 'host-a');
      // The borrower's records are untouched.
      for (const text of taken) {
        expect(dump[`addresses/kontena/${text}`]).toMatchObject({ node: 'host-z' });
      }
      expect(rec.conflicts.length).toBeGreaterThan(0);
      lostMerges = rec.calls.filter((c) => c.merged && !c.merged.committed).length;
    }
    expect(lostMerges).toBeGreaterThan(0);
  });

  test('mixed budgets: a member with less time than one attempt goes alone, and the others, merged, commit while etcd is slow', async ({
    env,
  }) => {
    const SHORT_MS = 400; // less than one attempt (700 ms), far less than the freeze
    const run = await burstWhileFrozen(env, { freezeMs: 1000, oddMs: SHORT_MS });
    // It failed alone, within its own budget, not the others'.
    const message = await rejectsWith(run.odd, 'UNAVAILABLE');
    expect(Number(/within (\d+) ms/.exec(message)?.[1])).toBeLessThanOrEqual(SHORT_MS);
    // Every other member committed (before the fix they failed with the short one's budget).
    const granted = await run.granted();
    // The eight long ones went to etcd together, without the short one.
    expect(run.calls.some((c) => c.merged?.transactions === 8)).toBe(true);
    expect(run.calls.some((c) => (c.merged?.transactions ?? 0) > 8)).toBe(false);
    const dump = await dumpKeys(env.client, run.prefix);
    expectInEtcd(dump, granted, 'host-a');
    expect(invariantProblems(dump)).toEqual([]);
  });

  test('mixed budgets: a merged member whose budget ends first is answered then, on its own; the others commit and its write is taken back', async ({
    env,
  }) => {
    const MEDIUM_MS = 1000; // more than one attempt, less than the freeze
    const run = await burstWhileFrozen(env, { freezeMs: 1500, oddMs: MEDIUM_MS });
    const message = await rejectsWith(run.odd, 'UNAVAILABLE');
    expect(message).toContain('sent merged with 8 other transactions whose budgets are longer');
    const granted = await run.granted();
    expect(run.calls.some((c) => c.merged?.transactions === 9)).toBe(true);
    // The merged call may have carried its write to etcd: its undo takes it back, so what
    // stays is exactly what the callers were granted.
    const endpoints = async () =>
      Object.entries(await dumpKeys(env.client, run.prefix)).filter(
        ([k, v]) => k.startsWith('addresses/') && (v as { kind: string }).kind === 'endpoint',
      ).length;
    const until = Date.now() + 10_000;
    while ((await endpoints()) !== granted.length && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const dump = await dumpKeys(env.client, run.prefix);
    expectInEtcd(dump, granted, 'host-a');
    expect(await endpoints()).toBe(granted.length);
    expect(invariantProblems(dump)).toEqual([]);
  });
});

/**
 * burstWhileFrozen: four allocations go on the wire (8 s budgets), then, waiting to be merged,
 * one with `oddMs` and eight more with 8 s. etcd freezes as soon as the first of the four has
 * answered, which is when the waiting ones go: they meet a frozen etcd, which thaws after
 * `freezeMs`. The host allocates from blocks it owns (claimed and freed beforehand), so no other
 * etcd call comes in between.
 */
async function burstWhileFrozen(env: Env, o: { freezeMs: number; oddMs: number }) {
  const prefix = uniquePrefix();
  const rec = observed();
  let armed = false;
  const store = env.store({
    prefix,
    undoAttemptsMs: [300, 1000, 3000],
    observer: {
      ...rec.observer,
      etcdCall: (e) => {
        rec.calls.push(e);
        if (!armed || e.op !== 'txn') return;
        armed = false;
        env.etcd.freezeMember('m0');
        setTimeout(() => env.etcd.thawMember('m0'), o.freezeMs);
      },
    },
  });
  await store.requestPool({ network: K, node: A, subnet: net('10.96.0.0/24') });
  const warm: Allocation[] = [];
  for (let i = 0; i < 40; i++) {
    warm.push(await store.requestAddress({ pool: K, node: A, kind: 'endpoint' }));
  }
  for (const a of warm) await store.releaseAddress({ pool: K, node: A, address: a.address });
  rec.calls.length = 0;
  armed = true;
  const ask = (ms: number) =>
    store.requestAddress({ pool: K, node: A, kind: 'endpoint' }, Budget.within(ms));
  const onWire = Array.from({ length: 4 }, () => ask(8000));
  const odd = ask(o.oddMs);
  const long = Array.from({ length: 8 }, () => ask(8000));
  const others = Promise.allSettled([...onWire, ...long]);
  return {
    prefix,
    calls: rec.calls,
    odd,
    /** granted: the twelve others, each granted (none failed) and distinct. */
    async granted(): Promise<Allocation[]> {
      const settled = await others;
      expect(settled.filter((r) => r.status === 'rejected').map((r) => String(r.reason))).toEqual(
        [],
      );
      const granted = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(new Set(granted.map((a) => a.address.value)).size).toBe(12);
      return granted;
    },
  };
}
