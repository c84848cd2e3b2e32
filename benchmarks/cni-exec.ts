/**
 * How the CNI benchmark calls plugins: exactly as a runtime's libcni does, by exec with the
 * CNI_* environment and the network config on stdin, inside the host's network namespace
 * (`nsenter --net`, as Podman runs there). The namespaces are the benchmark's own: a host
 * namespace with a veth pair (the macvlan master) and a container namespace.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CNI_PLUGIN_DIR } from '@kontena-ipam/testing/cni-config';

/** requireCni fails with the install command when the benchmark cannot run here. */
export function requireCni(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('The CNI benchmark must run as root (network namespaces and macvlan need it).');
  }
  if (
    !existsSync(join(CNI_PLUGIN_DIR, 'macvlan')) ||
    !existsSync(join(CNI_PLUGIN_DIR, 'host-local'))
  ) {
    throw new Error(
      'The CNI benchmark needs the reference plugins in /usr/lib/cni. Install them with: apt-get install -y --no-install-recommends containernetworking-plugins',
    );
  }
}

/** CniCall is one plugin invocation: the verb, the attachment and the config piped to it. */
export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION';
  containerId: string;
  /** netns is the container's namespace path (CNI_NETNS). */
  netns: string;
  /** path is CNI_PATH: where the main plugin finds the IPAM plugin. */
  path: string;
  config: unknown;
}

/** CniOutcome is what a plugin printed, how it exited, and how long the exec took. */
export interface CniOutcome {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** execPlugin runs `argv` with `call`'s environment and config and times it, spawn to exit. */
export function execPlugin(argv: readonly string[], call: CniCall): Promise<CniOutcome> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: 'eth0',
    // What Podman passes (K8S_POD_NAME is the container's name).
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${call.containerId.slice(0, 12)}`,
    CNI_PATH: call.path,
  };
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error) => {
      resolve({ code: 127, stdout, stderr: String(error), ms: performance.now() - started });
    });
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout,
        stderr,
        ms: performance.now() - started,
      });
    });
    // A plugin may exit without reading its config (nsenter's floor, /bin/true, does).
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(call.config));
  });
}

/** inNetns is the argv that runs `argv` inside named network namespace `netns`. */
export function inNetns(netns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=/var/run/netns/${netns}`, ...argv];
}

/** ip runs `ip ARGS` and throws with its stderr when it fails. */
export function ip(args: readonly string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`ip ${args.join(' ')}: ${(result.stderr || String(result.error)).trim()}`);
  }
}

/** BenchNamespaces are the benchmark's host and container namespaces. */
export interface BenchNamespaces {
  /** host holds `master`, the macvlan parent (one end of a veth pair). */
  host: string;
  master: string;
  /** container is where the macvlan plugin puts eth0 (CNI_NETNS). */
  container: string;
  containerPath: string;
  /** remove deletes both namespaces and everything in them. */
  remove(): void;
}

/** makeNamespaces makes the host namespace (with a veth pair, up) and the container namespace. */
export function makeNamespaces(label: string): BenchNamespaces {
  const host = `kipam-${label}-host-${process.pid}`;
  const container = `kipam-${label}-ctr-${process.pid}`;
  const made: string[] = [];
  const remove = (): void => {
    for (const netns of made.splice(0)) spawnSync('ip', ['netns', 'del', netns]);
  };
  try {
    for (const netns of [host, container]) {
      ip(['netns', 'add', netns]);
      made.push(netns);
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    }
    ip(['-n', host, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p']);
    ip(['-n', host, 'link', 'set', 'eth1p', 'up']);
    ip(['-n', host, 'link', 'set', 'eth1', 'up']);
  } catch (error) {
    remove();
    throw error;
  }
  process.once('exit', remove);
  return {
    host,
    master: 'eth1',
    container,
    containerPath: `/var/run/netns/${container}`,
    remove() {
      remove();
      process.removeListener('exit', remove);
    },
  };
}
