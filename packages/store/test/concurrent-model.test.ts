/**
 * Property test with concurrency: random batches of operations run at once from three hosts
 * (each its own etcd client), and after every batch the keys must show no half-written state,
 * no address held twice, no address nobody was given, and nothing lost that was not released.
 *
 * The pools are big enough for blocks (/26s, a /25), so hosts claim blocks of 16 at once, an
 * --ip lands in another host's block, a burst of requests claims several blocks in one go,
 * hosts borrow once no block is left and give theirs back when they leave. Claims are checked
 * after every batch (block-claims.ts) and counted across the runs, which must claim, grow,
 * return and borrow blocks or the test fails.
 */
import {
  addressAt,
  formatAddress,
  parseAddress,
  parseSubnet,
  subnetSize,
} from '@kontena-ipam/cidr';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { IpamStore } from '../src/index.js';
import {
  type BlockCounts,
  claimProblems,
  countBlocks,
  type DynamicGrant,
  grantOf,
  noBlocks,
} from './block-claims.js';
import { dumpKeys, invariantProblems, node, pool, test, uniquePrefix } from './harness.js';

const SUBNET_LENGTH = 26;
const SUPERNET = parseSubnet('10.91.0.0/24'); // four dynamic /26s, four blocks each
const STATIC = ['10.91.0.0/26', '10.91.0.128/25']; // four blocks; eight
const POOLS = ['p0', 'p1'];

type Op =
  | { op: 'requestPool'; n: number; p: number; s: number | undefined }
  | { op: 'releasePool'; n: number; p: number }
  | { op: 'requestAddress'; n: number; p: number; offset: number | undefined }
  | { op: 'releaseAddress'; n: number; pick: number }
  | { op: 'burst'; n: number; p: number; count: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('requestPool' as const),
      n: fc.nat(2),
      p: fc.nat(1),
      s: fc.option(fc.nat(1), { nil: undefined }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('releasePool' as const), n: fc.nat(2), p: fc.nat(1) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('requestAddress' as const),
      n: fc.nat(2),
      p: fc.nat(1),
      // An --ip anywhere in the pool (modulo its size), often in another host's block.
      offset: fc.option(fc.nat(127), { nil: undefined, freq: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('releaseAddress' as const),
      n: fc.nat(2),
      pick: fc.nat(50),
    }),
  },
  {
    // One host asks for many dynamic addresses at once: it claims several blocks in one go.
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('burst' as const),
      n: fc.nat(2),
      p: fc.nat(1),
      count: fc.integer({ min: 8, max: 40 }),
    }),
  },
);

/** Codes a request may end with when other hosts act at the same time (never UNAVAILABLE here). */
const expected = new Set([
  'POOL_MISMATCH',
  'POOL_NOT_FOUND',
  'OUT_OF_RANGE',
  'SUBNET_OVERLAP',
  'ALREADY_HELD',
  'ADDRESS_IN_USE',
  'POOL_EXHAUSTED',
  'SUPERNET_EXHAUSTED',
]);

test('concurrent random batches from three hosts: no address twice, none lost, none from nowhere', async ({
  env,
}) => {
  const blocks: BlockCounts = noBlocks();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 }),
      async (batches) => {
        const prefix = uniquePrefix();
        const stores: IpamStore[] = [0, 1, 2].map(() =>
          env.store({
            prefix,
            client: env.newClient(),
            supernet: SUPERNET,
            subnetLength: SUBNET_LENGTH,
          }),
        );
        /** pool/address → node, for every endpoint address a caller was given and still holds. */
        const live = new Map<string, string>();
        let before: Record<string, unknown> = {};
        try {
          for (const batch of batches) {
            const removedPools = new Set<string>();
            const released = new Set<string>();
            const granted: Array<[string, string]> = [];
            const dynamic: DynamicGrant[] = [];
            /** pool/node pairs that released the pool in this batch (their claims may be gone). */
            const left = new Set<string>();
            const liveKeys = [...live.keys()];
            const results = await Promise.allSettled(
              batch.map(async (o) => {
                const n = `n${o.n}`;
                const store = stores[o.n] as IpamStore;
                if (o.op === 'releaseAddress') {
                  const key = liveKeys[o.pick % Math.max(1, liveKeys.length)];
                  if (!key || live.get(key) !== n) return;
                  const [p, a] = key.split('/') as [string, string];
                  const r = await store.releaseAddress({
                    pool: pool(p),
                    node: node(n),
                    address: parseAddress(a),
                  });
                  if (r.released) released.add(key);
                  return;
                }
                const p = POOLS[o.p] as string;
                if (o.op === 'requestPool') {
                  const subnet = o.s === undefined ? undefined : STATIC[o.s];
                  await store.requestPool({
                    network: pool(p),
                    node: node(n),
                    ...(subnet ? { subnet: parseSubnet(subnet) } : {}),
                  });
                  return;
                }
                if (o.op === 'releasePool') {
                  left.add(`${p}/${n}`);
                  const r = await store.releasePool({ pool: pool(p), node: node(n) });
                  if (r.removed) removedPools.add(p);
                  return;
                }
                const request = async (offset: number | undefined) => {
                  const current = await stores[0]?.getPool(pool(p));
                  const address =
                    offset === undefined || !current
                      ? undefined
                      : addressAt(current.subnet, BigInt(offset) % subnetSize(current.subnet));
                  const a = await store.requestAddress({
                    pool: pool(p),
                    node: node(n),
                    kind: 'endpoint',
                    ...(address ? { address } : {}),
                  });

                  granted.push([`${p}/${formatAddress(a.address)}`, n]);
                  if (!address) dynamic.push(grantOf(p, n, a.address));
                };
                if (o.op === 'requestAddress') return request(o.offset);
                // A burst: its requests at once; each may fail on its own (the pool filled).
                const all = await Promise.allSettled(
                  Array.from({ length: o.count }, () => request(undefined)),
                );
                const failed = all.find((r) => r.status === 'rejected');
                if (failed) throw failed.reason;
              }),
            );
            for (const r of results) {
              if (r.status === 'rejected') {
                const code = (r.reason as { code?: string }).code;
                if (!code || !expected.has(code)) throw r.reason;
              }
            }
            for (const key of released) live.delete(key);
            for (const [key, n] of granted) {
              const holder = live.get(key);
              const [p] = key.split('/') as [string];
              // Given twice while the first holder still has it: the one thing that must never happen.
              if (holder !== undefined && !removedPools.has(p)) {
                throw new Error(`${key} given to ${n} while ${holder} holds it`);
              }
              live.set(key, n);
            }
            const dump = await dumpKeys(env.client, prefix);
            expect(invariantProblems(dump)).toEqual([]);
            expect(claimProblems(dump)).toEqual([]);
            countBlocks(blocks, before, dump, dynamic, left);
            before = dump;
            for (const [key, value] of Object.entries(dump)) {
              if (!key.startsWith('addresses/')) continue;
              const rec = value as { node: string; kind: string };
              if (rec.kind !== 'endpoint') continue;
              const id = key.slice('addresses/'.length);
              expect(live.get(id), `${id} in etcd but given to nobody`).toBe(rec.node);
            }
            for (const [id, n] of [...live]) {
              if (`addresses/${id}` in dump) continue;
              const [p] = id.split('/') as [string];
              // Lost only when its pool went away in this batch.
              if (!removedPools.has(p)) throw new Error(`${id} of ${n} vanished without a release`);
              live.delete(id);
            }
          }
        } finally {
          await Promise.all(stores.map((s) => s.close()));
        }
      },
    ),
    { numRuns: 60 },
  );
  // The runs made blocks happen: hosts claimed them, claimed more as they filled them, gave them
  // back when they left, and borrowed outside their own once no block was left.
  expect(blocks.claimed).toBeGreaterThan(0);
  expect(blocks.grown).toBeGreaterThan(0);
  expect(blocks.returned).toBeGreaterThan(0);
  expect(blocks.borrowed).toBeGreaterThan(0);
});
