/**
 * The CNI network configurations a runtime reads from files, for the Podman host and the CNI
 * benchmark: a macvlan conflist (cni.ts's macvlanConfig as the one plugin of a list, the way
 * Podman reads `NAME.conflist` from its network_config_dir) and Debian's `host-local` IPAM
 * section, the floor kontena-ipam is compared with.
 */
import { macvlanConfig } from './cni.js';

/** Conflist is a CNI network configuration list: a network's plugins, run in order. */
export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown>>;
}

/**
 * macvlanConflist is macvlan network `name` (bridge mode on `master`) with `ipam` as a
 * conflist. cniVersion defaults to 0.4.0, what Podman 4.3 writes in conflists of its own.
 */
export function macvlanConflist(options: {
  name: string;
  master: string;
  ipam: Record<string, unknown>;
  cniVersion?: string;
}): Conflist {
  const cniVersion = options.cniVersion ?? '0.4.0';
  const {
    cniVersion: _version,
    name: _name,
    ...plugin
  } = macvlanConfig({ ...options, cniVersion });
  return { cniVersion, name: options.name, plugins: [plugin] };
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
}): Record<string, unknown> {
  const range: Record<string, string> = { subnet: options.subnet };
  if (options.rangeStart) range.rangeStart = options.rangeStart;
  if (options.rangeEnd) range.rangeEnd = options.rangeEnd;
  return { type: 'host-local', ranges: [[range]], dataDir: options.dataDir };
}
