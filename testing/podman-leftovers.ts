/**
 * What a test Podman host may leave behind and how it goes. Podman keeps its state in the
 * host's temp dir (storage, run root, tmp dir, file locks), but a container also has pieces
 * outside it: its processes (conmon, the container's own, in a cgroup named `libpod-<id>`),
 * its network namespace (`/run/netns/netns-<uuid>`, made by Podman), shm mounts under the
 * storage, and libcni's cached result (`/var/lib/cni/results/<network>-<id>-<ifname>`).
 *
 * stop() removes the containers with `podman rm` (which runs CNI DEL through the network's
 * plugins) and then removeTraces; a process exit hook does the same, synchronously, when a test
 * run dies without stop(); sweepPodmanOrphans covers a run that was killed (its owner file
 * names a process that is gone).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { orphanedDirs, removeOwnTraces } from './orphans.js';

/** CNI_RESULTS is libcni's result cache; Podman 4.3 has no setting to move it. */
const CNI_RESULTS = '/var/lib/cni/results';
/** OWNER_FILE names the owning test process in the host's temp dir (not dockerd's owner.json). */
const OWNER_FILE = 'podman-owner.json';

/** PodmanInstance is what cleanup needs to know of one Podman host. */
export interface PodmanInstance {
  /** root is the host's temp dir; everything Podman writes for it is inside. */
  root: string;
  /** netns is the host's network namespace (Podman runs inside it under nsenter). */
  netns: string | undefined;
  /** ownNetns: the harness made netns and deletes it. */
  ownNetns: boolean;
  /** command is the podman command line up to its subcommand (nsenter, podman, root flags). */
  command: string[];
  /** env is podman's environment (CONTAINERS_CONF). */
  env: NodeJS.ProcessEnv;
  /** sandboxes are container network namespaces seen (paths), deleted if Podman did not. */
  sandboxes: Set<string>;
}

const live = new Set<PodmanInstance>();
let exitHookInstalled = false;

/** trackPodman registers a host for the exit hook and records its owner for a later sweep. */
export function trackPodman(instance: PodmanInstance): void {
  live.add(instance);
  writeFileSync(
    join(instance.root, OWNER_FILE),
    `${JSON.stringify({ pid: process.pid, netns: instance.ownNetns ? instance.netns : undefined, command: instance.command, env: { CONTAINERS_CONF: instance.env.CONTAINERS_CONF } })}\n`,
  );
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test run dies without stop(): synchronous steps only.
  process.on('exit', () => {
    for (const leftover of live) {
      try {
        removeSync(leftover);
      } catch {
        // nothing more can be done while the process exits
      }
    }
  });
}

/** untrackPodman forgets a host that stop() cleaned up. */
export function untrackPodman(instance: PodmanInstance): void {
  live.delete(instance);
}

/** podmanSync runs podman for `instance` and returns its stdout lines ([] on failure). */
function podmanSync(instance: PodmanInstance, args: string[], timeout = 30_000): string[] {
  const [bin, ...rest] = instance.command as [string, ...string[]];
  const result = spawnSync(bin, [...rest, ...args], {
    encoding: 'utf8',
    env: instance.env,
    timeout,
  });
  if (result.status !== 0) return [];
  return result.stdout.split('\n').filter(Boolean);
}

/** sandboxesSync adds every container's network namespace path to instance.sandboxes. */
function sandboxesSync(instance: PodmanInstance): void {
  const ids = podmanSync(instance, ['ps', '-aq', '--no-trunc']);
  if (ids.length === 0) return;
  const keys = podmanSync(instance, [
    'inspect',
    '--format',
    '{{.NetworkSettings.SandboxKey}}',
    ...ids,
  ]);
  for (const key of keys) if (key.startsWith('/')) instance.sandboxes.add(key);
}

/** removeSync is stop() without the event loop: podman rm, then removeTraces. */
function removeSync(instance: PodmanInstance): void {
  sandboxesSync(instance);
  podmanSync(instance, ['rm', '--all', '--force', '--time', '0'], 60_000);
  removeTraces(instance, []);
  live.delete(instance);
}

/** containerIds are the ids of the containers still in the host's storage. */
function containerIds(root: string): string[] {
  const dir = join(root, 'storage', 'vfs-containers');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((entry) => /^[0-9a-f]{64}$/.test(entry));
}

/** readOrEmpty reads a /proc file, '' when the process ended meanwhile. */
function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** killProcesses kills conmon and podman helpers (they name root) and the containers' own. */
function killProcesses(root: string, ids: readonly string[]): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const ours =
      readOrEmpty(`/proc/${entry}/cmdline`).includes(root) ||
      (ids.length > 0 &&
        ids.some((id) => readOrEmpty(`/proc/${entry}/cgroup`).includes(`libpod-${id}`)));
    if (!ours) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** unmountUnder lazily unmounts whatever is still mounted below root (a container's shm). */
function unmountUnder(root: string): void {
  const mounts = readOrEmpty('/proc/self/mounts')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) spawnSync('umount', ['-l', point]);
}

/**
 * removeTraces deletes what Podman should have removed and, after a failure, did not: processes,
 * mounts, container namespaces, libcni's cached results, then the host's namespace and temp
 * dir. Every step runs; problems are pushed onto `problems`.
 */
export function removeTraces(instance: PodmanInstance, problems: string[]): void {
  const ids = containerIds(instance.root);
  killProcesses(instance.root, ids);
  unmountUnder(instance.root);
  for (const sandbox of instance.sandboxes) {
    if (existsSync(sandbox)) spawnSync('ip', ['netns', 'del', basename(sandbox)]);
  }
  if (existsSync(CNI_RESULTS)) {
    for (const entry of readdirSync(CNI_RESULTS)) {
      if (ids.some((id) => entry.includes(`-${id}-`))) rmSync(join(CNI_RESULTS, entry));
    }
  }
  removeOwnTraces(instance, problems);
}

/**
 * sweepPodmanOrphans removes Podman hosts whose test process was killed (its exit hook never
 * ran): their containers (podman rm with the host's own command line), traces, namespace and
 * dir. Hosts of live owners (other test runs) are left alone.
 */
export function sweepPodmanOrphans(): void {
  type Owner = { pid?: number; netns?: string; command?: string[]; env?: NodeJS.ProcessEnv };
  for (const { root, owner } of orphanedDirs<Owner>(OWNER_FILE)) {
    if (!owner.command) continue;
    removeSync({
      root,
      netns: owner.netns,
      ownNetns: Boolean(owner.netns),
      command: owner.command,
      env: { ...process.env, ...owner.env },
      sandboxes: new Set(),
    });
  }
}
