/**
 * kontena-ipam as a managed plugin (docker/plugin/config.json), started by Docker itself:
 * the cure for kontena/kontena#1270, where the plugin run as a container stalled Docker's
 * boot. The image cannot be built here (no image registry), so the rootfs is made the way the
 * image is (`pnpm deploy --prod` of the app) plus this machine's node binary and its libraries:
 * `FROM=workspace docker/plugin/build-rootfs.sh`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dockerd, importBusybox, startDockerd } from '@kontena-ipam/testing/dockerd';
import { etcdBinary } from '@kontena-ipam/testing/etcd';
import { freePort } from '@kontena-ipam/testing/ports';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARS } from '../../src/config.js';
import { enableEtcdAuth } from '../support/etcd-auth.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
/** Docker 20.10 finds a managed IPAM plugin only by its full name, tag included. */
const DRIVER = 'kontena-ipam:latest';

interface PluginMount {
  Name: string;
  Settable: string[];
  Source: string;
  Destination: string;
  Type: string;
  Options: string[];
}

interface PluginInspect {
  Name: string;
  Enabled: boolean;
  Settings: { Env: string[]; Mounts: PluginMount[] };
  Config: {
    Entrypoint: string[];
    Interface: { Types: string[]; Socket: string };
    Network: { Type: string };
    Env: Array<{ Name: string }>;
    Mounts: PluginMount[];
  };
}

/** The etcd password, kept in a file of the host folder the plugin's `certs` mount binds. */
const PASSWORD = 'm4naged-s3cret';

/**
 * buildRootfs writes <dir>/config.json and <dir>/rootfs with node, its libraries and the app,
 * through the same script an operator runs (docker/plugin/build-rootfs.sh, FROM=workspace).
 */
function buildRootfs(dir: string): void {
  const build = spawnSync(join(repo, 'docker/plugin/build-rootfs.sh'), [], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, FROM: 'workspace', OUT: dir, CREATE: '0' },
  });
  if (build.status !== 0) {
    throw new Error(`build-rootfs.sh failed (${build.status}):\n${build.stdout}${build.stderr}`);
  }
  if (!existsSync(join(dir, 'rootfs/app/dist/bin/kontena-ipam.js'))) {
    throw new Error(`build-rootfs.sh wrote no app into ${dir}/rootfs`);
  }
}

describe('the managed plugin (docker plugin create/enable)', () => {
  let daemon: Dockerd;
  let etcd: ChildProcess | undefined;
  let image: string;
  let endpoint: string;

  beforeAll(async () => {
    daemon = await startDockerd({ label: 'managed' });
    image = await importBusybox(daemon);
    // The plugin runs on the daemon's host network, its namespace: etcd must live there too.
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    etcd = spawn(
      'ip',
      [
        'netns',
        'exec',
        String(daemon.netns),
        etcdBinary(),
        '--data-dir',
        join(daemon.root, 'etcd'),
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        `http://127.0.0.1:${port + 1}`,
        '--log-level',
        'error',
      ],
      { stdio: 'ignore' },
    );
    buildRootfs(join(daemon.root, 'plugin'));
  });

  afterAll(async () => {
    await daemon?.docker(['plugin', 'disable', '-f', DRIVER]);
    await daemon?.stop();
    etcd?.kill('SIGKILL');
  });

  it('docker plugin create accepts config.json: an IPAM driver on kontena-ipam.sock', async () => {
    await daemon.dockerOk(['plugin', 'create', 'kontena-ipam', join(daemon.root, 'plugin')], {
      timeoutMs: 120_000,
    });
    const [plugin] = JSON.parse(
      await daemon.dockerOk(['plugin', 'inspect', DRIVER]),
    ) as PluginInspect[];
    expect(plugin?.Name).toBe(DRIVER);
    expect(plugin?.Enabled).toBe(false);
    expect(plugin?.Config.Interface).toEqual({
      Types: ['docker.ipamdriver/1.0'],
      Socket: 'kontena-ipam.sock',
    });
    expect(plugin?.Config.Network.Type).toBe('host');
    expect(plugin?.Config.Entrypoint).toEqual(['node', '/app/dist/bin/kontena-ipam.js', 'serve']);
    expect(plugin?.Settings.Env).toContain('KONTENA_IPAM_LOCAL_ETCD=off');
    // It says it is a managed plugin (Docker sets nothing that does), so NODE_ID is required.
    expect(plugin?.Settings.Env).toContain('KONTENA_IPAM_MANAGED_PLUGIN=1');
    // TLS files come from a host folder the operator names, read-only; none in the rootfs.
    expect(plugin?.Config.Mounts).toEqual([
      {
        Name: 'certs',
        Description: expect.stringContaining('/etc/kontena-ipam'),
        Settable: ['source'],
        Source: '/etc/ssl/certs',
        Destination: '/etc/kontena-ipam',
        Type: 'bind',
        Options: ['rbind', 'ro'],
      },
    ]);
    expect(readdirSync(join(daemon.root, 'plugin/rootfs/etc/kontena-ipam'))).toEqual([]);
    // Every variable it declares is one the app reads.
    const names = (plugin?.Config.Env ?? []).map((e) => e.Name).filter((n) => n !== 'NODE_ENV');
    expect(names.filter((name) => !(ENV_VARS as readonly string[]).includes(name))).toEqual([]);
  });

  it('once set and enabled, Docker runs it and networks get their subnets from it', async () => {
    // etcd with authentication on; the password reaches the plugin as a file in the mount.
    enableEtcdAuth(endpoint, PASSWORD, ['ip', 'netns', 'exec', String(daemon.netns)]);
    const certs = join(daemon.root, 'etcd-certs');
    mkdirSync(certs, { mode: 0o700 });
    writeFileSync(join(certs, 'etcd-password'), `${PASSWORD}\n`, { mode: 0o600 });
    await daemon.dockerOk([
      'plugin',
      'set',
      DRIVER,
      `ETCD_ENDPOINT=${endpoint}`,
      'NODE_ID=managed',
      `certs.source=${certs}`,
      'ETCD_USERNAME=root',
      'ETCD_PASSWORD_FILE=/etc/kontena-ipam/etcd-password',
    ]);
    const inspect = await daemon.dockerOk(['plugin', 'inspect', DRIVER]);
    expect(inspect).not.toContain(PASSWORD);
    const [plugin] = JSON.parse(inspect) as PluginInspect[];
    expect(plugin?.Config.Mounts[0]?.Source).toBe(certs);
    await daemon.dockerOk(['plugin', 'enable', DRIVER]);
    await daemon.dockerOk([
      'network',
      'create',
      '--ipam-driver',
      DRIVER,
      '--ipam-opt',
      'network=kontena0',
      'kontena0',
    ]);
    const ipam = JSON.parse(
      await daemon.dockerOk(['network', 'inspect', '--format', '{{json .IPAM}}', 'kontena0']),
    ) as { Config: Array<{ Subnet: string }> };
    expect(ipam.Config[0]?.Subnet).toBe('10.80.0.0/24');
  });

  it('after a dockerd restart Docker starts the plugin itself, and containers come back', async () => {
    const id = await daemon.dockerOk([
      'run',
      '-d',
      '--restart',
      'always',
      '--stop-timeout',
      '0',
      '--network',
      'kontena0',
      image,
      'sleep',
      '600',
    ]);
    await daemon.restart();
    const plugins = await daemon.dockerOk(['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}']);
    expect(plugins).toBe(`${DRIVER} true`);
    let address = '';
    for (let i = 0; i < 100 && !address.startsWith('10.80.0.'); i++) {
      address = await daemon.dockerOk([
        'container',
        'inspect',
        '--format',
        '{{.NetworkSettings.Networks.kontena0.IPAddress}}',
        id,
      ]);
      if (!address.startsWith('10.80.0.')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(address).toMatch(/^10\.80\.0\.\d+$/);
    await daemon.dockerOk(['rm', '-f', id]);
    await daemon.dockerOk(['network', 'rm', 'kontena0']);
  });
  it('without NODE_ID it refuses to start: docker plugin enable fails, the daemon log says why', async () => {
    // Last, on the same plugin: Docker 20.10 removes a plugin's failed containerd container in
    // the background, and enabling it again meanwhile says "id already in use".
    await daemon.dockerOk(['plugin', 'disable', DRIVER]);
    await daemon.dockerOk(['plugin', 'set', DRIVER, 'NODE_ID=']);
    const enable = await daemon.docker(['plugin', 'enable', '--timeout', '10', DRIVER], {
      timeoutMs: 60_000,
    });
    expect(enable.code).not.toBe(0);
    // Docker copies the plugin's stderr into its own log, one line each.
    expect(daemon.logs()).toContain(
      'a managed plugin (KONTENA_IPAM_MANAGED_PLUGIN=1) needs an explicit NODE_ID',
    );
    const [plugin] = JSON.parse(
      await daemon.dockerOk(['plugin', 'inspect', DRIVER]),
    ) as PluginInspect[];
    expect(plugin?.Enabled).toBe(false);
  });
});
