/**
 * `kontena-ipam-cleanup --forget-after DURATION` on a real dockerd, the real plugin and real
 * etcd: hosts absent longer than DURATION are forgotten as --forget-node would, each fenced on
 * staying absent; a live host, one absent for less, and this host are never. Absence counts
 * from a clean stop (stoppedAt in etcd), else from this process's first sighting. The clock is
 * the CLI's injected `now` (an hour ahead stands for an hour of absence), nothing else is faked.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import type { CleanupReportJson } from '@kontena-ipam/cleanup';
import { type Budget, IpamStore, type NodeRegistration, parseNodeId } from '@kontena-ipam/store';
import { describe, expect, it } from 'vitest';
import { instanceInfo } from '../src/instance.js';
import { HOUR_LATER, type nodeA, nodeB, poolId, subnet } from './cleanup-fixtures.js';
import { useCleanupHost } from './cleanup-host.js';

const nodeC = parseNodeId('node-c');
const stack = useCleanupHost({ label: 'fga', fresh: true });

/** reports are the JSON lines of a --json run: this host's first, then each forgotten host's. */
function reports(stdout: string): CleanupReportJson[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as CleanupReportJson);
}

/** seed gives `nodes` an address each in one pool none of this host's networks use. */
async function seed(nodes: (typeof nodeA)[]): Promise<void> {
  const pool = poolId('far');
  for (const node of nodes) {
    await stack.host.fx.store.requestPool({ network: pool, node, subnet: subnet('10.87.0.0/24') });
    await stack.host.fx.store.requestAddress({ pool, node, kind: 'endpoint' });
  }
}

const FORGET = ['--forget-after', '30m', '--unsafe-grace', '0s', '--json'];

describe('kontena-ipam-cleanup --forget-after', () => {
  it('forgets a host stopped cleanly longer ago; keeps a live one, one stopped recently, and this host', async () => {
    await seed([nodeB, nodeC]);
    const b = stack.host.fx.store.register(nodeB, { ...instanceInfo(), hostname: 'vm-b' });
    const c = stack.host.fx.store.register(nodeC, { ...instanceInfo(), hostname: 'vm-c' });
    await Promise.all([b.serving(), c.serving()]);
    await b.stop(); // a clean stop: hosts/node-b records stoppedAt
    try {
      // node-b stopped seconds ago: not yet.
      const now = await stack.host.runCli(FORGET);
      expect(now.code).toBe(0);
      expect(reports(now.stdout)).toHaveLength(1);
      // node-b created the pool: it owns the gateway besides its address.
      const gateway = (await stack.host.fx.store.getPool(poolId('far')))?.gateway;
      if (!gateway) throw new Error('pool far has no gateway');
      expect(await stack.host.fx.addressesOf('far', nodeB)).toHaveLength(2);

      // An hour on: node-b's address and hold go; the pool's gateway stays (node-c holds the
      // pool); node-c is live and keeps everything; this host's report comes first.
      const later = await stack.host.runCli(FORGET, { now: HOUR_LATER });
      expect(later.code).toBe(0);
      const [self, forgot, ...more] = reports(later.stdout);
      expect(self).toMatchObject({ node: 'node-a' });
      expect(self?.forgetNode).toBeUndefined();
      expect(forgot).toMatchObject({ forgetNode: 'node-b', freed: 1, holdsDropped: 1 });
      expect(more).toEqual([]);
      expect(await stack.host.fx.addressesOf('far', nodeB)).toEqual([formatAddress(gateway)]);
      expect(await stack.host.fx.addressesOf('far', nodeC)).toHaveLength(1);
      expect((await stack.host.fx.store.getPool(poolId('far')))?.holds).toEqual({ [nodeC]: 1 });

      // Once forgotten it has nothing left to free (the gateway is the pool's): the next run
      // forgets nobody.
      expect(reports((await stack.host.runCli(FORGET, { now: HOUR_LATER })).stdout)).toHaveLength(
        1,
      );
    } finally {
      await c.stop();
    }
  });

  it('a host that never stopped cleanly is counted from the first run that saw it absent', async () => {
    await seed([nodeB]); // node-b owns an address and never registered (as after a crash)
    const started = Date.now();
    // The first runs see real time; from 1.5 s on the clock reads an hour later.
    const now = () => (Date.now() - started > 1500 ? Date.now() + 3_600_000 : Date.now());
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 4500);
    const run = await stack.host.runCli(['--interval', '1s', ...FORGET], {
      now,
      signal: stop.signal,
    });
    clearTimeout(timer);
    expect(run.code).toBe(0);
    const lines = reports(run.stdout);
    const forgot = lines.filter((r) => r.forgetNode === 'node-b');
    expect(forgot).toHaveLength(1);
    expect(forgot[0]).toMatchObject({ freed: 1, holdsDropped: 1, poolsRemoved: 1 });
    // Not on the first run (a single JSON line), however long node-b had been gone before.
    expect(lines.indexOf(forgot[0] as CleanupReportJson)).toBeGreaterThan(1);
    expect(await stack.host.fx.addressesOf('far')).toEqual([]);
  });

  /**
   * Where node-b registers again, in a real store on the same etcd: right after the host list
   * is read (the liveness check before the forget refuses), or right after the forget's own
   * run read its fence revision (the store's fence refuses its first write: NODE_LIVE). The
   * second revision() is the forget's: the first is this host's own run.
   */
  const RACES = [
    { when: 'the host list is read', hook: 'listHosts' },
    { when: 'the forget has started', hook: 'revision' },
  ] as const;

  it.each(RACES)(
    'a host that comes back after $when is kept: its fence refuses',
    async ({ hook }) => {
      await seed([nodeB]);
      const gone = stack.host.fx.store.register(nodeB, { ...instanceInfo(), hostname: 'vm-b' });
      await gone.serving();
      await gone.stop();
      const fx = stack.host.fx;
      let back: NodeRegistration | undefined;
      const comeBack = async () => {
        back = fx.store.register(nodeB, { ...instanceInfo(), hostname: 'vm-b2' });
        await back.serving();
      };
      class Racing extends IpamStore {
        #revisions = 0;
        override async listHosts(budget?: Budget) {
          const hosts = await super.listHosts(budget);
          if (hook === 'listHosts') await comeBack();
          return hosts;
        }
        override async revision() {
          const revision = await super.revision();
          if (hook === 'revision' && ++this.#revisions === 2) await comeBack();
          return revision;
        }
      }
      try {
        const run = await stack.host.runCli(['--forget-after', '30m', '--unsafe-grace', '0s'], {
          now: HOUR_LATER,
          store: async () =>
            new Racing({
              client: fx.client,
              prefix: fx.prefix,
              endpoint: stack.endpoint,
              deadlineMs: 2000,
            }),
        });
        expect(run.code).toBe(0);
        expect(run.stdout).toContain('forgetting host node-b: absent for 1h');
        expect(run.stdout).toContain('node-b came back: kept');
        expect(await fx.addressesOf('far', nodeB)).toHaveLength(2);
        expect((await fx.store.getPool(poolId('far')))?.holds).toEqual({ [nodeB]: 1 });
      } finally {
        await back?.stop();
      }
    },
  );

  it('bad flags exit 2 and write nothing: below the floor, or with --forget-node', async () => {
    await seed([nodeB]);
    const before = await stack.host.fx.keyList();
    const short = await stack.host.runCli(['--forget-after', '5m']);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('--forget-after 5m is below 10m');
    const both = await stack.host.runCli([
      '--forget-after',
      '1h',
      '--node',
      'node-b',
      '--forget-node',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(
      '--forget-after and --node NAME --forget-node exclude each other',
    );
    expect(await stack.host.fx.keyList()).toEqual(before);
  });
});
