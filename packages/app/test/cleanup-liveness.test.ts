/**
 * Cleanup judges by liveness (commands/cleanup-liveness.ts), on a real etcd: it refuses, and
 * frees nothing, when this host's NODE_ID has no live instance or its live instance runs on
 * another machine (a clone), and `--forget-node` refuses while the host is registered. Each
 * refusal comes before Docker is asked anything, so no daemon is needed here; the runs that do
 * clean are cleanup-e2e.test.ts's.
 */
import { startEtcd } from '@kontena-ipam/testing/etcd';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCleanupCli } from '../src/commands/cleanup.js';
import { instanceInfo } from '../src/instance.js';
import { HOUR_LATER, nodeA, nodeB, poolId, storeFixture, subnet } from './cleanup-fixtures.js';
import { collector } from './cleanup-host.js';

let etcd: Awaited<ReturnType<typeof startEtcd>>;
beforeAll(async () => {
  etcd = await startEtcd();
}, 60_000);
afterAll(async () => {
  await etcd?.stop();
});

/** cleanup runs the CLI as node-a on this machine against the fixture's store. */
async function cleanup(fx: ReturnType<typeof storeFixture>, argv: string[]) {
  const stdout = collector();
  const stderr = collector();
  const code = await runCleanupCli(argv, {
    store: async () => fx.store,
    node: nodeA,
    bootId: instanceInfo().bootId,
    // Never reached: each case here is refused before Docker is asked.
    env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    stdout,
    stderr,
    logger: pino({ level: 'silent' }),
    now: HOUR_LATER,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** seed gives node-a and node-b an address each in one pool (node-b's registered as `bootId`). */
async function seed(fx: ReturnType<typeof storeFixture>) {
  const net = poolId('liveness');
  await fx.store.requestPool({ network: net, node: nodeA, subnet: subnet('10.93.0.0/24') });
  await fx.store.requestPool({ network: net, node: nodeB, subnet: subnet('10.93.0.0/24') });
  await fx.store.requestAddress({ pool: net, node: nodeA, kind: 'endpoint' });
  await fx.store.requestAddress({ pool: net, node: nodeB, kind: 'endpoint' });
  return net;
}

describe('cleanup judges by liveness', () => {
  it('--forget-node of a live host exits 1 naming it and its instance, and frees nothing', async () => {
    const fx = storeFixture(etcd.endpoint);
    try {
      await seed(fx);
      const b = fx.store.register(
        nodeB,
        { ...instanceInfo(), hostname: 'vm-b' },
        { ttlSeconds: 5 },
      );
      await b.serving();
      const before = await fx.keyList();
      const r = await cleanup(fx, ['--node', 'node-b', '--forget-node']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('--forget-node node-b: that host is live');
      expect(r.stderr).toContain(`instance ${b.instance} on host vm-b`);
      expect(await fx.keyList()).toEqual(before);
      expect(await fx.addressesOf('liveness', nodeB)).toHaveLength(1);
      // Gone for good (stopped): the forget gets past liveness to Docker (which this test does
      // not run: cleanup-e2e.test.ts forgets a host end to end).
      await b.stop();
      const gone = await cleanup(fx, ['--node', 'node-b', '--forget-node']);
      expect(gone.stderr).not.toContain('is live');
      expect(gone.stderr).toContain('Docker unreachable');
      expect(await fx.addressesOf('liveness', nodeB)).toHaveLength(1);
    } finally {
      await fx.close();
    }
  });

  it('refuses where NODE_ID is served from another machine (a clone) or by nobody, and frees nothing', async () => {
    const fx = storeFixture(etcd.endpoint, 2000, { registerNodeA: false });
    try {
      const clone = fx.store.register(
        nodeA,
        { ...instanceInfo(), hostname: 'clone-of-a', bootId: 'another-machine-boot-id' },
        { ttlSeconds: 5 },
      );
      await clone.serving();
      await seed(fx);
      const before = await fx.addressesOf('liveness');
      const r = await cleanup(fx, []);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `NODE_ID node-a is served by instance ${clone.instance} on host clone-of-a`,
      );
      expect(r.stderr).toContain('which is not this machine');
      expect(await fx.addressesOf('liveness')).toEqual(before);

      await clone.stop();
      const none = await cleanup(fx, []);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('NODE_ID node-a has no live kontena-ipam');
      expect(await fx.addressesOf('liveness')).toEqual(before);
    } finally {
      await fx.close();
    }
  });
});
