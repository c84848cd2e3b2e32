/**
 * Property test: random sequences of operations from several hosts, each checked against a
 * small in-memory model of what the store should answer and hold; after every operation the
 * keys in etcd must match the model exactly (pools, gateways, holds, reservations, address
 * owners). Gateway requests for another address move the gateway when the model says so.
 *
 * Pools come in two sizes: /29s and /28s, which hosts share through one watched view (too small
 * for blocks: exhaustion is reached in a few steps), and /26s and a /25, cut into blocks of 16
 * that hosts claim, fill, borrow beside and give back when they leave. Block claims are the
 * store's choice (hashed, probed, random), so the model does not predict them: they are checked
 * for what must hold whatever was chosen (block-claims.ts), and counted across the runs, which
 * must claim, grow, return and borrow blocks or the test fails.
 */
import {
  addressAt,
  formatAddress,
  formatSubnet,
  hostRange,
  isHostAddress,
  parseAddress,
  parseSubnet,
  subnetContains,
  subnetsOverlap,
} from '@kontena-ipam/cidr';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { AddressKind, IpamStore } from '../src/index.js';
import {
  type BlockCounts,
  claimProblems,
  countBlocks,
  type DynamicGrant,
  grantOf,
  noBlocks,
} from './block-claims.js';
import { dumpKeys, node, pool, test, uniquePrefix, withoutClaims } from './harness.js';

const SUBNET_LENGTH = 26;
const SUPERNET = parseSubnet('10.90.0.0/25'); // two dynamic /26s, four blocks each
/**
 * Static subnets: a /29 inside the first dynamic /26 (no blocks), the second dynamic /26 itself,
 * a /25 over the whole supernet (eight blocks; with it no dynamic subnet is left), and two
 * overlapping ones outside the supernet, too small for blocks.
 */
const STATIC = ['10.90.0.0/29', '10.90.0.64/26', '10.90.0.0/25', '10.95.0.0/29', '10.95.0.0/28'];
/**
 * Node ids and network names come from the whole accepted grammar, and half the time from the
 * names of Object.prototype's members (legal hostnames): a record keyed by them must not care.
 */
const PROTOTYPE_NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
const nameArb = fc.oneof(
  fc.constantFrom(...PROTOTYPE_NAMES),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,11}$/),
);
const namesArb = fc.record({
  nodes: fc.uniqueArray(nameArb, { minLength: 3, maxLength: 3 }),
  pools: fc.uniqueArray(nameArb, { minLength: 2, maxLength: 2 }),
});
interface Names {
  nodes: string[];
  pools: string[];
}
const POOL_COUNT = 2;

interface ModelPool {
  subnet: string;
  gateway: string;
  holds: Map<string, number>;
  addresses: Map<string, { node: string; kind: AddressKind }>;
}

type Op =
  | { op: 'requestPool'; n: number; p: number; s: number | undefined }
  | { op: 'releasePool'; n: number; p: number }
  | { op: 'dropHold'; n: number; p: number }
  | { op: 'requestAddress'; n: number; p: number; offset: number | undefined; kind: AddressKind }
  | { op: 'releaseAddress'; n: number; p: number; offset: number }
  | { op: 'releaseOwn'; n: number; p: number; pick: number }
  | { op: 'leave'; n: number; p: number; pick: number; drop: boolean }
  | { op: 'burst'; n: number; hosts: number[]; p: number; count: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('requestPool' as const),
      n: fc.nat(2),
      p: fc.nat(POOL_COUNT - 1),
      // A third dynamic: a request without a subnet joins the pool, whatever its subnet.
      s: fc.option(fc.nat(STATIC.length - 1), { nil: undefined, freq: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('releasePool' as const),
      n: fc.nat(2),
      p: fc.nat(POOL_COUNT - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('dropHold' as const),
      n: fc.nat(2),
      p: fc.nat(POOL_COUNT - 1),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('requestAddress' as const),
      n: fc.nat(2),
      p: fc.nat(POOL_COUNT - 1),
      // Inside a /29; outside it but inside a /26 (in its second block); a /26's broadcast;
      // outside a /26.
      offset: fc.option(fc.constantFrom(0, 1, 2, 3, 9, 17, 63, 64), { nil: undefined, freq: 3 }),
      kind: fc.constantFrom<AddressKind>('endpoint', 'aux', 'endpoint', 'aux', 'gateway'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('releaseAddress' as const),
      n: fc.nat(2),
      p: fc.nat(POOL_COUNT - 1),
      offset: fc.constantFrom(1, 2, 3, 4, 5),
    }),
  },
  {
    // A host that holds the pool (the model's pick) releases it once, or drops its hold: with
    // others holding it, it leaves and gives its blocks back.
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('leave' as const),
      n: fc.constant(0),
      p: fc.nat(POOL_COUNT - 1),
      pick: fc.nat(2),
      drop: fc.boolean(),
    }),
  },
  {
    // Release an endpoint address this host holds (the model's pick), wherever its block is.
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('releaseOwn' as const),
      n: fc.nat(2),
      p: fc.nat(POOL_COUNT - 1),
      pick: fc.nat(63),
    }),
  },
  {
    // Hosts ask for many dynamic addresses, in turn: each fills its blocks and claims more,
    // borrows from the others' once none is left, and the pool fills.
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('burst' as const),
      n: fc.constant(0),
      hosts: fc.shuffledSubarray([0, 1, 2], { minLength: 1 }),
      p: fc.nat(POOL_COUNT - 1),
      count: fc.integer({ min: 8, max: 48 }),
    }),
  },
);

function firstFreeDynamic(model: Map<string, ModelPool>): string | undefined {
  const size = 1n << BigInt(32 - SUBNET_LENGTH);
  for (let k = 0n; k < 1n << BigInt(SUBNET_LENGTH - SUPERNET.prefix); k++) {
    const candidate = {
      family: 4 as const,
      network: SUPERNET.network + k * size,
      prefix: SUBNET_LENGTH,
    };
    const clash = [...model.values()].some((p) => subnetsOverlap(parseSubnet(p.subnet), candidate));
    if (!clash) return formatSubnet(candidate);
  }
  return undefined;
}

/** Run is one generated run: its names, its hosts' stores, the model, what blocks did. */
interface Run {
  names: Names;
  stores: IpamStore[];
  model: Map<string, ModelPool>;
  /** Dynamic addresses given by the current op. */
  grants: DynamicGrant[];
}

/**
 * apply runs one op against the store and the model, and checks the answer against the model's;
 * each dynamic address given goes into `run.grants`. A burst is its requests one after another.
 */
async function apply(run: Run, o: Op): Promise<void> {
  const { names, stores, model } = run;
  if (o.op === 'burst') {
    for (let i = 0; i < o.count; i++) {
      const n = o.hosts[i % o.hosts.length] as number;
      const one = { op: 'requestAddress' as const, n, p: o.p, offset: undefined };
      await apply(run, { ...one, kind: 'endpoint' });
    }
    return;
  }
  if (o.op === 'leave') {
    // The pick-th host holding the pool, if any does; else host 0 (a release of nothing).
    const holders = [...(model.get(names.pools[o.p] as string)?.holds.keys() ?? [])].sort();
    const holder = holders.length > 0 ? holders[o.pick % holders.length] : undefined;
    const n = holder === undefined ? 0 : names.nodes.indexOf(holder);
    return apply(run, { op: o.drop ? 'dropHold' : 'releasePool', n, p: o.p });
  }
  const nodeId = names.nodes[o.n] as string;
  const poolId = names.pools[o.p] as string;
  const store = stores[o.n] as IpamStore;
  const m = model.get(poolId);
  const outcome = async <T>(p: Promise<T>): Promise<T | { code: string }> =>
    p.catch((e: { code?: string; message?: string }) => {
      if (!e.code) throw e;
      return { code: e.code };
    });
  const label = JSON.stringify({ ...o, node: nodeId, pool: poolId });
  if (o.op === 'requestPool') {
    const subnet = o.s === undefined ? undefined : STATIC[o.s];
    const got = await outcome(
      store.requestPool({
        network: pool(poolId),
        node: node(nodeId),
        ...(subnet ? { subnet: parseSubnet(subnet) } : {}),
      }),
    );
    if (m) {
      if (subnet && subnet !== m.subnet)
        return void expect(got, label).toEqual({ code: 'POOL_MISMATCH' });
      if (!subnet && (m.holds.get(nodeId) ?? 0) > 0)
        return void expect(got, label).toEqual({ code: 'ALREADY_HELD' });
      m.holds.set(nodeId, (m.holds.get(nodeId) ?? 0) + 1);
      expect(got, label).toMatchObject({ subnet: parseSubnet(m.subnet) });
      return;
    }
    let chosen = subnet;
    if (subnet) {
      const clash = [...model.values()].some((p) =>
        subnetsOverlap(parseSubnet(p.subnet), parseSubnet(subnet)),
      );
      if (clash) return void expect(got, label).toEqual({ code: 'SUBNET_OVERLAP' });
    } else {
      chosen = firstFreeDynamic(model);
      if (!chosen) return void expect(got, label).toEqual({ code: 'SUPERNET_EXHAUSTED' });
    }
    const s = parseSubnet(chosen as string);
    const gateway = formatAddress(hostRange(s).first);
    model.set(poolId, {
      subnet: chosen as string,
      gateway,
      holds: new Map([[nodeId, 1]]),
      addresses: new Map([[gateway, { node: nodeId, kind: 'gateway' }]]),
    });
    expect(got, label).toMatchObject({ subnet: s, dynamic: !subnet });
    return;
  }
  if (o.op === 'releasePool' || o.op === 'dropHold') {
    const req = { pool: pool(poolId), node: node(nodeId) };
    const got = await (o.op === 'dropHold' ? store.dropHold(req) : store.releasePool(req));
    const held = m?.holds.get(nodeId) ?? 0;
    if (!m || held === 0)
      return void expect(got, label).toEqual({ removed: false, released: false });
    if (held === 1 || o.op === 'dropHold') m.holds.delete(nodeId);
    else m.holds.set(nodeId, held - 1);
    const removed = m.holds.size === 0;
    if (removed) {
      model.delete(poolId);
    }
    expect(got, label).toEqual({ removed, released: true });
    return;
  }
  const base = m ? parseSubnet(m.subnet) : parseSubnet('10.90.0.0/29');
  if (o.op === 'releaseAddress' || o.op === 'releaseOwn') {
    // releaseOwn: the pick-th endpoint address the model says this host holds (else offset 1).
    const own = [...(m?.addresses ?? [])]
      .filter(([, r]) => r.node === nodeId && r.kind === 'endpoint')
      .map(([a]) => a);
    const address =
      o.op === 'releaseOwn' && own.length > 0
        ? parseAddress(own[o.pick % own.length] as string)
        : addressAt({ ...base, prefix: 24 }, BigInt(o.op === 'releaseAddress' ? o.offset : 1));
    const text = formatAddress(address);
    const got = await store.releaseAddress({ pool: pool(poolId), node: node(nodeId), address });
    const rec = m?.addresses.get(text);
    const released = rec !== undefined && rec.kind === 'endpoint' && rec.node === nodeId;
    if (released) m?.addresses.delete(text);
    expect(got, label).toEqual({ released });
    return;
  }
  // requestAddress
  const address =
    o.offset === undefined ? undefined : addressAt({ ...base, prefix: 24 }, BigInt(o.offset));
  const got = await outcome(
    store.requestAddress({
      pool: pool(poolId),
      node: node(nodeId),
      kind: o.kind,
      ...(address ? { address } : {}),
    }),
  );
  if (!m) return void expect(got, label).toEqual({ code: 'POOL_NOT_FOUND' });
  const subnet = parseSubnet(m.subnet);
  if (o.kind === 'gateway') {
    if (address && formatAddress(address) !== m.gateway) {
      // The gateway moves only for the one host holding the pool, to a free host address.
      const text = formatAddress(address);
      // Held twice by this host (two of its networks name the pool): the other may use the
      // gateway already, so it stays.
      const alone = [...m.holds.keys()].every((n) => n === nodeId) && m.holds.get(nodeId) === 1;
      const usable = address.family === 4 && isHostAddress(subnet, address);
      if (!alone || !usable || m.addresses.has(text)) {
        return void expect(got, label).toEqual({ code: 'POOL_MISMATCH' });
      }
      m.addresses.delete(m.gateway);
      m.gateway = text;
      m.addresses.set(text, { node: nodeId, kind: 'gateway' });
      return void expect(got, label).toMatchObject({ kind: 'gateway', address, node: nodeId });
    }
    return void expect(got, label).toMatchObject({
      kind: 'gateway',
      address: parseAddress(m.gateway),
    });
  }
  if (address) {
    const text = formatAddress(address);
    // Outside the subnet, or its network or broadcast address: never handed out.
    if (!subnetContains(subnet, address) || !isHostAddress(subnet, address))
      return void expect(got, label).toEqual({ code: 'OUT_OF_RANGE' });
    const rec = m.addresses.get(text);
    if (rec) {
      if (rec.kind === 'aux' && o.kind === 'aux') {
        return void expect(got, label).toMatchObject({ node: rec.node, kind: 'aux' });
      }
      return void expect(got, label).toEqual({ code: 'ADDRESS_IN_USE' });
    }
    m.addresses.set(text, { node: nodeId, kind: o.kind });
    // An address needs its host's hold: a host that held none gets one with it.
    if (!m.holds.has(nodeId)) m.holds.set(nodeId, 1);
    return void expect(got, label).toMatchObject({ address, node: nodeId, kind: o.kind });
  }
  const hosts = hostRange(subnet);
  const free: string[] = [];
  for (let v = hosts.first.value; v <= hosts.last.value; v++) {
    const t = formatAddress({ family: 4, value: v });
    if (!m.addresses.has(t)) free.push(t);
  }
  if (free.length === 0) {
    return void expect(got, label).toEqual({ code: 'POOL_EXHAUSTED' });
  }
  if ('code' in got) throw new Error(`${label}: expected an address, got ${got.code}`);
  const text = formatAddress(got.address);
  expect(free, label).toContain(text);
  m.addresses.set(text, { node: nodeId, kind: o.kind });
  if (!m.holds.has(nodeId)) m.holds.set(nodeId, 1);
  run.grants.push(grantOf(poolId, nodeId, got.address));
}

function expectedKeys(model: Map<string, ModelPool>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, p] of model) {
    out[`pools/${id}`] = { subnet: p.subnet, gateway: p.gateway };
    for (const [n, count] of p.holds) out[`holds/${id}/${n}`] = { count };
    out[`subnets/${p.subnet}`] = { pool: id };
    for (const [a, r] of p.addresses) out[`addresses/${id}/${a}`] = r;
  }
  return out;
}

/** actualKeys is what the model predicts of a dump: all but the guard and the block claims. */
function actualKeys(dump: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const predicted = new Set(withoutClaims(Object.keys(dump)));
  for (const [key, value] of Object.entries(dump)) {
    if (key === 'guard/subnets' || !predicted.has(key)) continue;
    const v = value as Record<string, unknown>;
    if (key.startsWith('pools/')) out[key] = { subnet: v.subnet, gateway: v.gateway };
    else if (key.startsWith('holds/')) out[key] = { count: v.count };
    else if (key.startsWith('addresses/')) out[key] = { node: v.node, kind: v.kind };
    else out[key] = v;
  }
  return out;
}

test('random operations from three hosts match the in-memory model, key for key', async ({
  env,
}) => {
  const blocks: BlockCounts = noBlocks();
  await fc.assert(
    fc.asyncProperty(
      namesArb,
      fc.array(opArb, { minLength: 5, maxLength: 60, size: 'medium' }),
      async (names, ops) => {
        const prefix = uniquePrefix();
        const stores = names.nodes.map(() =>
          env.store({ prefix, supernet: SUPERNET, subnetLength: SUBNET_LENGTH }),
        );
        const run: Run = { names, stores, model: new Map(), grants: [] };
        let before: Record<string, unknown> = {};
        try {
          for (const o of ops) {
            run.grants = [];
            await apply(run, o);
            const dump = await dumpKeys(env.client, prefix);
            expect(actualKeys(dump), JSON.stringify(o)).toEqual(expectedKeys(run.model));
            expect(claimProblems(dump), JSON.stringify(o)).toEqual([]);
            countBlocks(blocks, before, dump, run.grants);
            before = dump;
          }
        } finally {
          await Promise.all(stores.map((s) => s.close()));
        }
      },
    ),
    { numRuns: 80 },
  );
  // The runs made blocks happen: hosts claimed them, claimed more as they filled them, gave them
  // back when they left, and borrowed outside their own once no block was left.
  expect(blocks.claimed).toBeGreaterThan(0);
  expect(blocks.grown).toBeGreaterThan(0);
  expect(blocks.returned).toBeGreaterThan(0);
  expect(blocks.borrowed).toBeGreaterThan(0);
});
