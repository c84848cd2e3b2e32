/**
 * Leaked CNI attachments end to end: a real dockerd and the plugin (cleanup needs Docker's view
 * too), a real etcd, attachments made as a CNI ADD makes them, with real network namespaces
 * (`ip netns add`) as their containers' netns. kontena-ipam-cleanup frees the attachment whose
 * netns is gone (its container is; the runtime never sent DEL), keeps the one whose netns is
 * there, and leaves one whose netns folder it cannot see.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import type { CleanupReportJson } from '@kontena-ipam/cleanup';
import { parseContainerId, parseIfName } from '@kontena-ipam/store';
import { makeNetns } from '@kontena-ipam/testing/cni';
import { describe, expect, it } from 'vitest';
import { nodeA, poolId, subnet } from './cleanup-fixtures.js';
import { useCleanupHost } from './cleanup-host.js';

const stack = useCleanupHost({ label: 'ccni' });

const ref = (container: string) => ({
  container: parseContainerId(container),
  ifname: parseIfName('eth0'),
});

describe('kontena-ipam-cleanup and CNI attachments', () => {
  it('frees an attachment whose netns is gone, keeps a live one, leaves one it cannot judge', async () => {
    const live = makeNetns('live');
    const gone = makeNetns('gone');
    const attach = (container: string, netns: string) =>
      stack.host.fx.store.attach({
        network: poolId('podnet'),
        node: nodeA,
        ref: ref(container),
        netns,
        subnet: subnet('10.86.0.0/24'),
      });
    try {
      const a = await attach('live0', live.path);
      const b = await attach('gone0', gone.path);
      const c = await attach('unseen0', '/nonexistent-netns-folder/ns0');
      gone.remove(); // the container went, and its runtime never sent DEL

      const run = await stack.host.runCli(['--unsafe-grace', '0s', '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as CleanupReportJson;
      expect(report.freed).toBe(1);
      const freed = report.actions.filter((x) => x.outcome === 'done');
      expect(freed).toEqual([
        expect.objectContaining({
          kind: 'free-address',
          address: 'cni:gone0/eth0',
          node: 'node-a',
        }),
      ]);
      expect(freed[0]?.reason).toContain(`its netns ${gone.path} is gone`);
      expect(report.actions.find((x) => x.address === 'cni:unseen0/eth0')?.reason).toContain(
        'cannot be looked at here',
      );

      // In etcd: the live and the unjudged attachments and their addresses stay; the gone one went.
      const left = await stack.host.fx.store.listAttachments({
        pool: poolId('podnet'),
        node: nodeA,
      });
      expect(left.map((x) => x.ref.container).sort()).toEqual(['live0', 'unseen0']);
      const addresses = await stack.host.fx.addressesOf('podnet', nodeA);
      expect(addresses).toContain(formatAddress(a.address));
      expect(addresses).toContain(formatAddress(c.address));
      expect(addresses).not.toContain(formatAddress(b.address));

      // The live one's container goes too: the next run frees it.
      live.remove();
      const again = await stack.host.runCli(['--unsafe-grace', '0s', '--json']);
      expect(again.code).toBe(0);
      expect((JSON.parse(again.stdout) as CleanupReportJson).freed).toBe(1);
      const after = await stack.host.fx.store.listAttachments({
        pool: poolId('podnet'),
        node: nodeA,
      });
      expect(after.map((x) => x.ref.container)).toEqual(['unseen0']);
    } finally {
      live.remove();
      gone.remove();
    }
  }, 300_000);
});
