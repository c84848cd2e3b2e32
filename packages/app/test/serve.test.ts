import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EtcdCluster, startEtcdCluster } from '@kontena-ipam/testing/etcd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callPlugin, type PluginProcess, runBin, startPlugin } from './support/plugin-process.js';

const dynamicRequest = {
  AddressSpace: 'GlobalDefault',
  Pool: '',
  SubPool: '',
  Options: { network: 'kontena0' },
  V6: false,
};

describe('kontena-ipam serving while etcd is down (kontena/kontena#1811)', () => {
  let etcd: EtcdCluster;
  let plugin: PluginProcess | undefined;
  let dir: string;
  let socket: string;
  let endpoint: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-serve-'));
    socket = join(dir, 'plugins', 'kontena-ipam.sock');
    etcd = await startEtcdCluster(1);
    endpoint = etcd.endpoints[0] as string;
    await etcd.stopMember('m0');
    plugin = await startPlugin({
      socket,
      env: { ETCD_ENDPOINT: endpoint, NODE_ID: 'node-a', KONTENA_IPAM_ETCD_TIMEOUT: '1000' },
    });
  });
  afterAll(async () => {
    await plugin?.stop('SIGKILL');
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers Plugin.Activate without etcd', async () => {
    const reply = await callPlugin(socket, 'Plugin.Activate', undefined);
    expect(reply).toEqual({ status: 200, body: { Implements: ['IpamDriver'] } });
  });

  it('answers a store call with a clear error naming the endpoint, and keeps running', async () => {
    const reply = await callPlugin(socket, 'IpamDriver.RequestPool', dynamicRequest);
    expect(reply.status).toBeGreaterThanOrEqual(500);
    expect(String(reply.body.Err)).toMatch(/unavailable/i);
    expect(String(reply.body.Err)).toContain(endpoint);
    expect(plugin?.child.exitCode).toBeNull();
    // The background watcher logs the outage once its own ping times out.
    for (let i = 0; i < 100 && !plugin?.output().includes('etcd is unavailable'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(plugin?.output()).toContain('etcd is unavailable');
  });

  it('the healthcheck command passes while it serves', async () => {
    const result = await runBin(['healthcheck'], { KONTENA_IPAM_SOCKET: socket });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`ok: ${socket} answers Plugin.Activate\n`);
  });

  it('refuses to start a second plugin on a live socket (exit 1), leaving the first alone', async () => {
    const second = await runBin([], {
      KONTENA_IPAM_SOCKET: socket,
      ETCD_ENDPOINT: endpoint,
      LOG_FORMAT: 'json',
    });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('could not start');
    expect((await callPlugin(socket, 'Plugin.Activate', undefined)).status).toBe(200);
  });

  it('serves pools once etcd is back, without a restart', async () => {
    await etcd.startMember('m0');
    let reply = await callPlugin(socket, 'IpamDriver.RequestPool', dynamicRequest);
    for (let i = 0; i < 100 && reply.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      reply = await callPlugin(socket, 'IpamDriver.RequestPool', dynamicRequest);
    }
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ PoolID: 'kontena0', Pool: '10.80.0.0/24' });
  });

  it('SIGTERM shuts down cleanly: exit 0, socket removed, healthcheck fails', async () => {
    const code = await plugin?.stop('SIGTERM');
    expect(code).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(plugin?.output()).toContain('kontena-ipam stopped');
    const health = await runBin(['healthcheck'], { KONTENA_IPAM_SOCKET: socket });
    expect(health.code).toBe(1);
    expect(health.stderr).toContain(socket);
  });
});

describe('kontena-ipam and SIGINT (Ctrl-C under ./start.sh)', () => {
  it('closes gracefully too: exit 0, socket removed (pretty logs)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-sigint-'));
    const socket = join(dir, 'kontena-ipam.sock');
    try {
      const plugin = await startPlugin({
        socket,
        env: {
          ETCD_ENDPOINT: 'http://127.0.0.1:1',
          KONTENA_IPAM_ETCD_TIMEOUT: '500',
          LOG_FORMAT: 'pretty',
        },
      });
      expect(await plugin.stop('SIGINT')).toBe(0);
      expect(existsSync(socket)).toBe(false);
      // LOG_FORMAT=pretty: human-readable lines, not JSON.
      expect(plugin.output()).toMatch(/INFO.*: kontena-ipam is serving Docker/);
      expect(plugin.output()).toMatch(/signal: "SIGINT"/);
      expect(plugin.output()).not.toContain('{"level"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kontena-ipam with a comma-separated ETCD_ENDPOINT', () => {
  it('keeps serving when one member of a 3-member cluster dies', async () => {
    const cluster = await startEtcdCluster(3);
    const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-cluster-'));
    const socket = join(dir, 'kontena-ipam.sock');
    let plugin: PluginProcess | undefined;
    try {
      plugin = await startPlugin({
        socket,
        env: { ETCD_ENDPOINT: cluster.endpoints.join(','), NODE_ID: 'node-a' },
      });
      const first = await callPlugin(socket, 'IpamDriver.RequestPool', dynamicRequest);
      expect(first.body).toMatchObject({ Pool: '10.80.0.0/24' });
      const leader = await cluster.leader();
      await cluster.stopMember(leader ?? 'm0');
      // Every later call succeeds: the client fails over to the live members.
      for (const network of ['kontena1', 'kontena2', 'kontena3']) {
        const reply = await callPlugin(socket, 'IpamDriver.RequestPool', {
          ...dynamicRequest,
          Options: { network },
        });
        expect(reply.status).toBe(200);
      }
      expect(await plugin.stop('SIGTERM')).toBe(0);
    } finally {
      await plugin?.stop('SIGKILL');
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
