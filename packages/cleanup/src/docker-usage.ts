/**
 * What a Docker snapshot says is in use, in the terms of the store: which addresses are
 * live and which pools a local network uses. Both err on the side of "in use": a false
 * "in use" only delays freeing a leak, a false "unused" would free a live address.
 */
import {
  type IpAddress,
  parseAddress,
  parseSubnet,
  type Subnet,
  subnetEquals,
} from '@kontena-ipam/cidr';
import { type PoolId, V6_POOL_SUFFIX } from '@kontena-ipam/store';
import type { DockerNetwork, DockerSnapshot } from './docker-view.js';

/** addressKey identifies an address independent of how it was written ("fd00::1" vs "fd00:0::1"). */
export function addressKey(address: IpAddress): string {
  return `${address.family}/${address.value.toString(16)}`;
}

function tryAddress(text: string | undefined): IpAddress | undefined {
  if (!text) return undefined;
  try {
    return parseAddress(text);
  } catch {
    return undefined;
  }
}

function trySubnet(text: string | undefined): Subnet | undefined {
  if (!text) return undefined;
  try {
    return parseSubnet(text, { normalize: true });
  } catch {
    return undefined;
  }
}

/** isOurDriver: Docker names a managed plugin `name:tag`, a socket plugin just `name`. */
export function isOurDriver(network: DockerNetwork, ipamDriver: string): boolean {
  const driver = network.ipamDriver;
  return driver === ipamDriver || driver.startsWith(`${ipamDriver}:`);
}

/**
 * poolIdsOf names the pools a network of ours uses: `NAME` for its IPv4 config and, when it
 * has IPv6 (`--ipv6`, or an IPv6 subnet in its IPAM config), `NAME:v6` (the plugin gives a
 * dual-stack network's IPv6 pool that id; see @kontena-ipam/store's poolIdFor).
 */
function poolIdsOf(network: DockerNetwork, name: string): string[] {
  const v6 =
    network.enableIPv6 === true ||
    network.ipamConfig.some((c) => trySubnet(c.subnet)?.family === 6);
  return v6 ? [name, `${name}${V6_POOL_SUFFIX}`] : [name];
}

/** DockerUsage answers "does Docker on this host use this?" for addresses and pools. */
export interface DockerUsage {
  /** Every address of every local network (any IPAM driver): endpoints, gateways, aux. */
  readonly liveAddresses: ReadonlySet<string>;
  /** The names of local networks that use the pool, empty when none does. */
  networksUsing(pool: { id: PoolId; subnet: Subnet }): string[];
}

/**
 * dockerUsage indexes a snapshot. A pool is used by a network whose IPAM driver is ours
 * and whose `network` option names it, and also by any network whose IPAM config has the
 * pool's subnet: that keeps a live pool even if the driver name was configured wrong.
 */
export function dockerUsage(snapshot: DockerSnapshot, ipamDriver: string): DockerUsage {
  const live = new Set<string>();
  const byPoolId = new Map<string, string[]>();
  const bySubnet: Array<{ subnet: Subnet; network: string }> = [];
  for (const network of snapshot.networks) {
    const texts: Array<string | undefined> = [];
    for (const endpoint of network.endpoints) texts.push(endpoint.ipv4, endpoint.ipv6);
    for (const config of network.ipamConfig) {
      texts.push(config.gateway, ...config.auxAddresses);
      const subnet = trySubnet(config.subnet);
      if (subnet) bySubnet.push({ subnet, network: network.name });
    }
    for (const text of texts) {
      const address = tryAddress(text);
      if (address) live.add(addressKey(address));
    }
    const name = network.ipamOptions.network;
    if (name && isOurDriver(network, ipamDriver)) {
      for (const poolId of poolIdsOf(network, name)) {
        byPoolId.set(poolId, [...(byPoolId.get(poolId) ?? []), network.name]);
      }
    }
  }
  return {
    liveAddresses: live,
    networksUsing(pool) {
      const names = new Set(byPoolId.get(pool.id) ?? []);
      for (const entry of bySubnet) {
        if (subnetEquals(entry.subnet, pool.subnet)) names.add(entry.network);
      }
      return [...names].sort();
    },
  };
}
