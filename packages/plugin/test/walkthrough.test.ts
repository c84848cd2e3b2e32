/**
 * The seed README's walkthrough at protocol level, plus each RPC's rules and errors, over a
 * real unix socket against a real store on a real etcd.
 */

import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import { blockOf, claimsIn, holdsIn, withoutClaims } from '@kontena-ipam/testing/store-keys';
import { describe, expect, it } from 'vitest';
import type { RequestEvent } from '../src/contract.js';
import { PLUGIN_CONTENT_TYPE, ROUTES } from '../src/protocol.js';
import { CAPABILITIES } from '../src/routes.js';
import { call, send } from './support/client.js';
import { pluginSuite, startPlugin } from './support/plugin.js';

const GW = 'com.docker.network.gateway';
const MAC = 'com.docker.network.endpoint.macaddress';

// The seed's defaults: dynamic /24s from 10.80.0.0/12.
const suite = pluginSuite({
  store: { supernet: '10.80.0.0/12', subnetLength: 24 },
  plugin: { node: 'node-a' },
});

const pool = (body: Record<string, unknown>) =>
  call(suite.plugin.socketPath, ROUTES.requestPool, {
    AddressSpace: 'local',
    Pool: '',
    SubPool: '',
    Options: {},
    V6: false,
    ...body,
  });
const address = (body: Record<string, unknown>) =>
  call(suite.plugin.socketPath, ROUTES.requestAddress, { Address: '', Options: null, ...body });

describe('the seed walkthrough', () => {
  it('serves a static pool with an ip-range: addresses from the range, written as /16', async () => {
    const created = await pool({
      Pool: '10.81.0.0/16',
      SubPool: '10.81.128.0/17',
      Options: { network: 'kontena' },
    });
    expect(created.status).toBe(200);
    expect(created.json).toEqual({
      PoolID: 'kontena',
      Pool: '10.81.0.0/16',
      Data: { [GW]: '10.81.0.1/16' },
    });

    const container = await address({ PoolID: 'kontena', Options: { [MAC]: '02:42:0a:51:80:19' } });
    expect(container.status).toBe(200);
    const reply = container.json as { Address: string; Data: object };
    expect(reply.Address).toMatch(/^10\.81\.(1(2[89]|[3-9]\d)|2[0-5]\d)\.\d+\/16$/);
    expect(reply.Data).toEqual({});

    const keys = await suite.setup.keys();
    expect(keys['pools/kontena']).toMatchObject({
      subnet: '10.81.0.0/16',
      ipRange: '10.81.128.0/17',
      gateway: '10.81.0.1',
      dynamic: false,
    });
    expect(holdsIn(keys, 'kontena')).toEqual({ 'node-a': 1 });
    const ip = reply.Address.split('/')[0];
    expect(keys[`addresses/kontena/${ip}`]).toMatchObject({
      node: 'node-a',
      kind: 'endpoint',
      attrs: { mac: '02:42:0a:51:80:19' },
    });
  });

  it('gives a dynamic pool the first /24 of the supernet, gateway in Data', async () => {
    const created = await pool({ Options: { network: 'kontena0' } });
    expect(created.status).toBe(200);
    expect(created.json).toEqual({
      PoolID: 'kontena0',
      Pool: '10.80.0.0/24',
      Data: { [GW]: '10.80.0.1/24' },
    });
  });

  it('gives a second dynamic pool the next /24', async () => {
    const created = await pool({ Options: { network: 'kontena1' } });
    expect(created.json).toEqual({
      PoolID: 'kontena1',
      Pool: '10.80.1.0/24',
      Data: { [GW]: '10.80.1.1/24' },
    });
  });

  it('answers the gateway request with the pool gateway, and the first container with the next address', async () => {
    const gateway = await address({ PoolID: 'kontena1', Options: { RequestAddressType: GW } });
    expect(gateway.json).toEqual({ Address: '10.80.1.1/24', Data: {} });
    const first = await address({ PoolID: 'kontena1', Options: { [MAC]: '02:42:00:00:00:01' } });
    // Which free address is the store's choice (it spreads hosts over the range); never the gateway.
    expect((first.json as { Address: string }).Address).toMatch(/^10\.80\.1\.\d+\/24$/);
    expect((first.json as { Address: string }).Address).not.toBe('10.80.1.1/24');
  });
});

describe('RequestPool', () => {
  it('refuses a request without --ipam-opt network=NAME and writes nothing', async () => {
    const before = await suite.setup.revision();
    const reply = await pool({ Options: {} });
    expect(reply.status).toBe(400);
    expect((reply.json as { Err: string }).Err).toContain('--ipam-opt network=NAME');
    const nullOptions = await pool({ Options: null });
    expect(nullOptions.status).toBe(400);
    expect((nullOptions.json as { Err: string }).Err).toContain('Options.network is missing');
    expect(await suite.setup.revision()).toBe(before);
  });

  it('refuses a SubPool without a Pool, naming it', async () => {
    const reply = await pool({ SubPool: '10.82.0.0/24', Options: { network: 'nopool' } });
    expect(reply.status).toBe(400);
    expect((reply.json as { Err: string }).Err).toMatch(
      /ip-range 10\.82\.0\.0\/24 given without a subnet/,
    );
  });

  it('refuses a SubPool outside the Pool, and a malformed Pool, naming the values', async () => {
    const outside = await pool({
      Pool: '10.83.0.0/16',
      SubPool: '10.84.0.0/17',
      Options: { network: 'outside' },
    });
    expect(outside.status).toBe(400);
    expect((outside.json as { Err: string }).Err).toContain(
      'ip-range 10.84.0.0/17 is not inside subnet 10.83.0.0/16',
    );
    const malformed = await pool({ Pool: '10.83.0.0/33', Options: { network: 'malformed' } });
    expect(malformed.status).toBe(400);
    expect((malformed.json as { Err: string }).Err).toContain(
      'Pool "10.83.0.0/33" is not a valid CIDR subnet',
    );
    expect(await suite.setup.keys()).not.toHaveProperty('pools/outside');
  });

  it('refuses a bad pool name, naming the option', async () => {
    const reply = await pool({ Options: { network: '../etc' } });
    expect(reply.status).toBe(400);
    expect((reply.json as { Err: string }).Err).toContain(
      'Options.network "../etc" is not a valid pool name',
    );
  });

  it('refuses a dynamic IPv6 pool when no IPv6 supernet is configured, and serves a static one', async () => {
    const dynamic = await pool({ V6: true, Options: { network: 'six' } });
    expect(dynamic.status).toBe(400);
    expect((dynamic.json as { Err: string }).Err).toContain(
      'dynamic IPv6 pools need an IPv6 supernet',
    );
    const mixed = await pool({ V6: true, Pool: '10.85.0.0/16', Options: { network: 'six' } });
    expect(mixed.status).toBe(400);
    expect((mixed.json as { Err: string }).Err).toContain(
      'subnet 10.85.0.0/16 is not an IPv6 subnet',
    );
    const fixed = await pool({ V6: true, Pool: 'fd00:81::/64', Options: { network: 'six' } });
    expect(fixed.status).toBe(200);
    expect(fixed.json).toMatchObject({ Pool: 'fd00:81::/64', Data: { [GW]: 'fd00:81::1/64' } });
    const id = (fixed.json as { PoolID: string }).PoolID;
    const one = await address({ PoolID: id, Options: { [MAC]: '02:42:00:00:00:06' } });
    expect(one.status).toBe(200);
    expect((one.json as { Address: string }).Address).toMatch(/^fd00:81::[0-9a-f:]+\/64$/);
    expect((one.json as { Address: string }).Address).not.toBe('fd00:81::1/64');
  });

  it('serves a dual-stack network: the IPv6 pool of network NAME is PoolID NAME:v6', async () => {
    // `docker network create --ipv6 --subnet 10.84.0.0/24 --subnet fd00:84::/64 --ipam-opt
    // network=ds`: two RequestPools with the same Options, V6 false then V6 true.
    const v4 = await pool({ Pool: '10.84.0.0/24', Options: { network: 'ds' } });
    const v6 = await pool({ V6: true, Pool: 'fd00:84::/64', Options: { network: 'ds' } });
    expect(v4.json).toEqual({
      PoolID: 'ds',
      Pool: '10.84.0.0/24',
      Data: { [GW]: '10.84.0.1/24' },
    });
    expect(v6.json).toEqual({
      PoolID: 'ds:v6',
      Pool: 'fd00:84::/64',
      Data: { [GW]: 'fd00:84::1/64' },
    });
    const mac = { [MAC]: '02:42:0a:54:00:02' };
    const a4 = await address({ PoolID: 'ds', Options: mac });
    const a6 = await address({ PoolID: 'ds:v6', Options: mac });
    const ip4 = (a4.json as { Address: string }).Address;
    const ip6 = (a6.json as { Address: string }).Address;
    expect(ip4).toMatch(/^10\.84\.0\.\d+\/24$/);
    expect(ip6).toMatch(/^fd00:84::[0-9a-f:]+\/64$/);
    const keys = await suite.setup.keys();
    const bare4 = ip4.split('/')[0] as string;
    const bare6 = ip6.split('/')[0] as string;
    // Each pool's first dynamic address came from a block of 16 the host claimed.
    const block4 = blockOf(parseAddress(bare4), parseSubnet('10.84.0.0/24'));
    const block6 = blockOf(parseAddress(bare6), parseSubnet('fd00:84::/64'));
    expect(
      Object.keys(keys)
        .filter((k) => k.includes('/ds') || k.includes('10.84.') || k.includes('fd00:84:'))
        .sort(),
    ).toEqual(
      [
        'addresses/ds/10.84.0.1',
        `addresses/ds/${bare4}`,
        'addresses/ds:v6/fd00:84::1',
        `addresses/ds:v6/${bare6}`,
        `affinity/ds/node-a/${block4}`,
        `affinity/ds:v6/node-a/${block6}`,
        `blocks/ds/${block4}`,
        `blocks/ds:v6/${block6}`,
        'holds/ds/node-a',
        'holds/ds:v6/node-a',
        'pools/ds',
        'pools/ds:v6',
        'subnets/10.84.0.0/24',
        'subnets/fd00:84::/64',
      ].sort(),
    );
    expect(keys[`addresses/ds:v6/${bare6}`]).toMatchObject({
      kind: 'endpoint',
      attrs: { mac: '02:42:0a:54:00:02' },
    });
    // Releases name the PoolID Docker was given.
    for (const [id, ip] of [
      ['ds:v6', bare6],
      ['ds', ip4.split('/')[0]],
    ]) {
      const released = await call(suite.plugin.socketPath, ROUTES.releaseAddress, {
        PoolID: id,
        Address: ip,
      });
      expect(released.json).toEqual({});
    }
    for (const id of ['ds:v6', 'ds']) {
      expect(
        (await call(suite.plugin.socketPath, ROUTES.releasePool, { PoolID: id })).json,
      ).toEqual({});
    }
    expect(
      Object.keys(await suite.setup.keys()).filter(
        (k) => k.includes('/ds') || k.includes('10.84.') || k.includes('fd00:84:'),
      ),
    ).toEqual([]);
  });

  it('refuses a network name with a colon: `:v6` belongs to the plugin', async () => {
    const before = await suite.setup.revision();
    const reply = await pool({ V6: true, Pool: 'fd00:99::/64', Options: { network: 'ds:v6' } });
    expect(reply.status).toBe(400);
    expect((reply.json as { Err: string }).Err).toContain(
      'Options.network "ds:v6" is not a valid pool name',
    );
    expect(await suite.setup.revision()).toBe(before);
  });

  it('answers a repeated dynamic request from a holding host with an error naming the subnet', async () => {
    // Docker asks again when the pool overlaps a host route; the same pool again would loop forever.
    const again = await pool({ Options: { network: 'kontena0' } });
    expect(again.status).toBe(409);
    expect((again.json as { Err: string }).Err).toContain('10.80.0.0/24');
  });

  it('refuses a static subnet overlapping another pool with 409 and writes nothing', async () => {
    const before = await suite.setup.revision();
    const reply = await pool({ Pool: '10.81.5.0/24', Options: { network: 'overlapping' } });
    expect(reply.status).toBe(409);
    expect((reply.json as { Err: string }).Err).toContain('10.81.0.0/16');
    expect(await suite.setup.revision()).toBe(before);
  });
});

describe('the gateway', () => {
  it('takes --ipam-opt gateway=… when the pool is created, so --gateway then matches', async () => {
    const created = await pool({
      Pool: '10.86.0.0/24',
      Options: { network: 'gw', gateway: '10.86.0.254' },
    });
    expect(created.json).toEqual({
      PoolID: 'gw',
      Pool: '10.86.0.0/24',
      Data: { [GW]: '10.86.0.254/24' },
    });
    const gateway = await address({
      PoolID: 'gw',
      Address: '10.86.0.254',
      Options: { RequestAddressType: GW },
    });
    expect(gateway.json).toEqual({ Address: '10.86.0.254/24', Data: {} });
    expect((await suite.setup.keys())['addresses/gw/10.86.0.254']).toMatchObject({
      kind: 'gateway',
    });
  });

  it('moves the gateway to a --gateway X asked by the only host holding the pool', async () => {
    // Docker 20.10 with `--gateway X`: RequestPool (Data names .1), then RequestAddress(gateway, X).
    const created = await pool({ Pool: '10.87.0.0/24', Options: { network: 'gw2' } });
    expect(created.json).toEqual({
      PoolID: 'gw2',
      Pool: '10.87.0.0/24',
      Data: { [GW]: '10.87.0.1/24' },
    });
    const reply = await address({
      PoolID: 'gw2',
      Address: '10.87.0.254',
      Options: { RequestAddressType: GW },
    });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ Address: '10.87.0.254/24', Data: {} });
    const keys = await suite.setup.keys();
    // Exactly: the pool, its hold, its reservation, the new gateway's record and the block the
    // creation claimed for this host; none at .1 any more.
    expect(Object.values(claimsIn(keys, 'gw2'))).toEqual(['node-a']);
    expect(
      withoutClaims(Object.keys(keys))
        .filter((k) => k.includes('gw2') || k.includes('10.87.'))
        .sort(),
    ).toEqual([
      'addresses/gw2/10.87.0.254',
      'holds/gw2/node-a',
      'pools/gw2',
      'subnets/10.87.0.0/24',
    ]);
    expect(keys['pools/gw2']).toMatchObject({ gateway: '10.87.0.254' });
    expect(holdsIn(keys, 'gw2')).toEqual({ 'node-a': 1 });
    expect(keys['addresses/gw2/10.87.0.254']).toMatchObject({ kind: 'gateway', node: 'node-a' });
    // Another host creating the network later gets X from RequestPool's Data.
    const other = await startPlugin(suite.dir.path, suite.setup.store, { node: 'node-b' });
    try {
      const joined = await call(other.socketPath, ROUTES.requestPool, {
        AddressSpace: 'local',
        Pool: '10.87.0.0/24',
        SubPool: '',
        Options: { network: 'gw2' },
        V6: false,
      });
      expect(joined.json).toEqual({
        PoolID: 'gw2',
        Pool: '10.87.0.0/24',
        Data: { [GW]: '10.87.0.254/24' },
      });
      // A container gets any address but X, maybe the old default gateway.
      const container = await address({ PoolID: 'gw2', Options: { [MAC]: '02:42:0a:57:00:09' } });
      expect((container.json as { Address: string }).Address).not.toBe('10.87.0.254/24');
    } finally {
      await other.close();
    }
  });

  it('explains a --gateway it cannot move to: the pool is held by another host too', async () => {
    await pool({ Pool: '10.89.0.0/24', Options: { network: 'gw4' } });
    const other = await startPlugin(suite.dir.path, suite.setup.store, { node: 'node-b' });
    try {
      await call(other.socketPath, ROUTES.requestPool, {
        Pool: '10.89.0.0/24',
        Options: { network: 'gw4' },
        V6: false,
      });
    } finally {
      await other.close();
    }
    const before = await suite.setup.revision();
    const reply = await address({
      PoolID: 'gw4',
      Address: '10.89.0.254',
      Options: { RequestAddressType: GW },
    });
    expect(reply.status).toBe(400);
    expect((reply.json as { Err: string }).Err).toBe(
      'network gw4 has gateway 10.89.0.1, not 10.89.0.254, and cannot move it: the pool is held by other hosts too (node-b); pass --ipam-opt gateway=10.89.0.254 along with --gateway 10.89.0.254 on every host',
    );
    expect(await suite.setup.revision()).toBe(before);
  });

  it('refuses a gateway option without a Pool, outside it, or not a host address', async () => {
    const before = await suite.setup.revision();
    const dynamic = await pool({ Options: { network: 'gw3', gateway: '10.80.9.1' } });
    expect((dynamic.json as { Err: string }).Err).toContain(
      'gateway 10.80.9.1 given without a subnet',
    );
    const outside = await pool({
      Pool: '10.88.0.0/24',
      Options: { network: 'gw3', gateway: '10.89.0.1' },
    });
    expect((outside.json as { Err: string }).Err).toContain(
      'gateway 10.89.0.1 is not inside subnet 10.88.0.0/24',
    );
    const broadcast = await pool({
      Pool: '10.88.0.0/24',
      Options: { network: 'gw3', gateway: '10.88.0.255' },
    });
    expect(broadcast.status).toBe(400);
    const v6 = await pool({
      Pool: '10.88.0.0/24',
      Options: { network: 'gw3', gateway: 'fd00::1' },
    });
    expect(v6.status).toBe(400);
    expect(await suite.setup.revision()).toBe(before);
  });
});

describe('RequestAddress', () => {
  it('shares an aux address (Options null) but keeps a container --ip (with MAC) exclusive', async () => {
    const aux = await address({ PoolID: 'kontena', Address: '10.81.0.10' });
    expect(aux.json).toEqual({ Address: '10.81.0.10/16', Data: {} });
    // The same network created on another host asks for the same aux address: fine.
    const auxAgain = await address({ PoolID: 'kontena', Address: '10.81.0.10' });
    expect(auxAgain.status).toBe(200);
    expect((await suite.setup.keys())['addresses/kontena/10.81.0.10']).toMatchObject({
      kind: 'aux',
    });

    const ip = await address({
      PoolID: 'kontena',
      Address: '10.81.200.1',
      Options: { [MAC]: '02:42:aa:bb:cc:01' },
    });
    expect(ip.json).toEqual({ Address: '10.81.200.1/16', Data: {} });
    const taken = await address({
      PoolID: 'kontena',
      Address: '10.81.200.1',
      Options: { [MAC]: '02:42:aa:bb:cc:02' },
    });
    expect(taken.status).toBe(409);
    expect((taken.json as { Err: string }).Err).toContain('10.81.200.1');
  });

  it('keeps the endpoint name (Docker 29+) with the MAC', async () => {
    const reply = await address({
      PoolID: 'kontena',
      Options: {
        [MAC]: '02:42:aa:bb:cc:03',
        'com.docker.network.endpoint.name': 'furious_hypatia',
      },
    });
    const ip = (reply.json as { Address: string }).Address.split('/')[0];
    expect((await suite.setup.keys())[`addresses/kontena/${ip}`]).toMatchObject({
      kind: 'endpoint',
      attrs: { mac: '02:42:aa:bb:cc:03', endpoint: 'furious_hypatia' },
    });
  });

  it('refuses an unknown pool with 404, an address outside the pool and a prefixed address with 400', async () => {
    const unknown = await address({ PoolID: 'nosuchpool' });
    expect(unknown.status).toBe(404);
    expect((unknown.json as { Err: string }).Err).toContain('nosuchpool');
    const outside = await address({
      PoolID: 'kontena',
      Address: '10.99.0.1',
      Options: { [MAC]: '02:42:aa:bb:cc:04' },
    });
    expect(outside.status).toBe(400);
    expect((outside.json as { Err: string }).Err).toContain('10.99.0.1');
    const prefixed = await address({ PoolID: 'kontena', Address: '10.81.0.5/16' });
    expect(prefixed.status).toBe(400);
    expect((prefixed.json as { Err: string }).Err).toContain(
      'Address "10.81.0.5/16" must be a bare IP address',
    );
  });

  it('names every field at fault at once: every wrong type, then every wrong value', async () => {
    const before = await suite.setup.revision();
    const errOf = async (body: unknown): Promise<string> => {
      const reply = await call(suite.plugin.socketPath, ROUTES.requestAddress, body);
      expect(reply.status).toBe(400);
      return (reply.json as { Err: string }).Err;
    };
    // A field of the wrong type is named. (Today the values of the others are judged only once
    // every type is right, so "x" and "weird" wait for the next reply, as below.)
    const err = await errOf({ PoolID: 5, Address: 'x', Options: { RequestAddressType: 'weird' } });
    expect(err).toContain('PoolID must be a string, got 5');
    // Every field of the wrong type, named in one reply.
    expect(await errOf({ PoolID: 5, Address: 7, Options: 3 })).toBe(
      'PoolID must be a string, got 5; Address must be a string, got 7; Options must be a JSON object of strings, got 3',
    );
    // The types right, every value at fault named in one reply, each with its value.
    expect(
      (
        await errOf({
          PoolID: 'kontena1',
          Address: 'x',
          Options: {
            RequestAddressType: 'weird',
            'com.docker.network.endpoint.macaddress': 'not-a-mac',
          },
        })
      ).split('; '),
    ).toEqual([
      expect.stringMatching(/^Address "x" is not a valid IP address \(/),
      'Options.RequestAddressType "weird" is not a known request type (only "com.docker.network.gateway")',
      'Options.com.docker.network.endpoint.macaddress "not-a-mac" is not a MAC address',
    ]);
    // Nothing was written.
    expect(await suite.setup.revision()).toBe(before);
  });
});

describe('releases', () => {
  it('release an address, and answer {} again for the same or an unknown one', async () => {
    const taken = await address({ PoolID: 'kontena1', Options: { [MAC]: '02:42:00:00:00:09' } });
    const ip = (taken.json as { Address: string }).Address.split('/')[0] as string;
    expect((await suite.setup.keys())[`addresses/kontena1/${ip}`]).toBeDefined();
    for (let i = 0; i < 2; i++) {
      const reply = await call(suite.plugin.socketPath, ROUTES.releaseAddress, {
        PoolID: 'kontena1',
        Address: ip,
      });
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({});
    }
    expect((await suite.setup.keys())[`addresses/kontena1/${ip}`]).toBeUndefined();
    const unknown = await call(suite.plugin.socketPath, ROUTES.releaseAddress, {
      PoolID: 'nosuchpool',
      Address: '10.1.1.1',
    });
    expect(unknown.json).toEqual({});
    const line = suite.plugin.logs.lines
      .filter((l) => l.msg === 'request' && l.route === ROUTES.releaseAddress)
      .at(-1);
    expect(line).toMatchObject({
      pool: 'nosuchpool',
      address: '10.1.1.1',
      result: 'nothing to release',
      status: 200,
    });
  });

  it('remove the pool and its subnet on the last ReleasePool, then answer {} for it again', async () => {
    const reply = await call(suite.plugin.socketPath, ROUTES.releasePool, { PoolID: 'kontena1' });
    expect(reply.json).toEqual({});
    const keys = await suite.setup.keys();
    expect(keys['pools/kontena1']).toBeUndefined();
    expect(keys['subnets/10.80.1.0/24']).toBeUndefined();
    expect(Object.keys(keys).filter((k) => k.startsWith('addresses/kontena1/'))).toEqual([]);
    const again = await call(suite.plugin.socketPath, ROUTES.releasePool, { PoolID: 'kontena1' });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({});
  });
});

describe('the wire', () => {
  it('answers the handshake with empty bodies and Docker content type', async () => {
    const activate = await send(suite.plugin.socketPath, ROUTES.activate, '');
    expect(activate.status).toBe(200);
    expect(activate.headers['content-type']).toBe(PLUGIN_CONTENT_TYPE);
    expect(activate.json).toEqual({ Implements: ['IpamDriver'] });
    expect((await send(suite.plugin.socketPath, ROUTES.capabilities)).json).toEqual(CAPABILITIES);
    expect((await send(suite.plugin.socketPath, ROUTES.addressSpaces)).json).toEqual({
      LocalDefaultAddressSpace: 'local',
      GlobalDefaultAddressSpace: 'global',
    });
  });

  it('answers unknown routes 404, wrong methods 405, bad JSON 400, big bodies 413, all with Err', async () => {
    const unknown = await send(suite.plugin.socketPath, '/NetworkDriver.CreateNetwork', '{}\n');
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ Err: expect.stringContaining('/NetworkDriver.CreateNetwork') });
    const method = await send(suite.plugin.socketPath, ROUTES.requestPool, '', { method: 'GET' });
    expect(method.status).toBe(405);
    expect(method.json).toEqual({ Err: expect.any(String) });
    const bad = await send(suite.plugin.socketPath, ROUTES.requestPool, '{"Pool":\n');
    expect(bad.status).toBe(400);
    expect((bad.json as { Err: string }).Err).toContain('not valid JSON');
    const big = await send(
      suite.plugin.socketPath,
      ROUTES.requestPool,
      `{"Pool":"${'x'.repeat(1024 * 1024)}"}`,
    );
    expect(big.status).toBe(413);
    expect(big.json).toEqual({ Err: expect.stringContaining('limit') });
    const empty = await send(suite.plugin.socketPath, ROUTES.requestPool, '\n');
    expect(empty.status).toBe(400);
    expect((empty.json as { Err: string }).Err).toContain('empty');
  });

  it('answers 413 to an oversized body sent without Content-Length, and stays up', async () => {
    const big = await send(
      suite.plugin.socketPath,
      ROUTES.requestAddress,
      `{"PoolID":"${'x'.repeat(2 * 1024 * 1024)}"}`,
      {
        chunked: true,
      },
    );
    expect(big.status).toBe(413);
    expect((await send(suite.plugin.socketPath, ROUTES.activate)).status).toBe(200);
  });

  it('answers 400 to a deeply nested body (no 500, no crash)', async () => {
    const deep = await send(
      suite.plugin.socketPath,
      ROUTES.requestPool,
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    );
    expect(deep.status).toBe(400);
    expect((deep.json as { Err: string }).Err).toContain('request body must be a JSON object');
  });

  it('reports each request to onRequest for metrics', async () => {
    const events: RequestEvent[] = [];
    const counted = await startPlugin(suite.dir.path, suite.setup.store, {
      onRequest: (e) => events.push(e),
    });
    try {
      await send(counted.socketPath, ROUTES.activate);
      await send(counted.socketPath, `/Random.${'x'.repeat(500)}`, '{}');
      await call(counted.socketPath, ROUTES.requestAddress, {
        PoolID: 'nosuchpool',
        Address: '',
        Options: null,
      });
    } finally {
      await counted.close();
    }
    expect(events).toEqual([
      { route: ROUTES.activate, status: 200, outcome: 'ok', durationMs: expect.any(Number) },
      // a client-chosen path never becomes a metric label
      {
        route: 'unknown',
        status: 404,
        outcome: 'error',
        code: 'ROUTE_NOT_FOUND',
        durationMs: expect.any(Number),
      },
      {
        route: ROUTES.requestAddress,
        status: 404,
        outcome: 'error',
        code: 'POOL_NOT_FOUND',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('serves GET /health with etcd reachable', async () => {
    const health = await send(suite.plugin.socketPath, '/health', '', { method: 'GET' });
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ Status: 'ok', Etcd: 'reachable' });
    const posted = await send(suite.plugin.socketPath, '/health', '');
    expect(posted.status).toBe(405);
    expect((posted.json as { Err: string }).Err).toContain('takes GET');
  });

  it('logs the pool and its subnet for RequestPool, and the Err of a failure', async () => {
    await pool({ Options: { network: 'logged' } });
    await pool({ Options: {} });
    const lines = suite.plugin.logs.lines
      .filter((l) => l.msg === 'request' && l.route === ROUTES.requestPool)
      .slice(-2);
    expect(lines[0]).toMatchObject({
      pool: 'logged',
      subnet: expect.stringMatching(/^10\.80\.\d+\.0\/24$/),
      status: 200,
      outcome: 'ok',
    });
    expect(lines[1]).toMatchObject({
      status: 400,
      outcome: 'error',
      code: 'INVALID_REQUEST',
      err: expect.stringContaining('network=NAME'),
      level: 40,
    });
  });

  it('logs one line per request with route, pool, address, node, outcome, status and duration', async () => {
    const before = suite.plugin.logs.lines.length;
    await address({ PoolID: 'kontena', Options: { [MAC]: '02:42:00:00:00:42' } });
    const lines = suite.plugin.logs.lines.slice(before);
    const requestLines = lines.filter((l) => l.msg === 'request');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({
      route: ROUTES.requestAddress,
      pool: 'kontena',
      address: expect.stringMatching(/^10\.81\./),
      node: 'node-a',
      outcome: 'ok',
      status: 200,
      durationMs: expect.any(Number),
    });
    // debug level carries the bodies
    expect(lines.find((l) => l.msg === 'request body')).toMatchObject({
      body: expect.stringContaining('02:42:00:00:00:42'),
    });
    expect(lines.find((l) => l.msg === 'reply body')).toMatchObject({
      reply: { Address: expect.any(String) },
    });
  });
});
