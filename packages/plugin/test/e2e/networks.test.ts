/**
 * `docker network create` forms that need more than one RequestPool/RequestAddress to line up,
 * against a real Docker 20.10 daemon (own network namespace) and the real plugin and store on
 * a real etcd: `--gateway X` without `--ipam-opt gateway=X` (Docker asks for X only after
 * RequestPool answered the default gateway), and a dual-stack network (two RequestPools with
 * the same options: the IPv6 one is pool `NAME:v6`).
 */

import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { kontenaNetworkArgs } from '@kontena-ipam/testing/kontena-network';
import { type DockerHost, startDockerHost } from '@kontena-ipam/testing/plugin-host';
import { blockOf, holdsIn } from '@kontena-ipam/testing/store-keys';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ServedStore, serveStore } from '../support/plugin.js';

let etcd: EtcdCluster & { endpoint: string };
let host: DockerHost<ServedStore>;

beforeAll(async () => {
  etcd = await startEtcd();
  host = await startDockerHost({
    label: 'nets-1',
    serve: serveStore({
      node: 'nets-1',
      endpoint: etcd.endpoint,
      store: { supernet: '10.80.0.0/12' },
    }),
  });
}, 180_000);

afterAll(async () => {
  // Docker first (it releases through the plugin), then the plugin and its store.
  await host?.stop();
  await etcd?.stop();
}, 120_000);

const keysOf = async (needle: string) =>
  Object.keys(await host.plugin.setup.keys())
    .filter((k) => k.includes(needle))
    .sort();

it('creates a network with --gateway X alone: the pool gateway moves to X', async () => {
  const created = await host.daemon.docker(
    kontenaNetworkArgs('gw', ['--subnet', '10.86.0.0/24', '--gateway', '10.86.0.254']),
  );
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  expect(
    await host.daemon.dockerOk([
      'network',
      'inspect',
      '--format',
      '{{(index .IPAM.Config 0).Gateway}}',
      'gw',
    ]),
  ).toBe('10.86.0.254');

  const id = await host.daemon.dockerOk(
    ['run', '-d', '--stop-timeout', '0', '--network', 'gw', host.image, 'sleep', '600'],
    { timeoutMs: 60_000 },
  );
  const address = await host.daemon.dockerOk([
    'inspect',
    '--format',
    '{{.NetworkSettings.Networks.gw.IPAddress}}',
    id,
  ]);
  expect(address).toMatch(/^10\.86\.0\.\d+$/);
  expect(address).not.toBe('10.86.0.254');

  const state = await host.plugin.setup.keys();
  expect(state['pools/gw']).toMatchObject({ gateway: '10.86.0.254' });
  expect(holdsIn(state, 'gw')).toEqual({ 'nets-1': 1 });
  expect(state['addresses/gw/10.86.0.254']).toMatchObject({ kind: 'gateway', node: 'nets-1' });
  expect(state['addresses/gw/10.86.0.1']).toBeUndefined();
  // The container's address came from a block of 16 the host claimed (the window is the subnet).
  const block = blockOf(parseAddress(address), parseSubnet('10.86.0.0/24'));
  expect(await keysOf('/gw')).toEqual(
    [
      'addresses/gw/10.86.0.254',
      `addresses/gw/${address}`,
      `affinity/gw/nets-1/${block}`,
      `blocks/gw/${block}`,
      'holds/gw/nets-1',
      'pools/gw',
    ].sort(),
  );

  await host.daemon.dockerOk(['rm', '-f', id]);
  await host.daemon.dockerOk(['network', 'rm', 'gw']);
  expect(await keysOf('/gw')).toEqual([]);
  expect(await keysOf('10.86.')).toEqual([]);
});

it('creates a dual-stack network: a container gets an IPv4 and an IPv6 address from our pools', async () => {
  await host.daemon.dockerOk(
    kontenaNetworkArgs('ds', ['--ipv6', '--subnet', '10.87.0.0/24', '--subnet', 'fd00:87::/64']),
  );
  expect(
    await host.daemon.dockerOk([
      'network',
      'inspect',
      '--format',
      '{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}};{{end}}',
      'ds',
    ]),
  ).toBe('true 10.87.0.0/24;fd00:87::/64;');
  const id = await host.daemon.dockerOk(
    ['run', '-d', '--stop-timeout', '0', '--network', 'ds', host.image, 'sleep', '600'],
    { timeoutMs: 60_000 },
  );
  const [ip4, ip6] = (
    await host.daemon.dockerOk([
      'inspect',
      '--format',
      '{{.NetworkSettings.Networks.ds.IPAddress}} {{.NetworkSettings.Networks.ds.GlobalIPv6Address}}',
      id,
    ])
  ).split(' ') as [string, string];
  expect(ip4).toMatch(/^10\.87\.0\.\d+$/);
  expect(ip6).toMatch(/^fd00:87::[0-9a-f:]+$/);
  expect(ip6).not.toBe('fd00:87::1');

  const state = await host.plugin.setup.keys();
  expect(state['pools/ds']).toMatchObject({ subnet: '10.87.0.0/24' });
  expect(state['pools/ds:v6']).toMatchObject({ subnet: 'fd00:87::/64' });
  expect(holdsIn(state, 'ds')).toEqual({ 'nets-1': 1 });
  expect(holdsIn(state, 'ds:v6')).toEqual({ 'nets-1': 1 });
  expect(state[`addresses/ds/${ip4}`]).toMatchObject({ kind: 'endpoint', node: 'nets-1' });
  expect(state[`addresses/ds:v6/${ip6}`]).toMatchObject({ kind: 'endpoint', node: 'nets-1' });

  await host.daemon.dockerOk(['rm', '-f', id]);
  await host.daemon.dockerOk(['network', 'rm', 'ds']);
  expect(await keysOf('/ds')).toEqual([]);
  expect(await keysOf('10.87.')).toEqual([]);
  expect(await keysOf('fd00:87:')).toEqual([]);
});
