import {
  addressEquals,
  CidrError,
  formatAddress,
  type IpAddress,
  parseAddress,
} from '@kontena-ipam/cidr';
import { type PoolId, parsePoolId, StoreError } from '@kontena-ipam/store';
import { age } from '../render/cells.js';
import { argsOrHelp, type Command, EXIT } from './command.js';
import { runWithStore, usageFailure, writeJson } from './operator.js';

const USAGE = `Usage: kontena-ipam release NETWORK ADDRESS --yes [--force] [--json]

Frees one address of NETWORK's pool by hand, whoever owns it, so that it can be handed out
again. Only for addresses no container uses any more (a leak cleanup cannot see): check with
\`kontena-ipam show NETWORK\` and \`docker network inspect\` first.
  --yes    required: says you checked
  --force  also free the pool's gateway (Docker routes the network through it)
The delete is guarded on the record read: if the address changed meanwhile, nothing is freed.
`;

function describe(rec: { node: string; kind: string; attrs: { endpoint?: string }; at: string }) {
  const endpoint = rec.attrs.endpoint ? ` ${rec.attrs.endpoint}` : '';
  return `${rec.node}'s ${rec.kind}${endpoint}, taken ${age(rec.at)} ago`;
}

/** releaseCommand frees one address by hand (gateway only with --force). */
export const releaseCommand: Command = {
  summary: 'free one address by hand: release NETWORK ADDRESS --yes (gateway needs --force)',
  async run(io) {
    const args = argsOrHelp(io, {
      usage: USAGE,
      options: { yes: { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
      allowPositionals: true,
    });
    if (!args) return EXIT.ok;
    const { values, positionals } = args;
    if (positionals.length !== 2) {
      return usageFailure(io, 'release', 'expected NETWORK and ADDRESS');
    }
    let network: PoolId;
    let address: IpAddress;
    try {
      network = parsePoolId(positionals[0] as string);
      address = parseAddress(positionals[1] as string);
    } catch (error) {
      if (error instanceof StoreError || error instanceof CidrError) {
        return usageFailure(io, 'release', error.message);
      }
      throw error;
    }
    const text = formatAddress(address);
    return runWithStore(io, 'release', async ({ opened }) => {
      const pool = await opened.store.getPool(network);
      if (!pool) {
        io.stderr.write(`kontena-ipam release: no pool named ${network}\n`);
        return EXIT.failure;
      }
      const record = (await opened.store.listAddresses({ pool: network })).find((r) =>
        addressEquals(r.address, address),
      );
      if (!record) {
        io.stderr.write(
          `kontena-ipam release: ${text} is not taken in ${network}; nothing to do\n`,
        );
        return EXIT.failure;
      }
      if (record.kind === 'gateway' && !values.force) {
        io.stderr.write(
          `kontena-ipam release: ${text} is the gateway of ${network}; Docker routes the network through it. Add --force to free it anyway\n`,
        );
        return EXIT.failure;
      }
      if (!values.yes) {
        io.stderr.write(
          `kontena-ipam release: would free ${text} of ${network} (${describe(record)}); add --yes if no container uses it\n`,
        );
        return EXIT.usage;
      }
      const released = await opened.store.releaseAddressIfUnchanged({
        pool: network,
        address,
        modRevision: record.modRevision,
      });
      if (!released) {
        io.stderr.write(
          `kontena-ipam release: ${text} of ${network} changed while releasing it; nothing freed (look again with kontena-ipam show ${network})\n`,
        );
        return EXIT.failure;
      }
      if (values.json) {
        writeJson(io, {
          network,
          address: text,
          released: true,
          was: {
            node: record.node,
            kind: record.kind,
            mac: record.attrs.mac ?? null,
            endpoint: record.attrs.endpoint ?? null,
            at: record.at,
          },
        });
      } else {
        io.stdout.write(`released ${text} of ${network} (was ${describe(record)})\n`);
      }
      return EXIT.ok;
    });
  },
};
