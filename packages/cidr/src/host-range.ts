import type { IpAddress } from './address.js';
import { type Subnet, subnetContains, subnetSize } from './subnet.js';

/**
 * hostRange is the range of addresses that may be handed to hosts. IPv4: not the network address
 * nor the broadcast, except /31 (both are hosts, RFC 3021) and /32 (the one address). IPv6: not
 * offset 0, the subnet-router anycast address (RFC 4291 2.6.1), except /127 (both, RFC 6164) and
 * /128; IPv6 has no broadcast, so the last address is a host.
 */
export function hostRange(s: Subnet): { first: IpAddress; last: IpAddress; count: bigint } {
  const size = subnetSize(s);
  const last = s.network + size - 1n;
  // Subnets of one or two addresses are point-to-point links: every address is a host.
  if (size <= 2n) {
    return {
      first: { family: s.family, value: s.network },
      last: { family: s.family, value: last },
      count: size,
    };
  }
  const excludesLast = s.family === 4;
  return {
    first: { family: s.family, value: s.network + 1n },
    last: { family: s.family, value: excludesLast ? last - 1n : last },
    count: excludesLast ? size - 2n : size - 1n,
  };
}

/** isHostAddress tells whether `a` lies inside `s` and may be handed to a host (see hostRange). */
export function isHostAddress(s: Subnet, a: IpAddress): boolean {
  if (!subnetContains(s, a)) return false;
  const { first, last } = hostRange(s);
  return a.value >= first.value && a.value <= last.value;
}

/** defaultGateway is the first host address of a subnet (hostRange(s).first), as Docker expects. */
export function defaultGateway(s: Subnet): IpAddress {
  return hostRange(s).first;
}
