/**
 * A test "host": a real dockerd (testing/dockerd.ts) plus the kontena-ipam bin serving on the
 * socket that daemon sees as /run/docker/plugins/kontena-ipam.sock.
 */
import { join } from 'node:path';
import { type Dockerd, importBusybox, startDockerd } from '@kontena-ipam/testing/dockerd';
import { type PluginProcess, startPlugin } from './plugin-process.js';

/** Host is one Docker host of the e2e suite. */
export interface Host {
  readonly node: string;
  readonly daemon: Dockerd;
  readonly image: string;
  plugin: PluginProcess;
  /** docker runs the matching docker CLI against this host's daemon and throws on failure. */
  docker(...args: string[]): Promise<string>;
  /** restartPlugin stops the plugin (SIGTERM) and starts it again on the same socket. */
  restartPlugin(): Promise<void>;
  stop(): Promise<void>;
}

/** startHost starts dockerd, imports busybox and starts the plugin with NODE_ID=node. */
export async function startHost(options: {
  node: string;
  etcdEndpoint: string;
  env?: Record<string, string>;
}): Promise<Host> {
  const daemon = await startDockerd({ label: options.node });
  let plugin: PluginProcess | undefined;
  try {
    const image = await importBusybox(daemon);
    const socket = join(daemon.pluginDir, 'kontena-ipam.sock');
    const env = {
      NODE_ID: options.node,
      ETCD_ENDPOINT: options.etcdEndpoint,
      KONTENA_IPAM_ETCD_TIMEOUT: '3000',
      ...options.env,
    };
    plugin = await startPlugin({ socket, env });
    const host: Host = {
      node: options.node,
      daemon,
      image,
      plugin,
      docker: (...args) => daemon.dockerOk(args, { timeoutMs: 60_000 }),
      async restartPlugin() {
        const code = await host.plugin.stop('SIGTERM');
        if (code !== 0) throw new Error(`plugin exited ${code}:\n${host.plugin.output()}`);
        host.plugin = await startPlugin({ socket, env });
      },
      async stop() {
        // Docker first (it releases through the plugin), then the plugin.
        const errors: unknown[] = [];
        await daemon.stop().catch((e: unknown) => errors.push(e));
        await host.plugin.stop('SIGTERM').catch((e: unknown) => errors.push(e));
        if (errors.length > 0) throw errors[0];
      },
    };
    return host;
  } catch (error) {
    await daemon.stop().catch(() => undefined);
    await plugin?.stop('SIGKILL');
    throw error;
  }
}
