/**
 * Through the built bin: ETCD_PASSWORD_FILE against a real etcd with authentication on, and a
 * managed plugin (KONTENA_IPAM_MANAGED_PLUGIN=1, as docker/plugin/config.json sets it) that
 * refuses to start without an explicit NODE_ID.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableEtcdAuth } from './support/etcd-auth.js';
import { callPlugin, runBin, startPlugin } from './support/plugin-process.js';

const PASSWORD = 'pl41n-s3cret';
const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-secrets-'));
let etcd: Awaited<ReturnType<typeof startEtcd>>;

beforeAll(async () => {
  etcd = await startEtcd();
  enableEtcdAuth(etcd.endpoint, PASSWORD);
}, 60_000);

afterAll(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function passwordFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

describe('ETCD_PASSWORD_FILE', () => {
  it('serves with the password read from the file (its line end trimmed), and never prints it', async () => {
    const file = passwordFile('etcd-password', `${PASSWORD}\n`);
    const plugin = await startPlugin({
      socket: join(dir, 'file.sock'),
      env: {
        ETCD_ENDPOINT: etcd.endpoint,
        NODE_ID: 'node-a',
        ETCD_USERNAME: 'root',
        ETCD_PASSWORD_FILE: file,
      },
    });
    try {
      const reply = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', {
        AddressSpace: 'LocalDefault',
        Pool: '',
        SubPool: '',
        Options: { network: 'secret0' },
        V6: false,
      });
      expect(reply.body).toMatchObject({ PoolID: 'secret0', Pool: '10.80.0.0/24' });
    } finally {
      expect(await plugin.stop()).toBe(0);
    }
    const client = new Etcd3({
      hosts: etcd.endpoint,
      auth: { username: 'root', password: PASSWORD },
    });
    try {
      const pool = await client.get('/kontena/ipam/v2/pools/secret0').json();
      expect(pool).toMatchObject({ subnet: '10.80.0.0/24' });
      expect(await client.get('/kontena/ipam/v2/holds/secret0/node-a').json()).toMatchObject({
        count: 1,
      });
    } finally {
      client.close();
    }
    expect(plugin.output()).not.toContain(PASSWORD);
  });

  it('a wrong password in the file is etcd refusing it (exit 1), not a config error', async () => {
    const result = await runBin(['status'], {
      ETCD_ENDPOINT: etcd.endpoint,
      NODE_ID: 'node-a',
      ETCD_USERNAME: 'root',
      ETCD_PASSWORD_FILE: passwordFile('wrong', 'not-it\n'),
      KONTENA_IPAM_ETCD_TIMEOUT: '2000',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('authentication failed');
  });

  it.each([
    [
      'both ETCD_PASSWORD and ETCD_PASSWORD_FILE',
      () => ({ ETCD_PASSWORD: PASSWORD, ETCD_PASSWORD_FILE: passwordFile('both', PASSWORD) }),
      'ETCD_PASSWORD is set too; give the password one way only',
    ],
    [
      'a file that does not exist',
      () => ({ ETCD_PASSWORD_FILE: join(dir, 'missing') }),
      'missing": cannot read it (ENOENT)',
    ],
    ['a folder, not a file', () => ({ ETCD_PASSWORD_FILE: dir }), 'cannot read it (EISDIR)'],
    [
      'an empty file',
      () => ({ ETCD_PASSWORD_FILE: passwordFile('empty', '\n') }),
      'the file is empty',
    ],
    [
      'a relative path',
      () => ({ ETCD_PASSWORD_FILE: 'etcd-password' }),
      'must be an absolute path',
    ],
  ])(
    '%s: exit 2 naming ETCD_PASSWORD_FILE, the password never shown',
    async (_what, env, message) => {
      const result = await runBin(['status'], {
        ETCD_ENDPOINT: etcd.endpoint,
        NODE_ID: 'node-a',
        ETCD_USERNAME: 'root',
        ...env(),
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('ETCD_PASSWORD_FILE=');
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain(PASSWORD);
      expect(result.stdout).toBe('');
    },
  );
});

describe('a managed plugin (KONTENA_IPAM_MANAGED_PLUGIN=1) needs an explicit NODE_ID', () => {
  it('refuses to serve without one: exit 2, saying how to set it, socket never made', async () => {
    const socket = join(dir, 'managed.sock');
    const result = await runBin([], {
      KONTENA_IPAM_MANAGED_PLUGIN: '1',
      KONTENA_IPAM_SOCKET: socket,
      ETCD_ENDPOINT: etcd.endpoint,
      // Docker passes the config.json default, an empty value: the same as unset.
      NODE_ID: '',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "NODE_ID=(unset): a managed plugin (KONTENA_IPAM_MANAGED_PLUGIN=1) needs an explicit NODE_ID, since its hostname need not be this host's; set it with `docker plugin set <plugin> NODE_ID=$(hostname)`",
    );
    expect(existsSync(socket)).toBe(false);
  });

  it('serves with one', async () => {
    const plugin = await startPlugin({
      socket: join(dir, 'managed-ok.sock'),
      env: {
        KONTENA_IPAM_MANAGED_PLUGIN: '1',
        ETCD_ENDPOINT: etcd.endpoint,
        NODE_ID: 'managed-a',
        ETCD_USERNAME: 'root',
        ETCD_PASSWORD_FILE: passwordFile('managed', PASSWORD),
      },
    });
    try {
      // The log line may arrive after the socket answers: wait for it (bounded).
      const deadline = Date.now() + 10_000;
      while (!plugin.output().includes('kontena-ipam is serving Docker') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(plugin.output()).toMatch(/"node":"managed-a".*kontena-ipam is serving Docker/);
    } finally {
      expect(await plugin.stop()).toBe(0);
    }
  });
});
