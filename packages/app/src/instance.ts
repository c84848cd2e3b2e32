/**
 * What this process tells etcd about itself when it registers its NODE_ID (the store's
 * InstanceInfo), and how it proves that an earlier instance on this machine is gone.
 *
 * Clones share hostname and often /etc/machine-id, so those are shown to operators but never
 * trusted: only the kernel's boot id (random per boot) plus the pid namespace make a pid mean
 * the same process, and only then does a dead pid prove the old instance gone.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { type HostRecord, type InstanceInfo, sameProcessGone } from '@kontena-ipam/store';
import { VERSION } from './version.js';

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * processStartOf is a process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), or undefined when no such process is visible.
 */
export function processStartOf(pid: number): string | undefined {
  const stat = readTrimmed(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count after its end.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/** instanceInfo describes this process (read once, at start). */
export function instanceInfo(): InstanceInfo {
  const info: InstanceInfo = {
    hostname: hostname(),
    pid: process.pid,
    version: VERSION,
    startedAt: new Date().toISOString(),
  };
  const machineId = readTrimmed('/etc/machine-id');
  const bootId = readTrimmed('/proc/sys/kernel/random/boot_id');
  const pidns = pidNamespace();
  const start = processStartOf(process.pid);
  if (machineId) info.machineId = machineId;
  if (bootId) info.bootId = bootId;
  if (pidns) info.pidNamespace = pidns;
  if (start) info.processStart = start;
  return info;
}

/** provablyDead: the holder ran on this machine, in this pid namespace, and its process is gone. */
export function provablyDead(here: InstanceInfo): (holder: HostRecord) => boolean {
  return (holder) => sameProcessGone(holder, here, processStartOf);
}
