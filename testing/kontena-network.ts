/**
 * The `docker network create` command lines the end-to-end suites use: a bridge network on the
 * kontena-ipam IPAM driver whose pool is named for the network (`--ipam-opt network=NAME`), and
 * a macvlan network on a shared L2 on kontena-ipam or Docker's built-in IPAM.
 */

/** kontenaNetworkArgs is `network create` for bridge network `name` on kontena-ipam, with `options` before the name. */
export function kontenaNetworkArgs(name: string, options: readonly string[] = []): string[] {
  return [
    'network',
    'create',
    '--driver',
    'bridge',
    '--ipam-driver',
    'kontena-ipam',
    '--ipam-opt',
    `network=${name}`,
    ...options,
    name,
  ];
}

/** LanNetwork says how a macvlan network gets its addresses and where it attaches. */
export interface LanNetwork {
  /** parent is the interface, in the daemon's namespace, the macvlan links hang off. */
  parent: string;
  /** ipam is `kontena-ipam` or Docker's built-in `default`. */
  ipam: 'kontena-ipam' | 'default';
  /** pool is kontena-ipam's `--ipam-opt network=` (default: the network's name). */
  pool?: string;
  /** configOnly makes a `--config-only` network (the settings a swarm network takes with `--config-from`). */
  configOnly?: boolean;
}

/**
 * macvlanNetworkArgs is `network create` for macvlan network `name` (or, with `configOnly`, the
 * config-only network holding its settings), with `options` (e.g. `--subnet S`) before the name.
 */
export function macvlanNetworkArgs(
  name: string,
  lan: LanNetwork,
  options: readonly string[] = [],
): string[] {
  const pool = lan.ipam === 'kontena-ipam' ? ['--ipam-opt', `network=${lan.pool ?? name}`] : [];
  const driver = lan.configOnly ? ['--config-only'] : ['--driver', 'macvlan'];
  return [
    'network',
    'create',
    ...driver,
    '-o',
    `parent=${lan.parent}`,
    '--ipam-driver',
    lan.ipam,
    ...pool,
    ...options,
    name,
  ];
}
