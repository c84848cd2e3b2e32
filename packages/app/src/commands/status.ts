import {
  countFreeSubnets,
  formatAddress,
  formatSubnet,
  type Subnet,
  subnetContains,
} from '@kontena-ipam/cidr';
import type { HostStatus, PoolStatus, Reservation } from '@kontena-ipam/store';
import { etcdModeOf } from '../etcd-mode.js';
import { age, bar, NONE, percent, ratio } from '../render/cells.js';
import { type Cell, type Colors, renderTable } from '../render/table.js';
import { argsOrHelp, type Command, EXIT } from './command.js';
import { runWithStore, writeJson } from './operator.js';

const USAGE = `Usage: kontena-ipam status [--json]

One row per pool: network, subnet, ip-range, gateway, holding nodes (with their hold count
when above 1), addresses used / total, the percentage and a bar. Then one row per host
(NODE_ID): live or not (a kontena-ipam holds its registration), since when (its start, or its
clean stop), the instance, the addresses it owns and the pools it holds. Then, for the configured
supernet(s), how many subnets of the configured length are used and still available, and
the mode (single-host with its embedded etcd, or cluster with its endpoints).
Reads etcd with the same environment as the server (ETCD_ENDPOINT, KONTENA_IPAM_*).
`;

/** SupernetUsage is one supernet's totals at the configured subnet length. */
export interface SupernetUsage {
  supernet: string;
  subnetLength: number;
  /** subnets of subnetLength the supernet holds. */
  subnets: bigint;
  /** how many of them overlap a reservation (a bigger static subnet blocks several). */
  used: bigint;
  available: bigint;
  /** reservations that lie inside the supernet. */
  pools: number;
}

/** supernetUsage counts the subnets of `length` in `supernet` left free by `reservations`. */
export function supernetUsage(
  supernet: Subnet,
  length: number,
  reservations: readonly Reservation[],
): SupernetUsage {
  const subnets = 1n << BigInt(length - supernet.prefix);
  const available = countFreeSubnets(
    supernet,
    length,
    reservations.map((r) => r.subnet),
  );
  return {
    supernet: formatSubnet(supernet),
    subnetLength: length,
    subnets,
    used: subnets - available,
    available,
    pools: reservations.filter((r) => subnetContains(supernet, r.subnet)).length,
  };
}

function holders(pool: PoolStatus): string {
  const names = Object.keys(pool.holds).sort();
  if (names.length === 0) return NONE;
  return names.map((n) => ((pool.holds[n] ?? 0) > 1 ? `${n}(${pool.holds[n]})` : n)).join(',');
}

function poolJson(pool: PoolStatus) {
  const share = ratio(BigInt(pool.used), pool.total);
  return {
    network: pool.id,
    subnet: formatSubnet(pool.subnet),
    ipRange: pool.ipRange ? formatSubnet(pool.ipRange) : null,
    gateway: formatAddress(pool.gateway),
    dynamic: pool.dynamic,
    holds: pool.holds,
    used: pool.used,
    total: pool.total,
    utilisation: share,
    createdAt: pool.createdAt,
  };
}

function usageColor(c: Colors, share: number) {
  return share >= 0.9 ? c.red : share >= 0.75 ? c.yellow : c.green;
}

function poolTable(pools: readonly PoolStatus[], c: Colors): string {
  const rows: Cell[][] = pools.map((pool) => {
    const share = ratio(BigInt(pool.used), pool.total);
    const paint = usageColor(c, share);
    return [
      { text: pool.id, paint: c.cyan },
      formatSubnet(pool.subnet),
      pool.ipRange ? formatSubnet(pool.ipRange) : NONE,
      formatAddress(pool.gateway),
      holders(pool),
      `${pool.used}/${pool.total}`,
      { text: percent(share), paint },
      { text: bar(share), paint },
    ];
  });
  return renderTable(
    [
      { header: 'NETWORK' },
      { header: 'SUBNET' },
      { header: 'IP-RANGE' },
      { header: 'GATEWAY' },
      { header: 'HOLDERS' },
      { header: 'USED/TOTAL', align: 'right' },
      { header: 'USE%', align: 'right' },
      { header: '' },
    ],
    rows,
    c,
  );
}

function hostJson(host: HostStatus) {
  const live = host.live;
  return {
    node: host.node,
    live: live !== undefined,
    since: host.since ?? null,
    instance: live
      ? { id: live.instance, hostname: live.hostname, pid: live.pid, version: live.version }
      : null,
    addresses: host.addresses,
    pools: host.pools,
  };
}

function hostTable(hosts: readonly HostStatus[], c: Colors): string {
  const rows: Cell[][] = hosts.map((host) => [
    { text: host.node, paint: c.cyan },
    host.live ? { text: 'yes', paint: c.green } : { text: 'no', paint: c.yellow },
    host.since ? `${age(host.since)} ago` : NONE,
    host.live ? `${host.live.instance} (${host.live.hostname}, pid ${host.live.pid})` : NONE,
    String(host.addresses),
    host.pools.length > 0 ? host.pools.join(',') : NONE,
  ]);
  return renderTable(
    [
      { header: 'HOST' },
      { header: 'LIVE' },
      { header: 'SINCE' },
      { header: 'INSTANCE' },
      { header: 'ADDRESSES', align: 'right' },
      { header: 'POOLS' },
    ],
    rows,
    c,
  );
}

function supernetLine(s: SupernetUsage, c: Colors): string {
  const share = ratio(s.used, s.subnets);
  return `supernet ${c.bold(s.supernet)}: ${s.used} of ${s.subnets} /${s.subnetLength} subnets used, ${usageColor(c, share)(`${s.available} available`)} (${s.pools} ${s.pools === 1 ? 'pool' : 'pools'} inside)\n`;
}

/** statusCommand prints every pool's use and the supernet totals. */
export const statusCommand: Command = {
  summary: 'show every pool (subnet, gateway, holders, addresses used) and supernet totals',
  async run(io) {
    const args = argsOrHelp(io, { usage: USAGE, options: { json: { type: 'boolean' } } });
    if (!args) return EXIT.ok;
    const { values } = args;
    return runWithStore(io, 'status', async ({ config, opened, colors: c }) => {
      const [pools, reservations, hosts] = await Promise.all([
        opened.store.listPools(),
        opened.store.listReservations(),
        opened.store.listHosts(),
      ]);
      const supernets = [supernetUsage(config.supernet, config.subnetLength, reservations)];
      if (config.supernet6) {
        supernets.push(supernetUsage(config.supernet6, config.subnetLength6, reservations));
      }
      const mode = etcdModeOf(config);
      if (values.json) {
        writeJson(io, {
          pools: pools.map(poolJson),
          hosts: hosts.map(hostJson),
          supernets,
          etcd: { mode: mode.mode, endpoints: config.etcd.endpoints },
        });
        return EXIT.ok;
      }
      io.stdout.write(pools.length > 0 ? poolTable(pools, c) : 'no pools\n');
      io.stdout.write('\n');
      if (hosts.length > 0) io.stdout.write(`${hostTable(hosts, c)}\n`);
      for (const s of supernets) io.stdout.write(supernetLine(s, c));
      io.stdout.write(`${mode.text}\n`);
      return EXIT.ok;
    });
  },
};
