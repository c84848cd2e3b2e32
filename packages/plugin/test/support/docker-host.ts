/**
 * A Docker "host" for the e2e tests: a real dockerd (testing/dockerd.ts) whose `kontena-ipam`
 * IPAM driver is the in-process plugin, serving a real store on a real etcd.
 */
import { join } from 'node:path';
import { type Dockerd, importBusybox, startDockerd } from '@kontena-ipam/testing/dockerd';
import {
  openStore,
  type RunningPlugin,
  type StoreKnobs,
  type StoreSetup,
  startPlugin,
} from './plugin.js';

/** DockerHost is one dockerd with busybox imported and the plugin serving it. */
export interface DockerHost {
  daemon: Dockerd;
  image: string;
  setup: StoreSetup;
  plugin: RunningPlugin;
}

/** startDockerHost starts dockerd (labelled `node`), imports busybox and serves `store` to it. */
export async function startDockerHost(options: {
  node: string;
  endpoint: string;
  store: StoreKnobs;
}): Promise<DockerHost> {
  const daemon = await startDockerd({ label: options.node });
  const image = await importBusybox(daemon);
  const setup = openStore(options.endpoint, options.store);
  // The daemon sees its pluginDir as /run/docker/plugins: the driver is `kontena-ipam`.
  const plugin = await startPlugin('', setup.store, {
    node: options.node,
    endpoint: options.endpoint,
    socketPath: join(daemon.pluginDir, 'kontena-ipam.sock'),
  });
  return { daemon, image, setup, plugin };
}

/** stopDockerHosts stops every daemon first (Docker releases through the plugin), then the plugins and stores. */
export async function stopDockerHosts(hosts: readonly DockerHost[]): Promise<void> {
  for (const host of hosts) await host.daemon.stop().catch(() => undefined);
  for (const host of hosts) {
    await host.plugin.close();
    await host.setup.close();
  }
}
