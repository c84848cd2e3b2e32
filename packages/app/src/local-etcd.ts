/**
 * Single-host mode, when asked for (KONTENA_IPAM_LOCAL_ETCD=on): the plugin starts its own
 * one-member etcd (Debian's etcd-server) with its data in the state folder, so pools and
 * addresses survive restarts. It listens on unix sockets only (client and peer), in a folder
 * of the state folder that only the plugin's user may enter (0700): no TCP port, so no other
 * local user and no `--net host` container can read or rewrite the pools, and no port of a
 * real etcd member (2379) can ever be taken by it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
} from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AppError } from './errors.js';
import { type LocalEtcdSockets, localEtcdSockets } from './etcd-config.js';

/** LocalEtcdError says why the local etcd could not start (code NO_ETCD_BINARY or START_FAILED). */
export class LocalEtcdError extends AppError<'NO_ETCD_BINARY' | 'START_FAILED'> {
  constructor(code: 'NO_ETCD_BINARY' | 'START_FAILED', message: string) {
    super(code, message);
    this.name = 'LocalEtcdError';
  }
}

/** LocalEtcd is a running single-member etcd. */
export interface LocalEtcd {
  readonly endpoint: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** LocalEtcdOptions: the state folder (data, sockets, log) and where to log. */
export interface LocalEtcdOptions {
  stateDir: string;
  logger: Logger;
  /** etcd binary (default: ETCD_BIN, then etcd on PATH, /usr/bin/etcd). */
  binary?: string;
  startTimeoutMs?: number;
}

/**
 * answers tells whether something accepts connections at the endpoint: a TCP host and port
 * (http://, https://) or a unix socket (unix:///path).
 */
export function answers(endpoint: string, timeoutMs = 1000): Promise<boolean> {
  const url = new URL(endpoint);
  const target =
    url.protocol === 'unix:'
      ? { path: endpoint.slice('unix://'.length) }
      : {
          host: url.hostname.replace(/^\[|\]$/g, ''),
          port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
        };
  return new Promise((resolve) => {
    const socket = connect(target);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function findEtcd(explicit: string | undefined): string | undefined {
  // An explicit binary is the only candidate: a wrong path must not fall back silently.
  const candidates = explicit
    ? [explicit]
    : [process.env.ETCD_BIN, 'etcd', '/usr/bin/etcd', '/usr/local/bin/etcd'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    if (spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

/** healthy asks etcd's /health over its client socket. */
function healthy(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/health', timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as { health?: string }).health === 'true');
        } catch {
          resolve(false);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * privateFolder makes `dir` (if missing) and leaves it a directory of this process's user with
 * mode 0700, or refuses: a folder that someone else owns, or a symlink, could let another user
 * reach the sockets inside.
 */
function privateFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new LocalEtcdError(
      'START_FAILED',
      `${dir} must be a folder of this user (uid ${uid}) for the embedded etcd's sockets, but it is ${stat.isDirectory() ? `owned by uid ${stat.uid}` : 'not a folder'}: remove it, or set another KONTENA_IPAM_STATE_DIR`,
    );
  }
  chmodSync(dir, 0o700);
}

/**
 * clearStaleSockets removes the sockets an etcd that crashed left behind (etcd 3.4 does not:
 * "bind: address already in use"), unless an etcd still answers there: then another plugin
 * uses this state folder, and starting a second member on its data would be wrong.
 */
async function clearStaleSockets(sockets: LocalEtcdSockets): Promise<void> {
  if (await answers(`unix://${sockets.client}`)) {
    throw new LocalEtcdError(
      'START_FAILED',
      `an etcd already answers on ${sockets.client}: is another kontena-ipam running with this KONTENA_IPAM_STATE_DIR?`,
    );
  }
  for (const path of [sockets.client, sockets.peer]) {
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function tail(file: string): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
}

/**
 * etcdArgs: one member named kontena-ipam, client and peer URLs on the sockets (relative to
 * etcd's working folder, the socket folder). The initial-cluster flags only matter on the
 * first start; etcd reads the rest from dataDir (a member first started on loopback ports
 * keeps its old peer URL in its membership, unused by a single member, and serves its data).
 */
function etcdArgs(dataDir: string): string[] {
  const client = 'unix://client:0';
  const peer = 'unix://peer:0';
  return [
    '--name',
    'kontena-ipam',
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    client,
    '--advertise-client-urls',
    client,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    `kontena-ipam=${peer}`,
    '--initial-cluster-state',
    'new',
  ];
}

/** stopper sends SIGTERM, then SIGKILL after 10 s, and resolves once the child is gone. */
function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (exited(child)) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
}

/**
 * startLocalEtcd starts etcd on unix sockets in `<stateDir>/etcd-sockets` (0700) and waits
 * until it is healthy.
 */
export async function startLocalEtcd(options: LocalEtcdOptions): Promise<LocalEtcd> {
  const binary = findEtcd(options.binary);
  if (!binary) {
    throw new LocalEtcdError(
      'NO_ETCD_BINARY',
      'no etcd binary for single-host mode (KONTENA_IPAM_LOCAL_ETCD=on): install it with `apt-get install -y etcd-server`, or unset KONTENA_IPAM_LOCAL_ETCD and set ETCD_ENDPOINT to an etcd cluster',
    );
  }
  const sockets = localEtcdSockets(options.stateDir);
  const dataDir = join(options.stateDir, 'etcd');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  privateFolder(sockets.dir);
  await clearStaleSockets(sockets);
  const logFile = join(options.stateDir, 'etcd.log');
  const log = openSync(logFile, 'a');
  const child = spawn(binary, etcdArgs(dataDir), {
    cwd: sockets.dir,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const stop = stopper(child);
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(child)) {
      throw new LocalEtcdError(
        'START_FAILED',
        `local etcd exited with ${child.exitCode ?? child.signalCode} (log: ${logFile}):\n${tail(logFile)}`,
      );
    }
    if (await healthy(sockets.client)) {
      options.logger.info(
        { endpoint: sockets.endpoint, dataDir, etcdPid: child.pid, log: logFile },
        'single-host mode: started a local etcd for this host alone, on a unix socket only this user can reach (for many hosts, unset KONTENA_IPAM_LOCAL_ETCD and set ETCD_ENDPOINT to their etcd cluster)',
      );
      return { endpoint: sockets.endpoint, dataDir, pid: child.pid, stop };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new LocalEtcdError(
    'START_FAILED',
    `local etcd not healthy at ${sockets.endpoint} after ${timeoutMs} ms (log: ${logFile}):\n${tail(logFile)}`,
  );
}
