/**
 * The e2e suite's stack: one real etcd, a client on it for reading keys, and one Docker host
 * (dockerd + kontena-ipam) per node name, started once per test file and stopped after it.
 */

import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { kontenaNetworkArgs } from '@kontena-ipam/testing/kontena-network';
import { type DockerHost, startDockerHost } from '@kontena-ipam/testing/plugin-host';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import { type BinPlugin, serveBin } from './plugin-process.js';

/** Host is one Docker host of the e2e suite: dockerd and the kontena-ipam bin serving it. */
export type Host = DockerHost<BinPlugin>;

/** startHost starts a Docker host whose plugin is the bin with NODE_ID=node on `etcdEndpoint`. */
export function startHost(options: { node: string; etcdEndpoint: string }): Promise<Host> {
  return startDockerHost({
    label: options.node,
    serve: serveBin({
      NODE_ID: options.node,
      ETCD_ENDPOINT: options.etcdEndpoint,
      KONTENA_IPAM_ETCD_TIMEOUT: '3000',
    }),
  });
}

/** E2eStack reads through to the running stack; use it inside hooks and tests only. */
export interface E2eStack {
  readonly etcd: EtcdCluster & { endpoint: string };
  /** client reads etcd directly, so tests check what really is there. */
  readonly client: Etcd3;
  /** host is the first host (the only one in single-host files). */
  readonly host: Host;
  /** hosts are the hosts in the order of the node names given. */
  readonly hosts: readonly Host[];
}

/**
 * useE2eStack starts etcd and one host per node name (in parallel) in beforeAll; afterAll
 * stops every host (Docker first, then its plugin), closes the client and stops etcd, and
 * then fails with the first host that did not stop cleanly.
 */
export function useE2eStack(nodes: readonly string[]): E2eStack {
  let ready = false;
  let etcd: E2eStack['etcd'] | undefined;
  let client: Etcd3 | undefined;
  let hosts: Array<Host | undefined> = [];
  beforeAll(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    const endpoint = etcd.endpoint;
    const starting = nodes.map((node) => startHost({ node, etcdEndpoint: endpoint }));
    const settled = await Promise.allSettled(starting);
    hosts = settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    ready = true;
  });
  afterAll(async () => {
    const stopped = await Promise.allSettled(hosts.map((h) => h?.stop()));
    client?.close();
    await etcd?.stop();
    const failed = stopped.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
  });
  const running = <T>(part: T | undefined): T => {
    if (!ready || part === undefined)
      throw new Error('the e2e stack did not start (see beforeAll)');
    return part;
  };
  return {
    get etcd() {
      return running(etcd);
    },
    get client() {
      return running(client);
    },
    get host() {
      return running(hosts[0]);
    },
    get hosts() {
      return running(hosts as Host[]);
    },
  };
}

/**
 * runSleeper starts a busybox `sleep 600` on `network` (stop timeout 0) with any extra `docker
 * run` options, and returns the container id.
 */
export async function runSleeper(
  host: Host,
  network: string,
  options: string[] = [],
): Promise<string> {
  return await host.docker(
    'run',
    '-d',
    '--stop-timeout',
    '0',
    '--network',
    network,
    ...options,
    host.image,
    'sleep',
    '600',
  );
}

/**
 * createNetwork runs `docker network create` for a bridge network on the kontena-ipam driver
 * whose pool is named for the network (testing/kontena-network.ts), plus `options`.
 */
export async function createNetwork(
  host: Host,
  name: string,
  options: string[] = [],
): Promise<string> {
  return await host.docker(...kontenaNetworkArgs(name, options));
}

/** containerIp is the bare IPv4 address `container` has on `network` (docker container inspect). */
export async function containerIp(host: Host, container: string, network: string): Promise<string> {
  return await host.docker(
    'container',
    'inspect',
    '--format',
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  );
}
