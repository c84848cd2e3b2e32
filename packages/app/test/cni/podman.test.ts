/**
 * A real runtime end to end (issue 21): Podman 4.3.1 with its CNI backend starts containers on
 * a macvlan conflist whose IPAM is kontena-ipam (the client installed by `kontena-ipam
 * install-cni`, the host's own kontena-ipam serving it). Addresses come from the pool in etcd,
 * recorded for this host and the container; `--ip` is honoured; the containers reach each other;
 * `podman rm`, and a container's own exit, free the address, and the last one the pool.
 *
 * Addresses: 10.96.0.0/24 exists only inside this test's namespaces.
 */
import { startEtcd } from '@kontena-ipam/testing/etcd';
import { type SharedL2, startSharedL2 } from '@kontena-ipam/testing/shared-l2';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKeys } from '../support/etcd-keys.js';
import { type PodmanCniHost, startPodmanCniHost } from '../support/podman-cni-host.js';

const SUBNET = '10.96.0.0/24';
const MASTER = 'eth1';
const NODE = 'podman-a';

let etcd: Awaited<ReturnType<typeof startEtcd>> | undefined;
let client: Etcd3 | undefined;
let l2: SharedL2 | undefined;
let host: PodmanCniHost | undefined;

beforeAll(async () => {
  etcd = await startEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
  l2 = startSharedL2('pmcni');
  host = await startPodmanCniHost({ node: NODE, etcdEndpoint: etcd.endpoint, master: MASTER });
  l2.connect({ netns: host.podman.netns, ifname: MASTER });
});
afterAll(async () => {
  try {
    await host?.stop();
  } finally {
    l2?.stop();
    client?.close();
    await etcd?.stop();
  }
});

function running(): { host: PodmanCniHost; client: Etcd3 } {
  if (!host || !client) throw new Error('the Podman CNI host did not start (see beforeAll)');
  return { host, client };
}

/** addresses maps each address of pool `pool` in etcd to its record. */
async function addresses(pool: string): Promise<Record<string, Record<string, unknown>>> {
  const keys = await storeKeys(running().client, `addresses/${pool}/`);
  const out: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(keys)) {
    out[key.slice(`addresses/${pool}/`.length)] = value as Record<string, unknown>;
  }
  return out;
}

describe('Podman with kontena-ipam as the CNI IPAM of a macvlan conflist', () => {
  it('two containers get addresses of the pool (--ip honoured), recorded for this host and container; they ping each other; podman rm frees each, the last the pool', async () => {
    const { host, client } = running();
    host.writeLan('pmlan', { subnet: SUBNET });
    const a = await host.podman.runSleeper('pmlan');
    const b = await host.podman.runSleeper('pmlan', ['--ip', '10.96.0.50']);
    const ipA = await host.podman.containerIp(a, 'pmlan');
    const ipB = await host.podman.containerIp(b, 'pmlan');
    expect(ipA).toMatch(/^10\.96\.0\.\d+$/);
    expect(ipB).toBe('10.96.0.50');
    expect(ipA).not.toBe(ipB);

    const records = await addresses('pmlan');
    expect(records[ipA]).toMatchObject({
      node: NODE,
      kind: 'cni',
      attachment: { container: a, ifname: 'eth0' },
    });
    expect(records[ipB]).toMatchObject({
      node: NODE,
      kind: 'cni',
      attachment: { container: b, ifname: 'eth0' },
    });
    expect(Object.keys(await storeKeys(client, `attachments/pmlan/${NODE}/`)).sort()).toEqual(
      [`attachments/pmlan/${NODE}/${a}/eth0`, `attachments/pmlan/${NODE}/${b}/eth0`].sort(),
    );
    // The pool's gateway, as Docker's pool would have it, is in Podman's view of the network.
    const gateway = await host.podman.podmanOk(
      'inspect',
      '--format',
      '{{(index .NetworkSettings.Networks "pmlan").Gateway}}',
      a,
    );
    expect(gateway).toBe('10.96.0.1');

    const ping = await host.podman.podman(['exec', a, 'ping', '-c', '1', '-W', '2', ipB]);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain('1 packets received');

    await host.podman.podmanOk('rm', '--force', '--time', '0', a);
    const afterA = await addresses('pmlan');
    expect(afterA[ipA]).toBeUndefined();
    expect(afterA[ipB]).toMatchObject({ node: NODE, kind: 'cni' });

    // The last attachment anywhere gives the pool back, as the last `docker network rm` does.
    await host.podman.podmanOk('rm', '--force', '--time', '0', b);
    expect(await storeKeys(client, 'pools/pmlan')).toEqual({});
    expect(await storeKeys(client, 'attachments/')).toEqual({});
    expect(await addresses('pmlan')).toEqual({});
  });

  it("a container that exits by itself gives its address back (conmon's cleanup runs our DEL)", async () => {
    const { host, client } = running();
    host.writeLan('pmexit', { subnet: '10.96.1.0/24' });
    const id = await host.podman.podmanOk(
      'run',
      '-d',
      '--network',
      'pmexit',
      host.podman.image,
      'sh',
      '-c',
      'sleep 1',
    );
    const until = Date.now() + 30_000;
    let status = '';
    let left: Record<string, unknown> = {};
    while (Date.now() < until) {
      status = await host.podman.podmanOk('inspect', '--format', '{{.State.Status}}', id);
      left = await storeKeys(client, 'attachments/pmexit/');
      if (status === 'exited' && Object.keys(left).length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe('exited');
    expect(left).toEqual({});
    expect(await storeKeys(client, 'pools/pmexit')).toEqual({});
    await host.podman.podmanOk('rm', id);
  });

  it('a conflist whose subnet disagrees with the pool fails podman run with a message naming both, and writes nothing', async () => {
    const { host, client } = running();
    host.writeLan('pmclash', { subnet: '10.96.2.0/24' });
    const first = await host.podman.runSleeper('pmclash');
    const before = await client.getAll().prefix('/kontena/ipam/v2/').keys();
    host.writeLan('pmclash-other', { network: 'pmclash', subnet: '10.96.3.0/24' });
    const clash = await host.podman.podman([
      'run',
      '-d',
      '--network',
      'pmclash-other',
      host.podman.image,
      'sleep',
      '600',
    ]);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toContain('10.96.3.0/24');
    expect(clash.stderr).toContain('10.96.2.0/24');
    expect((await client.getAll().prefix('/kontena/ipam/v2/').keys()).sort()).toEqual(
      before.sort(),
    );
    await host.podman.podmanOk('rm', '--force', '--time', '0', first);
  });
});
