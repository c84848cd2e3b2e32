/**
 * How a test daemon is isolated: a private mount namespace in which its own folder is
 * bind-mounted over /run/docker/plugins (and an empty one over /etc/docker), and, inside a
 * network namespace, the host's cgroup mounts again (`ip netns exec` mounts a fresh /sys).
 * With both, two daemons on one machine behave as two hosts: neither sees the other's plugin
 * socket, bridges or routes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Every cgroup v1 controller dockerd needs; `ip netns exec` remounts /sys and hides them. */
const CGROUP_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'blkio',
  'pids',
];

/**
 * cgroupMounts re-creates, inside `ip netns exec` (which mounts a fresh /sys), the cgroup
 * layout of the host: the unified cgroup2 tree on a cgroup v2 host, else a tmpfs with each
 * v1 controller the host has (+ the named systemd hierarchy and the hybrid unified mount).
 */
function cgroupMounts(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    return ['mount -t cgroup2 cgroup2 /sys/fs/cgroup'];
  }
  const lines = ['mount -t tmpfs cgroup_root /sys/fs/cgroup'];
  for (const c of CGROUP_CONTROLLERS) {
    if (!existsSync(`/sys/fs/cgroup/${c}`)) continue;
    lines.push(
      `mkdir -p /sys/fs/cgroup/${c}`,
      `mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`,
    );
  }
  if (existsSync('/sys/fs/cgroup/systemd')) {
    lines.push(
      'mkdir -p /sys/fs/cgroup/systemd',
      'mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd',
    );
  }
  if (existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) {
    lines.push(
      'mkdir -p /sys/fs/cgroup/unified',
      'mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified',
    );
  }
  return lines;
}

/** launchScript is the shell run inside the new mount (and network) namespace before dockerd. */
export function launchScript(opts: {
  root: string;
  pluginDir: string;
  inNetns: boolean;
  dockerd: string;
  args: string[];
}): string {
  const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
  const lines = [
    'set -e',
    `mount --bind ${q(opts.pluginDir)} /run/docker/plugins`,
    `mount --bind ${q(join(opts.root, 'etc'))} /etc/docker`,
  ];
  if (opts.inNetns) lines.push(...cgroupMounts());
  lines.push(`exec ${q(opts.dockerd)} ${opts.args.map(q).join(' ')}`);
  return `${lines.join('\n')}\n`;
}
