/**
 * How the CNI benchmark calls plugins: exactly as a runtime's libcni does (testing/cni.ts: the
 * CNI_* environment, the network config on stdin), inside the host's network namespace
 * (`nsenter --net`, as Podman runs there), timed from spawn to exit. The namespaces are the
 * benchmark's own: a host namespace with a veth pair (the macvlan master) and a container
 * namespace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type CniCommand,
  type CniOutcome,
  DEBIAN_CNI_DIR,
  execCni,
  makeNetns,
  type TestNetns,
} from '@kontena-ipam/testing/cni';

/** requireCni fails with the install command when the benchmark cannot run here. */
export function requireCni(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('The CNI benchmark must run as root (network namespaces and macvlan need it).');
  }
  if (
    !existsSync(join(DEBIAN_CNI_DIR, 'macvlan')) ||
    !existsSync(join(DEBIAN_CNI_DIR, 'host-local'))
  ) {
    throw new Error(
      'The CNI benchmark needs the reference plugins in /usr/lib/cni. Install them with: apt-get install -y --no-install-recommends containernetworking-plugins',
    );
  }
}

/** TimedOutcome is a plugin run's outcome and its time from spawn to exit. */
export type TimedOutcome = CniOutcome & { ms: number };

/** timedCni runs one plugin exec the way libcni does (testing/cni.ts) and times it. */
export async function timedCni(command: CniCommand): Promise<TimedOutcome> {
  const started = performance.now();
  const outcome = await execCni(command);
  return { ...outcome, ms: performance.now() - started };
}

/** inNetns is the prefix that runs a plugin inside named network namespace `netns`. */
export function inNetns(netns: string): string[] {
  return ['nsenter', `--net=/var/run/netns/${netns}`];
}

/** BenchNamespaces are the benchmark's host namespace and its containers' namespaces. */
export interface BenchNamespaces {
  /** host holds `master`, the macvlan parent (one end of a veth pair, up). */
  host: TestNetns;
  master: string;
  /** container is where the macvlan plugin puts eth0 (CNI_NETNS) of each measured ADD. */
  container: TestNetns;
  /** resident holds an attachment for the whole run, as a host's other containers would. */
  resident: TestNetns;
  /** remove deletes the namespaces and everything in them. */
  remove(): void;
}

/** makeNamespaces makes the host namespace (with a veth pair, up) and the container ones. */
export function makeNamespaces(label: string): BenchNamespaces {
  const host = makeNetns(`${label}-host`);
  let container: TestNetns | undefined;
  let resident: TestNetns | undefined;
  const remove = (): void => {
    resident?.remove();
    container?.remove();
    host.remove();
  };
  try {
    container = makeNetns(`${label}-ctr`);
    resident = makeNetns(`${label}-res`);
    for (const args of [
      ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p'],
      ['link', 'set', 'eth1p', 'up'],
      ['link', 'set', 'eth1', 'up'],
    ]) {
      const result = spawnSync('ip', ['-n', host.name, ...args], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim()}`);
    }
    return { host, master: 'eth1', container, resident, remove };
  } catch (error) {
    remove();
    throw error;
  }
}
