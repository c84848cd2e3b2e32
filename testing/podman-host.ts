/**
 * A real Podman host for end-to-end tests: Debian's Podman 4.3.1 with its CNI backend, run as
 * root inside a network namespace of the test's own (`nsenter --net=/var/run/netns/NS podman
 * …`; `ip netns exec` remounts /sys and runc then finds no cgroup mount). Everything Podman
 * writes lives in the host's temp dir: storage (vfs), run root, tmp dir and file locks, the
 * CNI network configs (`*.conflist` written by the test) and a plugin folder searched before
 * `/usr/lib/cni`, where a test puts an IPAM plugin of its own (e.g. as `kontena-ipam`).
 * Podman's own CNI networks are the test's conflists; the image is busybox, from `podman
 * import` (no registry is reachable).
 *
 * stop() removes the containers with `podman rm` (CNI DEL runs through the network's plugins,
 * so an IPAM plugin must still be able to answer), then every trace (podman-leftovers.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarball } from './busybox-image.js';
import { DEBIAN_CNI_DIR } from './cni.js';
import type { Conflist } from './cni-config.js';
import { type DockerResult, run } from './dockerd-io.js';
import {
  type PodmanInstance,
  removeTraces,
  sweepPodmanOrphans,
  trackPodman,
  untrackPodman,
} from './podman-leftovers.js';

/** PODMAN_IMAGE is the tag the busybox image gets in every Podman host. */
export const PODMAN_IMAGE = 'localhost/kontena-ipam-test/busybox:latest';

/** PodmanHostOptions configure one host. */
export interface PodmanHostOptions {
  /** label goes into the temp dir's and namespace's names (default `pm`). */
  label?: string;
  /**
   * netns: true (default) makes a fresh network namespace and deletes it on stop(); a string
   * names an existing one (left in place).
   */
  netns?: true | string;
}

/** PodmanHost is a Podman with its own storage and CNI config, inside a network namespace. */
export interface PodmanHost {
  /** root is the temp dir holding everything this host writes. */
  readonly root: string;
  /** netns names the network namespace Podman runs in (the host's interfaces live there). */
  readonly netns: string;
  /** pluginDir is searched for CNI plugins before /usr/lib/cni: put an IPAM plugin here. */
  readonly pluginDir: string;
  /** networkDir is Podman's network_config_dir: writeNetwork puts conflists there. */
  readonly networkDir: string;
  /** image is the imported busybox image. */
  readonly image: string;
  /** writeNetwork writes a conflist as `<name>.conflist`; Podman reads it on the next command. */
  writeNetwork(conflist: Conflist): void;
  /** podman runs podman for this host; never throws on a non-zero exit. */
  podman(args: string[], options?: { timeoutMs?: number }): Promise<DockerResult>;
  /** podmanOk runs podman and returns trimmed stdout; throws with stderr on a non-zero exit. */
  podmanOk(...args: string[]): Promise<string>;
  /**
   * runSleeper starts a busybox `sleep 600` on `network` with any extra `podman run` options
   * (e.g. `--ip A`) and returns the container id.
   */
  runSleeper(network: string, options?: string[]): Promise<string>;
  /** containerIp is the IPv4 address (bare) a container has on `network`, from podman inspect. */
  containerIp(container: string, network: string): Promise<string>;
  /** inNetns runs a command in the host's network namespace (e.g. `ip -o link`). */
  inNetns(args: string[]): Promise<DockerResult>;
  /** stop removes the containers (CNI DEL), then the namespace it made and the temp dir. */
  stop(): Promise<void>;
}

/** requirePodman fails loudly, with the install command, when a real part is missing. */
function requirePodman(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('The Podman harness must run as root (network namespaces and runc need it).');
  }
  const missing: string[] = [];
  if (spawnSync('podman', ['--version']).status !== 0) missing.push('podman');
  if (!existsSync(join(DEBIAN_CNI_DIR, 'macvlan'))) missing.push('containernetworking-plugins');
  if (spawnSync('nsenter', ['--version']).status !== 0) missing.push('util-linux');
  if (missing.length > 0) {
    throw new Error(
      `The Podman end-to-end tests need a real Podman with the CNI plugins. Install them with: apt-get install -y --no-install-recommends ${missing.join(' ')}`,
    );
  }
}

/** HostLayout is where one host keeps everything, all inside its temp dir. */
interface HostLayout {
  root: string;
  pluginDir: string;
  networkDir: string;
  conf: string;
}

/**
 * containersConf is the host's CONTAINERS_CONF. Each setting keeps Podman inside the temp dir
 * or makes it run in this sandbox: the CNI backend with our plugin folder first; no default
 * ulimits (Podman's nofile of 1048576 is above this machine's limit and runc fails with "error
 * setting rlimit type 7"); cgroupfs (no systemd); events to a file; file locks in the tmp dir
 * instead of the one /dev/shm segment every Podman on the machine shares.
 */
function containersConf(layout: HostLayout): string {
  const tmp = join(layout.root, 'tmp');
  return [
    '[containers]',
    'default_ulimits = []',
    '',
    '[network]',
    'network_backend = "cni"',
    `cni_plugin_dirs = [${JSON.stringify(layout.pluginDir)}, ${JSON.stringify(DEBIAN_CNI_DIR)}]`,
    `network_config_dir = ${JSON.stringify(layout.networkDir)}`,
    '',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = ${JSON.stringify(join(tmp, 'events.log'))}`,
    `tmp_dir = ${JSON.stringify(tmp)}`,
    'lock_type = "file"',
    '',
  ].join('\n');
}

let counter = 0;

/** makeLayout creates the temp dir, its folders and the containers.conf. */
function makeLayout(label: string): HostLayout {
  const root = mkdtempSync(`/tmp/kipam-${label}-`);
  const layout: HostLayout = {
    root,
    pluginDir: join(root, 'cni-plugins'),
    networkDir: join(root, 'cni-networks'),
    conf: join(root, 'containers.conf'),
  };
  for (const dir of [layout.pluginDir, layout.networkDir, join(root, 'tmp')]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(layout.conf, containersConf(layout));
  return layout;
}

/** makeNetns makes a fresh network namespace with lo up and returns its name. */
function makeNetns(label: string): string {
  const name = `kipam-${label}-${process.pid}-${++counter}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${name}: ${add.stderr.trim()}`);
  spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** podmanCommand is podman's command line up to the subcommand: in the namespace, on the roots. */
function podmanCommand(root: string, netns: string): string[] {
  return [
    'nsenter',
    `--net=/var/run/netns/${netns}`,
    'podman',
    '--root',
    join(root, 'storage'),
    '--runroot',
    join(root, 'run'),
    '--storage-driver',
    'vfs',
  ];
}

/** sandboxes adds the network namespace paths of every container of the host to `into`. */
async function recordSandboxes(host: PodmanHost, into: Set<string>): Promise<void> {
  const ids = (await host.podman(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return;
  const keys = await host.podman([
    'inspect',
    '--format',
    '{{.NetworkSettings.SandboxKey}}',
    ...ids,
  ]);
  for (const key of keys.stdout.split('\n')) if (key.startsWith('/')) into.add(key);
}

/** hostHandle is the PodmanHost a test holds. */
function hostHandle(instance: PodmanInstance, layout: HostLayout, netns: string): PodmanHost {
  const [bin, ...prefix] = instance.command as [string, ...string[]];
  let stopped = false;
  const host: PodmanHost = {
    root: layout.root,
    netns,
    pluginDir: layout.pluginDir,
    networkDir: layout.networkDir,
    image: PODMAN_IMAGE,
    writeNetwork(conflist) {
      if (!/^[\w.-]+$/.test(conflist.name)) {
        throw new Error(`a conflist needs a plain name, got ${JSON.stringify(conflist.name)}`);
      }
      const file = join(layout.networkDir, `${conflist.name}.conflist`);
      writeFileSync(file, `${JSON.stringify(conflist, null, 2)}\n`);
    },
    podman(args, options = {}) {
      return run(bin, [...prefix, ...args], { ...options, env: instance.env });
    },
    async podmanOk(...args) {
      const result = await host.podman(args, { timeoutMs: 120_000 });
      if (result.code !== 0) {
        throw new Error(
          `podman ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
        );
      }
      return result.stdout.trim();
    },
    async runSleeper(network, options = []) {
      const id = await host.podmanOk(
        'run',
        '-d',
        '--network',
        network,
        ...options,
        PODMAN_IMAGE,
        'sleep',
        '600',
      );
      const key = await host.podmanOk('inspect', '--format', '{{.NetworkSettings.SandboxKey}}', id);
      if (key.startsWith('/')) instance.sandboxes.add(key);
      return id;
    },
    containerIp(container, network) {
      return host.podmanOk(
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        container,
      );
    },
    inNetns(args) {
      return run('ip', ['netns', 'exec', netns, ...args]);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const problems: string[] = [];
      await recordSandboxes(host, instance.sandboxes);
      const rm = await host.podman(['rm', '--all', '--force', '--time', '0'], {
        timeoutMs: 120_000,
      });
      if (rm.code !== 0) problems.push(`podman rm --all: ${rm.stderr.trim()}`);
      removeTraces(instance, problems);
      untrackPodman(instance);
      if (problems.length > 0) throw new Error(`podman host cleanup: ${problems.join('; ')}`);
    },
  };
  return host;
}

/** importImage imports the busybox rootfs as PODMAN_IMAGE. */
async function importImage(host: PodmanHost): Promise<void> {
  const tarball = busyboxTarball(host.root);
  try {
    await host.podmanOk('import', '--change', 'CMD ["sh"]', tarball, PODMAN_IMAGE);
  } finally {
    rmSync(tarball, { force: true });
  }
}

/** startPodmanHost makes the host's dirs and namespace and imports busybox. */
export async function startPodmanHost(options: PodmanHostOptions = {}): Promise<PodmanHost> {
  requirePodman();
  sweepPodmanOrphans();
  const label = options.label ?? 'pm';
  const layout = makeLayout(label);
  const ownNetns = options.netns === undefined || options.netns === true;
  let netns: string;
  try {
    netns = ownNetns ? makeNetns(label) : (options.netns as string);
  } catch (error) {
    rmSync(layout.root, { recursive: true, force: true });
    throw error;
  }
  const instance: PodmanInstance = {
    root: layout.root,
    netns,
    ownNetns,
    command: podmanCommand(layout.root, netns),
    env: { ...process.env, CONTAINERS_CONF: layout.conf },
    sandboxes: new Set(),
  };
  trackPodman(instance);
  const host = hostHandle(instance, layout, netns);
  try {
    await importImage(host);
  } catch (error) {
    await host.stop().catch(() => undefined);
    throw error;
  }
  return host;
}
