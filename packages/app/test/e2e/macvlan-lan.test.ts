/**
 * The multi-host use case end to end (issue 15, part 1): two Docker hosts (each dockerd in its
 * own network and mount namespace) on one shared L2, the way real hosts share a VLAN: a bridge
 * in a third namespace with a veth from each host into it (testing/shared-l2.ts). The same
 * macvlan network on both hosts, parent = that veth, one subnet. With kontena-ipam the
 * containers get distinct addresses and reach each other; with Docker's built-in IPAM each
 * host hands out the same first address (moby/moby#49921).
 *
 * Addresses: the macvlan subnet is 10.99.0.0/24 and the hosts' own veth addresses (used only by
 * swarm) are in TEST-NET-1, 192.0.2.0/24; both exist only inside this test's namespaces.
 */

import { macvlanNetworkArgs } from '@kontena-ipam/testing/kontena-network';
import { type SharedL2, startSharedL2 } from '@kontena-ipam/testing/shared-l2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerIp, type Host, runSleeper, useE2eStack } from '../support/e2e-stack.js';
import { addressKeys, poolRecord } from '../support/etcd-keys.js';

const SUBNET = '10.99.0.0/24';
/** LAN_IF is the veth each host has on the shared L2 (the macvlan parent). */
const LAN_IF = 'lan0';
/** HOST_ADDRESSES are the hosts' own addresses on the L2 (TEST-NET-1). */
const HOST_ADDRESSES = ['192.0.2.11', '192.0.2.12'] as const;

const stack = useE2eStack(['host-a', 'host-b']);
let l2: SharedL2 | undefined;

beforeAll(() => {
  l2 = startSharedL2('lan');
  stack.hosts.forEach((host, i) => {
    const netns = host.daemon.netns;
    if (!netns) throw new Error(`${host.label} has no network namespace`);
    l2?.connect({ netns, ifname: LAN_IF, address: `${HOST_ADDRESSES[i]}/24` });
  });
});
// Registered after useE2eStack's hooks, so (vitest runs after-hooks as a stack) the L2 goes
// before the hosts; every test removes its own containers and networks first.
afterAll(() => {
  l2?.stop();
});

function hosts(): [Host, Host] {
  const [a, b] = stack.hosts;
  if (!a || !b) throw new Error('hosts did not start');
  return [a, b];
}

/** createLan creates macvlan network `name` on `host`, parent = the host's veth on the L2. */
async function createLan(
  host: Host,
  name: string,
  ipam: 'kontena-ipam' | 'default',
): Promise<string> {
  return await host.docker(
    ...macvlanNetworkArgs(name, { parent: LAN_IF, ipam }, ['--subnet', SUBNET]),
  );
}

describe('two hosts on one L2: macvlan with kontena-ipam', () => {
  it('containers on host A and host B get distinct addresses in the pool, and A pings B', async () => {
    const [hostA, hostB] = hosts();
    await Promise.all([
      createLan(hostA, 'lan', 'kontena-ipam'),
      createLan(hostB, 'lan', 'kontena-ipam'),
    ]);
    expect((await poolRecord(stack.client, 'lan'))?.holds).toEqual({ 'host-a': 1, 'host-b': 1 });

    const [a, b] = await Promise.all([runSleeper(hostA, 'lan'), runSleeper(hostB, 'lan')]);
    const ipA = await containerIp(hostA, a, 'lan');
    const ipB = await containerIp(hostB, b, 'lan');
    expect(ipA).not.toBe(ipB);
    expect(ipA).toMatch(/^10\.99\.0\.\d+$/);
    expect(ipB).toMatch(/^10\.99\.0\.\d+$/);
    const records = await addressKeys(stack.client, 'lan');
    expect(records[ipA]).toMatchObject({ node: 'host-a', kind: 'endpoint' });
    expect(records[ipB]).toMatchObject({ node: 'host-b', kind: 'endpoint' });

    // Across the shared L2: host A's macvlan, its veth, the bridge, host B's veth, B's macvlan.
    const ping = await hostA.daemon.docker(['exec', a, 'ping', '-c', '1', '-W', '2', ipB]);
    expect(ping.stderr).toBe('');
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain('1 packets received');

    await hostA.docker('rm', '-f', a);
    await hostB.docker('rm', '-f', b);
    await hostA.docker('network', 'rm', 'lan');
    await hostB.docker('network', 'rm', 'lan');
    expect(await poolRecord(stack.client, 'lan')).toBeUndefined();
  });

  it('the contrast: with Docker built-in IPAM the first container on each host gets the same address', async () => {
    const [hostA, hostB] = hosts();
    // The same macvlan network, parent and subnet; only the IPAM driver differs.
    await Promise.all([
      createLan(hostA, 'lan-default', 'default'),
      createLan(hostB, 'lan-default', 'default'),
    ]);
    const [a, b] = await Promise.all([
      runSleeper(hostA, 'lan-default'),
      runSleeper(hostB, 'lan-default'),
    ]);
    const ipA = await containerIp(hostA, a, 'lan-default');
    const ipB = await containerIp(hostB, b, 'lan-default');
    expect(ipA).toBe('10.99.0.2');
    expect(ipB).toBe(ipA);
    // Nothing of this went through kontena-ipam.
    expect(await poolRecord(stack.client, 'lan-default')).toBeUndefined();

    await hostA.docker('rm', '-f', a);
    await hostB.docker('rm', '-f', b);
    await hostA.docker('network', 'rm', 'lan-default');
    await hostB.docker('network', 'rm', 'lan-default');
  });
});

/** joinSwarm makes host A a swarm manager and host B a worker, listening only on their L2 addresses. */
async function joinSwarm(hostA: Host, hostB: Host): Promise<void> {
  const [addrA, addrB] = HOST_ADDRESSES;
  await hostA.docker('swarm', 'init', '--advertise-addr', addrA, '--listen-addr', `${addrA}:2377`);
  const token = await hostA.docker('swarm', 'join-token', '-q', 'worker');
  await hostB.docker(
    'swarm',
    'join',
    '--token',
    token,
    '--advertise-addr',
    addrB,
    '--listen-addr',
    `${addrB}:2377`,
    `${addrA}:2377`,
  );
}

/**
 * createSwarmLan makes config-only network `${name}-config` on every host (the parent is a
 * host-local setting), then, on the manager, the swarm-scoped macvlan `name` from it.
 */
async function createSwarmLan(
  manager: Host,
  nodes: readonly Host[],
  name: string,
  ipam: 'kontena-ipam' | 'default',
): Promise<void> {
  const settings = macvlanNetworkArgs(
    `${name}-config`,
    { parent: LAN_IF, ipam, pool: name, configOnly: true },
    ['--subnet', SUBNET],
  );
  await Promise.all(nodes.map((host) => host.docker(...settings)));
  await manager.docker(
    'network',
    'create',
    '--driver',
    'macvlan',
    '--scope',
    'swarm',
    '--attachable',
    '--config-from',
    `${name}-config`,
    name,
  );
}

/** leaveSwarm takes both hosts out of the swarm (worker first), so their daemons stop promptly. */
/**
 * removeConfigNetwork removes a --config-only network once nothing uses it. After the manager
 * removes the swarm network, a worker drops its own copy of it in the background, and until
 * then Docker refuses with "is in use": wait for that (bounded), fail on anything else.
 */
async function removeConfigNetwork(host: Host, name: string): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const result = await host.daemon.docker(['network', 'rm', name]);
    if (result.code === 0) return;
    if (!result.stderr.includes('is in use') || Date.now() > until) {
      throw new Error(`docker network rm ${name} exited ${result.code}: ${result.stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function leaveSwarm(hostA: Host, hostB: Host): Promise<void> {
  await hostB.docker('swarm', 'leave', '--force');
  await hostA.docker('swarm', 'leave', '--force');
}

describe('two hosts on one L2: swarm-scoped macvlan (--config-only, then --scope swarm --config-from)', () => {
  beforeAll(async () => {
    const [hostA, hostB] = hosts();
    await joinSwarm(hostA, hostB);
  });
  afterAll(async () => {
    const [hostA, hostB] = hosts();
    await leaveSwarm(hostA, hostB);
  });

  it('with kontena-ipam: distinct addresses on the two nodes, one pool in etcd, and A pings B', async () => {
    const [hostA, hostB] = hosts();
    await createSwarmLan(hostA, [hostA, hostB], 'lan-swarm', 'kontena-ipam');
    // Each node allocates for swarm-scoped macvlan itself, through its own plugin.
    const [a, b] = await Promise.all([
      runSleeper(hostA, 'lan-swarm'),
      runSleeper(hostB, 'lan-swarm'),
    ]);
    const ipA = await containerIp(hostA, a, 'lan-swarm');
    const ipB = await containerIp(hostB, b, 'lan-swarm');
    expect(ipA).not.toBe(ipB);
    expect(ipA).toMatch(/^10\.99\.0\.\d+$/);
    expect(ipB).toMatch(/^10\.99\.0\.\d+$/);
    expect((await poolRecord(stack.client, 'lan-swarm'))?.holds).toEqual({
      'host-a': 1,
      'host-b': 1,
    });
    const records = await addressKeys(stack.client, 'lan-swarm');
    expect(records[ipA]).toMatchObject({ node: 'host-a', kind: 'endpoint' });
    expect(records[ipB]).toMatchObject({ node: 'host-b', kind: 'endpoint' });
    const ping = await hostA.daemon.docker(['exec', a, 'ping', '-c', '1', '-W', '2', ipB]);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain('1 packets received');

    await hostA.docker('rm', '-f', a);
    await hostB.docker('rm', '-f', b);
    await hostA.docker('network', 'rm', 'lan-swarm');
    await Promise.all([hostA, hostB].map((h) => removeConfigNetwork(h, 'lan-swarm-config')));
  });

  it('with Docker built-in IPAM: both nodes hand out the same first address (moby/moby#49921)', async () => {
    const [hostA, hostB] = hosts();
    await createSwarmLan(hostA, [hostA, hostB], 'lan-swarm-default', 'default');
    const [a, b] = await Promise.all([
      runSleeper(hostA, 'lan-swarm-default'),
      runSleeper(hostB, 'lan-swarm-default'),
    ]);
    const ipA = await containerIp(hostA, a, 'lan-swarm-default');
    const ipB = await containerIp(hostB, b, 'lan-swarm-default');
    expect(ipA).toBe('10.99.0.2');
    expect(ipB).toBe(ipA);

    await hostA.docker('rm', '-f', a);
    await hostB.docker('rm', '-f', b);
    await hostA.docker('network', 'rm', 'lan-swarm-default');
    await Promise.all(
      [hostA, hostB].map((h) => removeConfigNetwork(h, 'lan-swarm-default-config')),
    );
  });
});
