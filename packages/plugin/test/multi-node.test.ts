/**
 * Three hosts: three PluginServers (three sockets, three node ids, three stores) on one etcd,
 * serving the same network at the same time. No address is ever handed out twice.
 */

import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { holdsIn } from '@kontena-ipam/testing/store-keys';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROUTES } from '../src/protocol.js';
import { call } from './support/client.js';
import {
  type RunningPlugin,
  type StoreSetup,
  startPlugin,
  storeSetup,
  tempDir,
} from './support/plugin.js';

const MAC = 'com.docker.network.endpoint.macaddress';
const PER_HOST = 25;

let etcd: EtcdCluster & { endpoint: string };
let dir: ReturnType<typeof tempDir>;
const stores: StoreSetup[] = [];
const plugins: RunningPlugin[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  dir = tempDir();
  const prefix = `/test-plugin/multi-${process.pid}-${Date.now()}/`;
  for (const node of ['host-1', 'host-2', 'host-3']) {
    const setup = storeSetup(etcd.endpoint, { prefix, supernet: '10.80.0.0/12', subnetLength: 26 });
    stores.push(setup);
    plugins.push(await startPlugin(dir.path, setup.store, { node }));
  }
});

afterAll(async () => {
  for (const plugin of plugins) await plugin.close();
  for (const setup of stores) await setup.close();
  await etcd?.stop();
  dir?.remove();
});

const mac = (host: number, i: number) =>
  `02:42:00:00:${host.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}`;

it('creates one pool for all three hosts when they ask at once', async () => {
  const replies = await Promise.all(
    plugins.map((p) =>
      call(p.socketPath, ROUTES.requestPool, {
        AddressSpace: 'local',
        Pool: '',
        SubPool: '',
        Options: { network: 'shared' },
        V6: false,
      }),
    ),
  );
  for (const reply of replies) expect(reply.status).toBe(200);
  const pools = new Set(replies.map((r) => JSON.stringify(r.json)));
  expect(pools.size).toBe(1);
  expect(replies[0]?.json).toMatchObject({ PoolID: 'shared', Pool: '10.80.0.0/26' });
  const keys = await stores[0]?.keys();
  expect(holdsIn(keys ?? {}, 'shared')).toEqual({ 'host-1': 1, 'host-2': 1, 'host-3': 1 });
});

it('hands out unique addresses to concurrent containers on all three hosts', async () => {
  const requests = plugins.flatMap((p, host) =>
    Array.from({ length: PER_HOST }, (_, i) =>
      call(p.socketPath, ROUTES.requestAddress, {
        PoolID: 'shared',
        Address: '',
        Options: { [MAC]: mac(host, i) },
      }).then((reply) => ({
        host: p.node,
        reply,
      })),
    ),
  );
  const results = await Promise.all(requests);
  // A /26 has 62 hosts, one is the gateway: 61 for 75 asks. The rest must fail cleanly, never duplicate.
  const granted = results.filter((r) => r.reply.status === 200);
  const refused = results.filter((r) => r.reply.status !== 200);
  expect(granted).toHaveLength(61);
  for (const r of refused) {
    expect(r.reply.status).toBe(507);
    expect((r.reply.json as { Err: string }).Err).toContain('shared');
  }
  const addresses = granted.map((r) => (r.reply.json as { Address: string }).Address);
  expect(new Set(addresses).size).toBe(addresses.length);
  for (const a of addresses) expect(a).toMatch(/^10\.80\.0\.\d+\/26$/);
  expect(addresses).not.toContain('10.80.0.1/26');

  // etcd agrees: one record per granted address, owned by the host that got it.
  const keys = (await stores[0]?.keys()) ?? {};
  for (const { host, reply } of granted) {
    const ip = (reply.json as { Address: string }).Address.split('/')[0];
    expect(keys[`addresses/shared/${ip}`]).toMatchObject({ node: host, kind: 'endpoint' });
  }
});

it('frees the pool only when the last host releases it', async () => {
  const [first, second, third] = plugins as [RunningPlugin, RunningPlugin, RunningPlugin];
  await call(first.socketPath, ROUTES.releasePool, { PoolID: 'shared' });
  await call(second.socketPath, ROUTES.releasePool, { PoolID: 'shared' });
  expect(holdsIn((await stores[0]?.keys()) ?? {}, 'shared')).toEqual({ 'host-3': 1 });
  const last = await call(third.socketPath, ROUTES.releasePool, { PoolID: 'shared' });
  expect(last.json).toEqual({});
  const keys = (await stores[0]?.keys()) ?? {};
  expect(Object.keys(keys).filter((k) => !k.startsWith('guard/'))).toEqual([]);
});
