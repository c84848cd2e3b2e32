/**
 * runCleanupCli: flags, exit codes, output, and --interval surviving Docker and etcd
 * outages between runs (real etcd, real dockerd).
 */
import { mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupReportJson } from '@kontena-ipam/cleanup';
import { IpamStore } from '@kontena-ipam/store';
import { type Dockerd, startDockerd } from '@kontena-ipam/testing/dockerd';
import { startEtcd } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLEANUP_USAGE, runCleanupCli } from '../src/commands/cleanup.js';
import { instanceInfo } from '../src/instance.js';
import { nodeA } from './cleanup-fixtures.js';
import { collector } from './cleanup-host.js';

const silent = pino({ level: 'silent' });

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = collector();
  const stderr = collector();
  let built = 0;
  const code = await runCleanupCli(argv, {
    store: async () => {
      built++;
      throw new Error('usage errors must not reach the store');
    },
    node: nodeA,
    bootId: undefined,
    env,
    stdout,
    stderr,
    logger: silent,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text(), built };
}

describe('runCleanupCli flags', () => {
  it('--help prints the usage and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r).toMatchObject({ code: 0, stdout: CLEANUP_USAGE, stderr: '', built: 0 });
    expect(CLEANUP_USAGE).toContain('--forget-node');
  });

  it.each([
    [['--node', 'node-b'], '--node NAME and --forget-node go together'],
    [['--forget-node'], '--node NAME and --forget-node go together'],
    [['--node', 'node-a', '--forget-node'], 'is this host (NODE_ID)'],
    [['--node', '../x', '--forget-node'], '--node: node id "../x"'],
    [['--node', 'node-b', '--forget-node', '--interval', '10m'], '--forget-node runs once'],
    [['--grace', '5'], '--grace: "5" is not a duration'],
    [['--grace', '0'], '--grace 0 is below the floor of 30s'],
    [['--grace', '29s'], '--grace 29s is below the floor of 30s'],
    [['--grace', '0s', '--interval', '1m'], 'or --unsafe-grace 0s if no docker command runs'],
    [['--grace', '1m', '--unsafe-grace', '0s'], '--grace and --unsafe-grace exclude each other'],
    [['--unsafe-grace', '5'], '--unsafe-grace: "5" is not a duration'],
    [['--interval', 'often'], '--interval: "often" is not a duration'],
    [['--interval', '100ms'], 'shorter than 1s'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['extra'], 'extra'],
  ])('%j exits 2 with a clear message and builds nothing', async (argv, message) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('--help');
    expect(r.stdout).toBe('');
    expect(r.built).toBe(0);
  });

  it('takes --grace at the 30s floor, and --unsafe-grace below it (warning in the log)', async () => {
    const warnings: string[] = [];
    const logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (_obj: object, msg?: string) => warnings.push(String(msg)),
    };
    for (const argv of [
      ['--grace', '30s'],
      ['--unsafe-grace', '0s'],
    ]) {
      const stderr = collector();
      let built = 0;
      const code = await runCleanupCli(argv, {
        // Reaching the store means the flags were accepted; it fails right there.
        store: async () => {
          built++;
          throw new Error('no store in this test');
        },
        node: nodeA,
        bootId: undefined,
        env: {},
        stdout: collector(),
        stderr,
        logger,
      });
      expect(code).toBe(1);
      expect(built).toBe(1);
      expect(stderr.text()).toContain('no store in this test');
    }
    expect(warnings).toEqual([
      'cleanup: --unsafe-grace 0s is below the 30s floor; addresses Docker has not listed yet may be freed',
    ]);
  });

  it('refuses a DOCKER_HOST that is not a unix socket, before any traffic', async () => {
    const r = await cli([], { DOCKER_HOST: 'tcp://127.0.0.1:2375' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DOCKER_HOST=tcp://127.0.0.1:2375 is not a unix socket');
    expect(r.built).toBe(0);
  });
});

describe('runCleanupCli --interval (real etcd, real dockerd)', () => {
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  let daemon: Dockerd;
  let dir: string;

  beforeAll(async () => {
    etcd = await startEtcd();
    daemon = await startDockerd({ label: 'clni' });
    dir = mkdtempSync(join(tmpdir(), 'kipam-clilink-'));
  }, 180_000);

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await daemon?.stop();
    await etcd?.stop();
  }, 120_000);

  async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('keeps running through Docker and etcd outages and stops cleanly on its signal', async () => {
    // Docker is reached through a symlink; removing it is a real "socket not there".
    const link = join(dir, 'docker.sock');
    symlinkSync(daemon.socket, link);
    const client = new Etcd3({ hosts: etcd.endpoint });
    const stdout = collector();
    const stderr = collector();
    const controller = new AbortController();
    let built = 0;
    // node-a's plugin is live on this machine (cleanup runs only beside it).
    const plugin = new IpamStore({ client, endpoint: etcd.endpoint, deadlineMs: 1000 });
    const registration = plugin.register(nodeA, instanceInfo(), { ttlSeconds: 5 });
    await registration.serving();
    const running = runCleanupCli(['--interval', '1s', '--json'], {
      store: async () => {
        built++;
        return new IpamStore({ client, endpoint: etcd.endpoint, deadlineMs: 1000 });
      },
      node: nodeA,
      bootId: instanceInfo().bootId,
      env: { DOCKER_HOST: `unix://${link}` },
      stdout,
      stderr,
      logger: silent,
      signal: controller.signal,
    });
    const reports = () =>
      stdout
        .text()
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{"fence"'))
        .map((l) => JSON.parse(l) as CleanupReportJson);
    try {
      await until('a first report', () => reports().length >= 1);
      expect(reports()[0]).toMatchObject({ pools: 0, freed: 0, dryRun: false, node: 'node-a' });

      unlinkSync(link);
      await until('a Docker error', () => stderr.text().includes('Docker unreachable at'));
      symlinkSync(daemon.socket, link);
      let seen = reports().length;
      await until('a report after Docker is back', () => reports().length > seen);

      await etcd.stopMember('m0');
      await until('an etcd error', () => /etcd unavailable at/.test(stderr.text()));
      await etcd.startMember('m0');
      seen = reports().length;
      await until('a report after etcd is back', () => reports().length > seen);
    } finally {
      controller.abort();
    }
    expect(await running).toBe(0);
    // Failed runs print an error object on stdout too, in --json mode.
    expect(stdout.text()).toContain('"code":"DOCKER_UNAVAILABLE"');
    expect(stdout.text()).toContain('"code":"STORE_UNAVAILABLE"');
    expect(built).toBe(1);
    await registration.stop();
    await plugin.close();
    client.close();
  }, 180_000);
});
