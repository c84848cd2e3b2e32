import { fileURLToPath } from 'node:url';
import { DEFAULT_CNI_BIN_DIR, installCniPlugin } from '@kontena-ipam/cni';
import { argsOrHelp, type Command, EXIT } from './command.js';

/** CLIENT_BIN is the node CNI client this app ships (dist/bin/kontena-ipam-cni.js). */
export const CLIENT_BIN = fileURLToPath(new URL('../bin/kontena-ipam-cni.js', import.meta.url));

/** installCniCommand installs the `kontena-ipam` CNI IPAM plugin into a CNI plugin directory. */
export const installCniCommand: Command = {
  summary: `install the CNI IPAM plugin as DIR/kontena-ipam (default ${DEFAULT_CNI_BIN_DIR})`,
  async run(io) {
    const usage = `Usage: kontena-ipam install-cni [--node-client] [DIR]

Installs DIR/kontena-ipam (default ${DEFAULT_CNI_BIN_DIR}), the CNI IPAM plugin: the static
client binary shipped for this host's platform and architecture, copied. Where none is shipped
(or with --node-client) it writes a launcher that runs this installation's node client with this
node instead: the same behaviour, a slower start (~100 ms a call). CNI configs then use
"ipam": {"type": "kontena-ipam", "network": "NAME"}; the client asks the kontena-ipam serving on
this host (ipam.socket, default /run/docker/plugins/kontena-ipam.sock).
`;
    const parsed = argsOrHelp(io, {
      usage,
      options: { 'node-client': { type: 'boolean' } },
      allowPositionals: true,
    });
    if (!parsed) return EXIT.ok;
    if (parsed.positionals.length > 1) {
      io.stderr.write(`kontena-ipam install-cni: one directory at most\n${usage}`);
      return EXIT.usage;
    }
    try {
      const done = await installCniPlugin({
        dir: parsed.positionals[0],
        client: CLIENT_BIN,
        ...(parsed.values['node-client'] ? { kind: 'node' as const } : {}),
      });
      const what =
        done.kind === 'native'
          ? `the native client for ${process.platform}-${process.arch}`
          : `a launcher of the node client (${parsed.values['node-client'] ? 'asked for' : `no native client is shipped for ${process.platform}-${process.arch}`})`;
      io.stdout.write(`installed ${done.path}: ${what}\n`);
      return EXIT.ok;
    } catch (error) {
      io.stderr.write(`kontena-ipam install-cni: ${(error as Error).message}\n`);
      return EXIT.failure;
    }
  },
};
