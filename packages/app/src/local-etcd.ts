/**
 * Single-host mode, when asked for (KONTENA_IPAM_LOCAL_ETCD=on): the plugin starts its own
 * one-member etcd (Debian's etcd-server) on loopback, on ports a real etcd does not use
 * (LOCAL_ETCD_CLIENT_PORT, LOCAL_ETCD_PEER_PORT), with its data in the state folder so pools
 * and addresses survive restarts.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LOCAL_ETCD_CLIENT_PORT, LOCAL_ETCD_PEER_PORT } from './config.js';
import { AppError } from './errors.js';

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

/** LocalEtcdOptions: the state folder, the loopback ports (default 23790, 23800) and where to log. */
export interface LocalEtcdOptions {
  stateDir: string;
  clientPort?: number;
  peerPort?: number;
  logger: Logger;
  /** etcd binary (default: ETCD_BIN, then etcd on PATH, /usr/bin/etcd). */
  binary?: string;
  startTimeoutMs?: number;
}

/** answers tells whether something accepts TCP connections at the URL's host and port. */
export function answers(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port, protocol } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, '');
  const portNumber = Number(port || (protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    const socket = connect({ host, port: portNumber });
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

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function tail(file: string): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
}

/** startLocalEtcd starts etcd on 127.0.0.1 and waits until it is healthy. */
export async function startLocalEtcd(options: LocalEtcdOptions): Promise<LocalEtcd> {
  const binary = findEtcd(options.binary);
  if (!binary) {
    throw new LocalEtcdError(
      'NO_ETCD_BINARY',
      'no etcd binary for single-host mode (KONTENA_IPAM_LOCAL_ETCD=on): install it with `apt-get install -y etcd-server`, or unset KONTENA_IPAM_LOCAL_ETCD and set ETCD_ENDPOINT to an etcd cluster',
    );
  }
  const clientPort = options.clientPort ?? LOCAL_ETCD_CLIENT_PORT;
  const peerPort = options.peerPort ?? LOCAL_ETCD_PEER_PORT;
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const dataDir = join(options.stateDir, 'etcd');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(options.stateDir, 'etcd.log');
  const log = openSync(logFile, 'a');
  // The initial-cluster flags only matter on the first start; etcd reads the rest from dataDir.
  const child = spawn(
    binary,
    [
      '--name',
      'kontena-ipam',
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `kontena-ipam=${peer}`,
      '--initial-cluster-state',
      'new',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const stop = async (): Promise<void> => {
    if (exited(child)) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (exited(child)) {
      throw new LocalEtcdError(
        'START_FAILED',
        `local etcd exited with ${child.exitCode ?? child.signalCode} (log: ${logFile}):\n${tail(logFile)}`,
      );
    }
    if (await healthy(endpoint)) {
      options.logger.info(
        { endpoint, dataDir, etcdPid: child.pid, log: logFile },
        'single-host mode: started a local etcd for this host alone (for many hosts, unset KONTENA_IPAM_LOCAL_ETCD and set ETCD_ENDPOINT to their etcd cluster)',
      );
      return { endpoint, dataDir, pid: child.pid, stop };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new LocalEtcdError(
    'START_FAILED',
    `local etcd not healthy at ${endpoint} after ${options.startTimeoutMs ?? 30_000} ms (log: ${logFile}):\n${tail(logFile)}`,
  );
}
