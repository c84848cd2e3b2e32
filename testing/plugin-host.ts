/**
 * One harness for everything that needs a kontena-ipam plugin answering on a unix socket: the
 * plugin's, cleanup's and the app's tests and the benchmarks. A PluginHost is a socket with a
 * plugin behind it that can be stopped and started again on the same path (how tests make
 * Docker's calls fail); a DockerHost puts a real dockerd (dockerd.ts) in front of it, with
 * the socket in the folder the daemon sees as /run/docker/plugins, so its `kontena-ipam` IPAM
 * driver is that plugin.
 *
 * What serves is the caller's (a ServePlugin): an in-process PluginServer (`inProcess`) or
 * the app's bin as a child process. This package depends on no workspace package, so every
 * package can list it as a devDependency without a cycle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dockerd, importBusybox, startDockerd } from './dockerd.js';

/** ServedPlugin is one plugin answering on a socket; stop() resolves once it no longer does. */
export interface ServedPlugin {
  stop(): Promise<void>;
}

/** ServePlugin starts a plugin on `socketPath` and resolves once it answers. */
export type ServePlugin<P extends ServedPlugin> = (socketPath: string) => Promise<P>;

/** PluginHost is a socket and the plugin serving on it. */
export interface PluginHost<P extends ServedPlugin> {
  readonly socketPath: string;
  /** plugin is the plugin serving now; reading it while stopped throws. */
  readonly plugin: P;
  /** startPlugin serves again on the same socket; a no-op while serving. */
  startPlugin(): Promise<void>;
  /** stopPlugin stops serving, so calls to the socket fail; a no-op while stopped. */
  stopPlugin(): Promise<void>;
  /** restartPlugin stops the plugin and starts a new one on the same socket. */
  restartPlugin(): Promise<void>;
  /** stop stops the plugin and removes the temp folder the host made, if any. */
  stop(): Promise<void>;
}

/**
 * startPluginHost serves on `socketPath`, by default `kontena-ipam.sock` in a fresh temp
 * folder (removed by stop()).
 */
export async function startPluginHost<P extends ServedPlugin>(
  serve: ServePlugin<P>,
  options: { socketPath?: string } = {},
): Promise<PluginHost<P>> {
  const dir = options.socketPath ? undefined : mkdtempSync(join(tmpdir(), 'kontena-ipam-host-'));
  const socketPath = options.socketPath ?? join(dir as string, 'kontena-ipam.sock');
  let current: P | undefined;
  const host: PluginHost<P> = {
    socketPath,
    get plugin(): P {
      if (!current) throw new Error(`the plugin on ${socketPath} is stopped`);
      return current;
    },
    async startPlugin() {
      if (!current) current = await serve(socketPath);
    },
    async stopPlugin() {
      const plugin = current;
      current = undefined;
      await plugin?.stop();
    },
    async restartPlugin() {
      await host.stopPlugin();
      await host.startPlugin();
    },
    async stop() {
      try {
        await host.stopPlugin();
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await host.startPlugin();
  } catch (error) {
    await host.stop().catch(() => undefined);
    throw error;
  }
  return host;
}

/** DockerHost is a dockerd with busybox imported whose `kontena-ipam` driver is the plugin. */
export interface DockerHost<P extends ServedPlugin> extends PluginHost<P> {
  readonly label: string;
  readonly daemon: Dockerd;
  /** image is the busybox image imported into the daemon. */
  readonly image: string;
  /** docker runs the docker CLI against this daemon, returns its stdout and throws on failure. */
  docker(...args: string[]): Promise<string>;
  /** containerIp is a container's IPv4 address on `network`, from `docker inspect`. */
  containerIp(container: string, network: string): Promise<string>;
  /**
   * stop stops Docker first (it releases through the plugin, started again for that if it
   * was stopped), then the plugin; it throws the first thing that did not stop cleanly.
   */
  stop(): Promise<void>;
}

/** startDockerHost starts dockerd (labelled `label`), imports busybox and serves the plugin to it. */
export async function startDockerHost<P extends ServedPlugin>(options: {
  label: string;
  serve: ServePlugin<P>;
}): Promise<DockerHost<P>> {
  const daemon = await startDockerd({ label: options.label });
  let plugins: PluginHost<P> | undefined;
  try {
    const image = await importBusybox(daemon);
    // The daemon sees its pluginDir as /run/docker/plugins: the driver is `kontena-ipam`.
    const served = await startPluginHost(options.serve, {
      socketPath: join(daemon.pluginDir, 'kontena-ipam.sock'),
    });
    plugins = served;
    return {
      label: options.label,
      daemon,
      image,
      socketPath: served.socketPath,
      get plugin() {
        return served.plugin;
      },
      startPlugin: () => served.startPlugin(),
      stopPlugin: () => served.stopPlugin(),
      restartPlugin: () => served.restartPlugin(),
      docker: (...args) => daemon.dockerOk(args, { timeoutMs: 60_000 }),
      containerIp: (container, network) =>
        daemon.dockerOk([
          'inspect',
          '--format',
          `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
          container,
        ]),
      stop: () => stopDockerHost(daemon, served),
    };
  } catch (error) {
    await stopDockerHost(daemon, plugins).catch(() => undefined);
    throw error;
  }
}

/** stopDockerHost: Docker first, with the plugin up so its `docker network rm` is quick and clean. */
async function stopDockerHost(
  daemon: Dockerd,
  plugins: PluginHost<ServedPlugin> | undefined,
): Promise<void> {
  const errors: unknown[] = [];
  await plugins?.startPlugin().catch((e: unknown) => errors.push(e));
  await daemon.stop().catch((e: unknown) => errors.push(e));
  await plugins?.stop().catch((e: unknown) => errors.push(e));
  if (errors.length > 0) throw errors[0];
}

/** ListeningServer is what inProcess drives of a PluginServer (structurally: no dependency). */
export interface ListeningServer {
  listen(): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

/** InProcessPlugin is an in-process server serving on the host's socket. */
export interface InProcessPlugin<S extends ListeningServer> extends ServedPlugin {
  readonly server: S;
}

/**
 * inProcess serves with a server that `make` builds for the socket, in this process; stop()
 * closes it, giving calls in flight a second to finish.
 */
export function inProcess<S extends ListeningServer>(
  make: (socketPath: string) => S,
): ServePlugin<InProcessPlugin<S>> {
  return async (socketPath) => {
    const server = make(socketPath);
    await server.listen();
    return { server, stop: () => server.close(1000) };
  };
}
