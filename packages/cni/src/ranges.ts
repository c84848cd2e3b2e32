/**
 * host-local's ranges → the pools of a network. kontena-ipam keeps one pool per network and
 * family (`NAME`, `NAME:v6`), each with one subnet and at most one ip-range that is a CIDR block
 * (like Docker's `--ip-range`), so a config may name at most one range per family, and a
 * rangeStart/rangeEnd pair must span a CIDR block (its first or first usable address to its
 * last or last usable one). Without any subnet the call is for the network's IPv4 pool, dynamic
 * (from the supernet) when it is created.
 */
import {
  formatAddress,
  formatSubnet,
  type IpAddress,
  lastAddress,
  parseAddress,
  parseSubnet,
  type Subnet,
  subnetContains,
} from '@kontena-ipam/cidr';
import { invalidConfig } from './errors.js';

/** RangeRequest is what the call asks of one pool of the network. */
export interface RangeRequest {
  v6: boolean;
  subnet: Subnet | undefined;
  ipRange: Subnet | undefined;
  gateway: IpAddress | undefined;
  /** Where in the config this range was given (for messages). */
  field: string;
}

/** RangeFields are one range's fields as host-local names them (plus `ipRange`). */
export interface RangeFields {
  subnet?: string | undefined;
  rangeStart?: string | undefined;
  rangeEnd?: string | undefined;
  gateway?: string | undefined;
  ipRange?: string | undefined;
}

function parsed<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw invalidConfig(`${field}: ${(error as Error).message}`);
  }
}

/** parseRanges reads `ipam.ranges` or the single-range fields of `ipam`; see the file comment. */
export function parseRanges(
  ipam: RangeFields & { ranges?: RangeFields[][] | undefined },
): RangeRequest[] {
  const single = ipam.subnet ?? ipam.rangeStart ?? ipam.rangeEnd ?? ipam.ipRange ?? ipam.gateway;
  if (ipam.ranges && single !== undefined) {
    throw invalidConfig(
      'ipam.ranges and ipam.subnet/rangeStart/rangeEnd/ipRange/gateway: give one or the other',
    );
  }
  if (!ipam.ranges) {
    return [parseRange('ipam', ipam)];
  }
  if (ipam.ranges.length === 0)
    throw invalidConfig('ipam.ranges is empty: give at least one range set');
  const out = ipam.ranges.map((set, i) => {
    if (set.length !== 1) {
      throw invalidConfig(
        `ipam.ranges[${i}] has ${set.length} ranges: kontena-ipam takes one range per set (a network's pool has one subnet per family)`,
      );
    }
    return parseRange(`ipam.ranges[${i}][0]`, set[0] as RangeFields);
  });
  for (const family of [false, true]) {
    const sets = out.filter((r) => r.v6 === family);
    if (sets.length > 1) {
      throw invalidConfig(
        `${sets.map((r) => r.field).join(' and ')} are both IPv${family ? 6 : 4}: kontena-ipam keeps one pool per network and family`,
      );
    }
  }
  return out;
}

/** parseRange reads one range; its family is its subnet's (IPv4 without one). */
function parseRange(field: string, r: RangeFields): RangeRequest {
  if (field !== 'ipam' && r.subnet === undefined) throw invalidConfig(`${field}.subnet is missing`);
  const subnet =
    r.subnet === undefined
      ? undefined
      : parsed(`${field}.subnet`, () => parseSubnet(r.subnet as string));
  const needsSubnet = r.rangeStart ?? r.rangeEnd ?? r.ipRange ?? r.gateway;
  if (!subnet && needsSubnet !== undefined) {
    throw invalidConfig(
      `${field}: rangeStart, rangeEnd, ipRange and gateway need a subnet (${field}.subnet)`,
    );
  }
  const gateway =
    r.gateway === undefined
      ? undefined
      : parsed(`${field}.gateway`, () => parseAddress(r.gateway as string));
  let ipRange =
    r.ipRange === undefined
      ? undefined
      : parsed(`${field}.ipRange`, () => parseSubnet(r.ipRange as string));
  if (r.rangeStart !== undefined || r.rangeEnd !== undefined) {
    if (ipRange) throw invalidConfig(`${field}: give rangeStart/rangeEnd or ipRange, not both`);
    ipRange = rangeBlock(field, subnet as Subnet, r);
  }
  if (subnet && ipRange && (ipRange.family !== subnet.family || !subnetContains(subnet, ipRange))) {
    throw invalidConfig(
      `${field}: the range ${formatSubnet(ipRange)} is not inside subnet ${formatSubnet(subnet)}`,
    );
  }
  if (subnet && gateway && (gateway.family !== subnet.family || !subnetContains(subnet, gateway))) {
    throw invalidConfig(
      `${field}.gateway ${formatAddress(gateway)} is not inside subnet ${formatSubnet(subnet)}`,
    );
  }
  return { v6: subnet?.family === 6, subnet, ipRange, gateway, field };
}

/**
 * rangeBlock turns rangeStart..rangeEnd into the CIDR block they span (a missing end is the
 * subnet's): the smallest block holding both, which they must cover but for its first and last
 * address (host-local's ranges skip the network and broadcast addresses).
 */
function rangeBlock(field: string, subnet: Subnet, r: RangeFields): Subnet {
  const start =
    r.rangeStart === undefined
      ? subnet.network
      : parsed(`${field}.rangeStart`, () => parseAddress(r.rangeStart as string).value);
  const end =
    r.rangeEnd === undefined
      ? lastAddress(subnet).value
      : parsed(`${field}.rangeEnd`, () => parseAddress(r.rangeEnd as string).value);
  const bits = subnet.family === 4 ? 32 : 128;
  let prefix = bits;
  while (prefix > 0 && start >> BigInt(bits - prefix) !== end >> BigInt(bits - prefix)) prefix--;
  const size = 1n << BigInt(bits - prefix);
  const network = (start / size) * size;
  const last = network + size - 1n;
  const block = parseSubnet(
    `${formatAddress({ family: subnet.family, value: network })}/${prefix}`,
  );
  const covers = start <= network + 1n && end >= last - 1n && end >= start;
  if (!covers) {
    throw invalidConfig(
      `${field}: rangeStart ${r.rangeStart ?? '(subnet start)'} .. rangeEnd ${r.rangeEnd ?? '(subnet end)'} is not a CIDR block: kontena-ipam hands out addresses from a block like Docker's --ip-range; use ${field}.ipRange (the nearest that holds both is ${formatSubnet(block)})`,
    );
  }
  return block;
}
