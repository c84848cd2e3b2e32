/**
 * Malformed and hostile bodies for every route (fast-check): each gets a 4xx with an Err,
 * the server stays up, and etcd is not written to.
 */
import { parseAddressWithPrefix, parseSubnet } from '@kontena-ipam/cidr';
import { parsePoolId } from '@kontena-ipam/store';
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { ROUTES } from '../src/protocol.js';
import { type RawReply, send } from './support/client.js';
import { pluginSuite } from './support/plugin.js';

// A small body limit so oversized bodies are cheap to generate.
const suite = pluginSuite({
  store: { supernet: '10.80.0.0/12' },
  plugin: { bodyLimitBytes: 16 * 1024 },
});

beforeAll(async () => {
  // One existing pool, so that requests naming it reach validation of every other field.
  const created = await send(
    suite.plugin.socketPath,
    ROUTES.requestPool,
    '{"AddressSpace":"local","Pool":"10.81.0.0/24","SubPool":"","Options":{"network":"fuzz"},"V6":false}\n',
  );
  expect(created.status).toBe(200);
});

const fails = (fn: () => unknown): boolean => {
  try {
    fn();
    return false;
  } catch {
    return true;
  }
};

// ---- values that are always wrong for a field -------------------------------------------
const notAString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);
const tooLong = fc.string({ minLength: 257, maxLength: 400 });
const badSubnet = fc.oneof(
  fc.string({ maxLength: 30 }).filter((s) => s !== '' && fails(() => parseSubnet(s))),
  fc.constantFrom(
    '10.0.0.0/33',
    '10.0.0.1/8',
    '256.0.0.0/8',
    '10.0.0.0',
    '10.0.0.0/-1',
    '::/129',
    'fd00::1/64',
    ' 10.0.0.0/8',
    '10.0.0.0/8\n',
  ),
);
const badAddress = fc.oneof(
  fc.string({ maxLength: 30 }).filter((s) => s !== '' && fails(() => parseAddressWithPrefix(s))),
  fc.constantFrom('10.81.0.5/24', '300.1.1.1', '10.81.0', 'fd00::g', '10.81.0.5 ', '0x0a.0.0.1'),
);
const badPoolId = fc.oneof(
  fc.string({ maxLength: 40 }).filter((s) => fails(() => parsePoolId(s))),
  fc.constantFrom('', '../etc', '__proto__', '-x', 'a b', 'a/b', 'x'.repeat(129), 'ü'),
);
const badMac = fc
  .string({ maxLength: 25 })
  .filter((s) => !/^[0-9a-f]{2}(:[0-9a-f]{2}){5,19}$/i.test(s));
const controlName = fc.string({ maxLength: 10 }).map((s) => `${s}\u0000`);

type Body = Record<string, unknown>;
const faulty = (base: Body, faults: Array<fc.Arbitrary<(b: Body) => void>>) =>
  fc.array(fc.oneof(...faults), { minLength: 1, maxLength: 3 }).map((mutations) => {
    const body = structuredClone(base);
    for (const mutate of mutations) mutate(body);
    return `${JSON.stringify(body)}\n`;
  });
const set = (key: string, value: fc.Arbitrary<unknown>) =>
  value.map((v) => (b: Body) => {
    b[key] = v;
  });
const drop = (key: string) => fc.constant((b: Body) => void delete b[key]);
const setOption = (key: string, value: fc.Arbitrary<unknown>) =>
  value.map((v) => (b: Body) => {
    b.Options = { ...((b.Options as Body | null) ?? {}), [key]: v };
  });

const poolBase = {
  AddressSpace: 'local',
  Pool: '',
  SubPool: '',
  Options: { network: 'fuzz2' },
  V6: false,
};
const requestPoolBodies = faulty(poolBase, [
  set('AddressSpace', fc.oneof(notAString, tooLong)),
  set('Pool', fc.oneof(notAString, tooLong, badSubnet)),
  set('SubPool', fc.oneof(notAString, badSubnet)),
  set('V6', fc.oneof(fc.string(), fc.integer(), fc.constant(null))),
  set(
    'Options',
    fc.oneof(fc.integer(), fc.string(), fc.array(fc.string()), fc.constant({}), fc.constant(null)),
  ),
  setOption('network', fc.oneof(notAString, badPoolId)),
  // any gateway on a dynamic pool (the base has no Pool), or one that is not an address
  setOption('gateway', fc.oneof(notAString, badAddress, fc.ipV4(), fc.ipV6())),
  // SubPool without Pool, or outside it
  fc.constant((b: Body) => void Object.assign(b, { Pool: '', SubPool: '10.82.0.0/24' })),
  fc.constant(
    (b: Body) => void Object.assign(b, { Pool: '10.83.0.0/24', SubPool: '10.84.0.0/25' }),
  ),
  // Family mismatch, dynamic IPv6 without a supernet
  fc.constant((b: Body) => void Object.assign(b, { Pool: 'fd00:1::/64', V6: false })),
  fc.constant((b: Body) => void Object.assign(b, { Pool: '', V6: true })),
]);

const addressBase = { PoolID: 'fuzz', Address: '', Options: null };
const requestAddressBodies = faulty(addressBase, [
  set('PoolID', fc.oneof(notAString, badPoolId, tooLong)),
  drop('PoolID'),
  set('Address', fc.oneof(notAString, badAddress, tooLong)),
  set('Options', fc.oneof(fc.integer(), fc.string(), fc.array(fc.string()))),
  setOption(
    'RequestAddressType',
    fc.oneof(
      notAString,
      fc.string().filter((s) => s !== 'com.docker.network.gateway'),
    ),
  ),
  setOption('com.docker.network.endpoint.macaddress', fc.oneof(notAString, badMac)),
  setOption('com.docker.network.endpoint.name', fc.oneof(notAString, controlName, tooLong)),
  // outside the pool (the store says so, before writing)
  fc.constant(
    (b: Body) =>
      void Object.assign(b, {
        Address: '10.99.0.1',
        Options: { 'com.docker.network.endpoint.macaddress': '02:42:00:00:00:01' },
      }),
  ),
]);

const releaseAddressBodies = faulty({ PoolID: 'fuzz', Address: '10.81.0.7' }, [
  set('PoolID', fc.oneof(notAString, badPoolId)),
  drop('PoolID'),
  set('Address', fc.oneof(notAString, badAddress, fc.constant(''))),
  drop('Address'),
]);

const releasePoolBodies = faulty({ PoolID: 'fuzz' }, [
  set('PoolID', fc.oneof(notAString, badPoolId, tooLong)),
  drop('PoolID'),
]);

// ---- bodies wrong for any route ----------------------------------------------------------
const notJson = fc
  .string({ minLength: 1, maxLength: 200 })
  .filter((s) => s.trim() !== '' && fails(() => JSON.parse(s)));
const notUtf8 = fc
  .uint8Array({ minLength: 1, maxLength: 64 })
  .map((bytes) => Buffer.concat([Buffer.from([0xff, 0xfe]), bytes]));
const notAnObject = fc
  .oneof(fc.integer(), fc.string(), fc.boolean(), fc.array(fc.jsonValue(), { maxLength: 5 }))
  .map((v) => `${JSON.stringify(v)}\n`);
const deep = fc.integer({ min: 100, max: 5000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
const unterminated = fc.integer({ min: 1000, max: 15000 }).map((n) => '{"a":'.repeat(n));
const oversized = fc
  .integer({ min: 16 * 1024 + 1, max: 64 * 1024 })
  .map((n) => `{"PoolID":"${'x'.repeat(n)}"}`);
const anyRoute = fc.oneof(notJson, notUtf8, notAnObject, deep, unterminated, oversized);

const storeRoutes: Array<[string, fc.Arbitrary<string | Buffer>]> = [
  [
    ROUTES.requestPool,
    fc.oneof(requestPoolBodies, anyRoute, fc.constant('null\n'), fc.constant('')),
  ],
  [
    ROUTES.requestAddress,
    fc.oneof(requestAddressBodies, anyRoute, fc.constant('null\n'), fc.constant('')),
  ],
  [ROUTES.releaseAddress, fc.oneof(releaseAddressBodies, anyRoute, fc.constant('{}\n'))],
  [ROUTES.releasePool, fc.oneof(releasePoolBodies, anyRoute, fc.constant('{}\n'))],
];
const handshakeRoutes = [ROUTES.activate, ROUTES.capabilities, ROUTES.addressSpaces];

function expectClientError(reply: RawReply, body: string | Buffer): void {
  const context = `${reply.status} ${reply.text} for ${String(body).slice(0, 200)}`;
  expect(reply.status, context).toBeGreaterThanOrEqual(400);
  expect(reply.status, context).toBeLessThan(500);
  expect(typeof (reply.json as { Err?: unknown })?.Err, context).toBe('string');
  expect((reply.json as { Err: string }).Err.length, context).toBeGreaterThan(0);
}

it('answers every malformed body on every route with a 4xx Err and writes nothing', async () => {
  const before = await suite.setup.revision();
  for (const [route, bodies] of storeRoutes) {
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        expectClientError(await send(suite.plugin.socketPath, route, body), body);
      }),
      { numRuns: 250 },
    );
  }
  for (const route of handshakeRoutes) {
    await fc.assert(
      fc.asyncProperty(anyRoute, async (body) => {
        expectClientError(await send(suite.plugin.socketPath, route, body), body);
      }),
      { numRuns: 60 },
    );
  }
  expect(await suite.setup.revision()).toBe(before);
  // Still up, still serving.
  expect((await send(suite.plugin.socketPath, ROUTES.activate)).status).toBe(200);
});

it('answers unknown routes and wrong methods with 4xx Err', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc
        .webPath()
        .map((p) => p.split('?')[0] ?? '')
        .filter(
          (p) =>
            p.startsWith('/') &&
            !(Object.values(ROUTES) as string[]).includes(p) &&
            p !== '/health',
        ),
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      async (path, method) => {
        expectClientError(await send(suite.plugin.socketPath, path, '{}', { method }), path);
      },
    ),
    { numRuns: 100 },
  );
  for (const route of Object.values(ROUTES)) {
    expectClientError(await send(suite.plugin.socketPath, route, '', { method: 'GET' }), route);
  }
});
