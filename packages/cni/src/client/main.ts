/** cniMain is the client bin's body: stdin and the environment in, the outcome out, then exit. */
import { runCniClient } from './run.js';

/** cniMain runs one CNI call as a process: prints the outcome on stdout and exits with its code. */
export async function cniMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const outcome = await runCniClient({
    env: process.env,
    stdin: Buffer.concat(chunks).toString('utf8'),
  });
  process.stdout.write(outcome.stdout, () => process.exit(outcome.exitCode));
}
