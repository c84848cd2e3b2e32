/**
 * A Podman host whose CNI IPAM is kontena-ipam, the way a user sets one up: a real Podman
 * (testing/podman-host.ts: Debian's 4.3.1, CNI backend, its own network namespace), the client
 * installed into its CNI plugin folder by the real `kontena-ipam install-cni DIR`, and the
 * host's own kontena-ipam (the built bin, its own NODE_ID) on a socket that the conflists'
 * `ipam.socket` names. Containers run on macvlan conflists over the host's `master`.
 */

import { macvlanConflist } from '@kontena-ipam/testing/cni-config';
import { type PluginHost, startPluginHost } from '@kontena-ipam/testing/plugin-host';
import { type PodmanHost, startPodmanHost } from '@kontena-ipam/testing/podman-host';
import { installCni } from './install-cni.js';
import { type BinPlugin, serveBin } from './plugin-process.js';

/** PodmanCniHost is a Podman host and the kontena-ipam serving its CNI calls. */
export interface PodmanCniHost {
  readonly node: string;
  readonly podman: PodmanHost;
  /** plugin is the host's kontena-ipam on its socket (stoppable, as a daemon is). */
  readonly plugin: PluginHost<BinPlugin>;
  /**
   * writeLan writes macvlan conflist `name` over the host's master whose IPAM is kontena-ipam
   * with pool `name` (Docker's `--ipam-opt network=NAME`) and `ipam`'s extra fields.
   */
  writeLan(name: string, ipam?: Record<string, unknown>): void;
  /** stop removes the containers first (their CNI DEL needs kontena-ipam), then stops it. */
  stop(): Promise<void>;
}

/**
 * startPodmanCniHost starts the Podman host (labelled `node`) with `master` to be connected by
 * the caller, installs the client and starts kontena-ipam (NODE_ID `node`) on `etcdEndpoint`.
 */
export async function startPodmanCniHost(options: {
  node: string;
  etcdEndpoint: string;
  master: string;
}): Promise<PodmanCniHost> {
  const podman = await startPodmanHost({ label: options.node });
  let plugin: PluginHost<BinPlugin> | undefined;
  try {
    await installCni(podman.pluginDir);
    plugin = await startPluginHost(
      serveBin({
        NODE_ID: options.node,
        ETCD_ENDPOINT: options.etcdEndpoint,
        KONTENA_IPAM_ETCD_TIMEOUT: '3000',
        LOG_LEVEL: 'info',
      }),
    );
  } catch (error) {
    await podman.stop().catch(() => undefined);
    throw error;
  }
  const served = plugin;
  return {
    node: options.node,
    podman,
    plugin: served,
    writeLan(name, ipam = {}) {
      podman.writeNetwork(
        macvlanConflist({
          name,
          master: options.master,
          ipam: { type: 'kontena-ipam', network: name, socket: served.socketPath, ...ipam },
        }),
      );
    },
    async stop() {
      const errors: unknown[] = [];
      // podman rm runs CNI DEL, which asks kontena-ipam: serve while Podman cleans up.
      await served.startPlugin().catch((e: unknown) => errors.push(e));
      await podman.stop().catch((e: unknown) => errors.push(e));
      await served.stop().catch((e: unknown) => errors.push(e));
      if (errors.length > 0) throw errors[0];
    },
  };
}
