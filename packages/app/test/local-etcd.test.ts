import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { localEtcdSockets } from '../src/etcd-config.js';
import { answers, startLocalEtcd } from '../src/local-etcd.js';

// nobody: another local user, with no group of root's.
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];

/** etcdctlAs runs Debian's etcdctl against `endpoint`, as root or (prefix NOBODY) as nobody. */
function etcdctlAs(prefix: readonly string[], endpoint: string, args: string[]) {
  const [command, ...rest] = [...prefix, 'etcdctl', '--endpoints', endpoint, ...args];
  const result = spawnSync(command as string, rest, {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_DIAL_TIMEOUT: '1s' },
    timeout: 20_000,
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

/** tcpListenersOf lists the TCP sockets process `pid` listens on (ss, in this namespace). */
function tcpListenersOf(pid: number): string[] {
  const ss = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' });
  return ss.stdout.split('\n').filter((line) => line.includes(`pid=${pid},`));
}

describe('single-host mode: the local etcd', () => {
  const root = mkdtempSync(join(tmpdir(), 'kontena-ipam-state-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('listens only on a unix socket in a 0700 folder, says so, and keeps its data in the state folder across restarts', async () => {
    const stateDir = join(root, 'persist');
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const sockets = localEtcdSockets(stateDir);
    expect(sockets.endpoint).toBe(`unix://${stateDir}/etcd-sockets/client:0`);
    // A socket folder left open (say by an older version or by hand) is closed again.
    mkdirSync(sockets.dir, { recursive: true });
    chmodSync(sockets.dir, 0o777);

    const first = await startLocalEtcd({ stateDir, logger });
    expect(first.endpoint).toBe(sockets.endpoint);
    expect(first.dataDir).toBe(join(stateDir, 'etcd'));
    expect(statSync(sockets.dir).mode & 0o777).toBe(0o700);
    expect(await answers(first.endpoint)).toBe(true);
    expect(tcpListenersOf(first.pid as number)).toEqual([]);
    expect(lines.join('')).toContain('single-host mode: started a local etcd for this host alone');
    const client = new Etcd3({ hosts: first.endpoint });
    try {
      await client.put('/kontena/ipam/test').value('kept');
      await first.stop();
      expect(await answers(first.endpoint)).toBe(false);

      // After a crash the stale socket files are still there; etcd replaces them.
      const second = await startLocalEtcd({ stateDir, logger });
      try {
        expect(await client.get('/kontena/ipam/test').string()).toBe('kept');
        process.kill(second.pid as number, 'SIGKILL');
        await second.stop();
        const third = await startLocalEtcd({ stateDir, logger });
        expect(await client.get('/kontena/ipam/test').string()).toBe('kept');
        await third.stop();
      } finally {
        await second.stop();
      }
    } finally {
      client.close();
    }
  });

  it('another local user can neither read nor write the keys', async () => {
    const stateDir = join(root, 'guarded');
    mkdirSync(stateDir);
    // The state folder itself is open to all, so only the socket folder's mode can refuse.
    chmodSync(root, 0o755);
    chmodSync(stateDir, 0o755);
    // And etcd makes its sockets world-writable (umask 0, as under some service managers).
    const umask = process.umask(0);
    const etcd = await startLocalEtcd({ stateDir, logger: pino({ level: 'silent' }) }).finally(() =>
      process.umask(umask),
    );
    try {
      const key = '/kontena/ipam/v2/pools/kontena';
      expect(etcdctlAs([], etcd.endpoint, ['put', key, 'original']).code).toBe(0);
      // The way works for root, so a refusal below is the folder's doing.
      expect(etcdctlAs([], etcd.endpoint, ['get', key, '--print-value-only']).out.trim()).toBe(
        'original',
      );
      // The socket itself refuses nobody: the kernel says EACCES before etcd sees anything.
      const dial = spawnSync(
        NOBODY[0] as string,
        [
          ...NOBODY.slice(1),
          process.execPath,
          '-e',
          "require('node:net').connect(process.argv[1]).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(1); })",
          etcd.endpoint.slice('unix://'.length),
        ],
        { encoding: 'utf8', timeout: 20_000 },
      );
      expect(dial.stdout.trim()).toBe('EACCES');
      const write = etcdctlAs(NOBODY, etcd.endpoint, ['put', key, 'rewritten']);
      expect(write.code).not.toBe(0);
      const read = etcdctlAs(NOBODY, etcd.endpoint, ['get', '--prefix', '/kontena/']);
      expect(read.code).not.toBe(0);
      expect(read.out).not.toContain('original');
      expect(etcdctlAs([], etcd.endpoint, ['get', key, '--print-value-only']).out.trim()).toBe(
        'original',
      );
    } finally {
      await etcd.stop();
    }
  });

  it('refuses to start a second etcd on a state folder whose etcd is running', async () => {
    const stateDir = join(root, 'twice');
    const logger = pino({ level: 'silent' });
    const first = await startLocalEtcd({ stateDir, logger });
    try {
      await expect(startLocalEtcd({ stateDir, logger })).rejects.toMatchObject({
        code: 'START_FAILED',
        message: expect.stringContaining('is another kontena-ipam running with this'),
      });
      expect(await answers(first.endpoint)).toBe(true);
    } finally {
      await first.stop();
    }
  });

  it('refuses a socket folder that another user owns', async () => {
    const stateDir = join(root, 'foreign');
    const { dir } = localEtcdSockets(stateDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chownSync(dir, 65534, 65534);
    await expect(
      startLocalEtcd({ stateDir, logger: pino({ level: 'silent' }) }),
    ).rejects.toMatchObject({
      code: 'START_FAILED',
      message: expect.stringContaining(`${dir} must be a folder of this user (uid 0`),
    });
  });

  it('says how to install etcd when there is none', async () => {
    const logger = pino({ level: 'silent' });
    await expect(
      startLocalEtcd({ stateDir: join(root, 'none'), logger, binary: '/nonexistent/etcd' }),
    ).rejects.toMatchObject({
      code: 'NO_ETCD_BINARY',
      message: expect.stringContaining('apt-get install -y etcd-server'),
    });
  });
});
