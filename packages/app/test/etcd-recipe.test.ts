/**
 * The README's production recipe against a real etcd (issue 15, part 3): an etcd user whose
 * role reaches only the key prefix, set up with the README's etcdctl commands (Debian's
 * etcd-client), and TLS with client certificates between the plugin and etcd. The plugin is
 * the built bin, spoken to over its socket the way Docker does.
 *
 * The README says the role is made "with exactly these etcdctl commands": the test reads them
 * from its code block (and the uninstall commands from its Uninstalling paragraph) and runs
 * what it finds, so the page and the test cannot drift apart. Moving the section to another
 * page only changes RECIPE_PAGE (the reader takes a file and a heading).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import {
  codeBlocks,
  inlineCode,
  markdownSection,
  paragraph,
  shellCommands,
} from '@kontena-ipam/testing/markdown';
import { blockOf } from '@kontena-ipam/testing/store-keys';
import { makeTestCerts, type TestCerts } from '@kontena-ipam/testing/tls';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callPlugin, type PluginProcess, runBin, startPlugin } from './support/plugin-process.js';

const PREFIX = '/kontena/ipam/';
const PASSWORD = 'ipam-secret-1';
const ROOT_PASSWORD = 'root-secret';

/** Where the production recipe is documented: a file and a heading. */
const RECIPE_PAGE = fileURLToPath(new URL('../../../README.md', import.meta.url));
const RECIPE_HEADING = 'Production: N hosts and an existing etcd cluster';
const recipe = markdownSection(RECIPE_PAGE, RECIPE_HEADING);
/** The etcdctl commands of the recipe's first shell block (the user and role), as written. */
const SETUP = shellCommands(codeBlocks(recipe, 'sh')[0] ?? '', 'etcdctl');
/** The etcdctl commands of the Uninstalling paragraph (inline code), as written. */
const UNINSTALL = shellCommands(
  inlineCode(paragraph(recipe, '**Uninstalling.**')).join('\n'),
  'etcdctl',
);

/**
 * asDocumented runs one documented etcdctl command. `user add` asks for the password on a
 * terminal; the README's comment says `--interactive=false` reads it from stdin, which is how
 * the test gives it (root's, or the plugin user's).
 */
function asDocumented(endpoint: string, args: string[], auth: string[] = []): string {
  if (args[0] === 'user' && args[1] === 'add') {
    const password = args[2] === 'root' ? ROOT_PASSWORD : PASSWORD;
    return etcdctl(endpoint, [...auth, ...args, '--interactive=false'], `${password}\n`);
  }
  return etcdctl(endpoint, [...auth, ...args]);
}

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

describe('an etcd user whose role reaches only the key prefix', () => {
  let etcd: EtcdCluster & { endpoint: string };
  let dir: string;
  let root: Etcd3;
  const plugins: PluginProcess[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-auth-'));
    const e = etcd.endpoint;
    // The README's commands, as written there (the root user is what etcd needs for auth).
    for (const args of SETUP) asDocumented(e, args);
    root = new Etcd3({ hosts: e, auth: { username: 'root', password: ROOT_PASSWORD } });
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

  it('the README recipe was read: its user, role and auth commands, and its uninstall ones', () => {
    // What the test ran comes from the page; these only say that the page still has a recipe
    // that makes a user, a role on a prefix and turns auth on, and removes them again.
    const verbs = (commands: string[][]) => commands.map((c) => c.slice(0, 2).join(' '));
    expect(verbs(SETUP)).toEqual(
      expect.arrayContaining(['user add', 'role add', 'role grant-permission', 'auth enable']),
    );
    expect(verbs(UNINSTALL)).toEqual(
      expect.arrayContaining(['del --prefix', 'user delete', 'role delete']),
    );
  });

  it('the role is what the README says: readwrite on the prefix, nothing else', () => {
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
    // What is left (the subnet guard) goes with the README's commands: the keys as the plugin's
    // user, then the user and the role as root.
    for (const args of UNINSTALL) {
      const user = args[0] === 'del' ? `kontena-ipam:${PASSWORD}` : `root:${ROOT_PASSWORD}`;
      asDocumented(etcd.endpoint, args, ['--user', user]);
      if (args[0] === 'del') {
        expect(await root.getAll().prefix(PREFIX).keys()).toEqual([]);
        expect(await root.getAll().prefix('/other-app/').keys()).toEqual(['/other-app/config']);
      }
    }
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
