import { fileURLToPath } from 'node:url';
import { DEFAULT_CNI_BIN_DIR, installCniPlugin } from '@kontena-ipam/cni';
import { argsOrHelp, type Command, EXIT } from './command.js';

/** CLIENT_BIN is the CNI client this app ships (dist/bin/kontena-ipam-cni.js). */
export const CLIENT_BIN = fileURLToPath(new URL('../bin/kontena-ipam-cni.js', import.meta.url));

/** installCniCommand writes the `kontena-ipam` CNI plugin launcher into a CNI plugin directory. */
export const installCniCommand: Command = {
  summary: `install the CNI IPAM plugin as DIR/kontena-ipam (default ${DEFAULT_CNI_BIN_DIR})`,
  async run(io) {
    const usage = `Usage: kontena-ipam install-cni [DIR]

Writes DIR/kontena-ipam (default ${DEFAULT_CNI_BIN_DIR}): a launcher that runs this
installation's CNI client with this node. CNI configs then use "ipam": {"type": "kontena-ipam",
"network": "NAME"}; the client asks the kontena-ipam serving on this host (ipam.socket, default
/run/docker/plugins/kontena-ipam.sock).
`;
    const parsed = argsOrHelp(io, { usage, allowPositionals: true });
    if (!parsed) return EXIT.ok;
    if (parsed.positionals.length > 1) {
      io.stderr.write(`kontena-ipam install-cni: one directory at most\n${usage}`);
      return EXIT.usage;
    }
    try {
      const done = await installCniPlugin({ dir: parsed.positionals[0], client: CLIENT_BIN });
      io.stdout.write(`installed ${done.path}\n`);
      return EXIT.ok;
    } catch (error) {
      io.stderr.write(`kontena-ipam install-cni: ${(error as Error).message}\n`);
      return EXIT.failure;
    }
  },
};
