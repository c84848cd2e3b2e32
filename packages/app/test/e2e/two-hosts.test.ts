/**
 * Two Docker hosts on one machine (each dockerd in its own network and mount namespace, each
 * with its own kontena-ipam and NODE_ID) sharing one etcd (issue 5, scenario 5), and Docker's
 * host-route overlap check: Docker asks again when a dynamic pool overlaps a route on the host,
 * and the plugin must refuse the repeat (docs/walkthrough.md, "A host route that overlaps the
 * next subnet").
 */
import { describe, expect, it } from 'vitest';
import {
  containerIp,
  createNetwork,
  type Host,
  runSleeper,
  useE2eStack,
} from '../support/e2e-stack.js';
import { addressKeys, poolRecord, subnetKeys } from '../support/etcd-keys.js';

const stack = useE2eStack(['host-a', 'host-b']);

function hosts(): [Host, Host] {
  const [a, b] = stack.hosts;
  if (!a || !b) throw new Error('hosts did not start');
  return [a, b];
}

async function subnetOf(host: Host, network: string): Promise<string | undefined> {
  return await host.docker(
    'network',
    'inspect',
    '--format',
    '{{(index .IPAM.Config 0).Subnet}}',
    network,
  );
}

async function runContainers(host: Host, network: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(await runSleeper(host, network));
  }
  return ids;
}

describe('5. two hosts sharing etcd', () => {
  it('the same static network=kontena on both hosts is one pool with distinct container addresses', async () => {
    const [hostA, hostB] = hosts();
    const create = (host: Host) =>
      createNetwork(host, 'kontena', ['--subnet', '10.81.0.0/16', '--ip-range', '10.81.128.0/17']);
    await Promise.all([create(hostA), create(hostB)]);
    expect(await subnetOf(hostA, 'kontena')).toBe('10.81.0.0/16');
    expect(await subnetOf(hostB, 'kontena')).toBe('10.81.0.0/16');
    expect((await poolRecord(stack.client, 'kontena'))?.holds).toEqual({
      'host-a': 1,
      'host-b': 1,
    });

    const [idsA, idsB] = await Promise.all([
      runContainers(hostA, 'kontena', 4),
      runContainers(hostB, 'kontena', 4),
    ]);
    const onA = await Promise.all(idsA.map((id) => containerIp(hostA, id, 'kontena')));
    const onB = await Promise.all(idsB.map((id) => containerIp(hostB, id, 'kontena')));
    const all = [...onA, ...onB];
    expect(new Set(all).size).toBe(8);
    const records = await addressKeys(stack.client, 'kontena');
    for (const ip of onA) expect(records[ip]).toMatchObject({ node: 'host-a', kind: 'endpoint' });
    for (const ip of onB) expect(records[ip]).toMatchObject({ node: 'host-b', kind: 'endpoint' });

    await hostA.docker('rm', '-f', ...idsA);
    await hostA.docker('network', 'rm', 'kontena');
    // host-b still holds the pool: it stays, with only host-b's addresses.
    expect((await poolRecord(stack.client, 'kontena'))?.holds).toEqual({ 'host-b': 1 });
    const left = Object.entries(await addressKeys(stack.client, 'kontena')).filter(
      ([, v]) => v.kind === 'endpoint',
    );
    expect(left.map(([ip]) => ip).sort()).toEqual([...onB].sort());
    await hostB.docker('rm', '-f', ...idsB);
    await hostB.docker('network', 'rm', 'kontena');
    expect(await poolRecord(stack.client, 'kontena')).toBeUndefined();
    expect(await subnetKeys(stack.client)).toEqual({});
  });

  it('the same dynamic network created on both hosts at once gets one subnet', async () => {
    const [hostA, hostB] = hosts();
    const create = (host: Host) => createNetwork(host, 'shared0');
    await Promise.all([create(hostA), create(hostB)]);
    const subnetA = await subnetOf(hostA, 'shared0');
    expect(subnetA).toBe('10.80.0.0/24');
    expect(await subnetOf(hostB, 'shared0')).toBe(subnetA);
    expect(await subnetKeys(stack.client)).toEqual({ '10.80.0.0/24': 'shared0' });
    const [idA] = await runContainers(hostA, 'shared0', 1);
    const [idB] = await runContainers(hostB, 'shared0', 1);
    const ipA = await containerIp(hostA, idA as string, 'shared0');
    const ipB = await containerIp(hostB, idB as string, 'shared0');
    expect(ipA).not.toBe(ipB);
    expect(ipA.startsWith('10.80.0.')).toBe(true);
    expect(ipB.startsWith('10.80.0.')).toBe(true);
    await hostA.docker('rm', '-f', idA as string);
    await hostB.docker('rm', '-f', idB as string);
  });

  it('a host route overlapping the next dynamic subnet: network create returns promptly, never spins', async () => {
    const [hostA] = hosts();
    // shared0 holds 10.80.0.0/24, so the next dynamic subnet is 10.80.1.0/24: route it on host A.
    const route = await hostA.daemon.inNetns(['ip', 'route', 'add', '10.80.1.0/24', 'dev', 'lo']);
    expect(route.stderr).toBe('');
    const result = await hostA.daemon.docker(
      [
        'network',
        'create',
        '--ipam-driver',
        'kontena-ipam',
        '--ipam-opt',
        'network=routed',
        'routed',
      ],
      { timeoutMs: 30_000 },
    );
    expect(result.stderr).not.toContain('killed after');
    // The store answers Docker's repeated request with an error naming the overlapping subnet
    // (ALREADY_HELD); Docker then releases the first answer, so nothing stays reserved.
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('IpamDriver.RequestPool');
    expect(result.stderr).toContain('10.80.1.0/24');
    expect(await poolRecord(stack.client, 'routed')).toBeUndefined();
    expect(await subnetKeys(stack.client)).toEqual({ '10.80.0.0/24': 'shared0' });
    await hostA.daemon.inNetns(['ip', 'route', 'del', '10.80.1.0/24', 'dev', 'lo']);
    // Host B has no such route: it gets 10.80.1.0/24, so the failed attempt leaked nothing.
    const [, hostB] = hosts();
    await createNetwork(hostB, 'routed');
    expect(await subnetOf(hostB, 'routed')).toBe('10.80.1.0/24');
    await hostB.docker('network', 'rm', 'routed');
    expect(await poolRecord(stack.client, 'routed')).toBeUndefined();
  });

  it('after removing the network on both hosts, etcd is empty', async () => {
    const [hostA, hostB] = hosts();
    await hostA.docker('network', 'rm', 'shared0');
    expect((await poolRecord(stack.client, 'shared0'))?.holds).toEqual({ 'host-b': 1 });
    await hostB.docker('network', 'rm', 'shared0');
    expect(await poolRecord(stack.client, 'shared0')).toBeUndefined();
    expect(await subnetKeys(stack.client)).toEqual({});
  });
});
