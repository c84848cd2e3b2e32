/**
 * Two CNI hosts on one L2, for the CNI tests: one real etcd; per host a network namespace
 * (the host), a veth from it into a shared bridge (testing/shared-l2.ts, the macvlan master
 * `lan0`), and its own `kontena-ipam` process (the built bin, NODE_ID host-a / host-b) on its
 * own socket. The CNI client is installed with the real `kontena-ipam install-cni DIR`, and
 * `ipam.socket` in each host's config names that host's socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CniCommand,
  type CniOutcome,
  DEBIAN_CNI_DIR,
  execCni,
  macvlanConfig,
  makeNetns,
  type TestNetns,
} from '@kontena-ipam/testing/cni';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { type SharedL2, startSharedL2 } from '@kontena-ipam/testing/shared-l2';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import { installCni } from '../support/install-cni.js';
import { type PluginProcess, startPlugin } from '../support/plugin-process.js';

/** LAN_IF is each host's veth on the shared L2: the macvlan master. */
export const LAN_IF = 'lan0';

/** CniHost is one host of the stack. */
export interface CniHost {
  readonly node: string;
  readonly netns: TestNetns;
  readonly socket: string;
  plugin: PluginProcess;
  /** restart starts the host's kontena-ipam again (after a test stopped it). */
  restart(): Promise<void>;
}

/** CniStack is the running stack (valid inside tests). */
export interface CniStack {
  readonly etcd: EtcdCluster & { endpoint: string };
  readonly client: Etcd3;
  readonly hosts: readonly [CniHost, CniHost];
  /** pluginDir holds `kontena-ipam` (installed by install-cni); CNI_PATH is it, then Debian's. */
  readonly pluginDir: string;
  readonly cniPath: readonly string[];
  /** container makes a "container" network namespace (removed after the file). */
  container(label: string): TestNetns;
  /** ipamConfig is the ipam section for `host` (its socket), plus `extra`. */
  ipamConfig(
    host: CniHost,
    network: string,
    extra?: Record<string, unknown>,
  ): Record<string, unknown>;
  /** macvlan runs Debian's macvlan plugin in `host`'s namespace, the way libcni does. */
  macvlan(host: CniHost, c: Omit<CniCommand, 'plugin' | 'prefix' | 'cniPath'>): Promise<CniOutcome>;
  /** ipam runs our plugin directly, as a main plugin execs its IPAM. */
  ipam(c: Omit<CniCommand, 'plugin' | 'cniPath'>): Promise<CniOutcome>;
}

/** macvlanOf is a macvlan network config with our IPAM for `host`. */
export function macvlanOf(
  stack: CniStack,
  host: CniHost,
  network: string,
  ipam: Record<string, unknown> = {},
  cniVersion = '1.0.0',
): Record<string, unknown> {
  return macvlanConfig({
    name: network,
    master: LAN_IF,
    cniVersion,
    ipam: stack.ipamConfig(host, network, ipam),
  });
}

/** useCniStack starts the stack in beforeAll and takes it down in afterAll. */
export function useCniStack(): CniStack {
  const dir = mkdtempSync(join(tmpdir(), 'kipam-cni-'));
  const pluginDir = join(dir, 'bin');
  let etcd: (EtcdCluster & { endpoint: string }) | undefined;
  let client: Etcd3 | undefined;
  let l2: SharedL2 | undefined;
  const hosts: CniHost[] = [];
  const containers: TestNetns[] = [];
  beforeAll(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    await installCni(pluginDir);
    l2 = startSharedL2('cni');
    for (const node of ['host-a', 'host-b']) {
      const netns = makeNetns(node);
      l2.connect({ netns: netns.name, ifname: LAN_IF });
      const socket = join(dir, `${node}.sock`);
      const env = {
        NODE_ID: node,
        ETCD_ENDPOINT: etcd.endpoint,
        KONTENA_IPAM_ETCD_TIMEOUT: '2000',
        LOG_LEVEL: 'info',
      };
      const host: CniHost = {
        node,
        netns,
        socket,
        plugin: await startPlugin({ socket, env }),
        async restart() {
          host.plugin = await startPlugin({ socket, env });
        },
      };
      hosts.push(host);
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(hosts.map((h) => h.plugin.stop()));
    for (const c of containers) c.remove();
    for (const h of hosts) h.netns.remove();
    l2?.stop();
    client?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const need = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the CNI stack did not start (see beforeAll)');
    return v;
  };
  const stack: CniStack = {
    get etcd() {
      return need(etcd);
    },
    get client() {
      return need(client);
    },
    get hosts() {
      return [need(hosts[0]), need(hosts[1])] as const;
    },
    pluginDir,
    cniPath: [pluginDir, DEBIAN_CNI_DIR],
    container(label) {
      const c = makeNetns(label);
      containers.push(c);
      return c;
    },
    ipamConfig: (host, network, extra = {}) => ({
      type: 'kontena-ipam',
      network,
      socket: host.socket,
      ...extra,
    }),
    macvlan: (host, c) =>
      execCni({
        ...c,
        plugin: join(DEBIAN_CNI_DIR, 'macvlan'),
        prefix: host.netns.exec,
        cniPath: stack.cniPath,
      }),
    ipam: (c) => execCni({ ...c, plugin: join(pluginDir, 'kontena-ipam'), cniPath: stack.cniPath }),
  };
  return stack;
}
