/**
 * Orphans: what a killed test process left behind. Each harness (dockerd.ts, podman-host.ts)
 * writes an owner file naming its test process into its /tmp/kipam-* dir; a later run sweeps
 * the dirs whose owner is gone, and leaves those of live owners (other test runs) alone.
 * removeOwnTraces is the last step of both a harness's stop and that sweep.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** alive tells whether process `pid` exists (EPERM: it does, someone else's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * orphanedDirs lists the /tmp/kipam-* dirs holding `ownerFile` whose owner process is gone,
 * with the owner file's content. Dirs without the file (another harness's, or still being set
 * up) are not listed.
 */
export function orphanedDirs<T extends { pid?: number }>(
  ownerFile: string,
): Array<{ root: string; owner: T }> {
  const out: Array<{ root: string; owner: T }> = [];
  for (const entry of readdirSync('/tmp')) {
    if (!entry.startsWith('kipam-')) continue;
    const root = join('/tmp', entry);
    let owner: T;
    try {
      owner = JSON.parse(readFileSync(join(root, ownerFile), 'utf8')) as T;
    } catch {
      continue;
    }
    if (typeof owner.pid === 'number' && !alive(owner.pid)) out.push({ root, owner });
  }
  return out;
}

/**
 * removeOwnTraces deletes a harness instance's network namespace, when the harness made it,
 * and its temp dir; each failure is added to `problems` (the caller reports them together).
 */
export function removeOwnTraces(
  instance: { ownNetns: boolean; netns?: string | undefined; root: string },
  problems: string[],
): void {
  if (instance.ownNetns && instance.netns) {
    const del = spawnSync('ip', ['netns', 'del', instance.netns], { encoding: 'utf8' });
    if (del.status !== 0) problems.push(`ip netns del ${instance.netns}: ${del.stderr.trim()}`);
  }
  try {
    rmSync(instance.root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (error) {
    problems.push(`rm ${instance.root}: ${String(error)}`);
  }
}
