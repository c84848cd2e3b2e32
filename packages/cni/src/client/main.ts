/** cniMain is the client bin's body: stdin and the environment in, the outcome out, then exit. */
import { runCniClient } from './run.js';

/** USAGE answers `--help`: a CNI runtime never passes arguments, so any is a person asking. */
const USAGE = `Usage: kontena-ipam-cni   (run by a CNI runtime, not by hand)

A CNI IPAM plugin: install it into the CNI plugin directory as \`kontena-ipam\` (for example
with \`kontena-ipam install-cni\`) and name it in a network config as
"ipam": {"type": "kontena-ipam", "network": "NAME", ...}. It reads CNI_COMMAND and the other
CNI_* variables and the network config on stdin, asks this host's running kontena-ipam over its
socket (ipam.socket, default /run/docker/plugins/kontena-ipam.sock), and prints the CNI result
or error object. See docs/cni.md.
`;

/** cniMain runs one CNI call as a process: prints the outcome on stdout and exits with its code. */
export async function cniMain(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  if (argv.length > 0) {
    const help = argv[0] === '--help' || argv[0] === '-h';
    (help ? process.stdout : process.stderr).write(USAGE);
    process.exit(help ? 0 : 2);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const outcome = await runCniClient({
    env: process.env,
    stdin: Buffer.concat(chunks).toString('utf8'),
  });
  process.stdout.write(outcome.stdout, () => process.exit(outcome.exitCode));
}
