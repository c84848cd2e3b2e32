/**
 * The seed README's walkthrough against a real dockerd, a real etcd and the kontena-ipam bin
 * (issue 5, scenarios 1-4). One daemon for the whole file; each block leaves it clean.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createNetwork, runSleeper, useE2eStack } from '../support/e2e-stack.js';
import { addressKeys, poolRecord, subnetKeys } from '../support/etcd-keys.js';

interface NetworkInspect {
  Name: string;
  Driver: string;
  IPAM: {
    Driver: string;
    Options: Record<string, string>;
    Config: Array<{
      Subnet?: string;
      IPRange?: string;
      Gateway?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }>;
  };
  Containers: Record<string, { Name: string; IPv4Address: string }>;
}

const stack = useE2eStack(['host-a']);

async function inspectNetwork(name: string): Promise<NetworkInspect> {
  const [network] = JSON.parse(
    await stack.host.docker('network', 'inspect', name),
  ) as NetworkInspect[];
  if (!network) throw new Error(`no network ${name}`);
  return network;
}

/** containerAddress is the "A.B.C.D/len" a container has on a network. */
async function containerAddress(container: string, network: string): Promise<string> {
  const format = `{{(index .NetworkSettings.Networks "${network}").IPAddress}}/{{(index .NetworkSettings.Networks "${network}").IPPrefixLen}}`;
  return await stack.host.docker('container', 'inspect', '--format', format, container);
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function inside(ip: string, cidr: string): boolean {
  const [network = '', len = '0'] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  const start = ipToInt(network);
  return ipToInt(ip) >= start && ipToInt(ip) < start + size;
}

describe('1. the seed static network (bridge in place of weavemesh)', () => {
  let container: string;

  beforeAll(async () => {
    await createNetwork(stack.host, 'kontena', [
      '--subnet',
      '10.81.0.0/16',
      '--ip-range',
      '10.81.128.0/17',
    ]);
    container = await runSleeper(stack.host, 'kontena');
  });

  it('docker network inspect shows the IPAM driver, options and config as in the seed', async () => {
    const network = await inspectNetwork('kontena');
    expect(network.Name).toBe('kontena');
    expect(network.Driver).toBe('bridge');
    expect(network.IPAM.Driver).toBe('kontena-ipam');
    expect(network.IPAM.Options).toEqual({ network: 'kontena' });
    expect(network.IPAM.Config).toHaveLength(1);
    expect(network.IPAM.Config[0]).toMatchObject({
      Subnet: '10.81.0.0/16',
      IPRange: '10.81.128.0/17',
    });
  });

  it('a container gets an IPv4Address inside 10.81.128.0/17 with /16', async () => {
    const address = await containerAddress(container, 'kontena');
    const [ip = '', len] = address.split('/');
    expect(len).toBe('16');
    expect(inside(ip, '10.81.128.0/17')).toBe(true);
    const network = await inspectNetwork('kontena');
    expect(Object.values(network.Containers).map((c) => c.IPv4Address)).toEqual([address]);
  });

  it('etcd holds the pool, its subnet and the container address owned by this host', async () => {
    const pool = await poolRecord(stack.client, 'kontena');
    expect(pool).toMatchObject({
      subnet: '10.81.0.0/16',
      ipRange: '10.81.128.0/17',
      gateway: '10.81.0.1',
      dynamic: false,
      holds: { 'host-a': 1 },
    });
    expect((await subnetKeys(stack.client))['10.81.0.0/16']).toBe('kontena');
    const [ip] = (await containerAddress(container, 'kontena')).split('/');
    const addresses = await addressKeys(stack.client, 'kontena');
    expect(addresses[ip as string]).toMatchObject({ node: 'host-a', kind: 'endpoint' });
    expect(addresses['10.81.0.1']).toMatchObject({ kind: 'gateway' });
  });
});

describe('2. dynamic networks from KONTENA_IPAM_SUPERNET', () => {
  it('kontena0 gets 10.80.0.0/24 with gateway 10.80.0.1', async () => {
    await createNetwork(stack.host, 'kontena0');
    const network = await inspectNetwork('kontena0');
    expect(network.IPAM.Options).toEqual({ network: 'kontena0' });
    expect(network.IPAM.Config).toEqual([
      expect.objectContaining({
        Subnet: '10.80.0.0/24',
        Gateway: expect.stringMatching(/^10\.80\.0\.1(\/24)?$/),
      }),
    ]);
    expect(await poolRecord(stack.client, 'kontena0')).toMatchObject({
      subnet: '10.80.0.0/24',
      gateway: '10.80.0.1',
      dynamic: true,
      holds: { 'host-a': 1 },
    });
  });

  it('a second dynamic network gets 10.80.1.0/24', async () => {
    await createNetwork(stack.host, 'kontena1');
    const network = await inspectNetwork('kontena1');
    expect(network.IPAM.Config[0]?.Subnet).toBe('10.80.1.0/24');
    expect((await subnetKeys(stack.client))['10.80.1.0/24']).toBe('kontena1');
  });
});

describe('3. releases, and static addresses', () => {
  it('container stop frees its address in etcd, rm leaves nothing behind', async () => {
    const id = await runSleeper(stack.host, 'kontena0');
    const [ip = ''] = (await containerAddress(id, 'kontena0')).split('/');
    expect(inside(ip, '10.80.0.0/24')).toBe(true);
    expect(await addressKeys(stack.client, 'kontena0')).toHaveProperty([ip]);
    await stack.host.docker('stop', '-t', '0', id);
    expect(await addressKeys(stack.client, 'kontena0')).not.toHaveProperty([ip]);
    await stack.host.docker('rm', id);
    expect(Object.keys(await addressKeys(stack.client, 'kontena0'))).toEqual(['10.80.0.1']);
  });

  it('docker network rm removes the pool and its subnet from etcd', async () => {
    await stack.host.docker('network', 'rm', 'kontena1');
    expect(await poolRecord(stack.client, 'kontena1')).toBeUndefined();
    expect(await subnetKeys(stack.client)).not.toHaveProperty(['10.80.1.0/24']);
    expect(await addressKeys(stack.client, 'kontena1')).toEqual({});
  });

  it('--ip takes exactly that address', async () => {
    const id = await runSleeper(stack.host, 'kontena', ['--ip', '10.81.200.5']);
    expect(await containerAddress(id, 'kontena')).toBe('10.81.200.5/16');
    expect((await addressKeys(stack.client, 'kontena'))['10.81.200.5']).toMatchObject({
      node: 'host-a',
      kind: 'endpoint',
    });
    await stack.host.docker('rm', '-f', id);
    expect(await addressKeys(stack.client, 'kontena')).not.toHaveProperty(['10.81.200.5']);
  });

  it("--gateway alone moves the pool's gateway there (one host holds the network)", async () => {
    await createNetwork(stack.host, 'gw', ['--subnet', '10.83.0.0/24', '--gateway', '10.83.0.254']);
    expect((await inspectNetwork('gw')).IPAM.Config[0]).toMatchObject({
      Subnet: '10.83.0.0/24',
      Gateway: '10.83.0.254',
    });
    expect((await poolRecord(stack.client, 'gw'))?.gateway).toBe('10.83.0.254');
    const keys = await addressKeys(stack.client, 'gw');
    expect(Object.keys(keys)).toEqual(['10.83.0.254']);
    expect(keys['10.83.0.254']).toMatchObject({ kind: 'gateway' });
    await stack.host.docker('network', 'rm', 'gw');
    expect(await poolRecord(stack.client, 'gw')).toBeUndefined();
  });

  it('--gateway and --aux-address are reserved and never handed to a container', async () => {
    await stack.host.docker(
      'network',
      'create',
      '--ipam-driver',
      'kontena-ipam',
      '--ipam-opt',
      'network=aux',
      // The pool's gateway is fixed at RequestPool, before Docker names --gateway.
      '--ipam-opt',
      'gateway=10.82.0.6',
      '--subnet',
      '10.82.0.0/29',
      '--gateway',
      '10.82.0.6',
      '--aux-address',
      'router=10.82.0.1',
      '--aux-address',
      'printer=10.82.0.2',
      'aux',
    );
    const network = await inspectNetwork('aux');
    expect(network.IPAM.Config[0]).toMatchObject({
      Subnet: '10.82.0.0/29',
      Gateway: '10.82.0.6',
      AuxiliaryAddresses: { router: '10.82.0.1', printer: '10.82.0.2' },
    });
    const keys = await addressKeys(stack.client, 'aux');
    expect(keys['10.82.0.6']).toMatchObject({ kind: 'gateway' });
    expect(keys['10.82.0.1']).toMatchObject({ kind: 'aux' });
    expect(keys['10.82.0.2']).toMatchObject({ kind: 'aux' });
    // 10.82.0.0/29 has hosts .1-.6: with .1, .2 and .6 taken, three containers fit, a fourth not.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await runSleeper(stack.host, 'aux'));
    }
    const addresses = await Promise.all(ids.map((id) => containerAddress(id, 'aux')));
    expect(addresses.sort()).toEqual(['10.82.0.3/29', '10.82.0.4/29', '10.82.0.5/29']);
    const fourth = await stack.host.daemon.docker([
      'run',
      '-d',
      '--stop-timeout',
      '0',
      '--network',
      'aux',
      stack.host.image,
      'sleep',
      '600',
    ]);
    expect(fourth.code).not.toBe(0);
    expect(fourth.stderr).toMatch(/exhausted|no free|full/i);
    await stack.host.docker('rm', '-f', ...ids);
    await stack.host.daemon.docker(['container', 'prune', '-f']);
    await stack.host.docker('network', 'rm', 'aux');
    expect(await poolRecord(stack.client, 'aux')).toBeUndefined();
    expect(await addressKeys(stack.client, 'aux')).toEqual({});
  });
});

describe('4. restarts', () => {
  it('a plugin restart while networks exist needs no manual step', async () => {
    await stack.host.restartPlugin();
    const id = await runSleeper(stack.host, 'kontena0');
    const [ip = ''] = (await containerAddress(id, 'kontena0')).split('/');
    expect(inside(ip, '10.80.0.0/24')).toBe(true);
    expect((await addressKeys(stack.client, 'kontena0'))[ip]).toMatchObject({ node: 'host-a' });
    await stack.host.docker('rm', '-f', id);
    expect(await addressKeys(stack.client, 'kontena0')).not.toHaveProperty([ip]);
  });

  it('a dockerd restart keeps networks and addresses consistent with etcd', async () => {
    const id = await stack.host.docker(
      'run',
      '-d',
      '--stop-timeout',
      '0',
      '--restart',
      'always',
      '--network',
      'kontena',
      stack.host.image,
      'sleep',
      '600',
    );
    const before = await containerAddress(id, 'kontena');
    await stack.host.daemon.restart();
    // The container comes back (restart policy) with an address that etcd records for this stack.host.
    let state = '';
    for (let i = 0; i < 100 && state !== 'true'; i++) {
      state = await stack.host.docker('container', 'inspect', '--format', '{{.State.Running}}', id);
      if (state !== 'true') await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('true');
    const after = await containerAddress(id, 'kontena');
    expect(after.endsWith('/16')).toBe(true);
    const running = await stack.host.docker('ps', '-q', '--no-trunc');
    const expected = new Set<string>();
    for (const cid of running.split('\n').filter(Boolean)) {
      expected.add((await containerAddress(cid, 'kontena')).split('/')[0] as string);
    }
    const endpoints = Object.entries(await addressKeys(stack.client, 'kontena'))
      .filter(([, v]) => v.kind === 'endpoint')
      .map(([ip]) => ip);
    expect(new Set(endpoints)).toEqual(expected);
    expect(before.split('/')[1]).toBe('16');
    // Networks survive with the same subnets, and each pool is still held by this stack.host.
    expect((await inspectNetwork('kontena0')).IPAM.Config[0]?.Subnet).toBe('10.80.0.0/24');
    expect((await poolRecord(stack.client, 'kontena0'))?.holds['host-a']).toBeGreaterThan(0);
    expect((await poolRecord(stack.client, 'kontena'))?.holds['host-a']).toBeGreaterThan(0);
  });

  it('after the restarts, removing everything leaves etcd empty', async () => {
    const ids = (await stack.host.docker('ps', '-aq')).split('\n').filter(Boolean);
    if (ids.length > 0) await stack.host.docker('rm', '-f', ...ids);
    await stack.host.docker('network', 'rm', 'kontena', 'kontena0');
    expect(await subnetKeys(stack.client)).toEqual({});
    expect(await poolRecord(stack.client, 'kontena')).toBeUndefined();
    expect(await poolRecord(stack.client, 'kontena0')).toBeUndefined();
  });
});
