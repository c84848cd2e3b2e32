/**
 * The CNI result of an ADD, as an IPAM plugin returns it (the abbreviated form: `ips` without
 * `interface`, plus `routes` and `dns`), shaped for the caller's spec version: before 1.0.0
 * each ip carries its `version` ("4" or "6"), from 1.0.0 on it does not.
 */
import { formatAddress, formatAddressWithPrefix } from '@kontena-ipam/cidr';
import type { Attachment } from '@kontena-ipam/store';

/** CniIp is one entry of a result's `ips`. */
export interface CniIp {
  version?: '4' | '6';
  address: string;
  gateway: string;
}

/** CniResult is an IPAM plugin's ADD result. */
export interface CniResult {
  cniVersion: string;
  ips: CniIp[];
  routes: Array<{ dst: string; gw?: string }>;
  dns: Record<string, unknown>;
}

/** hasIpVersion: spec versions before 1.0.0 name each ip's family. */
function hasIpVersion(cniVersion: string): boolean {
  return cniVersion.startsWith('0.');
}

/** addResult is the ADD result for `attachments` (one per pool), in the caller's `cniVersion`. */
export function addResult(
  cniVersion: string,
  attachments: readonly Attachment[],
  extra: { routes: Array<{ dst: string; gw?: string }>; dns: Record<string, unknown> | undefined },
): CniResult {
  const versioned = hasIpVersion(cniVersion);
  return {
    cniVersion,
    ips: attachments.map((a) => ({
      ...(versioned ? { version: a.address.family === 6 ? ('6' as const) : ('4' as const) } : {}),
      address: formatAddressWithPrefix(a.address, a.subnet.prefix),
      gateway: formatAddress(a.gateway),
    })),
    routes: extra.routes.map((r) => ({ ...r })),
    dns: { ...extra.dns },
  };
}

/**
 * addressesOf reads the bare addresses a result lists (CHECK's prevResult); [] when it is not a
 * result. Only `ips[].address` is looked at: the rest is the main plugin's.
 */
export function addressesOf(prevResult: unknown): string[] {
  const ips = (prevResult as { ips?: unknown } | undefined)?.ips;
  if (!Array.isArray(ips)) return [];
  return ips
    .map((ip) => (ip as { address?: unknown }).address)
    .filter((a): a is string => typeof a === 'string')
    .map((a) => a.split('/', 1)[0] as string);
}
