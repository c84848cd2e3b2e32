/**
 * The unix socket's life: folder created, mode 0660, a stale socket (left by a crash)
 * replaced, a live one refused, a non-socket file refused, close() finishing in-flight
 * requests and removing the socket.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNodeId } from '@kontena-ipam/store';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PluginError } from '../src/errors.js';
import { ROUTES } from '../src/protocol.js';
import { PluginServer } from '../src/server.js';
import { call, send } from './support/client.js';
import { captureLogs } from './support/logs.js';
import { type StoreSetup, startPlugin, storeSetup, tempDir } from './support/plugin.js';

let etcd: EtcdCluster & { endpoint: string };
let dir: ReturnType<typeof tempDir>;
let setup: StoreSetup;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = tempDir();
  setup = storeSetup(etcd.endpoint, { supernet: '10.80.0.0/12' });
});

afterAll(async () => {
  await setup?.close();
  await etcd?.stop();
  dir?.remove();
});

const serverAt = (socketPath: string) =>
  new PluginServer({
    backend: setup.store,
    node: parseNodeId('node-a'),
    socketPath,
    logger: captureLogs().logger,
  });

it('creates the folder and listens with mode 0660', async () => {
  const socketPath = join(dir.path, 'deep', 'er', 'kontena-ipam.sock');
  const server = serverAt(socketPath);
  await server.listen();
  try {
    const stats = statSync(socketPath);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o660);
    expect((await send(socketPath, ROUTES.activate)).status).toBe(200);
  } finally {
    await server.close();
  }
  expect(existsSync(socketPath)).toBe(false);
});

it('honours socketMode', async () => {
  const socketPath = join(dir.path, 'mode.sock');
  const server = new PluginServer({
    backend: setup.store,
    node: parseNodeId('node-a'),
    socketPath,
    logger: captureLogs().logger,
    socketMode: 0o600,
  });
  await server.listen();
  expect(statSync(socketPath).mode & 0o777).toBe(0o600);
  await server.close();
});

it('replaces a stale socket left by a crashed process', async () => {
  const socketPath = join(dir.path, 'stale.sock');
  // A real process listens, then dies by SIGKILL: the socket file stays, nobody accepts.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
  expect(statSync(socketPath).isSocket()).toBe(true);

  const server = serverAt(socketPath);
  await server.listen();
  try {
    expect((await send(socketPath, ROUTES.activate)).json).toEqual({ Implements: ['IpamDriver'] });
  } finally {
    await server.close();
  }
});

it('refuses a socket that a live process serves, and leaves it alone', async () => {
  const first = await startPlugin(dir.path, setup.store);
  try {
    const second = serverAt(first.socketPath);
    const error = await second.listen().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PluginError);
    expect(error).toMatchObject({
      code: 'SOCKET_IN_USE',
      message: expect.stringContaining(first.socketPath),
    });
    // The first server still answers on its socket.
    expect((await send(first.socketPath, ROUTES.activate)).status).toBe(200);
  } finally {
    await first.close();
  }
});

it('refuses a path that is not a socket', async () => {
  const path = join(dir.path, 'regular-file.sock');
  writeFileSync(path, 'not a socket');
  const error = await serverAt(path)
    .listen()
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toMatchObject({ code: 'SOCKET_PATH_INVALID' });
  expect(existsSync(path)).toBe(true);
});

it('finishes in-flight requests on close, then removes the socket', async () => {
  const plugin = await startPlugin(dir.path, setup.store);
  const etcdProcess = etcd.members[0]?.process;
  // Freeze etcd so the requests stay in flight while close() starts.
  etcdProcess?.kill('SIGSTOP');
  let closing: Promise<void> | undefined;
  try {
    const inFlight = Array.from({ length: 5 }, (_, i) =>
      call(plugin.socketPath, ROUTES.requestPool, {
        AddressSpace: 'local',
        Pool: '',
        SubPool: '',
        Options: { network: `closing${i}` },
        V6: false,
      }),
    );
    while (plugin.server.inFlight < 5) await new Promise((r) => setTimeout(r, 5));
    closing = plugin.server.close(10_000);
    // Closed for new connections at once, while the five are still being served.
    await expect(send(plugin.socketPath, ROUTES.activate)).rejects.toThrow();
    etcdProcess?.kill('SIGCONT');
    await closing;
    const replies = await Promise.all(inFlight);
    for (const reply of replies) expect(reply.status).toBe(200);
  } finally {
    etcdProcess?.kill('SIGCONT');
    await closing;
  }
  expect(existsSync(plugin.socketPath)).toBe(false);
  const keys = await setup.keys();
  for (let i = 0; i < 5; i++) expect(keys[`pools/closing${i}`]).toBeDefined();
});

it('close() gives up on a request still hanging after graceMs, and still removes the socket', async () => {
  // A store whose etcd calls wait long: the request outlives the grace period.
  const patient = storeSetup(etcd.endpoint, { supernet: '10.80.0.0/12', deadlineMs: 20_000 });
  const plugin = await startPlugin(dir.path, patient.store, { callTimeoutMs: 20_000 });
  const etcdProcess = etcd.members[0]?.process;
  etcdProcess?.kill('SIGSTOP');
  try {
    const hanging = call(plugin.socketPath, ROUTES.requestPool, {
      Options: { network: 'hanging' },
    }).then(
      (reply) => reply.status,
      (error: NodeJS.ErrnoException) => error.code,
    );
    while (plugin.server.inFlight < 1) await new Promise((r) => setTimeout(r, 5));
    await plugin.server.close(200);
    expect(existsSync(plugin.socketPath)).toBe(false);
    // The connection was cut: the client sees a reset, never a reply.
    expect(await hanging).toBe('ECONNRESET');
    expect(plugin.logs.lines.find((l) => l.msg === 'plugin stopped')).toMatchObject({
      abandoned: 1,
    });
  } finally {
    etcdProcess?.kill('SIGCONT');
    await patient.close();
  }
});
