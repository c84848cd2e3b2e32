/**
 * docker/compose.yml brought up with Debian's docker-compose on a test dockerd: the one-host
 * stack's etcd (no network, a unix socket in a volume) and the plugin, then a network through
 * Docker. No registry is reachable, so the two images the file names are made with `docker
 * import`: the plugin's from the workspace the way the managed plugin's rootfs is made
 * (docker/plugin/build-rootfs.sh, FROM=workspace) plus busybox's sh for the image's bin/
 * wrappers, and the etcd image's tag on Debian's etcd and etcdctl (3.4) with their libraries.
 * The cleanup service is left out: it binds the host's /var/run/docker.sock, which the test
 * daemon does not have (Docker would make a folder there).
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dockerd, startDockerd } from '@kontena-ipam/testing/dockerd';
import { etcdBinary } from '@kontena-ipam/testing/etcd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SHIPPED_CNI_CLIENT } from '../support/install-cni.js';
import { callPlugin } from '../support/plugin-process.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const COMPOSE = ['-f', join(REPO, 'docker/compose.yml')];

interface Rendered {
  services: Record<string, { image?: string }>;
}

/** run runs a command to completion and throws with its output when it fails. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { encoding: 'utf8', env, timeout: 300_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stderr}`);
  }
  return result.stdout;
}

/** withLibraries copies `binary` and the shared libraries it links into `rootfs` at `to`. */
function withLibraries(rootfs: string, binary: string, to: string): void {
  mkdirSync(join(rootfs, dirname(to)), { recursive: true });
  copyFileSync(binary, join(rootfs, to));
  chmodSync(join(rootfs, to), 0o755);
  for (const lib of run('ldd', [binary]).match(/\/[^\s]+/g) ?? []) {
    if (lib === binary) continue;
    mkdirSync(join(rootfs, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(rootfs, lib));
  }
}

/** importRootfs tars `rootfs` and imports it into the daemon as `tag`, with Dockerfile-like changes. */
async function importRootfs(daemon: Dockerd, rootfs: string, tag: string, changes: string[]) {
  for (const dir of ['etc', 'tmp', 'proc', 'sys', 'dev', 'run']) {
    mkdirSync(join(rootfs, dir), { recursive: true });
  }
  const tarball = `${rootfs}.tar`;
  run('tar', ['-C', rootfs, '-cf', tarball, '.']);
  await daemon.dockerOk(['import', ...changes.flatMap((c) => ['--change', c]), tarball, tag], {
    timeoutMs: 300_000,
  });
}

describe('docker/compose.yml on a test dockerd', () => {
  let daemon: Dockerd;
  let env: NodeJS.ProcessEnv;
  let images: Rendered['services'];

  beforeAll(async () => {
    daemon = await startDockerd({ label: 'compose' });
    const certs = join(daemon.root, 'certs');
    mkdirSync(certs);
    env = {
      PATH: process.env.PATH,
      HOME: daemon.root,
      DOCKER_HOST: daemon.host,
      NODE_ID: 'compose-host',
      // The default (docker/certs) would be made by Docker in the repository.
      ETCD_CERTS_DIR: certs,
    };
    images = (parseYaml(run('docker-compose', [...COMPOSE, 'config'], env)) as Rendered).services;

    // The plugin's image: the app as `pnpm deploy` gives it, node, and the image's bin/.
    const plugin = join(daemon.root, 'plugin-image');
    run(join(REPO, 'docker/plugin/build-rootfs.sh'), [], {
      ...process.env,
      FROM: 'workspace',
      OUT: plugin,
      CREATE: '0',
    });
    const rootfs = join(plugin, 'rootfs');
    const sh = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p)) as string;
    copyFileSync(sh, join(rootfs, 'bin-sh'));
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    run('mv', [join(rootfs, 'bin-sh'), join(rootfs, 'bin/sh')]);
    mkdirSync(join(rootfs, 'app/bin'), { recursive: true });
    for (const name of ['kontena-ipam', 'kontena-ipam-cleanup']) {
      writeFileSync(
        join(rootfs, 'app/bin', name),
        `#!/bin/sh\nexec node /app/dist/bin/${name}.js "$@"\n`,
        { mode: 0o755 },
      );
    }
    await importRootfs(daemon, rootfs, images['kontena-ipam']?.image as string, [
      'WORKDIR /app',
      'ENV NODE_ENV=production KONTENA_IPAM_LOCAL_ETCD=off',
      'CMD ["bin/kontena-ipam"]',
    ]);

    // The etcd image the file names, made of Debian's etcd and etcdctl.
    const etcdRoot = join(daemon.root, 'etcd-image');
    const path = (name: string) => run('sh', ['-c', `readlink -f "$(command -v ${name})"`]).trim();
    withLibraries(etcdRoot, path(etcdBinary()), '/usr/local/bin/etcd');
    withLibraries(etcdRoot, path('etcdctl'), '/usr/local/bin/etcdctl');
    await importRootfs(daemon, etcdRoot, images.etcd?.image as string, ['ENV ETCDCTL_API=3']);
  });

  afterAll(async () => {
    if (daemon) {
      spawnSync('docker-compose', [...COMPOSE, 'down', '-v'], { env, timeout: 120_000 });
      await daemon.stop();
    }
  });

  it('up: etcd (no network) becomes healthy on its socket, the plugin serves Docker through it, and nothing listens on TCP', async () => {
    run('docker-compose', [...COMPOSE, 'up', '-d', '--no-build', 'etcd', 'kontena-ipam'], env);
    const socket = join(daemon.pluginDir, 'kontena-ipam.sock');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const up = await callPlugin(socket, 'Plugin.Activate', undefined).catch(() => undefined);
      if (up?.status === 200) break;
      if (Date.now() > deadline) {
        const logs = spawnSync('docker-compose', [...COMPOSE, 'logs', '--no-color'], {
          env,
          encoding: 'utf8',
        });
        throw new Error(`the plugin did not serve:\n${logs.stdout}${logs.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await daemon.dockerOk([
      'network',
      'create',
      '--ipam-driver',
      'kontena-ipam',
      '--ipam-opt',
      'network=stack0',
      'stack0',
    ]);
    const [network] = JSON.parse(await daemon.dockerOk(['network', 'inspect', 'stack0'])) as Array<{
      IPAM: { Config: Array<{ Subnet: string }> };
    }>;
    expect(network?.IPAM.Config[0]?.Subnet).toBe('10.80.0.0/24');

    // etcd: no network, and its socket is root's alone.
    const etcdId = run('docker-compose', [...COMPOSE, 'ps', '-q', 'etcd'], env).trim();
    const [inspect] = JSON.parse(await daemon.dockerOk(['inspect', etcdId])) as Array<{
      HostConfig: { NetworkMode: string };
      State: { Health?: { Status: string } };
    }>;
    expect(inspect?.HostConfig.NetworkMode).toBe('none');
    expect(inspect?.State.Health?.Status).toBe('healthy');
    const [volume] = JSON.parse(
      await daemon.dockerOk(['volume', 'inspect', 'kontena-ipam-etcd-socket']),
    ) as Array<{ Mountpoint: string }>;
    const client = join(volume?.Mountpoint as string, 'client:0');
    const mode = statSync(client);
    expect(mode.isSocket()).toBe(true);
    expect(mode.uid).toBe(0);
    expect(mode.mode & 0o022).toBe(0);
    // The pool is in that etcd.
    const keys = run(
      'etcdctl',
      ['--endpoints', `unix://${client}`, 'get', '--prefix', '--keys-only', '/kontena/ipam/'],
      { ...process.env, ETCDCTL_API: '3' },
    );
    expect(keys).toContain('stack0');
    // Nothing listens on TCP in the daemon's (and so the host-network plugin's) namespace.
    const ss = await daemon.inNetns(['ss', '-Hltn']);
    expect(ss.stdout.trim()).toBe('');
    // The plugin says where its etcd is: the socket in the shared volume.
    const pluginId = run('docker-compose', [...COMPOSE, 'ps', '-q', 'kontena-ipam'], env).trim();
    const logs = await daemon.docker(['logs', pluginId]);
    expect(`${logs.stdout}${logs.stderr}`).toMatch(
      /"endpoint":"unix:\/\/\/run\/kontena-ipam-etcd\/client:0".*kontena-ipam is serving Docker/,
    );
  }, 240_000);

  it('the image puts its native CNI client on the host: docker run -v /opt/cni/bin:/opt/cni/bin IMAGE bin/kontena-ipam install-cni', async () => {
    const hostDir = join(daemon.root, 'host-cni-bin');
    mkdirSync(hostDir);
    const image = images['kontena-ipam']?.image as string;
    const out = await daemon.dockerOk([
      'run',
      '--rm',
      '--network',
      'none',
      '-v',
      `${hostDir}:/opt/cni/bin`,
      image,
      'bin/kontena-ipam',
      'install-cni',
    ]);
    expect(out.trim()).toBe(
      `installed /opt/cni/bin/kontena-ipam: the native client for ${process.platform}-${process.arch}`,
    );
    // On the host, outside any container: the static binary, answering a runtime's VERSION.
    const plugin = join(hostDir, 'kontena-ipam');
    expect(readFileSync(plugin).equals(readFileSync(SHIPPED_CNI_CLIENT))).toBe(true);
    const version = spawnSync(plugin, [], { env: { CNI_COMMAND: 'VERSION' }, encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(JSON.parse(version.stdout)).toMatchObject({ cniVersion: '1.1.0' });
  }, 120_000);
});
