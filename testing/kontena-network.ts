/**
 * The `docker network create` command line the end-to-end suites use: a bridge network on the
 * kontena-ipam IPAM driver whose pool is named for the network (`--ipam-opt network=NAME`).
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
