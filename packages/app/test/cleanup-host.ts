/**
 * The cleanup end-to-end tests' Docker host: @kontena-ipam/testing's DockerHost (a real
 * dockerd) whose kontena-ipam plugin is the real PluginServer, served in-process and backed
 * by a real IpamStore that outlives plugin restarts (stopping the plugin is how the tests make
 * Docker's releases fail), plus the cleanup command (commands/cleanup.ts) run in-process
 * against both.
 */
import { Writable } from 'node:stream';
import { PluginServer } from '@kontena-ipam/plugin';
import { IpamStore, type NodeId } from '@kontena-ipam/store';
import { startEtcd } from '@kontena-ipam/testing/etcd';
import {
  type DockerHost,
  type InProcessPlugin,
  inProcess,
  startDockerHost,
} from '@kontena-ipam/testing/plugin-host';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { runCleanupCli } from '../src/commands/cleanup.js';
import { instanceInfo } from '../src/instance.js';
import { nodeA, type StoreFixture, storeFixture } from './cleanup-fixtures.js';

/** CleanupHost is a daemon, its plugin, and the store both share. */
export interface CleanupHost extends DockerHost<InProcessPlugin<PluginServer>> {
  readonly fx: StoreFixture;
  readonly node: NodeId;
  /** Switch to a fresh store prefix (and plugin) so one test's pools never meet another's. */
  freshStore(): Promise<void>;
  /** runCli runs kontena-ipam-cleanup in-process against this host, as the app's bin does. */
  runCli(
    argv: string[],
    opts?: {
      env?: NodeJS.ProcessEnv;
      store?: () => Promise<IpamStore>;
      signal?: AbortSignal;
      now?: () => number;
    },
  ): Promise<CliResult>;
}

/** CliResult is what one CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** collector is a Writable that keeps what is written, readable while the command runs. */
export function collector(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(stream, { text: () => chunks.join('') });
}

const silent = pino({ level: 'silent' });

/** startCleanupHost starts dockerd and the plugin on a store on `endpoint`, a running etcd. */
export async function startCleanupHost(endpoint: string, label = 'cln'): Promise<CleanupHost> {
  let fx = storeFixture(endpoint);
  // Each start serves whichever store is current: a restart keeps it, freshStore swaps it.
  const serve = inProcess(
    (socketPath) =>
      new PluginServer({ backend: fx.store, node: nodeA, socketPath, logger: silent, endpoint }),
  );
  let docker: DockerHost<InProcessPlugin<PluginServer>>;
  try {
    docker = await startDockerHost({ label, serve });
  } catch (error) {
    await fx.close();
    throw error;
  }
  const { daemon } = docker;
  const host: CleanupHost = {
    label,
    daemon,
    image: docker.image,
    socketPath: docker.socketPath,
    get plugin() {
      return docker.plugin;
    },
    startPlugin: () => docker.startPlugin(),
    stopPlugin: () => docker.stopPlugin(),
    restartPlugin: () => docker.restartPlugin(),
    docker: (...args) => docker.docker(...args),
    containerIp: (container, network) => docker.containerIp(container, network),
    get fx() {
      return fx;
    },
    node: nodeA,
    async freshStore() {
      await docker.stopPlugin();
      await fx.close();
      fx = storeFixture(endpoint);
      await docker.startPlugin();
    },
    async runCli(argv, opts = {}) {
      const stdout = collector();
      const stderr = collector();
      const code = await runCleanupCli(argv, {
        store:
          opts.store ??
          (async () =>
            new IpamStore({ client: fx.client, prefix: fx.prefix, endpoint, deadlineMs: 2000 })),
        node: nodeA,
        bootId: instanceInfo().bootId,
        env: opts.env ?? { DOCKER_HOST: daemon.host },
        stdout,
        stderr,
        logger: silent,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.now ? { now: opts.now } : {}),
      });
      return { code, stdout: stdout.text(), stderr: stderr.text() };
    },
    async stop() {
      try {
        await docker.stop();
      } finally {
        await fx.close();
      }
    },
  };
  return host;
}

/** CleanupStack is a file's etcd and cleanup host, there from beforeAll on. */
export interface CleanupStack {
  readonly host: CleanupHost;
  /** The etcd endpoint the host's store and plugin use. */
  readonly endpoint: string;
}

/**
 * useCleanupHost registers the hooks that start a real etcd and a cleanup host on it before a
 * file's tests and stop both after; with `fresh`, every test starts on a store of its own.
 */
export function useCleanupHost(options: { label?: string; fresh?: boolean } = {}): CleanupStack {
  let etcd: Awaited<ReturnType<typeof startEtcd>> | undefined;
  let host: CleanupHost | undefined;
  beforeAll(async () => {
    etcd = await startEtcd();
    host = await startCleanupHost(etcd.endpoint, options.label);
  }, 180_000);
  afterAll(async () => {
    await host?.stop();
    await etcd?.stop();
  }, 180_000);
  if (options.fresh) beforeEach(async () => stack.host.freshStore());
  const stack: CleanupStack = {
    get host() {
      if (!host) throw new Error('the cleanup host did not start (see beforeAll)');
      return host;
    },
    get endpoint() {
      if (!etcd) throw new Error('etcd did not start (see beforeAll)');
      return etcd.endpoint;
    },
  };
  return stack;
}
