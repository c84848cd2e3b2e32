/**
 * A call whose commit etcd applies after the call gave up leaves nothing behind: Docker was
 * told the call failed and never uses or releases what it wrote, so the store takes the write
 * back (undo.ts). The late commit is made real: etcd is frozen (SIGSTOP) with the commit in its
 * socket, the call runs out of its budget, and etcd thaws and applies it.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import { startEtcd } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { afterEach, expect, test } from 'vitest';
import { Budget, IpamStore, resilientClientOptions } from '../src/index.js';
import {
  blockOf,
  claimsIn,
  dumpKeys,
  holdsIn,
  ip,
  net,
  node,
  pool,
  uniquePrefix,
} from './harness.js';

const K = pool('kontena');
const A = node('host-a');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function setup() {
  const etcd = await startEtcd();
  cleanups.push(() => etcd.stop());
  const client = new Etcd3({ hosts: etcd.endpoint, ...resilientClientOptions(5000) });
  cleanups.push(() => client.close());
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const log = (fields: object, msg?: string) =>
    lines.push({ msg: msg ?? '', fields: fields as Record<string, unknown> });
  const prefix = uniquePrefix();
  // Armed by a test: freeze etcd as soon as a read of the call under test has answered, so
  // that its commit is what waits in the frozen member's socket.
  const freezeAfterRead = { armed: false };
  const store = new IpamStore({
    client,
    prefix,
    endpoint: etcd.endpoint,
    logger: { debug() {}, info: log, warn: log },
    undoAttemptsMs: [500, 1500, 3000],
    observer: {
      etcdCall: (e) => {
        if (freezeAfterRead.armed && e.op === 'get') {
          freezeAfterRead.armed = false;
          etcd.freezeMember('m0');
        }
      },
    },
  });
  cleanups.push(() => store.close());
  const reader = new Etcd3({ hosts: etcd.endpoint });
  cleanups.push(() => reader.close());
  return { etcd, store, prefix, lines, freezeAfterRead, dump: () => dumpKeys(reader, prefix) };
}

/** lateCommit runs `call` with etcd frozen, so it fails, then thaws etcd, which applies it. */
async function lateCommit(
  etcd: Awaited<ReturnType<typeof startEtcd>>,
  call: () => Promise<unknown>,
) {
  etcd.freezeMember('m0');
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  etcd.thawMember('m0');
  return error as { code?: string } | undefined;
}

/**
 * commitAfterRead is lateCommit for a call that reads before it commits: etcd freezes as soon as
 * the read has answered (the store's observer does it), so the commit is what waits.
 */
async function commitAfterRead(
  etcd: Awaited<ReturnType<typeof startEtcd>>,
  freezeAfterRead: { armed: boolean },
  call: () => Promise<unknown>,
) {
  freezeAfterRead.armed = true;
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  etcd.thawMember('m0');
  return error as { code?: string } | undefined;
}

/** The two log lines an undo ends with when etcd answers. */
const settled = [
  'took back a write etcd committed after its call had failed',
  'the write of a failed call never landed: nothing to take back',
];

async function until(ok: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * takenBack runs `lateCall` (a call made to commit late, which must fail UNAVAILABLE) until etcd
 * applied its commit and the store took it back, at most `attempts` times: whether etcd applies
 * a request whose client gave up while it was frozen is etcd's race (it may see the cancel
 * first), and a commit that never landed leaves nothing to take back, so proves nothing. Each
 * attempt waits until its undo settled; a write that never landed changed nothing, so the next
 * attempt starts from the same state. True once one was taken back (its lines kept in `lines`).
 */
async function takenBack(
  lines: Array<{ msg: string }>,
  lateCall: () => Promise<{ code?: string } | undefined>,
  attempts = 5,
): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    lines.length = 0;
    const failed = await lateCall();
    expect(failed?.code).toBe('UNAVAILABLE');
    expect(await until(async () => lines.some((l) => settled.includes(l.msg)))).toBe(true);
    if (lines.some((l) => l.msg === settled[0])) return true;
  }
  return false;
}

test('an allocation committed after its call failed is taken back, and only that one', async () => {
  const { etcd, store, dump, lines } = await setup();
  await store.requestPool({ network: K, node: A, subnet: net('10.95.0.0/24') });
  const kept = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
  const endpoints = async () =>
    Object.entries(await dump())
      .filter(([k, v]) => k.startsWith('addresses/') && (v as { kind: string }).kind === 'endpoint')
      .map(([k]) => k);
  // Whether etcd applies a request whose client gave up while it was frozen is etcd's race
  // (it may see the cancel first): try until one lands, as it does almost every time.
  let took = false;
  for (let attempt = 0; attempt < 3 && !took; attempt++) {
    const failed = await lateCommit(etcd, () =>
      store.requestAddress({ pool: K, node: A, kind: 'endpoint' }, Budget.within(400)),
    );
    expect(failed?.code).toBe('UNAVAILABLE');
    await until(async () => lines.some((l) => settled.includes(l.msg)));
    took = lines.some((l) => l.msg === settled[0]);
    lines.length = took ? lines.length : 0;
  }
  // The late commit landed (etcd applied it on thawing) ...
  expect(took).toBe(true);
  // ... and was taken back; the address granted before is untouched.
  expect(await endpoints()).toEqual([`addresses/kontena/${formatAddress(kept.address)}`]);
  const undone = lines.find((l) => l.msg.startsWith('took back'));
  expect(undone?.fields).toMatchObject({
    what: 'request address',
    pool: 'kontena',
    node: 'host-a',
  });
  // The address is free again.
  const again = await store.requestAddress({
    pool: K,
    node: A,
    kind: 'endpoint',
    address: ip(String(undone?.fields.address)),
  });
  expect(formatAddress(again.address)).toBe(undone?.fields.address);
});

test('a join committed after its call failed is taken back: the pool can still be removed', async () => {
  const { etcd, store, dump, lines, freezeAfterRead } = await setup();
  const B = node('host-b');
  await store.requestPool({ network: K, node: B, subnet: net('10.96.0.0/24') });
  await store.requestPool({ network: K, node: A, subnet: net('10.96.0.0/24') });
  // A join reads before it commits: freeze etcd between the two. Until the late join landed
  // (etcd applied it on thawing) and was taken back.
  const took = await takenBack(lines, () =>
    commitAfterRead(etcd, freezeAfterRead, () =>
      store.requestPool({ network: K, node: A, subnet: net('10.96.0.0/24') }, Budget.within(400)),
    ),
  );
  expect(took).toBe(true);
  expect(lines.find((l) => l.msg === settled[0])?.fields).toMatchObject({
    what: 'request pool',
    pool: 'kontena',
    node: 'host-a',
  });
  // etcd holds what Docker was told: A's second hold is gone again.
  expect(holdsIn(await dump(), 'kontena')).toEqual({ 'host-a': 1, 'host-b': 1 });
  // Docker releases what it was told it got: one hold each, and the pool goes with the last.
  expect(await store.releasePool({ pool: K, node: A })).toEqual({ removed: false, released: true });
  expect(await store.releasePool({ pool: K, node: B })).toEqual({ removed: true, released: true });
});

test('a first join committed after its call failed takes back the block it claimed with its hold', async () => {
  const { etcd, store, dump, lines, freezeAfterRead } = await setup();
  const B = node('host-b');
  await store.requestPool({ network: K, node: B, subnet: net('10.98.0.0/20') });
  const byB = claimsIn(await dump(), 'kontena');
  expect(Object.values(byB)).toEqual(['host-b']);
  // A holds no block yet, so its join claims one: freeze etcd between its read and commit,
  // until the late join landed and was taken back.
  const took = await takenBack(lines, () =>
    commitAfterRead(etcd, freezeAfterRead, () =>
      store.requestPool({ network: K, node: A, subnet: net('10.98.0.0/20') }, Budget.within(400)),
    ),
  );
  expect(took).toBe(true);
  // Taken back: neither A's hold nor a block of A's is left.
  expect(holdsIn(await dump(), 'kontena')).toEqual({ 'host-b': 1 });
  expect(claimsIn(await dump(), 'kontena')).toEqual(byB);
  // A joins for real and allocates in a block of its own.
  await store.requestPool({ network: K, node: A, subnet: net('10.98.0.0/20') });
  const a = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
  const claims = claimsIn(await dump(), 'kontena');
  expect(Object.values(claims).sort()).toEqual(['host-a', 'host-b']);
  expect(claims[blockOf(a.address, net('10.98.0.0/20'))]).toBe('host-a');
});

test('a pool created after its call failed is taken back whole: nothing of it stays in etcd', async () => {
  const { etcd, store, dump, lines, freezeAfterRead } = await setup();
  // A creation reads the reservations before it commits: freeze etcd between the two, until
  // the late creation landed and was taken back.
  const took = await takenBack(lines, () =>
    commitAfterRead(etcd, freezeAfterRead, () =>
      store.requestPool({ network: K, node: A, subnet: net('10.97.0.0/24') }, Budget.within(400)),
    ),
  );
  expect(took).toBe(true);
  // Taken back (the hold, then the pool nobody holds): only the reservation guard may be left.
  expect(
    await until(
      async () =>
        Object.keys(await dump()).join() === 'guard/subnets' ||
        Object.keys(await dump()).length === 0,
    ),
  ).toBe(true);
  // And the network can be created for real afterwards.
  expect((await store.requestPool({ network: K, node: A, subnet: net('10.97.0.0/24') })).held).toBe(
    1,
  );
});
