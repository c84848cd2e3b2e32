/**
 * The issue's safety rules end to end: a real dockerd, the real kontena-ipam plugin serving
 * it, real etcd, and kontena-ipam-cleanup's CLI. Leaks are made the way they happen in the
 * field: the plugin is down while Docker removes containers and networks, so Docker's
 * ReleaseAddress/ReleasePool calls fail and are never retried.
 */
import { formatAddress, parseAddress } from '@kontena-ipam/cidr';
import { type CleanupReportJson, createDockerView, runCleanup } from '@kontena-ipam/cleanup';
import { kontenaNetworkArgs } from '@kontena-ipam/testing/kontena-network';
import { describe, expect, it } from 'vitest';
import { HOUR_LATER, nodeA, nodeB, poolId, subnet } from './cleanup-fixtures.js';
import { useCleanupHost } from './cleanup-host.js';

const stack = useCleanupHost({ fresh: true });

/** Each leak costs Docker's plugin client ~15 s of retries per failed release call. */
const E2E_TIMEOUT = 300_000;

const docker = (args: string[]) => stack.host.daemon.dockerOk(args, { timeoutMs: 120_000 });

async function network(name: string, extra: string[] = []): Promise<void> {
  await docker(kontenaNetworkArgs(name, extra));
}

async function container(name: string, net: string, extra: string[] = []): Promise<string> {
  await docker([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    net,
    ...extra,
    stack.host.image,
    'sleep',
    '3600',
  ]);
  return await stack.host.containerIp(name, net);
}

/** leak removes containers and networks while the plugin is down: Docker's releases fail. */
async function leak(containers: string[], networks: string[] = []): Promise<void> {
  await stack.host.stopPlugin();
  try {
    await Promise.all(containers.map((c) => docker(['rm', '-f', c])));
    for (const n of networks) await docker(['network', 'rm', n]);
  } finally {
    await stack.host.startPlugin();
  }
}

function json(stdout: string): CleanupReportJson {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as CleanupReportJson;
}

const addresses = (pool: string, node?: typeof nodeA) => stack.host.fx.addressesOf(pool, node);

describe('kontena-ipam-cleanup against a real dockerd and the real plugin', () => {
  it(
    'finds the leaks Docker left with the plugin down, and frees exactly those',
    async () => {
      await network('kontena', ['--subnet', '10.81.0.0/16', '--ip-range', '10.81.128.0/17']);
      await network('gone');
      const keep = await container('keep', 'kontena');
      const leaked1 = await container('leak1', 'kontena');
      const leaked2 = await container('leak2', 'gone');
      // Another host's addresses in the same pool: never ours to free.
      await stack.host.fx.store.requestPool({
        network: poolId('kontena'),
        node: nodeB,
        subnet: subnet('10.81.0.0/16'),
        ipRange: subnet('10.81.128.0/17'),
      });
      const b = await stack.host.fx.store.requestAddress({
        pool: poolId('kontena'),
        node: nodeB,
        kind: 'endpoint',
      });
      const goneSubnet = (await stack.host.fx.store.getPool(poolId('gone')))?.subnet;
      expect(goneSubnet).toBeDefined();

      await leak(['leak1', 'leak2'], ['gone']);
      // Docker's releases did fail: etcd still has both addresses and the pool.
      expect(await addresses('kontena', nodeA)).toContain(leaked1);
      expect(await addresses('gone', nodeA)).toContain(leaked2);

      const run = await stack.host.runCli(['--unsafe-grace', '0s', '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = json(run.stdout);
      expect(
        report.actions
          .filter((a) => a.kind === 'free-address')
          .map((a) => a.address)
          .sort(),
      ).toEqual([leaked1, leaked2].sort());
      expect(report).toMatchObject({
        freed: 2,
        holdsDropped: 1,
        poolsRemoved: 1,
        conflicts: 0,
        dryRun: false,
        node: 'node-a',
      });

      expect(await addresses('kontena', nodeA)).toEqual(['10.81.0.1', keep].sort());
      expect(await addresses('kontena', nodeB)).toEqual([formatAddress(b.address)]);
      expect(await stack.host.fx.store.getPool(poolId('gone'))).toBeUndefined();
      expect((await stack.host.fx.store.listReservations()).map((r) => r.pool)).toEqual([
        'kontena',
      ]);
      expect((await stack.host.fx.store.getPool(poolId('kontena')))?.holds).toEqual({
        [nodeA]: 1,
        [nodeB]: 1,
      });

      // Docker still works on what was kept, and a second run finds nothing.
      await docker(['exec', 'keep', 'true']);
      const again = await stack.host.runCli(['--unsafe-grace', '0s']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('nothing to do');
      await docker(['rm', '-f', 'keep']);
      await docker(['network', 'rm', 'kontena']);
    },
    E2E_TIMEOUT,
  );

  it(
    'an address allocated during a run (after the fence) survives, even with no grace',
    async () => {
      await network('busy', ['--subnet', '10.84.0.0/24']);
      const real = createDockerView({ socketPath: stack.host.daemon.socket });
      let late = '';
      // A container starts while cleanup is looking at Docker: after the fence, and after
      // the snapshot that would have shown it.
      const view = {
        endpoint: real.endpoint,
        async snapshot() {
          const snapshot = await real.snapshot();
          if (!late) late = await container('late', 'busy');
          return snapshot;
        },
      };
      const report = await runCleanup({
        store: stack.host.fx.store,
        docker: view,
        node: nodeA,
        graceMs: 0,
        now: HOUR_LATER,
      });
      expect(late).not.toBe('');
      expect(report.freed).toBe(0);
      expect(report.actions).toEqual([
        expect.objectContaining({
          kind: 'skip-address',
          address: late,
          reason: expect.stringContaining('after the fence'),
        }),
      ]);
      expect(await addresses('busy', nodeA)).toContain(late);
      await docker(['rm', '-f', 'late']);
      await docker(['network', 'rm', 'busy']);
    },
    E2E_TIMEOUT,
  );

  it(
    'containers started and removed while cleanup runs over and over keep their addresses',
    async () => {
      await network('churn', ['--subnet', '10.85.0.0/24']);
      // Old leaks for the concurrent runs to free.
      await container('old1', 'churn');
      await container('old2', 'churn');
      await leak(['old1', 'old2']);
      await new Promise((r) => setTimeout(r, 3000)); // the leaks outgrow the 2s grace below
      let stop = false;
      const runs: string[] = [];
      const cleaner = (async () => {
        while (!stop) {
          const r = await stack.host.runCli(['--unsafe-grace', '2s']);
          runs.push(`${r.code}${r.code === 0 ? '' : `: ${r.stderr}`}`);
          // Let the churn's I/O in, whatever a run did.
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      try {
        for (let i = 0; i < 6; i++) {
          await container(`churn${i}`, 'churn');
          if (i % 2 === 1) await docker(['rm', '-f', `churn${i - 1}`]);
        }
      } finally {
        stop = true;
        await cleaner;
      }
      expect(runs.length).toBeGreaterThan(0);
      expect(runs.filter((c) => c !== '0')).toEqual([]);
      const running = ['churn1', 'churn3', 'churn5'];
      const ips = await Promise.all(running.map((c) => stack.host.containerIp(c, 'churn')));
      // One more run (past the grace) settles the old leaks; the running containers keep theirs.
      const final = await stack.host.runCli(['--unsafe-grace', '2s']);
      expect(final.code).toBe(0);
      expect(await addresses('churn', nodeA)).toEqual(['10.85.0.1', ...ips].sort());
      await docker(['rm', '-f', ...running]);
      await docker(['network', 'rm', 'churn']);
    },
    E2E_TIMEOUT,
  );

  it(
    'a pool another host holds keeps its addresses when this host drops its hold; --forget-node then releases that host',
    async () => {
      await network('shared');
      const mine = await container('mine', 'shared');
      await stack.host.fx.store.requestPool({ network: poolId('shared'), node: nodeB });
      const theirs = await stack.host.fx.store.requestAddress({
        pool: poolId('shared'),
        node: nodeB,
        kind: 'endpoint',
      });
      const pool = await stack.host.fx.store.getPool(poolId('shared'));
      const gateway = pool?.gateway;
      await leak(['mine'], ['shared']);

      const run = await stack.host.runCli(['--unsafe-grace', '0s', '--json']);
      expect(run.code).toBe(0);
      expect(json(run.stdout)).toMatchObject({ freed: 1, holdsDropped: 1, poolsRemoved: 0 });
      const after = await stack.host.fx.store.getPool(poolId('shared'));
      expect(after?.holds).toEqual({ [nodeB]: 1 });
      const left = await stack.host.fx.store.listAddresses({ pool: poolId('shared') });
      expect(left.map((r) => r.address.value).sort()).toEqual(
        [gateway?.value, theirs.address.value].sort(),
      );
      expect(left.some((r) => r.address.value === parseAddress(mine).value)).toBe(false);

      // Without --forget-node, node-b's address stays on every run.
      expect((await stack.host.runCli(['--unsafe-grace', '0s'])).stdout).toContain('nothing to do');
      expect(await addresses('shared', nodeB)).toHaveLength(1);

      const usage = await stack.host.runCli(['--node', 'node-b', '--unsafe-grace', '0s']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain('--node NAME and --forget-node go together');

      const forget = await stack.host.runCli([
        '--node',
        'node-b',
        '--forget-node',
        '--unsafe-grace',
        '0s',
        '--json',
      ]);
      expect(forget.code).toBe(0);
      expect(json(forget.stdout)).toMatchObject({
        node: 'node-b',
        forgetNode: 'node-b',
        freed: 1,
        holdsDropped: 1,
        poolsRemoved: 1,
      });
      // What is left: the subnet guard and node-a's registration (its plugin still runs).
      expect(await stack.host.fx.keyList()).toEqual([
        'v2/guard/subnets',
        'v2/hosts/node-a',
        'v2/nodes/node-a',
      ]);
    },
    E2E_TIMEOUT,
  );

  it(
    'the gateway, aux addresses and --ip endpoints of a live network survive',
    async () => {
      // Default gateway: the plugin refuses --gateway other than the pool's (reported to the lead).
      await network('statics', ['--subnet', '10.86.0.0/24', '--aux-address', 'printer=10.86.0.7']);
      await container('fixed', 'statics', ['--ip', '10.86.0.20']);
      const dynamic = await container('dyn', 'statics');
      const before = await addresses('statics');
      expect(before).toEqual(['10.86.0.1', '10.86.0.20', '10.86.0.7', dynamic].sort());
      const run = await stack.host.runCli(['--unsafe-grace', '0s', '--json']);
      expect(run.code).toBe(0);
      expect(json(run.stdout)).toMatchObject({
        freed: 0,
        holdsDropped: 0,
        poolsRemoved: 0,
        kept: 4,
      });
      expect(await addresses('statics')).toEqual(before);
      await docker(['rm', '-f', 'fixed', 'dyn']);
      await docker(['network', 'rm', 'statics']);
    },
    E2E_TIMEOUT,
  );

  it(
    '--dry-run reports the leaks and writes nothing: the etcd revision is unchanged',
    async () => {
      await network('dry');
      const leaked = await container('dryc', 'dry');
      await leak(['dryc'], ['dry']);
      const before = await stack.host.fx.store.revision();
      const run = await stack.host.runCli(['--dry-run', '--unsafe-grace', '0s']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`would free        dry ${leaked} [node-a]`);
      expect(run.stdout).toContain('would remove pool dry');
      expect(run.stdout).toContain('dry run: nothing written');
      expect(await stack.host.fx.store.revision()).toBe(before);
      // The real run then does what the dry run said.
      const real = await stack.host.runCli(['--unsafe-grace', '0s', '--json']);
      expect(json(real.stdout)).toMatchObject({ freed: 1, holdsDropped: 1, poolsRemoved: 1 });
    },
    E2E_TIMEOUT,
  );

  it(
    'Docker or etcd unreachable: a clear error, exit 1, nothing written',
    async () => {
      await network('still');
      await container('stillc', 'still');
      await leak(['stillc']);
      const before = await stack.host.fx.store.revision();

      const noDocker = await stack.host.runCli(['--unsafe-grace', '0s'], {
        env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      });
      expect(noDocker.code).toBe(1);
      expect(noDocker.stderr).toContain('Docker unreachable at unix:///nonexistent/docker.sock');
      expect(noDocker.stdout).toBe('');
      expect(await stack.host.fx.store.revision()).toBe(before);

      const { freePort } = await import('@kontena-ipam/testing/ports');
      const { storeFixture } = await import('./cleanup-fixtures.js');
      const dead = storeFixture(`http://127.0.0.1:${await freePort()}`, 500);
      try {
        const noEtcd = await stack.host.runCli(['--unsafe-grace', '0s', '--json'], {
          store: async () => dead.store,
        });
        expect(noEtcd.code).toBe(1);
        expect(noEtcd.stderr).toMatch(
          /etcd unavailable at http:\/\/127\.0\.0\.1:\d+.*nothing was changed/,
        );
        expect(JSON.parse(noEtcd.stdout)).toMatchObject({
          error: { code: 'STORE_UNAVAILABLE', kind: 'unavailable' },
        });
      } finally {
        await dead.close().catch(() => undefined);
      }
      expect(await stack.host.fx.store.revision()).toBe(before);
      await docker(['network', 'rm', 'still']);
    },
    E2E_TIMEOUT,
  );
});
