/**
 * What a test daemon may leave behind and how it goes: processes (dockerd, containerd,
 * shims), the network namespace and the temp dir. stop() uses killLeftovers; a process exit
 * hook covers a run that never called stop(); sweepOrphans covers a run that was killed.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { orphanedDirs } from './orphans.js';

const live = new Set<DaemonInstance>();
let exitHookInstalled = false;

/** DaemonInstance is what cleanup needs to know of one daemon: its dir, namespace and process. */
export interface DaemonInstance {
  root: string;
  netns: string | undefined;
  ownNetns: boolean;
  child: ChildProcess | undefined;
}

/** track registers a daemon for the exit hook (installed on first use); untrack forgets it. */
export function track(instance: DaemonInstance): void {
  live.add(instance);
  installExitHook();
}

/** untrack forgets a daemon that stop() cleaned up. */
export function untrack(instance: DaemonInstance): void {
  live.delete(instance);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test run dies without calling stop(): synchronous kills only.
  process.on('exit', () => {
    for (const instance of live) {
      try {
        instance.child?.kill('SIGKILL');
        killLeftovers(instance);
        if (instance.ownNetns && instance.netns) spawnSync('ip', ['netns', 'del', instance.netns]);
        rmSync(instance.root, { recursive: true, force: true });
      } catch {
        // nothing more can be done while the process exits
      }
    }
  });
}

/** An owner file in each temp dir lets a later run clean up after a test process that was killed. */
const OWNER_FILE = 'owner.json';

/** writeOwner records the owning test process (and its netns) in the daemon's dir. */
export function writeOwner(instance: DaemonInstance): void {
  const owner = { pid: process.pid, netns: instance.ownNetns ? instance.netns : undefined };
  writeFileSync(join(instance.root, OWNER_FILE), `${JSON.stringify(owner)}\n`);
}

/**
 * sweepOrphans removes what a killed test process left behind (its exit hook never ran):
 * daemons and shims named by a /tmp/kipam-* dir whose owner process is gone, their network
 * namespace and the dir. Dirs of live owners (other test runs) are left alone.
 */
export function sweepOrphans(): void {
  for (const { root, owner } of orphanedDirs<{ pid?: number; netns?: string }>(OWNER_FILE)) {
    const orphan: DaemonInstance = {
      root,
      netns: owner.netns,
      ownNetns: Boolean(owner.netns),
      child: undefined,
    };
    killLeftovers(orphan);
    if (owner.netns) spawnSync('ip', ['netns', 'del', owner.netns]);
    rmSync(root, { recursive: true, force: true });
  }
}

/** killLeftovers kills processes that our daemon started and that outlived it. */
export function killLeftovers(instance: DaemonInstance): void {
  const pids = new Set<number>();
  if (instance.netns && instance.ownNetns) {
    const listed = spawnSync('ip', ['netns', 'pids', instance.netns], { encoding: 'utf8' });
    for (const line of (listed.stdout ?? '').split('\n')) {
      const pid = Number(line.trim());
      if (pid > 0) pids.add(pid);
    }
  }
  // containerd and its shims name our exec root on their command line.
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(instance.root)) pids.add(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  pids.delete(process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
