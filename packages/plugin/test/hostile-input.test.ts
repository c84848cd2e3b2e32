/**
 * Ordinary inputs that once corrupted a pool or handed out an address in use (issue: "no
 * input, name or setting may corrupt the store"), each sent over the plugin's socket in
 * Docker's request shape, with the reply and the keys left in etcd asserted.
 */

import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { holdsIn } from '@kontena-ipam/testing/store-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
const GW = 'com.docker.network.gateway';

let etcd: EtcdCluster & { endpoint: string };
let dir: ReturnType<typeof tempDir>;
const opened: StoreSetup[] = [];
const running: RunningPlugin[] = [];
let count = 0;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = tempDir();
});

afterAll(async () => {
  for (const plugin of running) await plugin.close();
  for (const setup of opened) await setup.close();
  await etcd?.stop();
  dir?.remove();
});

/** hosts starts one plugin per node id, all on one fresh prefix; returns their sockets and keys. */
async function hosts(...nodes: string[]) {
  const prefix = `/test-plugin/hostile-${process.pid}-${++count}/`;
  const sockets: string[] = [];
  let first: StoreSetup | undefined;
  for (const node of nodes) {
    const setup = storeSetup(etcd.endpoint, { prefix });
    first ??= setup;
    opened.push(setup);
    const plugin = await startPlugin(dir.path, setup.store, { node });
    running.push(plugin);
    sockets.push(plugin.socketPath);
  }
  return { sockets, keys: () => (first as StoreSetup).keys() };
}

const requestPool = (socket: string, network: string, pool: string, subPool = '') =>
  call(socket, ROUTES.requestPool, {
    AddressSpace: 'LocalDefault',
    Pool: pool,
    SubPool: subPool,
    Options: { network },
    V6: false,
  });
const container = (socket: string, poolId: string, address = '') =>
  call(socket, ROUTES.requestAddress, {
    PoolID: poolId,
    Address: address,
    Options: { [MAC]: '02:42:0a:00:00:01' },
  });
const aux = (socket: string, poolId: string, address: string) =>
  call(socket, ROUTES.requestAddress, { PoolID: poolId, Address: address, Options: null });
const gateway = (socket: string, poolId: string, address: string) =>
  call(socket, ROUTES.requestAddress, {
    PoolID: poolId,
    Address: address,
    Options: { RequestAddressType: GW },
  });
const errOf = (reply: { json: unknown }) => (reply.json as { Err?: string }).Err ?? '';

describe('node ids that are names of Object.prototype members', () => {
  it('constructor and toString join, use and leave one pool like any other hosts', async () => {
    const { sockets, keys } = await hosts('constructor', 'toString');
    const [a, b] = sockets as [string, string];
    for (const socket of sockets) {
      expect((await requestPool(socket, 'proto', '10.85.0.0/24')).status).toBe(200);
    }
    const state = await keys();
    expect(holdsIn(state, 'proto')).toEqual({ constructor: 1, toString: 1 });
    // Every record still reads: both hosts take addresses, neither sees an unreadable record.
    const x = await container(a, 'proto');
    const y = await container(b, 'proto');
    expect([x.status, y.status]).toEqual([200, 200]);
    expect((x.json as { Address: string }).Address).not.toBe(
      (y.json as { Address: string }).Address,
    );
    for (const socket of sockets) {
      expect((await call(socket, ROUTES.releasePool, { PoolID: 'proto' })).status).toBe(200);
    }
    // The last release took the pool, its reservation, gateway, addresses and holds with it.
    expect(Object.keys(await keys())).toEqual(['guard/subnets']);
  });
});

describe('network and broadcast addresses are never handed out', () => {
  it('--ip, --aux-address and --gateway of the network or broadcast address: a clear Err, nothing written', async () => {
    const { sockets, keys } = await hosts('edge-1');
    const [a] = sockets as [string];
    expect((await requestPool(a, 'edges', '10.85.0.0/24')).status).toBe(200);
    const before = await keys();
    const refusals = [
      [await container(a, 'edges', '10.85.0.0'), 'network address'],
      [await container(a, 'edges', '10.85.0.255'), 'broadcast address'],
      [await aux(a, 'edges', '10.85.0.255'), 'broadcast address'],
      [await gateway(a, 'edges', '10.85.0.0'), 'not a host address'],
    ] as const;
    for (const [reply, what] of refusals) {
      expect(reply.status).toBeGreaterThanOrEqual(400);
      expect(errOf(reply)).toContain(what);
    }
    expect(await keys()).toEqual(before);
    // RequestPool with a gateway option on the broadcast address is refused too.
    const withGateway = await call(a, ROUTES.requestPool, {
      AddressSpace: 'LocalDefault',
      Pool: '10.86.0.0/24',
      SubPool: '',
      Options: { network: 'edges2', gateway: '10.86.0.255' },
      V6: false,
    });
    expect(withGateway.status).toBeGreaterThanOrEqual(400);
    expect(errOf(withGateway)).toContain('gateway 10.86.0.255 is the broadcast address');
    expect(await keys()).toEqual(before);
  });

  it('an ip-range ending on the subnet broadcast hands out its other address, then says full', async () => {
    const { sockets, keys } = await hosts('edge-2');
    const [a] = sockets as [string];
    expect((await requestPool(a, 'tail', '10.84.0.0/24', '10.84.0.254/31')).status).toBe(200);
    const first = await container(a, 'tail');
    expect(first.json).toEqual({ Address: '10.84.0.254/24', Data: {} });
    const second = await container(a, 'tail');
    expect(second.status).toBeGreaterThanOrEqual(400);
    expect(errOf(second)).toContain('no free address');
    expect(Object.keys(await keys()).filter((k) => k.startsWith('addresses/tail/'))).toEqual([
      'addresses/tail/10.84.0.1',
      'addresses/tail/10.84.0.254',
    ]);
  });

  it('/31 and /32 subnets are point-to-point links: every address is a host (RFC 3021)', async () => {
    const { sockets } = await hosts('edge-3');
    const [a] = sockets as [string];
    expect((await requestPool(a, 'p2p', '10.83.0.0/31')).status).toBe(200);
    // The gateway took 10.83.0.0, the first host; 10.83.0.1 is the other end.
    expect((await container(a, 'p2p', '10.83.0.1')).json).toEqual({
      Address: '10.83.0.1/31',
      Data: {},
    });
  });
});

describe('moving the gateway', () => {
  it('refused while this host holds the pool twice: the gateway in use stays taken', async () => {
    const { sockets, keys } = await hosts('twice');
    const [a] = sockets as [string];
    // Two Docker networks of this host name one pool (or a create Docker rolled back).
    expect((await requestPool(a, 'gwtwice', '10.86.0.0/16')).status).toBe(200);
    expect((await requestPool(a, 'gwtwice', '10.86.0.0/16')).status).toBe(200);
    const move = await gateway(a, 'gwtwice', '10.86.0.9');
    expect(move.status).toBeGreaterThanOrEqual(400);
    expect(errOf(move)).toContain('holds the pool 2 times');
    const state = await keys();
    expect(state['pools/gwtwice']).toMatchObject({ gateway: '10.86.0.1' });
    expect(state['addresses/gwtwice/10.86.0.1']).toMatchObject({ kind: 'gateway' });
    expect(state['addresses/gwtwice/10.86.0.9']).toBeUndefined();
    // So no container is ever given the gateway the first network's bridge uses.
    const taken = await container(a, 'gwtwice', '10.86.0.1');
    expect(taken.status).toBeGreaterThanOrEqual(400);
    expect(errOf(taken)).toContain('already taken');
  });
});

describe('a host whose hold was dropped while it lived', () => {
  it('gets its hold back with its next address, so the pool cannot go with that address inside', async () => {
    const { sockets, keys } = await hosts('live', 'other');
    const [live, other] = sockets as [string, string];
    expect((await requestPool(live, 'kept', '10.87.0.0/24')).status).toBe(200);
    expect((await requestPool(other, 'kept', '10.87.0.0/24')).status).toBe(200);
    // An operator ran `kontena-ipam-cleanup --node live --forget-node` against a live host.
    const setup = opened[opened.length - 2] as StoreSetup;
    await setup.store.dropHold({ pool: 'kept' as never, node: 'live' as never });
    expect(holdsIn(await keys(), 'kept')).toEqual({ other: 1 });
    const got = await container(live, 'kept');
    expect(got.status).toBe(200);
    const address = (got.json as { Address: string }).Address.split('/')[0];
    expect(holdsIn(await keys(), 'kept')).toEqual({ live: 1, other: 1 });
    // The other host leaving does not remove the pool under the live address.
    expect((await call(other, ROUTES.releasePool, { PoolID: 'kept' })).status).toBe(200);
    const state = await keys();
    expect(state['pools/kept']).toBeDefined();
    expect(state[`addresses/kept/${address}`]).toMatchObject({ node: 'live', kind: 'endpoint' });
  });
});
