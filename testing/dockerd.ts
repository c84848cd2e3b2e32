/**
 * Real dockerd for end-to-end tests. Each startDockerd() runs its own daemon with its own
 * data root, exec root, pidfile and API socket in a temp dir, inside its own mount namespace
 * where a per-daemon folder is bind-mounted over /run/docker/plugins (and an empty one over
 * /etc/docker), so every daemon finds only its own plugin socket and the driver name stays
 * `kontena-ipam`. By default it also gets its own network namespace: Docker checks a dynamic
 * pool against the routes of its host, so two daemons (or another test's bridges) in one
 * namespace would see each other's routes (see shared DESIGN.md, "Two hosts on one machine").
 *
 * stop() removes containers, networks, processes, the namespace and the temp dir, also when
 * a step fails; a process exit hook kills what is left if a test run dies without stop().
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import {
  type DaemonInstance,
  killLeftovers,
  sweepOrphans,
  track,
  untrack,
  writeOwner,
} from './dockerd-leftovers.js';
import { launchScript } from './dockerd-namespaces.js';

export { BUSYBOX_IMAGE, importBusybox } from './busybox-image.js';

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

/** DockerResult is what one docker CLI call printed and how it exited. */
export interface DockerResult {
  stdout: string;
  stderr: string;
  code: number;
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

let counter = 0;

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

/** run spawns a command and collects its output; it never throws on a non-zero exit. */
function run(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<DockerResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      stderr += `\n[harness] ${command} ${args.join(' ')} killed after ${options.timeoutMs} ms`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: `${stderr}${String(error)}`, code: 127 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? (signal ? 128 : 1) });
    });
  });
}

/** engineApi sends one JSON request to the Engine API on `socket`. */
function engineApi(
  socket: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const req = request(
      {
        socketPath: socket,
        path,
        method,
        timeout: 60_000,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`Engine API ${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** ping asks the Engine API for /_ping over the unix socket. */
function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { socketPath: socket, path: '/_ping', method: 'GET', timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** startDockerd starts a daemon and waits until its API answers. */
export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const { dockerd: dockerdBin } = requireTools();
  const label = options.label ?? 'd';
  sweepOrphans();
  // Short paths: containerd's socket lives under the exec root and unix paths max out at 108.
  const root = mkdtempSync(`/tmp/kipam-${label}-`);
  const instance: DaemonInstance = { root, netns: undefined, ownNetns: false, child: undefined };
  track(instance);
  writeOwner(instance);
  const socket = join(root, 'docker.sock');
  const pluginDir = options.pluginDir ?? join(root, 'plugins');
  const logFile = join(root, 'dockerd.log');
  const cliConfig = join(root, 'cli');
  for (const dir of [
    pluginDir,
    join(root, 'etc'),
    join(root, 'data'),
    join(root, 'exec'),
    cliConfig,
  ]) {
    mkdirSync(dir, { recursive: true });
  }
  // Bind-mount targets must exist in the shared filesystem.
  mkdirSync('/run/docker/plugins', { recursive: true });
  mkdirSync('/etc/docker', { recursive: true });
  writeFileSync(join(root, 'daemon.json'), '{}\n');

  const netnsOption = options.netns ?? true;
  const cliEnv: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: cliConfig };
  delete cliEnv.DOCKER_HOST;
  delete cliEnv.DOCKER_CONTEXT;

  const args = [
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
    `unix://${socket}`,
    '--pidfile',
    join(root, 'docker.pid'),
    ...(options.extraArgs ?? []),
  ];

  const launch = async (): Promise<void> => {
    const script = launchScript({
      root,
      pluginDir,
      inNetns: instance.netns !== undefined,
      dockerd: dockerdBin,
      args,
    });
    const unshare = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script];
    const command = instance.netns ? ['ip', 'netns', 'exec', instance.netns, ...unshare] : unshare;
    const log = openSync(logFile, 'a');
    const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', log, log] });
    closeSync(log);
    instance.child = child;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `dockerd exited (${child.exitCode ?? child.signalCode}) before answering:\n${tail(logFile)}`,
        );
      }
      if (await ping(socket)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`dockerd did not answer on ${socket} within 60 s:\n${tail(logFile)}`);
  };

  const terminate = async (): Promise<void> => {
    const child = instance.child;
    instance.child = undefined;
    if (!child) return;
    child.kill('SIGTERM');
    if (!(await waitExit(child, 20_000))) {
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    }
  };

  const docker = (cliArgs: string[], opts: { timeoutMs?: number } = {}): Promise<DockerResult> =>
    run(DOCKER_CLI, ['-H', `unix://${socket}`, ...cliArgs], { ...opts, env: cliEnv });

  let stopped = false;
  const daemon: Dockerd = {
    root,
    socket,
    host: `unix://${socket}`,
    pluginDir,
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
      await terminate();
      await launch();
    },
    logs() {
      return existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const problems: string[] = [];
      const bridges: string[] = [];
      if (instance.child && (await ping(socket))) {
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
        bridges.push(...networks.map((id) => `br-${id.slice(0, 12)}`));
        // A network whose IPAM plugin is already gone cannot be removed cleanly; the
        // namespace and data root go anyway, so don't wait long for it.
        await Promise.all(
          networks.map((id) => docker(['network', 'rm', id], { timeoutMs: 5_000 })),
        );
      }
      await terminate();
      killLeftovers(instance);
      if (!instance.netns) {
        // In the caller's namespace, bridges outlive the daemon; remove the ones it made.
        for (const bridge of bridges) spawnSync('ip', ['link', 'del', bridge]);
      }
      if (instance.ownNetns && instance.netns) {
        const del = spawnSync('ip', ['netns', 'del', instance.netns], { encoding: 'utf8' });
        if (del.status !== 0) problems.push(`ip netns del ${instance.netns}: ${del.stderr.trim()}`);
      }
      try {
        rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch (error) {
        problems.push(`rm ${root}: ${String(error)}`);
      }
      untrack(instance);
      if (problems.length > 0) throw new Error(`dockerd cleanup: ${problems.join('; ')}`);
    },
  };

  try {
    if (netnsOption === true) {
      const name = `kipam-${label}-${process.pid}-${++counter}`;
      const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
      if (add.status !== 0) throw new Error(`ip netns add ${name}: ${add.stderr.trim()}`);
      instance.netns = name;
      instance.ownNetns = true;
      writeOwner(instance);
      spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    } else if (typeof netnsOption === 'string') {
      instance.netns = netnsOption;
    }
    await launch();
  } catch (error) {
    await daemon.stop().catch(() => undefined);
    throw error;
  }
  return daemon;
}

function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}
