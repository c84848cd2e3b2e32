/**
 * Running CNI plugins the way a runtime's libcni does, for tests: the CNI_ variables and the
 * network config on stdin, the result or error object read from stdout, optionally inside a
 * host's network namespace (`prefix`, e.g. `ip netns exec HOST`). Also network namespaces for
 * test "containers" and "hosts", and the Debian reference plugins' directory.
 *
 * Nothing here knows kontena-ipam: a plugin is a path, a config is JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** DEBIAN_CNI_DIR is where Debian's containernetworking-plugins puts bridge, macvlan, host-local… */
export const DEBIAN_CNI_DIR = '/usr/lib/cni';

/** CniCommand is one plugin exec: the verb, the CNI_ variables, the config. */
export interface CniCommand {
  /** The plugin executable (e.g. `${DEBIAN_CNI_DIR}/macvlan`, or an IPAM plugin itself). */
  plugin: string;
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION' | string;
  containerId?: string;
  /** CNI_NETNS: a path such as /var/run/netns/NAME. */
  netns?: string;
  ifname?: string;
  /** CNI_ARGS, `K=V;K2=V2` (Podman's `IP=` for `--ip`). */
  args?: string;
  /** CNI_PATH: the directories searched for the IPAM plugin the main plugin execs. */
  cniPath?: readonly string[];
  /** The network config; a string is sent as is (for malformed-input tests). */
  config: object | string;
  /** A command that execs the plugin (e.g. ['ip', 'netns', 'exec', HOSTNS]). */
  prefix?: readonly string[];
  /** Leave a variable out entirely (a missing CNI_CONTAINERID, say). */
  omit?: readonly string[];
  timeoutMs?: number;
}

/** CniOutcome is a finished plugin run: exit code, stdout parsed when it is JSON, stderr. */
export interface CniOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as JSON (the result or error object), undefined when empty or not JSON. */
  json: Record<string, unknown> | undefined;
}

/** cniEnv is the environment libcni gives a plugin for `c`. */
export function cniEnv(c: CniCommand): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: c.command,
    CNI_CONTAINERID: c.containerId ?? '',
    CNI_NETNS: c.netns ?? '',
    CNI_IFNAME: c.ifname ?? '',
    CNI_ARGS: c.args ?? '',
    CNI_PATH: (c.cniPath ?? [DEBIAN_CNI_DIR]).join(':'),
  };
  for (const name of c.omit ?? []) delete env[name];
  return env;
}

/** execCni runs one plugin command to completion (SIGKILL after timeoutMs, default 30 s). */
export function execCni(c: CniCommand): Promise<CniOutcome> {
  const argv = [...(c.prefix ?? []), c.plugin];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: cniEnv(c),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), c.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
    // A plugin may exit without reading its config (EPIPE here would crash the test process).
    child.stdin.on('error', () => undefined);
    child.stdin.end(typeof c.config === 'string' ? c.config : JSON.stringify(c.config));
  });
}

/**
 * macvlanConfig is a macvlan network config (bridge mode on `master`) with `ipam` as given:
 * what a runtime passes the macvlan plugin for one network of a conflist.
 */
export function macvlanConfig(options: {
  name: string;
  master: string;
  ipam: Record<string, unknown>;
  cniVersion?: string;
}): Record<string, unknown> {
  return {
    cniVersion: options.cniVersion ?? '1.0.0',
    name: options.name,
    type: 'macvlan',
    master: options.master,
    mode: 'bridge',
    ipam: options.ipam,
  };
}

/**
 * writeConflist writes `<dir>/<name>.conflist` with one plugin (`plugin`, e.g. macvlanConfig's
 * minus cniVersion and name) as Podman and containerd read it; returns its path.
 */
export async function writeConflist(
  dir: string,
  options: { name: string; cniVersion?: string; plugins: Array<Record<string, unknown>> },
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${options.name}.conflist`);
  const body = {
    cniVersion: options.cniVersion ?? '1.0.0',
    name: options.name,
    plugins: options.plugins,
  };
  await writeFile(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}

/** TestNetns is a network namespace a test made (`ip netns add`): `path` is its CNI_NETNS. */
export interface TestNetns {
  readonly name: string;
  readonly path: string;
  /** exec is the prefix that runs a command inside it. */
  readonly exec: readonly string[];
  remove(): void;
}

const live = new Set<string>();
let counter = 0;
let hooked = false;

/** makeNetns adds network namespace `kipam-<label>-<pid>-<n>` with loopback up. */
export function makeNetns(label: string): TestNetns {
  const name = `kipam-${label}-${process.pid}-${++counter}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${name}: ${add.stderr.trim()}`);
  live.add(name);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const n of live) spawnSync('ip', ['netns', 'del', n]);
    });
  }
  spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    path: `/var/run/netns/${name}`,
    exec: ['ip', 'netns', 'exec', name],
    remove() {
      if (!live.has(name)) return;
      spawnSync('ip', ['netns', 'del', name]);
      live.delete(name);
    },
  };
}

/** debianCniMissing says why the Debian reference plugins cannot be used here, or undefined. */
export function debianCniMissing(): string | undefined {
  return existsSync(join(DEBIAN_CNI_DIR, 'macvlan'))
    ? undefined
    : `${DEBIAN_CNI_DIR}/macvlan is missing: apt-get install containernetworking-plugins`;
}
