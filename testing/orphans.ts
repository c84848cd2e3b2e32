/**
 * Orphans: what a killed test process left behind. Each harness (dockerd.ts, podman-host.ts)
 * writes an owner file naming its test process into its /tmp/kipam-* dir; a later run sweeps
 * the dirs whose owner is gone, and leaves those of live owners (other test runs) alone.
 */
import { readdirSync, readFileSync } from 'node:fs';
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
