/**
 * The production recipe (docs/production.md) against a real etcd (issue 15, part 3): an etcd
 * user whose role reaches only the key prefix, set up with the etcdctl commands read from that
 * page (Debian's etcd-client), removed with those of docs/operations.md's "Uninstalling", and
 * TLS with client certificates between the plugin and etcd. The plugin is the built bin, spoken
 * to over its socket the way Docker does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { blockOf } from '@kontena-ipam/testing/store-keys';
import { makeTestCerts, type TestCerts } from '@kontena-ipam/testing/tls';
import { Etcd3 } from 'etcd3';
import type { Tokens } from 'marked';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPage, section, tokensOf } from './support/markdown.js';
import { callPlugin, type PluginProcess, runBin, startPlugin } from './support/plugin-process.js';

const PREFIX = '/kontena/ipam/';
const PASSWORD = 'ipam-secret-1';

const staticPool = (network: string) => ({
  AddressSpace: 'local',
  Pool: '10.90.0.0/24',
  SubPool: '',
  Options: { network },
  V6: false,
});

/** etcdctl runs Debian's etcdctl (v3 API) against `endpoint`; `input` goes to its stdin. */
function etcdctl(endpoint: string, args: string[], input?: string): string {
  const result = spawnSync('etcdctl', ['--endpoints', endpoint, ...args], {
    encoding: 'utf8',
    input,
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  if (result.error) {
    throw new Error(`etcdctl: ${String(result.error)} (apt-get install -y etcd-client)`);
  }
  if (result.status !== 0) {
    throw new Error(`etcdctl ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  }
  return result.stdout.trim();
}

/** argsOf turns one documented `etcdctl …` line into etcdctl's arguments (comment dropped). */
function argsOf(line: string): string[] {
  return line.replace(/#.*$/, '').trim().split(/\s+/).slice(1);
}

/** RECIPE: the etcdctl commands of docs/production.md's step 1, in order, as written there. */
const RECIPE = (() => {
  const page = readPage('docs/production.md');
  const code = section(page, '1. An etcd user').find((t): t is Tokens.Code => t.type === 'code');
  if (!code) throw new Error('docs/production.md step 1 has no code block');
  return code.text
    .split('\n')
    .filter((line) => line.startsWith('etcdctl '))
    .map(argsOf);
})();

/** UNINSTALL: the etcdctl commands of docs/operations.md's "Uninstalling", in order. */
const UNINSTALL = (() => {
  const page = readPage('docs/operations.md');
  return section(page, 'Uninstalling')
    .flatMap((t) => tokensOf({ ...page, tokens: [t] }))
    .filter((t): t is Tokens.Codespan => t.type === 'codespan' && t.text.startsWith('etcdctl '))
    .map((t) => argsOf(t.text));
})();

describe('the documented commands', () => {
  it('are the ones this file runs: root first, the role on the prefix, auth enabled last', () => {
    expect(RECIPE).toEqual([
      ['user', 'add', 'root'],
      ['user', 'grant-role', 'root', 'root'],
      ['role', 'add', 'kontena-ipam'],
      ['role', 'grant-permission', 'kontena-ipam', '--prefix=true', 'readwrite', PREFIX],
      ['user', 'add', 'kontena-ipam'],
      ['user', 'grant-role', 'kontena-ipam', 'kontena-ipam'],
      ['auth', 'enable'],
    ]);
    expect(UNINSTALL).toEqual([
      ['del', '--prefix', PREFIX],
      ['user', 'delete', 'kontena-ipam'],
      ['role', 'delete', 'kontena-ipam'],
    ]);
  });
});

describe('an etcd user whose role reaches only the key prefix', () => {
  let etcd: EtcdCluster & { endpoint: string };
  let dir: string;
  let root: Etcd3;
  const plugins: PluginProcess[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-auth-'));
    const e = etcd.endpoint;
    // The recipe's commands, as written in docs/production.md (the root user is what etcd
    // needs for auth). `user add` asks for a password; the page says --interactive=false reads
    // it from stdin, which is how a test answers.
    const passwords: Record<string, string> = { root: 'root-secret', 'kontena-ipam': PASSWORD };
    for (const args of RECIPE) {
      if (args[0] === 'user' && args[1] === 'add') {
        etcdctl(e, [...args, '--interactive=false'], `${passwords[args[2] as string]}\n`);
      } else {
        etcdctl(e, args);
      }
    }
    root = new Etcd3({ hosts: e, auth: { username: 'root', password: 'root-secret' } });
    await root.put('/other-app/config').value('not kontena-ipam');
  });
  afterAll(async () => {
    for (const p of plugins) await p.stop('SIGKILL');
    root?.close();
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (name: string, env: Record<string, string>): Promise<PluginProcess> => {
    const plugin = await startPlugin({
      socket: join(dir, `${name}.sock`),
      env: {
        ETCD_ENDPOINT: etcd.endpoint,
        ETCD_USERNAME: 'kontena-ipam',
        ETCD_PASSWORD: PASSWORD,
        NODE_ID: 'node-a',
        KONTENA_IPAM_ETCD_TIMEOUT: '2000',
        ...env,
      },
    });
    plugins.push(plugin);
    return plugin;
  };

  it('the role is what the recipe says: readwrite on the prefix, nothing else', () => {
    const role = etcdctl(etcd.endpoint, [
      '--user',
      'root:root-secret',
      'role',
      'get',
      'kontena-ipam',
    ]);
    const range = `\t[${PREFIX}, /kontena/ipam0) (prefix ${PREFIX})`;
    expect(role.split('\n')).toEqual(['Role kontena-ipam', 'KV Read:', range, 'KV Write:', range]);
  });

  it('the plugin works with that user: pool, address and keys under the prefix', async () => {
    const plugin = await serve('inside', {});
    const pool = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', staticPool('lan'));
    expect(pool).toEqual({
      status: 200,
      body: {
        PoolID: 'lan',
        Pool: '10.90.0.0/24',
        Data: { 'com.docker.network.gateway': '10.90.0.1/24' },
      },
    });
    const address = await callPlugin(plugin.socket, 'IpamDriver.RequestAddress', {
      PoolID: 'lan',
      Address: '',
      Options: { 'com.docker.network.endpoint.macaddress': '02:42:0a:5a:00:02' },
    });
    expect(address.status).toBe(200);
    const ip = String(address.body.Address).split('/')[0] as string;
    // The address came from a block of 16 the host claimed (the window is the subnet).
    const block = blockOf(parseAddress(ip), parseSubnet('10.90.0.0/24'));
    const keys = Object.keys(await root.getAll().prefix(PREFIX).strings()).sort();
    expect(keys).toEqual(
      [
        `${PREFIX}v2/addresses/lan/10.90.0.1`,
        `${PREFIX}v2/addresses/lan/${ip}`,
        `${PREFIX}v2/affinity/lan/node-a/${block}`,
        `${PREFIX}v2/blocks/lan/${block}`,
        `${PREFIX}v2/guard/subnets`,
        `${PREFIX}v2/holds/lan/node-a`,
        `${PREFIX}v2/hosts/node-a`,
        `${PREFIX}v2/nodes/node-a`,
        `${PREFIX}v2/pools/lan`,
        `${PREFIX}v2/subnets/10.90.0.0/24`,
      ].sort(),
    );
    // The operator tools work with the same user.
    const status = await runBin(['status', '--json'], {
      ETCD_ENDPOINT: etcd.endpoint,
      ETCD_USERNAME: 'kontena-ipam',
      ETCD_PASSWORD: PASSWORD,
    });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('"lan"');
  });

  it('outside the prefix etcd refuses it: a clear error, and nothing written', async () => {
    const plugin = await serve('outside', { KONTENA_IPAM_ETCD_PREFIX: '/other-app/' });
    const pool = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', staticPool('lan'));
    expect(pool.status).toBeGreaterThanOrEqual(500);
    expect(String(pool.body.Err)).toMatch(/permission denied/);
    expect(Object.keys(await root.getAll().prefix('/other-app/').strings())).toEqual([
      '/other-app/config',
    ]);
    const status = await runBin(['status'], {
      ETCD_ENDPOINT: etcd.endpoint,
      ETCD_USERNAME: 'kontena-ipam',
      ETCD_PASSWORD: PASSWORD,
      KONTENA_IPAM_ETCD_PREFIX: '/other-app/',
    });
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/permission denied/);
  });

  it('a wrong password is refused with etcd reason', async () => {
    const plugin = await serve('wrong', { ETCD_PASSWORD: 'not-it' });
    const pool = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', staticPool('lan2'));
    expect(pool.status).toBeGreaterThanOrEqual(500);
    expect(String(pool.body.Err)).toMatch(/authentication failed/);
  });

  it('uninstalling: the last release removes the pool, etcdctl del --prefix the rest, then the user and role go', async () => {
    const plugin = plugins[0];
    if (!plugin) throw new Error('the plugin of the first test is not running');
    const keys = await root.getAll().prefix(`${PREFIX}v2/addresses/lan/`).keys();
    for (const key of keys) {
      const ip = key.slice(`${PREFIX}v2/addresses/lan/`.length);
      if (ip === '10.90.0.1') continue; // the gateway goes with the pool
      const released = await callPlugin(plugin.socket, 'IpamDriver.ReleaseAddress', {
        PoolID: 'lan',
        Address: ip,
      });
      expect(released).toEqual({ status: 200, body: {} });
    }
    expect(await callPlugin(plugin.socket, 'IpamDriver.ReleasePool', { PoolID: 'lan' })).toEqual({
      status: 200,
      body: {},
    });
    expect(await root.get(`${PREFIX}v2/pools/lan`).string()).toBeNull();
    // What is left (the subnet guard) goes with the documented command, run as the plugin's
    // user; then root removes the user and the role with the page's next two commands.
    const [del, deleteUser, deleteRole] = UNINSTALL as [string[], string[], string[]];
    etcdctl(etcd.endpoint, ['--user', `kontena-ipam:${PASSWORD}`, ...del]);
    expect(await root.getAll().prefix(PREFIX).keys()).toEqual([]);
    expect(await root.getAll().prefix('/other-app/').keys()).toEqual(['/other-app/config']);
    etcdctl(etcd.endpoint, ['--user', 'root:root-secret', ...deleteUser]);
    etcdctl(etcd.endpoint, ['--user', 'root:root-secret', ...deleteRole]);
    const users = etcdctl(etcd.endpoint, ['--user', 'root:root-secret', 'user', 'list']);
    expect(users.split('\n')).toEqual(['root']);
  });
});

describe('TLS between the plugin and etcd, with client certificates', () => {
  let etcd: EtcdCluster & { endpoint: string };
  let dir: string;
  let certs: TestCerts;
  let admin: Etcd3;
  const plugins: PluginProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-tls-'));
    certs = makeTestCerts(dir);
    etcd = await startEtcd({ tls: certs });
    const { readFileSync } = await import('node:fs');
    admin = new Etcd3({
      hosts: etcd.endpoint,
      credentials: {
        rootCertificate: readFileSync(certs.ca),
        certChain: readFileSync(certs.clientCert),
        privateKey: readFileSync(certs.clientKey),
      },
    });
  });
  afterAll(async () => {
    for (const p of plugins) await p.stop('SIGKILL');
    admin?.close();
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (name: string, env: Record<string, string>): Promise<PluginProcess> => {
    const plugin = await startPlugin({
      socket: join(dir, `${name}.sock`),
      env: {
        ETCD_ENDPOINT: etcd.endpoint,
        NODE_ID: 'node-a',
        KONTENA_IPAM_ETCD_TIMEOUT: '2000',
        ...env,
      },
    });
    plugins.push(plugin);
    return plugin;
  };

  it('with the CA, certificate and key the plugin serves over https', async () => {
    expect(etcd.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const plugin = await serve('tls', {
      ETCD_CA_FILE: certs.ca,
      ETCD_CERT_FILE: certs.clientCert,
      ETCD_KEY_FILE: certs.clientKey,
    });
    const pool = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', staticPool('tls'));
    expect(pool.status).toBe(200);
    expect(pool.body.Pool).toBe('10.90.0.0/24');
    expect(await admin.get(`${PREFIX}v2/pools/tls`).string()).toContain('"subnet":"10.90.0.0/24"');
  });

  it('without a client certificate etcd refuses the connection, and the plugin says so', async () => {
    const plugin = await serve('no-cert', { ETCD_CA_FILE: certs.ca });
    const pool = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', staticPool('no-cert'));
    expect(pool.status).toBeGreaterThanOrEqual(500);
    expect(String(pool.body.Err)).toContain(etcd.endpoint);
    expect(await admin.get(`${PREFIX}v2/pools/no-cert`).string()).toBeNull();
  });
});
