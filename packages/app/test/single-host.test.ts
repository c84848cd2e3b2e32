/**
 * Single-host mode is something the user asks for (KONTENA_IPAM_LOCAL_ETCD=on, which
 * ./start.sh passes when ETCD_ENDPOINT is unset), never a fallback: through the built bin,
 * each run in a network namespace of its own, so that "nothing on localhost:2379" is true and
 * a TCP port the plugin or its etcd opened would show in that namespace alone (the embedded
 * etcd opens none: it serves on unix sockets in the state folder).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdBinary } from '@kontena-ipam/testing/etcd';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  callPlugin,
  type PluginProcess,
  runBinUnder,
  startPlugin,
} from './support/plugin-process.js';
import {
  childProcesses,
  IN_NEW_NETNS,
  inNetnsOf,
  listeningPorts,
} from './support/private-netns.js';

const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-single-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dynamicPool = {
  AddressSpace: 'LocalDefault',
  Pool: '',
  SubPool: '',
  Options: { network: 'kontena0' },
  V6: false,
};

// Everything a test started, stopped even when an assertion fails half-way.
const plugins: PluginProcess[] = [];
const others: ChildProcess[] = [];
afterEach(async () => {
  for (const plugin of plugins.splice(0)) await plugin.stop('SIGKILL');
  for (const child of others.splice(0)) child.kill('SIGKILL');
});

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startInOwnNetns(env: Record<string, string>, name: string) {
  const plugin = await startPlugin({
    socket: join(dir, `${name}.sock`),
    env: { NODE_ID: 'node-a', KONTENA_IPAM_ETCD_TIMEOUT: '1000', ...env },
    prefix: IN_NEW_NETNS,
  });
  plugins.push(plugin);
  return { plugin, pid: plugin.child.pid as number };
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

describe('without KONTENA_IPAM_LOCAL_ETCD (the default): cluster mode, never an etcd of its own', () => {
  it('with nothing on localhost:2379 it starts no etcd, says so, and keeps retrying until a real member comes', async () => {
    const stateDir = join(dir, 'state-unset');
    const { plugin, pid } = await startInOwnNetns({ KONTENA_IPAM_STATE_DIR: stateDir }, 'unset');
    await until(
      'the serving and unavailable log lines',
      () =>
        plugin.output().includes('kontena-ipam is serving Docker') &&
        plugin.output().includes('etcd is unavailable; answering Docker with errors and retrying'),
    );
    // The mode in the log: cluster, at the default endpoint, and how to ask for the other.
    expect(plugin.output()).toContain(
      'cluster mode: etcd at http://localhost:2379 (the default: ETCD_ENDPOINT is unset; KONTENA_IPAM_LOCAL_ETCD=on is single-host mode)',
    );
    expect(plugin.output()).toMatch(/"mode":"cluster".*kontena-ipam is serving Docker/);
    expect(plugin.output()).not.toContain('started a local etcd');
    // No etcd process, no port taken (2379 stays free for the real member), no data folder.
    expect(childProcesses(pid)).toEqual([]);
    expect(listeningPorts(pid)).toEqual([]);
    expect(existsSync(join(stateDir, 'etcd'))).toBe(false);
    const refused = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', dynamicPool);
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect(String(refused.body.Err)).toContain('etcd unavailable at http://localhost:2379');

    // The host's real member starts a moment later (the boot race): it gets 2379,
    // and the plugin's next pool lands in it.
    const data = join(dir, 'real-member');
    const member = spawn(
      inNetnsOf(pid)[0] as string,
      [
        ...inNetnsOf(pid).slice(1),
        etcdBinary(),
        '--name',
        'real',
        '--data-dir',
        data,
        '--listen-client-urls',
        'http://127.0.0.1:2379',
        '--advertise-client-urls',
        'http://127.0.0.1:2379',
        '--listen-peer-urls',
        'http://127.0.0.1:2380',
        '--initial-advertise-peer-urls',
        'http://127.0.0.1:2380',
        '--initial-cluster',
        'real=http://127.0.0.1:2380',
      ],
      { stdio: 'ignore' },
    );
    others.push(member);
    await until('the plugin to reach the real member', () =>
      plugin.output().includes('etcd is reachable'),
    );
    const reply = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', dynamicPool);
    expect(reply.body).toMatchObject({ PoolID: 'kontena0', Pool: '10.80.0.0/24' });
    const keys = await runBinUnder(inNetnsOf(pid), {
      args: ['status', '--json'],
      env: { NODE_ID: 'node-a', ETCD_ENDPOINT: 'http://127.0.0.1:2379' },
    });
    expect(keys.code).toBe(0);
    expect(JSON.parse(keys.stdout)).toMatchObject({
      pools: [{ network: 'kontena0', holds: { 'node-a': 1 } }],
      etcd: { mode: 'cluster', endpoints: ['http://127.0.0.1:2379'] },
    });
    expect(childProcesses(pid)).toEqual([]);
    expect(await plugin.stop()).toBe(0);
  }, 90_000);
});

describe('KONTENA_IPAM_LOCAL_ETCD=on: single-host mode, asked for', () => {
  it('runs the embedded etcd on a unix socket (no TCP port), says so in the log and in status, keeps pools across restarts, stops it on SIGTERM', async () => {
    const stateDir = join(dir, 'state-on');
    const endpoint = `unix://${stateDir}/etcd-sockets/client:0`;
    const env = { KONTENA_IPAM_LOCAL_ETCD: 'on', KONTENA_IPAM_STATE_DIR: stateDir };
    const first = await startInOwnNetns(env, 'on-1');
    // Docker's Activate can be answered before the log line that follows listen() arrives.
    await until('the serving log line', () =>
      first.plugin.output().includes('kontena-ipam is serving Docker'),
    );
    const output = first.plugin.output();
    expect(output).toContain('single-host mode: started a local etcd for this host alone');
    expect(output).toContain(
      `"endpoint":"${endpoint}","node":"node-a","mode":"single-host","msg":"kontena-ipam is serving Docker (single-host mode: embedded etcd at ${endpoint}, for this host alone (KONTENA_IPAM_LOCAL_ETCD=on))"`,
    );
    // The embedded etcd listens on no TCP port at all (so never on a real etcd's 2379/2380,
    // and no local user or --net host container can reach it): only its unix sockets.
    expect(listeningPorts(first.pid)).toEqual([]);
    const etcd = childProcesses(first.pid).filter((c) => c.command === 'etcd');
    expect(etcd).toHaveLength(1);

    const reply = await callPlugin(first.plugin.socket, 'IpamDriver.RequestPool', dynamicPool);
    expect(reply.body).toMatchObject({ PoolID: 'kontena0', Pool: '10.80.0.0/24' });

    // status, with the same setting, reads the embedded etcd and names the mode.
    const status = await runBinUnder(inNetnsOf(first.pid), {
      args: ['status'],
      env: { NODE_ID: 'node-a', ...env },
    });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^kontena0\s+10\.80\.0\.0\/24\s/m);
    expect(status.stdout).toContain(
      `single-host mode: embedded etcd at ${endpoint}, for this host alone (KONTENA_IPAM_LOCAL_ETCD=on)\n`,
    );
    // Without it, status looks at the default endpoint, finds nothing, and says where to look.
    const lost = await runBinUnder(inNetnsOf(first.pid), {
      args: ['status'],
      env: { NODE_ID: 'node-a', KONTENA_IPAM_ETCD_TIMEOUT: '500' },
    });
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain('etcd unavailable at http://localhost:2379');
    expect(lost.stderr).toContain(
      'ETCD_ENDPOINT is unset: to reach the embedded etcd of a single-host plugin, set KONTENA_IPAM_LOCAL_ETCD=on',
    );

    expect(await first.plugin.stop()).toBe(0);
    expect(alive(etcd[0]?.pid as number)).toBe(false);

    // The pool survived in the state folder: this host still holds it, so a repeat of the
    // dynamic request is refused with its subnet (Docker's route-overlap loop guard).
    const second = await startInOwnNetns(env, 'on-2');
    const again = await callPlugin(second.plugin.socket, 'IpamDriver.RequestPool', dynamicPool);
    expect(String(again.body.Err)).toContain('10.80.0.0/24');
    expect(await second.plugin.stop()).toBe(0);
  }, 90_000);

  it('when the embedded etcd cannot start, serve fails (exit 1) instead of using some other etcd', async () => {
    const notAFolder = join(dir, 'state-is-a-file');
    writeFileSync(notAFolder, '');
    const socket = join(dir, 'broken.sock');
    const result = await runBinUnder(IN_NEW_NETNS, {
      args: [],
      env: {
        NODE_ID: 'node-a',
        KONTENA_IPAM_LOCAL_ETCD: 'on',
        KONTENA_IPAM_STATE_DIR: notAFolder,
        KONTENA_IPAM_SOCKET: socket,
        LOG_FORMAT: 'json',
      },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('"msg":"kontena-ipam could not start"');
    expect(result.stderr).toContain('ENOTDIR');
    expect(result.stderr).not.toContain('kontena-ipam is serving Docker');
    expect(existsSync(socket)).toBe(false);
  });

  it('refuses ETCD_ENDPOINT with it: exit 2, naming both', async () => {
    const result = await runBinUnder([], {
      args: [],
      env: { NODE_ID: 'node-a', KONTENA_IPAM_LOCAL_ETCD: 'on', ETCD_ENDPOINT: 'http://e:2379' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'KONTENA_IPAM_LOCAL_ETCD="on": single-host mode runs an embedded etcd for this host alone, so ETCD_ENDPOINT must be unset',
    );
  });
});
