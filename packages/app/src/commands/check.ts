import { checkConsistency, type Finding } from '@kontena-ipam/store';
import type { Colors } from '../render/table.js';
import { argsOrHelp, type Command, EXIT } from './command.js';
import { runWithStore, writeJson } from './operator.js';

const USAGE = `Usage: kontena-ipam check [--json]

Reads the whole store at one etcd revision, writes nothing, and reports inconsistencies:
overlapping subnets, pools without their subnet reservation or the reverse, addresses of no
pool or outside their pool's subnet, holds by nodes that own no address (often a host that
is gone: see kontena-ipam-cleanup --forget-node), address-block claims of no pool or by a
node that no longer holds the pool, records that fail to parse, and keys the store never
writes. Exit 0 when clean, 1 with one line per finding.
`;

function findingLine(f: Finding, c: Colors): string {
  // Harmless to addresses (for an operator to judge): yellow; the rest is damage: red.
  const warning = f.kind === 'idle-hold' || f.kind === 'stale-block' || f.kind === 'idle-cni-hold';
  const paint = warning ? c.yellow : c.red;
  return `${paint(f.kind)}: ${f.message}\n`;
}

/** checkCommand prints one line per inconsistency of the etcd state; exit 1 if there is any. */
export const checkCommand: Command = {
  summary: 'report inconsistencies in the etcd state (read-only); exit 1 if any',
  async run(io) {
    const args = argsOrHelp(io, { usage: USAGE, options: { json: { type: 'boolean' } } });
    if (!args) return EXIT.ok;
    const { values } = args;
    return runWithStore(io, 'check', async ({ config, opened, colors: c }) => {
      const report = await checkConsistency({
        client: opened.client,
        prefix: config.etcd.prefix,
        deadlineMs: config.etcd.timeoutMs,
        endpoint: opened.endpoint,
      });
      const code = report.findings.length === 0 ? EXIT.ok : EXIT.failure;
      if (values.json) {
        writeJson(io, { ok: code === EXIT.ok, ...report });
        return code;
      }
      const counts = `${report.pools} pools, ${report.reservations} subnet reservations, ${report.addresses} addresses at etcd revision ${report.revision}`;
      if (code === EXIT.ok) {
        io.stdout.write(`${c.green('ok')}: ${counts}; no inconsistencies\n`);
        return code;
      }
      for (const f of report.findings) io.stdout.write(findingLine(f, c));
      const n = report.findings.length;
      io.stderr.write(
        `kontena-ipam check: ${n} ${n === 1 ? 'finding' : 'findings'} in ${counts}\n`,
      );
      return code;
    });
  },
};
