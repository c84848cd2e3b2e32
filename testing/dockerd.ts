/**
 * Real dockerd for end-to-end tests. Each startDockerd() runs its own daemon with its own
 * data root, exec root, pidfile and API socket in a temp dir, inside its own mount namespace
 * where a per-daemon folder is bind-mounted over /run/docker/plugins (and an empty one over
 * /etc/docker), so every daemon finds only its own plugin socket and the driver name stays
 * `kontena-ipam`. By default it also gets its own network namespace: Docker checks a dynamic
 * pool against the routes of its host, so two daemons (or another test's bridges) in one
 * namespace would see each other's routes (the isolation itself: dockerd-namespaces.ts).
 *
 * stop() removes containers, networks, processes, the namespace and the temp dir, also when
 * a step fails; a process exit hook kills what is left if a test run dies without stop().
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type DockerResult, engineApi, ping, run, tail, waitExit } from './dockerd-io.js';
import {
  type DaemonInstance,
  killLeftovers,
  sweepOrphans,
  track,
  untrack,
  writeOwner,
} from './dockerd-leftovers.js';
import { launchScript } from './dockerd-namespaces.js';
import { removeOwnTraces } from './orphans.js';

export { BUSYBOX_IMAGE, importBusybox } from './busybox-image.js';
export type { DockerResult } from './dockerd-io.js';

/** DOCKER_CLI is the docker client that matches Debian's dockerd (a newer CLI may be on PATH). */
export const DOCKER_CLI = '/usr/bin/docker';

/** DockerdOptions configure one daemon. */
export interface DockerdOptions {
  /** Folder this daemon sees as /run/docker/plugins (default: a fresh folder in its temp dir). */
  pluginDir?: string;
  /**
   * Network namespace: true (default) makes a fresh one and deletes it on stop(); a string
   * names an existing one (left in place); false runs in the caller's namespace.
   */
  netns?: boolean | string;
  /** Short label used in temp dir and namespace names (default `d`). */
  label?: string;
  /** Extra dockerd flags. */
  extraArgs?: string[];
}

/** Dockerd is a running test daemon. */
export interface Dockerd {
  /** root is the temp dir holding everything this daemon writes. */
  readonly root: string;
  /** socket is the unix path of the Engine API (give it to dockerode as `socketPath`). */
  readonly socket: string;
  /** host is `unix://<socket>`, for DOCKER_HOST / `docker -H`. */
  readonly host: string;
  /** pluginDir is the folder the daemon sees as /run/docker/plugins. */
  readonly pluginDir: string;
  /** netns names the daemon's network namespace, or undefined when it runs in the caller's. */
  readonly netns: string | undefined;
  /** docker runs /usr/bin/docker against this daemon; never throws on a non-zero exit. */
  docker(args: string[], options?: { timeoutMs?: number }): Promise<DockerResult>;
  /** dockerOk runs docker and returns trimmed stdout; throws with stderr on a non-zero exit. */
  dockerOk(args: string[], options?: { timeoutMs?: number }): Promise<string>;
  /**
   * api sends one Engine API request (JSON body) over the daemon's socket, for what the CLI
   * would refuse before asking (SDKs and compose talk to the API directly).
   */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** inNetns runs a command inside the daemon's network namespace (e.g. `ip route add …`). */
  inNetns(args: string[]): Promise<DockerResult>;
  /** restart stops the daemon (SIGTERM) and starts it again on the same roots and socket. */
  restart(): Promise<void>;
  /** logs returns the daemon's log so far. */
  logs(): string;
  /** stop removes containers, networks, processes, the namespace and the temp dir. */
  stop(): Promise<void>;
}

/** requireTools fails loudly, with the install command, when a real part is missing. */
function requireTools(): { dockerd: string } {
  if (process.getuid?.() !== 0) {
    throw new Error('The dockerd harness must run as root (dockerd, ip netns and mounts need it).');
  }
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => existsSync(p));
  const missing: string[] = [];
  if (!dockerd || !existsSync(DOCKER_CLI)) missing.push('docker.io');
  if (spawnSync('ip', ['-V']).status !== 0) missing.push('iproute2');
  if (spawnSync('unshare', ['--version']).status !== 0) missing.push('util-linux');
  if (missing.length > 0 || !dockerd) {
    throw new Error(
      `The end-to-end tests need a real Docker daemon. Install it with: apt-get install -y ${missing.join(' ')}`,
    );
  }
  return { dockerd };
}

/** DaemonLayout is where one daemon keeps everything, all inside its temp dir `root`. */
interface DaemonLayout {
  root: string;
  /** socket is the Engine API's unix socket. */
  socket: string;
  pluginDir: string;
  logFile: string;
  /** cliConfig is the docker CLI's DOCKER_CONFIG, so no user's config or context applies. */
  cliConfig: string;
}

let counter = 0;

/**
 * makeLayout creates the daemon's temp dir and the folders and config file dockerd is given,
 * plus the shared-filesystem targets its private mounts go over.
 */
function makeLayout(label: string, pluginDir: string | undefined): DaemonLayout {
  // Short paths: containerd's socket lives under the exec root and unix paths max out at 108.
  const root = mkdtempSync(`/tmp/kipam-${label}-`);
  const layout: DaemonLayout = {
    root,
    socket: join(root, 'docker.sock'),
    pluginDir: pluginDir ?? join(root, 'plugins'),
    logFile: join(root, 'dockerd.log'),
    cliConfig: join(root, 'cli'),
  };
  for (const dir of [layout.pluginDir, join(root, 'etc'), join(root, 'data'), join(root, 'exec')]) {
    mkdirSync(dir, { recursive: true });
  }
  mkdirSync(layout.cliConfig, { recursive: true });
  // Bind-mount targets must exist in the shared filesystem.
  mkdirSync('/run/docker/plugins', { recursive: true });
  mkdirSync('/etc/docker', { recursive: true });
  writeFileSync(join(root, 'daemon.json'), '{}\n');
  return layout;
}

/** dockerdArgs are the daemon's flags: everything it writes under `root`, nothing on the host. */
function dockerdArgs(layout: DaemonLayout, extraArgs: readonly string[] = []): string[] {
  const { root } = layout;
  return [
    '--config-file',
    join(root, 'daemon.json'),
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    '--storage-driver=vfs',
    // no docker0: the default bridge would add a route and a device nobody asked for
    '--bridge=none',
    '--data-root',
    join(root, 'data'),
    '--exec-root',
    join(root, 'exec'),
    '-H',
    `unix://${layout.socket}`,
    '--pidfile',
    join(root, 'docker.pid'),
    ...extraArgs,
  ];
}

/** cliEnvironment is the docker CLI's environment: this daemon only, whatever the caller set. */
function cliEnvironment(layout: DaemonLayout): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: layout.cliConfig };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  return env;
}

/**
 * enterNetns gives the daemon its network namespace: a fresh one (true; recorded in the owner
 * file so a later run can delete it after a crash), a named existing one, or none (false).
 */
function enterNetns(instance: DaemonInstance, option: boolean | string, label: string): void {
  if (option === true) {
    const name = `kipam-${label}-${process.pid}-${++counter}`;
    const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`ip netns add ${name}: ${add.stderr.trim()}`);
    instance.netns = name;
    instance.ownNetns = true;
    writeOwner(instance);
    spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } else if (typeof option === 'string') {
    instance.netns = option;
  }
}

/**
 * spawnDockerd starts dockerd in a private mount namespace (inside the daemon's network
 * namespace, if it has one), logging to the layout's log file.
 */
function spawnDockerd(
  instance: DaemonInstance,
  layout: DaemonLayout,
  dockerd: { bin: string; args: string[] },
): void {
  const script = launchScript({
    root: layout.root,
    pluginDir: layout.pluginDir,
    inNetns: instance.netns !== undefined,
    dockerd: dockerd.bin,
    args: dockerd.args,
  });
  const unshare = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script];
  const command = instance.netns ? ['ip', 'netns', 'exec', instance.netns, ...unshare] : unshare;
  const log = openSync(layout.logFile, 'a');
  instance.child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', log, log] });
  closeSync(log);
}

/** waitReady resolves once the API answers /_ping; it throws if dockerd exits or 60 s pass. */
async function waitReady(instance: DaemonInstance, layout: DaemonLayout): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const child = instance.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `dockerd exited (${child?.exitCode ?? child?.signalCode}) before answering:\n${tail(layout.logFile)}`,
      );
    }
    if (await ping(layout.socket)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `dockerd did not answer on ${layout.socket} within 60 s:\n${tail(layout.logFile)}`,
  );
}

/** terminate stops the daemon process: SIGTERM, then SIGKILL after 20 s. */
async function terminate(instance: DaemonInstance): Promise<void> {
  const child = instance.child;
  instance.child = undefined;
  if (!child) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, 20_000))) {
    child.kill('SIGKILL');
    await waitExit(child, 5_000);
  }
}

type DockerCli = (args: string[], options?: { timeoutMs?: number }) => Promise<DockerResult>;

/**
 * removeDockerObjects removes the daemon's containers and custom networks while it still
 * answers, and names the bridge devices those networks had (for a daemon without a netns).
 */
async function removeDockerObjects(
  docker: DockerCli,
  problems: string[],
): Promise<{ bridges: string[] }> {
  const ids = await docker(['ps', '-aq'], { timeoutMs: 10_000 });
  const containers = ids.stdout.split('\n').filter(Boolean);
  if (containers.length > 0) {
    const rm = await docker(['rm', '-f', '-v', ...containers], { timeoutMs: 30_000 });
    if (rm.code !== 0) problems.push(`docker rm: ${rm.stderr.trim()}`);
  }
  const nets = await docker(['network', 'ls', '-q', '--filter', 'type=custom'], {
    timeoutMs: 10_000,
  });
  const networks = nets.stdout.split('\n').filter(Boolean);
  // A network whose IPAM plugin is already gone cannot be removed cleanly; the
  // namespace and data root go anyway, so don't wait long for it.
  await Promise.all(networks.map((id) => docker(['network', 'rm', id], { timeoutMs: 5_000 })));
  return { bridges: networks.map((id) => `br-${id.slice(0, 12)}`) };
}

/**
 * removeHostTraces deletes what outlives the daemon process: leftover containerd and shim
 * processes, bridges in the caller's namespace, the namespace it made, and the temp dir.
 */
function removeHostTraces(instance: DaemonInstance, bridges: string[], problems: string[]): void {
  killLeftovers(instance);
  if (!instance.netns) {
    // In the caller's namespace, bridges outlive the daemon; remove the ones it made.
    for (const bridge of bridges) spawnSync('ip', ['link', 'del', bridge]);
  }
  removeOwnTraces(instance, problems);
}

/**
 * teardown removes everything the daemon made, in order: Docker objects (while the API still
 * answers), the process, then what outlives it. Every step runs; their problems are thrown
 * together at the end.
 */
async function teardown(
  instance: DaemonInstance,
  socket: string,
  docker: DockerCli,
): Promise<void> {
  const problems: string[] = [];
  let bridges: string[] = [];
  if (instance.child && (await ping(socket))) {
    ({ bridges } = await removeDockerObjects(docker, problems));
  }
  await terminate(instance);
  removeHostTraces(instance, bridges, problems);
  untrack(instance);
  if (problems.length > 0) throw new Error(`dockerd cleanup: ${problems.join('; ')}`);
}

/** daemonHandle is the Dockerd a test holds: CLI and API access, restart, and stop. */
function daemonHandle(
  instance: DaemonInstance,
  layout: DaemonLayout,
  launch: () => Promise<void>,
): Dockerd {
  const { socket } = layout;
  const cliEnv = cliEnvironment(layout);
  const docker: DockerCli = (cliArgs, opts = {}) =>
    run(DOCKER_CLI, ['-H', `unix://${socket}`, ...cliArgs], { ...opts, env: cliEnv });
  let stopped = false;
  return {
    root: layout.root,
    socket,
    host: `unix://${socket}`,
    pluginDir: layout.pluginDir,
    get netns() {
      return instance.netns;
    },
    docker,
    async dockerOk(cliArgs, opts) {
      const result = await docker(cliArgs, opts);
      if (result.code !== 0) {
        throw new Error(
          `docker ${cliArgs.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
        );
      }
      return result.stdout.trim();
    },
    api(method, path, body) {
      return engineApi(socket, method, path, body);
    },
    inNetns(cmd) {
      if (!instance.netns) return run(cmd[0] as string, cmd.slice(1));
      return run('ip', ['netns', 'exec', instance.netns, ...cmd]);
    },
    async restart() {
      await terminate(instance);
      await launch();
    },
    logs() {
      return existsSync(layout.logFile) ? readFileSync(layout.logFile, 'utf8') : '';
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await teardown(instance, socket, docker);
    },
  };
}

/** startDockerd starts a daemon and waits until its API answers. */
export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const { dockerd: bin } = requireTools();
  const label = options.label ?? 'd';
  sweepOrphans();
  const layout = makeLayout(label, options.pluginDir);
  const instance: DaemonInstance = {
    root: layout.root,
    netns: undefined,
    ownNetns: false,
    child: undefined,
  };
  track(instance);
  writeOwner(instance);
  const args = dockerdArgs(layout, options.extraArgs);
  const launch = async (): Promise<void> => {
    spawnDockerd(instance, layout, { bin, args });
    await waitReady(instance, layout);
  };
  const daemon = daemonHandle(instance, layout, launch);
  try {
    enterNetns(instance, options.netns ?? true, label);
    await launch();
  } catch (error) {
    await daemon.stop().catch(() => undefined);
    throw error;
  }
  return daemon;
}
