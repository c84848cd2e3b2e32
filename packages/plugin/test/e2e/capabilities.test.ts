/**
 * The capability choices against real Docker 20.10 daemons (two "hosts", each in its own
 * network namespace, one etcd): with RequiresMACAddress a container's `--ip` arrives with its
 * MAC and an `--aux-address` without, so aux addresses are shared by every host that creates
 * the network while `--ip` stays exclusive; with RequiresRequestReplay off a daemon restart
 * sends no RequestPool, so the host's hold on the pool stays at one.
 */

import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { kontenaNetworkArgs } from '@kontena-ipam/testing/kontena-network';
import { type DockerHost, startDockerHost } from '@kontena-ipam/testing/plugin-host';
import { holdsIn } from '@kontena-ipam/testing/store-keys';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROUTES } from '../../src/protocol.js';
import { type ServedStore, serveStore } from '../support/plugin.js';

let etcd: EtcdCluster & { endpoint: string };
const hosts: DockerHost<ServedStore>[] = [];
const prefix = `/test-plugin/e2e-${process.pid}-${Date.now()}/`;

beforeAll(async () => {
  etcd = await startEtcd();
  for (const node of ['cap-1', 'cap-2']) {
    hosts.push(
      await startDockerHost({
        label: node,
        serve: serveStore({
          node,
          endpoint: etcd.endpoint,
          store: { prefix, supernet: '10.80.0.0/12' },
        }),
      }),
    );
  }
}, 180_000);

afterAll(async () => {
  // Each host stops Docker first (it releases through the plugin), then its plugin and store.
  for (const h of hosts) await h.stop();
  await etcd?.stop();
}, 120_000);

const host = (i: number) => hosts[i] as DockerHost<ServedStore>;
const keys = () => host(0).plugin.setup.keys();
const createNetwork = (i: number) =>
  host(i).daemon.docker(
    kontenaNetworkArgs('capnet', [
      '--subnet',
      '10.90.0.0/24',
      '--aux-address',
      'reserved=10.90.0.10',
    ]),
  );
const runWithIp = (i: number, ip: string) =>
  host(i).daemon.docker(
    [
      'run',
      '-d',
      '--stop-timeout',
      '0',
      '--network',
      'capnet',
      '--ip',
      ip,
      host(i).image,
      'sleep',
      '600',
    ],
    {
      timeoutMs: 60_000,
    },
  );

it('shows our Err to the user when --ipam-opt network=NAME is missing', async () => {
  const result = await host(0).daemon.docker([
    'network',
    'create',
    '--ipam-driver',
    'kontena-ipam',
    'unnamed',
  ]);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain('IpamDriver.RequestPool: Options.network is missing');
  expect(Object.keys(await keys()).filter((k) => k.startsWith('pools/'))).toEqual([]);
});

it('shares an --aux-address between the hosts that create the network', async () => {
  for (const i of [0, 1]) {
    const result = await createNetwork(i);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  }
  const state = await keys();
  expect(state['pools/capnet']).toMatchObject({ subnet: '10.90.0.0/24' });
  expect(holdsIn(state, 'capnet')).toEqual({ 'cap-1': 1, 'cap-2': 1 });
  expect(state['addresses/capnet/10.90.0.10']).toMatchObject({ kind: 'aux' });
});

it("keeps a container's --ip exclusive across hosts and records its MAC", async () => {
  const first = await runWithIp(0, '10.90.0.20');
  expect(first.code).toBe(0);
  const id = first.stdout.trim();
  const mac = await host(0).daemon.dockerOk([
    'inspect',
    '--format',
    '{{.NetworkSettings.Networks.capnet.MacAddress}}',
    id,
  ]);
  expect((await keys())['addresses/capnet/10.90.0.20']).toMatchObject({
    node: 'cap-1',
    kind: 'endpoint',
    attrs: { mac },
  });

  const second = await runWithIp(1, '10.90.0.20');
  expect(second.code).not.toBe(0);
  expect(second.stderr).toContain('10.90.0.20');
});

it('gets no RequestPool replay on a daemon restart: the hold stays at one', async () => {
  const plugin = host(0).plugin.running;
  const before = plugin.logs.lines.length;
  await host(0).daemon.restart();
  // The network still works after the restart.
  const after = await host(0).daemon.docker(
    ['run', '-d', '--stop-timeout', '0', '--network', 'capnet', host(0).image, 'sleep', '600'],
    {
      timeoutMs: 60_000,
    },
  );
  expect(after.code).toBe(0);
  const since = plugin.logs.lines.slice(before).filter((l) => l.msg === 'request');
  expect(since.filter((l) => l.route === ROUTES.requestPool)).toEqual([]);
  expect(since.filter((l) => l.route === ROUTES.capabilities).length).toBeGreaterThan(0);
  expect(holdsIn(await keys(), 'capnet')).toEqual({
    'cap-1': 1,
    'cap-2': 1,
  });
});

it('honours --gateway given with --ipam-opt gateway=…, and says so when another host holds the pool', async () => {
  const daemon = host(0).daemon;
  const base = ['network', 'create', '--ipam-driver', 'kontena-ipam', '--subnet', '10.91.0.0/24'];
  // The other host made the pool with the default gateway (and may use it): no moving it now.
  await host(1).daemon.dockerOk([...base, '--ipam-opt', 'network=gwnet', 'gwnet']);
  const without = await daemon.docker([
    ...base,
    '--gateway',
    '10.91.0.254',
    '--ipam-opt',
    'network=gwnet',
    'gwnet',
  ]);
  expect(without.code).not.toBe(0);
  expect(without.stderr).toContain(
    'network gwnet has gateway 10.91.0.1, not 10.91.0.254, and cannot move it: the pool is held by other hosts too (cap-2); pass --ipam-opt gateway=10.91.0.254 along with --gateway 10.91.0.254 on every host',
  );
  await host(1).daemon.dockerOk(['network', 'rm', 'gwnet']);
  await daemon.dockerOk([
    ...base,
    '--gateway',
    '10.91.0.254',
    '--ipam-opt',
    'network=gwnet2',
    '--ipam-opt',
    'gateway=10.91.0.254',
    'gwnet2',
  ]);
  expect(
    await daemon.dockerOk([
      'network',
      'inspect',
      '--format',
      '{{(index .IPAM.Config 0).Gateway}}',
      'gwnet2',
    ]),
  ).toBe('10.91.0.254');
  await daemon.dockerOk(['network', 'rm', 'gwnet2']);
  // The failed create released its hold: nothing of either network is left.
  expect(Object.keys(await keys()).filter((k) => k.includes('gwnet'))).toEqual([]);
});

it('removes the pool when both hosts remove the network', async () => {
  for (const i of [0, 1]) {
    const running = await host(i).daemon.dockerOk(['ps', '-aq']);
    if (running) await host(i).daemon.dockerOk(['rm', '-f', ...running.split('\n')]);
    await host(i).daemon.dockerOk(['network', 'rm', 'capnet']);
  }
  expect(Object.keys(await keys()).filter((k) => !k.startsWith('guard/'))).toEqual([]);
});
