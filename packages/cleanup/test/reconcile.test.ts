/**
 * runCleanup against a real etcd. Docker's side is a snapshot shaped exactly like what
 * createDockerView reads from a real daemon (docker-view.test.ts proves that shape, and
 * e2e.test.ts repeats the safety rules with a real dockerd and the real plugin).
 */

import { StoreError } from '@kontena-ipam/store';
import { startEtcd } from '@kontena-ipam/testing/etcd';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CleanupReport } from '../src/contract.js';
import { CleanupError } from '../src/errors.js';
import { runCleanup } from '../src/reconcile.js';
import { RevisionClock } from '../src/revision-age.js';
import {
  bridgeNetwork,
  fixedView,
  HOUR_LATER,
  ip,
  nodeA,
  nodeB,
  poolId,
  type StoreFixture,
  storeFixture,
  subnet,
} from './fixtures.js';

let etcd: Awaited<ReturnType<typeof startEtcd>>;
let fx: StoreFixture;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});
beforeEach(() => {
  fx = storeFixture(etcd.endpoint);
});
afterEach(async () => {
  await fx.close();
});

/** kontena: the seed's static network, held by node-a, with the given endpoints taken by node-a. */
async function seedKontena(endpoints: string[]): Promise<void> {
  await fx.store.requestPool({
    network: poolId('kontena'),
    node: nodeA,
    subnet: subnet('10.81.0.0/16'),
    ipRange: subnet('10.81.128.0/17'),
  });
  for (const address of endpoints) {
    await fx.store.requestAddress({
      pool: poolId('kontena'),
      node: nodeA,
      address: ip(address),
      kind: 'endpoint',
    });
  }
}

const kontenaNet = (endpoints: string[]) =>
  bridgeNetwork({
    name: 'kontena',
    subnet: '10.81.0.0/16',
    ipRange: '10.81.128.0/17',
    gateway: '10.81.0.1',
    endpoints,
  });

const counts = (r: CleanupReport) => ({
  kept: r.kept,
  freed: r.freed,
  tooYoung: r.tooYoung,
  holdsDropped: r.holdsDropped,
  poolsRemoved: r.poolsRemoved,
  conflicts: r.conflicts,
});

describe('runCleanup (real etcd)', () => {
  it('frees exactly the leaked addresses of this host, keeps the live ones and the gateway', async () => {
    await seedKontena(['10.81.128.2', '10.81.128.3', '10.81.128.4']);
    const docker = fixedView([kontenaNet(['10.81.128.2'])]);
    const report = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(counts(report)).toEqual({
      kept: 2,
      freed: 2,
      tooYoung: 0,
      holdsDropped: 0,
      poolsRemoved: 0,
      conflicts: 0,
    });
    expect(report.actions.map((a) => [a.kind, a.outcome, a.address])).toEqual([
      ['free-address', 'done', '10.81.128.3'],
      ['free-address', 'done', '10.81.128.4'],
    ]);
    expect(await fx.addressesOf('kontena')).toEqual(['10.81.0.1', '10.81.128.2']);
    // A second run finds nothing more.
    const again = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(again.actions).toEqual([]);
  });

  it('keeps addresses younger than the grace period, and ones written after the fence', async () => {
    await seedKontena(['10.81.128.3']); // leaked, but taken just now
    const docker = fixedView([kontenaNet([])]);
    // The concurrent allocation lands after the fence: inside the run, while Docker is read.
    docker.beforeSnapshot = async (call) => {
      if (call === 1) {
        await fx.store.requestAddress({
          pool: poolId('kontena'),
          node: nodeA,
          address: ip('10.81.128.9'),
          kind: 'endpoint',
        });
      }
    };
    const young = await runCleanup({ store: fx.store, docker, node: nodeA });
    expect(counts(young)).toMatchObject({ freed: 0, tooYoung: 2 });
    expect(young.actions.map((a) => [a.address, a.reason])).toEqual([
      ['10.81.128.3', expect.stringContaining('younger than the grace period 5m')],
      ['10.81.128.9', expect.stringContaining('written after the fence')],
    ]);
    expect(await fx.addressesOf('kontena')).toEqual(['10.81.0.1', '10.81.128.3', '10.81.128.9']);
    // An hour later both are plain leaks.
    docker.beforeSnapshot = undefined;
    const later = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(later.freed).toBe(2);
    expect(await fx.addressesOf('kontena')).toEqual(['10.81.0.1']);
  });

  it('a change between the read and the write wins: the compare fails and nothing is freed', async () => {
    await seedKontena(['10.81.128.3']);
    const docker = fixedView([kontenaNet([])]);
    // The second look at Docker happens after the plan, right before writing: re-take the
    // address there (release + request), as a container restarting on another host would.
    docker.beforeSnapshot = async (call) => {
      if (call !== 2) return;
      await fx.store.releaseAddress({
        pool: poolId('kontena'),
        node: nodeA,
        address: ip('10.81.128.3'),
      });
      await fx.store.requestAddress({
        pool: poolId('kontena'),
        node: nodeA,
        address: ip('10.81.128.3'),
        kind: 'endpoint',
      });
    };
    const report = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(counts(report)).toMatchObject({ freed: 0, conflicts: 1 });
    expect(report.actions[0]).toMatchObject({
      kind: 'free-address',
      outcome: 'changed',
      address: '10.81.128.3',
    });
    expect(await fx.addressesOf('kontena')).toContain('10.81.128.3');
  });

  it('an endpoint that shows up in Docker between the plan and the write is kept', async () => {
    await seedKontena(['10.81.128.3']);
    const docker = fixedView([kontenaNet([])]);
    docker.beforeSnapshot = async (call) => {
      if (call === 2) docker.networks = [kontenaNet(['10.81.128.3'])];
    };
    const report = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(counts(report)).toMatchObject({ freed: 0, kept: 2 });
    expect(await fx.addressesOf('kontena')).toContain('10.81.128.3');
  });

  it("never touches another host's addresses; --forget-node releases them and its holds", async () => {
    await seedKontena(['10.81.128.2']);
    await fx.store.requestPool({
      network: poolId('kontena'),
      node: nodeB,
      subnet: subnet('10.81.0.0/16'),
      ipRange: subnet('10.81.128.0/17'),
    });
    for (const a of ['10.81.128.20', '10.81.128.21']) {
      await fx.store.requestAddress({
        pool: poolId('kontena'),
        node: nodeB,
        address: ip(a),
        kind: 'endpoint',
      });
    }
    const docker = fixedView([kontenaNet(['10.81.128.2'])]);
    const mine = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(mine.actions).toEqual([]);
    expect(await fx.addressesOf('kontena', nodeB)).toEqual(['10.81.128.20', '10.81.128.21']);

    const forget = await runCleanup({
      store: fx.store,
      docker,
      node: nodeA,
      forgetNode: nodeB,
      now: HOUR_LATER,
    });
    expect(counts(forget)).toEqual({
      kept: 0,
      freed: 2,
      tooYoung: 0,
      holdsDropped: 1,
      poolsRemoved: 0,
      conflicts: 0,
    });
    expect(forget.node).toBe(nodeB);
    expect(await fx.addressesOf('kontena', nodeB)).toEqual([]);
    const pool = await fx.store.getPool(poolId('kontena'));
    expect(pool?.holds).toEqual({ [nodeA]: 1 });
    // node-a's own address and the shared gateway stayed.
    expect(await fx.addressesOf('kontena')).toEqual(['10.81.0.1', '10.81.128.2']);
  });

  it('refuses to forget this host itself', async () => {
    const error = await runCleanup({
      store: fx.store,
      docker: fixedView(),
      node: nodeA,
      forgetNode: nodeA,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CleanupError);
    expect((error as CleanupError).code).toBe('INVALID_ARGUMENT');
  });

  it("drops this host's hold on a pool still held by another host: the pool and its other addresses stay", async () => {
    const shared = poolId('shared');
    await fx.store.requestPool({ network: shared, node: nodeA });
    await fx.store.requestPool({ network: shared, node: nodeB });
    const a = await fx.store.requestAddress({ pool: shared, node: nodeA, kind: 'endpoint' });
    const b = await fx.store.requestAddress({ pool: shared, node: nodeB, kind: 'endpoint' });
    const report = await runCleanup({
      store: fx.store,
      docker: fixedView([]),
      node: nodeA,
      now: HOUR_LATER,
    });
    // kept: the gateway, recorded as node-a's (it made the pool), goes only with the pool.
    expect(counts(report)).toEqual({
      kept: 1,
      freed: 1,
      tooYoung: 0,
      holdsDropped: 1,
      poolsRemoved: 0,
      conflicts: 0,
    });
    const pool = await fx.store.getPool(shared);
    expect(pool?.holds).toEqual({ [nodeB]: 1 });
    const left = await fx.store.listAddresses({ pool: shared });
    expect(left.map((r) => [r.kind, r.node])).toEqual(
      expect.arrayContaining([
        ['gateway', nodeA],
        ['endpoint', nodeB],
      ]),
    );
    expect(left.some((r) => r.address.value === a.address.value)).toBe(false);
    expect(left.some((r) => r.address.value === b.address.value)).toBe(true);
  });

  it('drops the last hold of a pool no local network uses: pool, subnet and addresses go together', async () => {
    await fx.store.requestPool({ network: poolId('kontena0'), node: nodeA });
    await fx.store.requestAddress({ pool: poolId('kontena0'), node: nodeA, kind: 'endpoint' });
    const report = await runCleanup({
      store: fx.store,
      docker: fixedView([]),
      node: nodeA,
      now: HOUR_LATER,
    });
    expect(counts(report)).toMatchObject({ holdsDropped: 1, poolsRemoved: 1 });
    expect(report.actions.map((a) => [a.kind, a.outcome])).toEqual([
      ['free-address', 'done'],
      ['drop-hold', 'done'],
      ['remove-pool', 'done'],
    ]);
    expect(await fx.keyList()).toEqual(['v2/guard/subnets']);
  });

  it('a hold taken between the plan and the write wins: dropHold is guarded by the planned revision', async () => {
    const racing = poolId('racing');
    await fx.store.requestPool({ network: racing, node: nodeA, subnet: subnet('10.82.0.0/24') });
    const docker = fixedView([]);
    // After the plan, right before writing: `docker network create` on this host joins again
    // (Docker does not list the network until that finishes).
    docker.beforeSnapshot = async (call) => {
      if (call === 2) {
        await fx.store.requestPool({
          network: racing,
          node: nodeA,
          subnet: subnet('10.82.0.0/24'),
        });
      }
    };
    const report = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(counts(report)).toMatchObject({ holdsDropped: 0, poolsRemoved: 0, conflicts: 1 });
    expect(report.actions).toEqual([
      expect.objectContaining({ kind: 'drop-hold', outcome: 'changed', pool: racing }),
    ]);
    expect((await fx.store.getPool(racing))?.holds).toEqual({ [nodeA]: 2 });
    expect(await fx.keyList()).toEqual(
      expect.arrayContaining(['v2/pools/racing', 'v2/subnets/10.82.0.0/24']),
    );
  });

  it('keeps a hold younger than the grace period: a `docker network create` may still be running', async () => {
    await fx.store.requestPool({ network: poolId('creating'), node: nodeA });
    const young = await runCleanup({ store: fx.store, docker: fixedView([]), node: nodeA });
    expect(counts(young)).toMatchObject({ holdsDropped: 0, tooYoung: 1 });
    expect(young.actions[0]).toMatchObject({
      kind: 'keep-pool',
      reason: expect.stringContaining('less than the grace period'),
    });
    expect((await fx.store.getPool(poolId('creating')))?.holds).toEqual({ [nodeA]: 1 });
  });

  it('ages a hold on a pool another host made by earlier fences (the --interval loop keeps them)', async () => {
    await fx.store.requestPool({ network: poolId('joined'), node: nodeB });
    await fx.store.requestPool({ network: poolId('joined'), node: nodeA });
    const clock = new RevisionClock();
    // node-a has no record of its own in the pool to date its hold by: kept, however late.
    const first = await runCleanup({
      store: fx.store,
      docker: fixedView([]),
      node: nodeA,
      now: HOUR_LATER,
      revisionClock: clock,
    });
    expect(counts(first)).toMatchObject({ holdsDropped: 0, tooYoung: 1 });
    // That run's fence is now a sighting; once it is older than the grace, the hold goes.
    const later = () => HOUR_LATER() + 3_600_000;
    const second = await runCleanup({
      store: fx.store,
      docker: fixedView([]),
      node: nodeA,
      now: later,
      revisionClock: clock,
    });
    expect(counts(second)).toMatchObject({ holdsDropped: 1, poolsRemoved: 0 });
    expect((await fx.store.getPool(poolId('joined')))?.holds).toEqual({ [nodeB]: 1 });
  });

  it("keeps a live network's gateway and aux addresses, even ones recorded as endpoints", async () => {
    await fx.store.requestPool({
      network: poolId('kontena'),
      node: nodeA,
      subnet: subnet('10.81.0.0/16'),
      gateway: ip('10.81.0.254'),
    });
    await fx.store.requestAddress({
      pool: poolId('kontena'),
      node: nodeA,
      address: ip('10.81.0.7'),
      kind: 'aux',
    });
    // Docker 20.10 sends --ip and --aux-address alike (Options null): a plugin may record either kind.
    await fx.store.requestAddress({
      pool: poolId('kontena'),
      node: nodeA,
      address: ip('10.81.0.8'),
      kind: 'endpoint',
    });
    const docker = fixedView([
      bridgeNetwork({
        name: 'kontena',
        subnet: '10.81.0.0/16',
        gateway: '10.81.0.254',
        aux: ['10.81.0.7', '10.81.0.8'],
      }),
    ]);
    const report = await runCleanup({
      store: fx.store,
      docker,
      node: nodeA,
      now: HOUR_LATER,
      graceMs: 0,
    });
    expect(counts(report)).toMatchObject({ kept: 3, freed: 0, holdsDropped: 0 });
    expect(await fx.addressesOf('kontena')).toEqual(['10.81.0.254', '10.81.0.7', '10.81.0.8']);
  });

  it('removes a pool nobody holds, but never one a local network uses', async () => {
    for (const [name, net] of [
      ['orphan', '10.82.0.0/16'],
      ['inuse', '10.83.0.0/16'],
    ] as const) {
      await fx.store.requestPool({ network: poolId(name), node: nodeB, subnet: subnet(net) });
      // A lost hold (e.g. a host's double ReleasePool): delete the hold keys behind the store.
      await fx.client.delete().prefix(fx.keys.holds(poolId(name)));
    }
    const docker = fixedView([
      bridgeNetwork({ name: 'inuse', subnet: '10.83.0.0/16', ipamDriver: 'other-name' }),
    ]);
    const report = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER });
    expect(report.actions.map((a) => [a.kind, a.pool, a.outcome])).toEqual([
      ['keep-pool', 'inuse', 'skipped'],
      ['remove-pool', 'orphan', 'done'],
    ]);
    expect((await fx.store.listPools()).map((p) => p.id)).toEqual(['inuse']);
    expect((await fx.store.listReservations()).map((r) => r.pool)).toEqual(['inuse']);
  });

  it('--dry-run reports what it would do and writes nothing (etcd revision unchanged)', async () => {
    await seedKontena(['10.81.128.3']);
    await fx.store.requestPool({ network: poolId('gone'), node: nodeA });
    const before = await fx.store.revision();
    const report = await runCleanup({
      store: fx.store,
      docker: fixedView([kontenaNet([])]),
      node: nodeA,
      now: HOUR_LATER,
      dryRun: true,
    });
    expect(await fx.store.revision()).toBe(before);
    expect(report.dryRun).toBe(true);
    expect(counts(report)).toMatchObject({ freed: 1, holdsDropped: 1, poolsRemoved: 1 });
    expect(report.actions.every((a) => a.outcome === 'dry-run')).toBe(true);
  });

  it('Docker unreachable: a clear error before anything is written', async () => {
    await seedKontena(['10.81.128.3']);
    const before = await fx.store.revision();
    const { createDockerView } = await import('../src/docker-view.js');
    const docker = createDockerView({ socketPath: '/nonexistent/docker.sock' });
    const error = await runCleanup({ store: fx.store, docker, node: nodeA, now: HOUR_LATER }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CleanupError);
    expect((error as CleanupError).code).toBe('DOCKER_UNAVAILABLE');
    expect((error as Error).message).toContain('unix:///nonexistent/docker.sock');
    expect(await fx.store.revision()).toBe(before);
  });

  it('etcd unreachable: STORE_UNAVAILABLE naming the endpoint, within the deadline', async () => {
    const { freePort } = await import('@kontena-ipam/testing/ports');
    const dead = storeFixture(`http://127.0.0.1:${await freePort()}`, 500);
    try {
      const error = await runCleanup({ store: dead.store, docker: fixedView(), node: nodeA }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CleanupError);
      expect((error as CleanupError).code).toBe('STORE_UNAVAILABLE');
      // Translated at this boundary, with the store's error kept as the cause.
      expect((error as CleanupError).cause).toBeInstanceOf(StoreError);
      expect((error as Error).message).toMatch(/etcd unavailable at http:\/\/127\.0\.0\.1:\d+/);
      expect((error as Error).message).toContain('nothing was changed');
    } finally {
      await dead.close();
    }
  });
});
