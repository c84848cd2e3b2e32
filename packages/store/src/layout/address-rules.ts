/**
 * Which addresses of a subnet may be handed to a container, gateway or aux address: Docker's
 * rule, the one its own IPAM follows. The network address (in IPv6 the subnet-router anycast)
 * and, in IPv4, the broadcast address never are, except in subnets of one or two addresses,
 * which are point-to-point links where every address is a host (RFC 3021: /31, /32, /127,
 * /128). cidr's hostRange states the rule; this file words the refusal.
 */
import {
  formatAddress,
  formatSubnet,
  hostRange,
  type IpAddress,
  isHostAddress,
  type Subnet,
} from '@kontena-ipam/cidr';
import { StoreError } from '../errors.js';

/**
 * notHostAddress says why `address` (inside `subnet`) is no host address, or undefined when it
 * is one.
 */
export function notHostAddress(subnet: Subnet, address: IpAddress): string | undefined {
  if (isHostAddress(subnet, address)) return undefined;
  const { first } = hostRange(subnet);
  const what =
    address.value < first.value
      ? subnet.family === 4
        ? 'the network address'
        : 'the subnet-router anycast address'
      : 'the broadcast address';
  return `${formatAddress(address)} is ${what} of subnet ${formatSubnet(subnet)}, which Docker never hands out`;
}

/**
 * hostsOfBoth is the span of `window` (an ip-range inside `subnet`) whose addresses are host
 * addresses of both: Docker's rule is the subnet's; the window's own edges are skipped too.
 * Empty (first after last) when the window holds no host address of the subnet.
 */
export function hostsOfBoth(window: Subnet, subnet: Subnet): { first: IpAddress; last: IpAddress } {
  const w = hostRange(window);
  const s = hostRange(subnet);
  return {
    first: w.first.value > s.first.value ? w.first : s.first,
    last: w.last.value < s.last.value ? w.last : s.last,
  };
}

/** checkHostAddress refuses (OUT_OF_RANGE) an address of `subnet` that is no host address. */
export function checkHostAddress(subnet: Subnet, address: IpAddress, role: string): void {
  const why = notHostAddress(subnet, address);
  if (why) throw new StoreError('OUT_OF_RANGE', `${role} ${why}`);
}

/**
 * neverDynamic tells whether a window address is out of bounds for dynamic allocation: outside
 * `hosts` (hostsOfBoth: network, broadcast, the window's own edges) or the pool's gateway.
 */
export function neverDynamic(
  hosts: { first: IpAddress; last: IpAddress },
  gateway: IpAddress,
  address: IpAddress,
): boolean {
  return (
    address.value < hosts.first.value ||
    address.value > hosts.last.value ||
    address.value === gateway.value
  );
}
