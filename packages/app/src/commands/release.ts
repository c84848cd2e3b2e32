import {
  addressEquals,
  CidrError,
  formatAddress,
  type IpAddress,
  parseAddress,
} from '@kontena-ipam/cidr';
import { type AddressRecord, type PoolId, parsePoolId, StoreError } from '@kontena-ipam/store';
import { age } from '../render/cells.js';
import { argsOrHelp, type Command, type CommandIo, EXIT } from './command.js';
import { type OperatorContext, runWithStore, usageFailure, writeJson } from './operator.js';

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

/** ReleaseArgs is the command line, parsed at the edge. */
interface ReleaseArgs {
  network: PoolId;
  address: IpAddress;
  /** text is the address in canonical form, for every message. */
  text: string;
  yes: boolean;
  force: boolean;
  json: boolean;
}

/** parseReleaseArgs returns the parsed command line, or the exit code for --help or a usage error. */
function parseReleaseArgs(io: CommandIo): ReleaseArgs | number {
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
  try {
    // NETWORK first: with both wrong, the message names the network, as the usage reads.
    const network = parsePoolId(positionals[0] as string);
    const address = parseAddress(positionals[1] as string);
    return {
      network,
      address,
      text: formatAddress(address),
      yes: values.yes ?? false,
      force: values.force ?? false,
      json: values.json ?? false,
    };
  } catch (error) {
    if (error instanceof StoreError || error instanceof CidrError) {
      return usageFailure(io, 'release', error.message);
    }
    throw error;
  }
}

/** refusal is why `record` is not freed as asked (a gateway without --force, no --yes). */
function refusal(
  record: AddressRecord,
  args: ReleaseArgs,
): { text: string; exit: number } | undefined {
  const { text, network } = args;
  if (record.kind === 'gateway' && !args.force) {
    return {
      text: `${text} is the gateway of ${network}; Docker routes the network through it. Add --force to free it anyway`,
      exit: EXIT.failure,
    };
  }
  if (!args.yes) {
    return {
      text: `would free ${text} of ${network} (${describe(record)}); add --yes if no container uses it`,
      exit: EXIT.usage,
    };
  }
  return undefined;
}

/** release frees the address if its record is still the one read; returns the exit code. */
async function release(ctx: OperatorContext, args: ReleaseArgs): Promise<number> {
  const { opened, io } = ctx;
  const { network, address, text } = args;
  const fail = (message: string, exit: number = EXIT.failure): number => {
    io.stderr.write(`kontena-ipam release: ${message}\n`);
    return exit;
  };
  const pool = await opened.store.getPool(network);
  if (!pool) return fail(`no pool named ${network}`);
  const record = (await opened.store.listAddresses({ pool: network })).find((r) =>
    addressEquals(r.address, address),
  );
  if (!record) return fail(`${text} is not taken in ${network}; nothing to do`);
  const refused = refusal(record, args);
  if (refused) return fail(refused.text, refused.exit);
  const released = await opened.store.releaseAddressIfUnchanged({
    pool: network,
    address,
    modRevision: record.modRevision,
  });
  if (!released) {
    return fail(
      `${text} of ${network} changed while releasing it; nothing freed (look again with kontena-ipam show ${network})`,
    );
  }
  reportReleased(io, args, record);
  return EXIT.ok;
}

/** reportReleased prints what was freed: one line, or one JSON document with --json. */
function reportReleased(io: CommandIo, args: ReleaseArgs, record: AddressRecord): void {
  const { network, text } = args;
  if (!args.json) {
    io.stdout.write(`released ${text} of ${network} (was ${describe(record)})\n`);
    return;
  }
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
}

/** releaseCommand frees one address by hand (gateway only with --force). */
export const releaseCommand: Command = {
  summary: 'free one address by hand: release NETWORK ADDRESS --yes (gateway needs --force)',
  async run(io) {
    const args = parseReleaseArgs(io);
    if (typeof args === 'number') return args;
    return runWithStore(io, 'release', (ctx) => release(ctx, args));
  },
};
