/** The shape of one `kontena-ipam <command>`: operator tools add theirs to the table in index.ts. */
import type { Writable } from 'node:stream';
import { type ParseArgsConfig, parseArgs } from 'node:util';

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

type Options = NonNullable<ParseArgsConfig['options']>;

/** HELP is the option every command takes. */
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** CommandArgs is the parseArgs config of a command: strict, with --help/-h added. */
type CommandArgs<O extends Options, P extends boolean> = {
  args: string[];
  options: O & typeof HELP;
  allowPositionals: P;
  strict: true;
};

/**
 * argsOrHelp parses a command's argv strictly, with --help/-h added to `options` (an unknown
 * option throws, as parseArgs does). On --help it prints `usage` and returns undefined: the
 * command then exits 0 without reading its config.
 */
export function argsOrHelp<
  const O extends Options = Record<never, never>,
  const P extends boolean = false,
>(
  io: CommandIo,
  spec: { usage: string; options?: O; allowPositionals?: P },
): ReturnType<typeof parseArgs<CommandArgs<O, P>>> | undefined {
  const parsed = parseArgs<CommandArgs<O, P>>({
    args: io.argv,
    options: { ...spec.options, ...HELP } as O & typeof HELP,
    allowPositionals: (spec.allowPositionals ?? false) as P,
    strict: true,
  });
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(spec.usage);
    return undefined;
  }
  return parsed;
}
