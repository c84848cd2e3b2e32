import { formatAddress, formatSubnet } from '@kontena-ipam/cidr';
import {
  type AddressRecord,
  type NodeId,
  type PoolId,
  type PoolStatus,
  parseNodeId,
  parsePoolId,
  StoreError,
} from '@kontena-ipam/store';
import { age, NONE } from '../render/cells.js';
import { type Cell, type Colors, renderTable } from '../render/table.js';
import { argsOrHelp, type Command, EXIT } from './command.js';
import { runWithStore, usageFailure, writeJson } from './operator.js';

const USAGE = `Usage: kontena-ipam show NETWORK [--node NAME] [--json]

Lists the addresses taken in NETWORK's pool: address, owner node, kind (gateway, aux,
endpoint, cni), the MAC address and endpoint name Docker gave when known (for a CNI
attachment: its container id and interface, cni:CONTAINER/IFNAME), and age.
--node NAME lists only that node's addresses.
`;

function attrsText(rec: AddressRecord): string {
  const cni = rec.attachment && `cni:${rec.attachment.container}/${rec.attachment.ifname}`;
  const parts = [rec.attrs.mac, rec.attrs.endpoint, cni].filter((p): p is string => Boolean(p));
  return parts.length > 0 ? parts.join(' ') : NONE;
}

function kindCell(rec: AddressRecord, c: Colors): Cell {
  if (rec.kind === 'gateway') return { text: rec.kind, paint: c.yellow };
  if (rec.kind === 'aux') return { text: rec.kind, paint: c.dim };
  return rec.kind;
}

function header(pool: PoolStatus, shown: number, node: NodeId | undefined, c: Colors): string {
  const range = pool.ipRange ? `, ip-range ${formatSubnet(pool.ipRange)}` : '';
  const whose = node ? ` of node ${node}` : '';
  return `${c.bold(pool.id)}: subnet ${formatSubnet(pool.subnet)}${range}, gateway ${formatAddress(pool.gateway)}; ${shown} ${shown === 1 ? 'address' : 'addresses'}${whose}\n`;
}

function addressJson(rec: AddressRecord, now: number) {
  return {
    address: formatAddress(rec.address),
    node: rec.node,
    kind: rec.kind,
    mac: rec.attrs.mac ?? null,
    endpoint: rec.attrs.endpoint ?? null,
    ...(rec.attachment ? { attachment: rec.attachment } : {}),
    at: rec.at,
    ageSeconds: Math.max(0, Math.floor((now - Date.parse(rec.at)) / 1000)),
  };
}

/** showCommand lists one pool's addresses, optionally one node's. */
export const showCommand: Command = {
  summary: "list a network's addresses: owner node, kind, MAC / endpoint, age",
  async run(io) {
    const args = argsOrHelp(io, {
      usage: USAGE,
      options: { node: { type: 'string' }, json: { type: 'boolean' } },
      allowPositionals: true,
    });
    if (!args) return EXIT.ok;
    const { values, positionals } = args;
    if (positionals.length !== 1) return usageFailure(io, 'show', 'expected one NETWORK');
    let network: PoolId;
    let node: NodeId | undefined;
    try {
      network = parsePoolId(positionals[0] as string);
      node = values.node === undefined ? undefined : parseNodeId(values.node);
    } catch (error) {
      if (error instanceof StoreError) return usageFailure(io, 'show', error.message);
      throw error;
    }
    return runWithStore(io, 'show', async ({ opened, colors: c }) => {
      const pool = await opened.store.getPool(network);
      if (!pool) {
        io.stderr.write(`kontena-ipam show: no pool named ${network}\n`);
        return EXIT.failure;
      }
      const records = await opened.store.listAddresses(
        node ? { pool: network, node } : { pool: network },
      );
      const now = Date.now();
      if (values.json) {
        writeJson(io, {
          network: pool.id,
          subnet: formatSubnet(pool.subnet),
          ipRange: pool.ipRange ? formatSubnet(pool.ipRange) : null,
          gateway: formatAddress(pool.gateway),
          node: node ?? null,
          addresses: records.map((r) => addressJson(r, now)),
        });
        return EXIT.ok;
      }
      io.stdout.write(header(pool, records.length, node, c));
      if (records.length === 0) return EXIT.ok;
      io.stdout.write(
        renderTable(
          [
            { header: 'ADDRESS' },
            { header: 'NODE' },
            { header: 'KIND' },
            { header: 'MAC / ENDPOINT' },
            { header: 'AGE', align: 'right' },
          ],
          records.map((r) => [
            formatAddress(r.address),
            r.node,
            kindCell(r, c),
            attrsText(r),
            age(r.at, now),
          ]),
          c,
        ),
      );
      return EXIT.ok;
    });
  },
};
