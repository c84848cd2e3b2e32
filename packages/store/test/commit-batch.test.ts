/**
 * Group commit (commit-batch.ts) on a real etcd: a busy host's allocations go to etcd merged,
 * and what each caller is told is exactly what etcd holds. A merged transaction whose compare
 * fails commits nothing, and each of its allocations is then decided alone.
 */
import { addressAt, formatAddress, parseSubnet } from '@kontena-ipam/cidr';
import { describe, expect } from 'vitest';
import { type Allocation, KeyLayout } from '../src/index.js';
import {
  claimsIn,
  dumpKeys,
  invariantProblems,
  net,
  node,
  observed,
  pool,
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
});
