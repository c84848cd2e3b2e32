/**
 * A network namespace of a test's own for one process: only loopback, up. A plugin started
 * in it sees nothing on any port (no etcd on 2379 even if the host has one), and what it
 * binds (say a metrics port) cannot meet another test's or engineer's process. The namespace goes
 * when its last process exits. The plugin's unix socket stays reachable from outside.
 */
import { spawnSync } from 'node:child_process';

/** IN_NEW_NETNS prefixes a command: a new network namespace, loopback up, then exec the command (same pid). */
export const IN_NEW_NETNS: readonly string[] = [
  'unshare',
  '--net',
  '--',
  'sh',
  '-c',
  'ip link set lo up && exec "$@"',
  'sh',
];

/** inNetnsOf prefixes a command to run in the network namespace of process `pid`. */
export function inNetnsOf(pid: number): string[] {
  return ['nsenter', `--net=/proc/${pid}/ns/net`, '--'];
}

/** listeningPorts lists the TCP ports something listens on in the network namespace of `pid`. */
export function listeningPorts(pid: number): number[] {
  const ss = spawnSync(inNetnsOf(pid)[0] as string, [...inNetnsOf(pid).slice(1), 'ss', '-Hltn'], {
    encoding: 'utf8',
  });
  if (ss.status !== 0) throw new Error(`ss in the netns of ${pid} failed: ${ss.stderr}`);
  // Columns: State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
  return ss.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(line.trim().split(/\s+/)[3]?.split(':').pop()))
    .sort((a, b) => a - b);
}

/** childProcesses lists the direct children of `pid` with their command names. */
export function childProcesses(pid: number): { pid: number; command: string }[] {
  const ps = spawnSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' });
  return ps.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [child, command] = line.trim().split(/\s+/);
      return { pid: Number(child), command: String(command) };
    });
}
