/** The shape of one `kontena-ipam <command>`: operator tools add theirs to the table in index.ts. */
import type { Writable } from 'node:stream';

/** CommandIo is what a command may touch: its arguments, the environment and the output streams. */
export interface CommandIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
}

/** Command is one subcommand: a one-line summary for --help and a run() that returns the exit code. */
export interface Command {
  summary: string;
  run(io: CommandIo): Promise<number>;
}

/** EXIT holds the exit codes every command uses. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
