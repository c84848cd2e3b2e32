/**
 * How cleanup judges a CNI attachment's liveness: by its network namespace. A runtime makes a
 * container's netns before its CNI ADD and removes it only once the container is gone (Podman,
 * containerd and CRI runtimes keep it as a file under /run/netns or /var/run/netns), so a netns
 * file that is gone means the container is gone. Anything that cannot be seen proves nothing:
 * a /proc/PID/ns/net path counts in some pid namespace that need not be ours, and a runtime's
 * netns folder not mounted into cleanup's container would make every attachment look gone.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';

/** NetnsState: the netns file is there (live), is gone from a folder that is (leaked), or unknown. */
export type NetnsState = 'present' | 'gone' | 'unknown';

/** netnsStateOf looks at one recorded netns path on this machine (see the module comment). */
export function netnsStateOf(path: string): NetnsState {
  if (!isAbsolute(path) || path.startsWith('/proc/')) return 'unknown';
  if (existsSync(path)) return 'present';
  return existsSync(dirname(path)) ? 'gone' : 'unknown';
}
