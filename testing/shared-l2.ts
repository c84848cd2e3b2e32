/**
 * One shared L2 segment for test hosts that live in their own network namespaces: a Linux
 * bridge in a network namespace of its own, and a veth pair from each host's namespace into
 * it. It stands in for the VLAN that real Docker hosts share for macvlan networks. Nothing
 * leaves these namespaces: the test picks the addresses, inside a test range.
 *
 * stop() deletes the bridge's namespace (and with it every veth pair); a process exit hook
 * does the same when a test run dies without stop().
 */
import { spawnSync } from 'node:child_process';

/** SharedL2 is a running bridge namespace that host namespaces can be connected to. */
export interface SharedL2 {
  /** netns names the namespace that holds the bridge. */
  readonly netns: string;
  /**
   * connect makes a veth pair whose host end, named `ifname`, sits (up) in namespace `netns`
   * with `address` (CIDR) when given, and whose other end is a port of the bridge.
   */
  connect(options: { netns: string; ifname: string; address?: string }): void;
  /** stop deletes the bridge's namespace with every veth pair it holds. */
  stop(): void;
}

const live = new Set<string>();
let counter = 0;
let exitHookInstalled = false;

/** ip runs `ip ARGS` and throws with its stderr when it fails. */
function ip(args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`ip ${args.join(' ')}: ${(result.stderr || String(result.error)).trim()}`);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const netns of live) spawnSync('ip', ['netns', 'del', netns]);
  });
}

/** startSharedL2 makes the bridge namespace (`kipam-<label>-<pid>-<n>`) with bridge `br0` up. */
export function startSharedL2(label = 'l2'): SharedL2 {
  const netns = `kipam-${label}-${process.pid}-${++counter}`;
  ip(['netns', 'add', netns]);
  live.add(netns);
  installExitHook();
  let ports = 0;
  try {
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    ip(['-n', netns, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', netns, 'link', 'set', 'br0', 'up']);
  } catch (error) {
    spawnSync('ip', ['netns', 'del', netns]);
    live.delete(netns);
    throw error;
  }
  return {
    netns,
    connect({ netns: hostNetns, ifname, address }) {
      const port = `port${++ports}`;
      ip([
        '-n',
        netns,
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        ifname,
        'netns',
        hostNetns,
      ]);
      ip(['-n', netns, 'link', 'set', port, 'master', 'br0', 'up']);
      if (address) ip(['-n', hostNetns, 'addr', 'add', address, 'dev', ifname]);
      ip(['-n', hostNetns, 'link', 'set', ifname, 'up']);
    },
    stop() {
      if (!live.has(netns)) return;
      ip(['netns', 'del', netns]);
      live.delete(netns);
    },
  };
}
