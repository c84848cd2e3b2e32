/**
 * The mixed fleet (issue 21's headline): a Docker host (a real dockerd with kontena-ipam as its
 * IPAM driver) and a Podman host (CNI backend, kontena-ipam as the conflist's IPAM) on one L2
 * (testing/shared-l2.ts: a bridge in a namespace of its own, a veth from each host), one
 * macvlan network name on both, one etcd. Each host runs its own kontena-ipam with its own
 * NODE_ID. The containers get distinct addresses from the one pool and reach each other; with
 * each runtime's own IPAM (Docker's built-in, host-local) both hand out the same address.
 *
 * Addresses: 10.95.0.0/24 exists only inside this test's namespaces.
 */

import { join } from 'node:path';
import { hostLocalIpam, macvlanConflist } from '@kontena-ipam/testing/cni-config';
import { macvlanNetworkArgs } from '@kontena-ipam/testing/kontena-network';
import { type SharedL2, startSharedL2 } from '@kontena-ipam/testing/shared-l2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerIp, runSleeper, useE2eStack } from '../support/e2e-stack.js';
import { poolRecord, storeKeys } from '../support/etcd-keys.js';
import { type PodmanCniHost, startPodmanCniHost } from '../support/podman-cni-host.js';

const SUBNET = '10.95.0.0/24';
/** DOCKER_LAN and PODMAN_LAN are each host's veth on the shared L2 (the macvlan parent). */
const DOCKER_LAN = 'lan0';
const PODMAN_LAN = 'eth1';

const stack = useE2eStack(['docker-host']);
let l2: SharedL2 | undefined;
let podman: PodmanCniHost | undefined;

beforeAll(async () => {
  l2 = startSharedL2('fleet');
  const netns = stack.host.daemon.netns;
  if (!netns) throw new Error('the Docker host has no network namespace');
  l2.connect({ netns, ifname: DOCKER_LAN });
  podman = await startPodmanCniHost({
    node: 'podman-host',
    etcdEndpoint: stack.etcd.endpoint,
    master: PODMAN_LAN,
  });
  l2.connect({ netns: podman.podman.netns, ifname: PODMAN_LAN });
});
// Registered after useE2eStack's hooks, so (after-hooks run as a stack) the Podman host and the
// L2 go before the Docker host and etcd.
afterAll(async () => {
  try {
    await podman?.stop();
  } finally {
    l2?.stop();
  }
});

function podmanHost(): PodmanCniHost {
  if (!podman) throw new Error('the Podman host did not start (see beforeAll)');
  return podman;
}

/** records maps each address of pool `pool` to its record in etcd. */
async function records(pool: string): Promise<Record<string, Record<string, unknown>>> {
  const keys = await storeKeys(stack.client, `addresses/${pool}/`);
  const out: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(keys)) {
    out[key.slice(`addresses/${pool}/`.length)] = value as Record<string, unknown>;
  }
  return out;
}

describe('a Docker host and a Podman host on one L2 and one network name', () => {
  it('draw distinct addresses from one pool, and their containers ping each other both ways', async () => {
    const docker = stack.host;
    const pm = podmanHost();
    await docker.docker(
      ...macvlanNetworkArgs('fleet', { parent: DOCKER_LAN, ipam: 'kontena-ipam' }, [
        '--subnet',
        SUBNET,
      ]),
    );
    pm.writeLan('fleet', { subnet: SUBNET });

    const d1 = await runSleeper(docker, 'fleet');
    const p1 = await pm.podman.runSleeper('fleet');
    const d2 = await runSleeper(docker, 'fleet');
    const p2 = await pm.podman.runSleeper('fleet');
    const dockerIps = [
      await containerIp(docker, d1, 'fleet'),
      await containerIp(docker, d2, 'fleet'),
    ];
    const podmanIps = [
      await pm.podman.containerIp(p1, 'fleet'),
      await pm.podman.containerIp(p2, 'fleet'),
    ];
    const all = [...dockerIps, ...podmanIps];
    for (const ip of all) expect(ip).toMatch(/^10\.95\.0\.\d+$/);
    expect(new Set(all).size).toBe(4);

    // One pool, held by both hosts; each address recorded for the host that took it.
    const pool = await poolRecord(stack.client, 'fleet');
    expect(pool?.subnet).toBe(SUBNET);
    expect(Object.keys(pool?.holds ?? {}).sort()).toEqual(['docker-host', 'podman-host']);
    const held = await records('fleet');
    for (const ip of dockerIps)
      expect(held[ip]).toMatchObject({ node: 'docker-host', kind: 'endpoint' });
    expect(held[podmanIps[0] as string]).toMatchObject({
      node: 'podman-host',
      kind: 'cni',
      attachment: { container: p1, ifname: 'eth0' },
    });
    expect(held[podmanIps[1] as string]).toMatchObject({ node: 'podman-host', kind: 'cni' });
    // Both runtimes hand their containers the pool's one gateway.
    const podmanGateway = await pm.podman.podmanOk(
      'inspect',
      '--format',
      '{{(index .NetworkSettings.Networks "fleet").Gateway}}',
      p1,
    );
    const dockerGateway = await docker.docker(
      'container',
      'inspect',
      '--format',
      '{{(index .NetworkSettings.Networks "fleet").Gateway}}',
      d1,
    );
    expect(podmanGateway).toBe(pool?.gateway);
    expect(dockerGateway).toBe(pool?.gateway);

    // Podman's macvlan, its host's veth, the bridge, the Docker host's veth, Docker's macvlan.
    const fromPodman = await pm.podman.podman([
      'exec',
      p1,
      'ping',
      '-c',
      '1',
      '-W',
      '2',
      dockerIps[0] as string,
    ]);
    expect(fromPodman.code).toBe(0);
    expect(fromPodman.stdout).toContain('1 packets received');
    const fromDocker = await docker.daemon.docker([
      'exec',
      d1,
      'ping',
      '-c',
      '1',
      '-W',
      '2',
      podmanIps[0] as string,
    ]);
    expect(fromDocker.stderr).toBe('');
    expect(fromDocker.code).toBe(0);
    expect(fromDocker.stdout).toContain('1 packets received');

    // Each runtime frees its own; the pool goes when the last holder lets go.
    await pm.podman.podmanOk('rm', '--force', '--time', '0', p1, p2);
    const afterPodman = await records('fleet');
    for (const ip of podmanIps) expect(afterPodman[ip]).toBeUndefined();
    for (const ip of dockerIps) expect(afterPodman[ip]).toMatchObject({ node: 'docker-host' });
    expect(Object.keys((await poolRecord(stack.client, 'fleet'))?.holds ?? {})).toEqual([
      'docker-host',
    ]);
    await docker.docker('rm', '-f', d1, d2);
    await docker.docker('network', 'rm', 'fleet');
    expect(await poolRecord(stack.client, 'fleet')).toBeUndefined();
    expect(await storeKeys(stack.client, 'addresses/fleet/')).toEqual({});
  });

  it("the contrast: Docker's built-in IPAM and Podman's host-local each hand out the same first address", async () => {
    const docker = stack.host;
    const pm = podmanHost();
    await docker.docker(
      ...macvlanNetworkArgs('fleet-default', { parent: DOCKER_LAN, ipam: 'default' }, [
        '--subnet',
        SUBNET,
      ]),
    );
    pm.podman.writeNetwork(
      macvlanConflist({
        name: 'fleet-default',
        master: PODMAN_LAN,
        ipam: hostLocalIpam({ subnet: SUBNET, dataDir: join(pm.podman.root, 'host-local') }),
      }),
    );
    const d = await runSleeper(docker, 'fleet-default');
    const p = await pm.podman.runSleeper('fleet-default');
    const dockerIp = await containerIp(docker, d, 'fleet-default');
    expect(dockerIp).toBe('10.95.0.2');
    expect(await pm.podman.containerIp(p, 'fleet-default')).toBe(dockerIp);
    // Nothing of this went through kontena-ipam.
    expect(await poolRecord(stack.client, 'fleet-default')).toBeUndefined();

    await pm.podman.podmanOk('rm', '--force', '--time', '0', p);
    await docker.docker('rm', '-f', d);
    await docker.docker('network', 'rm', 'fleet-default');
  });
});
