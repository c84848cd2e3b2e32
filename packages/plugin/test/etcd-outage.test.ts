/**
 * etcd down at start, lost mid-run, frozen, and back: the plugin starts anyway, answers the
 * handshake, answers store calls with 503 "etcd unavailable at …" instead of hanging Docker,
 * and works again once etcd is back, without a restart.
 */
import { expect, it } from 'vitest';
import { ROUTES } from '../src/protocol.js';
import { CAPABILITIES } from '../src/routes.js';
import { call, send } from './support/client.js';
import { pluginSuite, startPlugin } from './support/plugin.js';

const MAC = 'com.docker.network.endpoint.macaddress';

// Down before the plugin starts (kontena/kontena#1811: the original crash-looped here).
const suite = pluginSuite({
  store: { supernet: '10.80.0.0/12', deadlineMs: 1000 },
  plugin: { callTimeoutMs: 4000 },
  beforeStart: (etcd) => etcd.stopMember(etcd.members[0]?.name as string),
});
let firstAddress = '';

const member = () => suite.etcd.members[0]?.name as string;
const poolBody = (network: string) => ({
  AddressSpace: 'local',
  Pool: '',
  SubPool: '',
  Options: { network },
  V6: false,
});

function expectUnavailable(reply: { status: number; json: unknown }): void {
  expect(reply.status).toBe(503);
  expect((reply.json as { Err: string }).Err).toContain(
    `etcd unavailable at ${suite.etcd.endpoint}`,
  );
}

it('starts and answers the handshake while etcd is down', async () => {
  expect((await send(suite.plugin.socketPath, ROUTES.activate)).json).toEqual({
    Implements: ['IpamDriver'],
  });
  expect((await send(suite.plugin.socketPath, ROUTES.capabilities)).json).toEqual(CAPABILITIES);
  expect((await send(suite.plugin.socketPath, ROUTES.addressSpaces)).status).toBe(200);
});

it('answers store calls with 503 naming the endpoint, and /health says unreachable', async () => {
  expectUnavailable(await call(suite.plugin.socketPath, ROUTES.requestPool, poolBody('outage')));
  expectUnavailable(
    await call(suite.plugin.socketPath, ROUTES.requestAddress, {
      PoolID: 'outage',
      Address: '',
      Options: null,
    }),
  );
  expectUnavailable(
    await call(suite.plugin.socketPath, ROUTES.releaseAddress, {
      PoolID: 'outage',
      Address: '10.80.0.2',
    }),
  );
  expectUnavailable(await call(suite.plugin.socketPath, ROUTES.releasePool, { PoolID: 'outage' }));
  const health = await send(suite.plugin.socketPath, '/health', '', { method: 'GET' });
  expect(health.status).toBe(503);
  expect(health.json).toMatchObject({
    Status: 'unavailable',
    Etcd: 'unreachable',
    Err: expect.stringContaining(suite.etcd.endpoint),
  });
  // Bad input is still told apart from an outage: validation comes first.
  expect((await call(suite.plugin.socketPath, ROUTES.requestPool, { Options: {} })).status).toBe(
    400,
  );
});

it('works once etcd is up, without a restart', async () => {
  await suite.etcd.startMember(member());
  const created = await waitFor(() =>
    call(suite.plugin.socketPath, ROUTES.requestPool, poolBody('outage')),
  );
  expect(created.json).toMatchObject({ PoolID: 'outage', Pool: '10.80.0.0/24' });
  const one = await call(suite.plugin.socketPath, ROUTES.requestAddress, {
    PoolID: 'outage',
    Address: '',
    Options: { [MAC]: '02:42:00:00:00:01' },
  });
  expect((one.json as { Address: string }).Address).toMatch(/^10\.80\.0\.\d+\/24$/);
  firstAddress = (one.json as { Address: string }).Address.split('/')[0] as string;
  expect((await send(suite.plugin.socketPath, '/health', '', { method: 'GET' })).status).toBe(200);
});

it('answers 503 when etcd is lost mid-run, and recovers when it is back', async () => {
  await suite.etcd.stopMember(member());
  expectUnavailable(
    await call(suite.plugin.socketPath, ROUTES.requestAddress, {
      PoolID: 'outage',
      Address: '',
      Options: { [MAC]: '02:42:00:00:00:02' },
    }),
  );
  await suite.etcd.startMember(member());
  const two = await waitFor(() =>
    call(suite.plugin.socketPath, ROUTES.requestAddress, {
      PoolID: 'outage',
      Address: '',
      Options: { [MAC]: '02:42:00:00:00:03' },
    }),
  );
  expect((two.json as { Address: string }).Address).toMatch(/^10\.80\.0\.\d+\/24$/);
  const keys = await suite.setup.keys();
  expect(keys[`addresses/outage/${firstAddress}`]).toMatchObject({
    attrs: { mac: '02:42:00:00:00:01' },
  });
});

it('answers 503 within its own deadline when etcd hangs (process frozen)', async () => {
  const etcdProcess = suite.etcd.members[0]?.process;
  expect(etcdProcess).toBeDefined();
  // A short per-call deadline: a second server on the same store.
  const impatient = await startPlugin(suite.dir.path, suite.setup.store, {
    endpoint: suite.etcd.endpoint,
    callTimeoutMs: 300,
    node: 'node-b',
  });
  etcdProcess?.kill('SIGSTOP');
  try {
    const reply = await call(impatient.socketPath, ROUTES.requestPool, poolBody('frozen'));
    expectUnavailable(reply);
    // The store got the call's budget (its deadline less a margin) and answered inside it with
    // its own error, before the handler's timer and long before its per-call deadline (1000 ms).
    expect(impatient.logs.lines.find((l) => l.msg === 'request')).toMatchObject({
      status: 503,
      code: 'UNAVAILABLE',
    });
  } finally {
    etcdProcess?.kill('SIGCONT');
  }
  // Nothing of the store's work outlived the reply: no late answer is ever logged.
  await new Promise((r) => setTimeout(r, 1500));
  expect(impatient.logs.lines.some((l) => l.msg === 'store answered after the deadline')).toBe(
    false,
  );
  await impatient.close();
  const after = await waitFor(() =>
    call(suite.plugin.socketPath, ROUTES.requestAddress, {
      PoolID: 'outage',
      Address: '',
      Options: { [MAC]: '02:42:00:00:00:04' },
    }),
  );
  expect(after.status).toBe(200);
});

/** waitFor retries a call while it answers 503 (etcd's leader election after a restart). */
async function waitFor(
  fn: () => Promise<{ status: number; json: unknown }>,
): Promise<{ status: number; json: unknown }> {
  for (let attempt = 0; ; attempt++) {
    const reply = await fn();
    if (reply.status !== 503 || attempt >= 40) return reply;
    await new Promise((r) => setTimeout(r, 250));
  }
}
