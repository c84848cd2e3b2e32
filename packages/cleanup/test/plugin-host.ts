/**
 * One Docker host for end-to-end tests: a real dockerd (testing/dockerd.ts) whose
 * kontena-ipam plugin is the real PluginServer, served in-process on the daemon's plugin
 * folder and backed by a real IpamStore. The plugin can be stopped and started again, which
 * is how the tests make Docker's releases fail.
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PluginServer } from '@kontena-ipam/plugin';
import { IpamStore, type NodeId } from '@kontena-ipam/store';
import { type Dockerd, importBusybox, startDockerd } from '@kontena-ipam/testing/dockerd';
import pino from 'pino';
import { runCleanupCli } from '../src/index.js';
import { nodeA, openStore, type StoreFixture } from './fixtures.js';

/** PluginHost is a daemon, its plugin, and the store both share. */
export interface PluginHost {
  daemon: Dockerd;
  image: string;
  fx: StoreFixture;
  node: NodeId;
  startPlugin(): Promise<void>;
  stopPlugin(): Promise<void>;
  /** Switch to a fresh store prefix (and plugin) so one test's pools never meet another's. */
  freshStore(): Promise<void>;
  /** The IPv4 address of a container on a network, from `docker inspect`. */
  containerIp(container: string, network: string): Promise<string>;
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
  stop(): Promise<void>;
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

/** startPluginHost starts etcd-backed plugin + dockerd; `endpoint` is a running etcd. */
export async function startPluginHost(endpoint: string, label = 'cln'): Promise<PluginHost> {
  const daemon = await startDockerd({ label });
  let fx = openStore(endpoint);
  let server: PluginServer | undefined;
  let image = '';
  const host: PluginHost = {
    daemon,
    image,
    get fx() {
      return fx;
    },
    node: nodeA,
    async startPlugin() {
      if (server) return;
      server = new PluginServer({
        backend: fx.store,
        node: nodeA,
        socketPath: join(daemon.pluginDir, 'kontena-ipam.sock'),
        logger: silent,
        endpoint,
      });
      await server.listen();
    },
    async stopPlugin() {
      await server?.close(1000);
      server = undefined;
    },
    async freshStore() {
      await host.stopPlugin();
      await fx.close();
      fx = openStore(endpoint);
      await host.startPlugin();
    },
    async containerIp(container, network) {
      return await daemon.dockerOk([
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        container,
      ]);
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
      // With the plugin up, the harness's `docker network rm` of leftovers is quick and clean.
      await host.startPlugin().catch(() => undefined);
      await daemon.stop().catch(() => undefined);
      await host.stopPlugin().catch(() => undefined);
      await fx.close();
    },
  };
  try {
    await host.startPlugin();
    image = await importBusybox(daemon);
    host.image = image;
  } catch (error) {
    await host.stop();
    throw error;
  }
  return host;
}
