/**
 * The CNI network configurations the CNI tests and benchmarks hand to real plugins: a macvlan
 * network whose `ipam` section is the caller's (Debian's `host-local`, or kontena-ipam's), as
 * one network config (what a main plugin reads on stdin) or as a conflist (what Podman reads
 * from its network_config_dir).
 */

/** IpamSection is a network config's `ipam` object: `type` names the IPAM plugin executable. */
export interface IpamSection {
  type: string;
  [field: string]: unknown;
}

/** MacvlanNetwork is what a macvlan network on a test L2 needs. */
export interface MacvlanNetwork {
  /** name is the network's name (Podman's `--network NAME`). */
  name: string;
  /** master is the interface, in the host's namespace, the macvlan children hang off. */
  master: string;
  ipam: IpamSection;
  /** cniVersion defaults to 0.4.0, the version Podman 4.3 writes in its own conflists. */
  cniVersion?: string;
}

/** macvlanPlugin is the macvlan plugin's own config (bridge mode: children reach each other). */
function macvlanPlugin(network: MacvlanNetwork): Record<string, unknown> {
  return { type: 'macvlan', master: network.master, mode: 'bridge', ipam: network.ipam };
}

/** macvlanConfig is the single network config a runtime's libcni pipes to the macvlan plugin. */
export function macvlanConfig(network: MacvlanNetwork): Record<string, unknown> {
  return {
    cniVersion: network.cniVersion ?? '0.4.0',
    name: network.name,
    ...macvlanPlugin(network),
  };
}

/** Conflist is a CNI network configuration list: a network's plugins, run in order. */
export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown>>;
}

/** macvlanConflist is the same network as a conflist (Podman reads `NAME.conflist` files). */
export function macvlanConflist(network: MacvlanNetwork): Conflist {
  return {
    cniVersion: network.cniVersion ?? '0.4.0',
    name: network.name,
    plugins: [macvlanPlugin(network)],
  };
}

/**
 * hostLocalIpam is Debian's host-local IPAM for `subnet`, its state in `dataDir` (a test
 * folder; the default is /var/lib/cni/networks). The subnet goes in `ranges`, the form Podman
 * reads to check a `--ip` against the network's subnets.
 */
export function hostLocalIpam(options: {
  subnet: string;
  dataDir: string;
  rangeStart?: string;
  rangeEnd?: string;
}): IpamSection {
  const range: Record<string, string> = { subnet: options.subnet };
  if (options.rangeStart) range.rangeStart = options.rangeStart;
  if (options.rangeEnd) range.rangeEnd = options.rangeEnd;
  return { type: 'host-local', ranges: [[range]], dataDir: options.dataDir };
}

/** CNI_PLUGIN_DIR is where Debian's containernetworking-plugins installs the reference plugins. */
export const CNI_PLUGIN_DIR = '/usr/lib/cni';
