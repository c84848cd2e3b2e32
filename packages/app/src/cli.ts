/**
 * runCli routes `kontena-ipam [--help|--version] [command] [args]` through the COMMANDS
 * table. No command means `serve`, so the seed's `docker run … kontena-ipam` still serves.
 */

import { type CommandIo, EXIT } from './commands/command.js';
import { COMMANDS, DEFAULT_COMMAND } from './commands/index.js';
import { ENV_VARS } from './config.js';
import { VERSION } from './version.js';

function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const commands = Object.entries(COMMANDS)
    .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
    .join('\n');
  return `kontena-ipam ${VERSION}: a Docker IPAM plugin that keeps pools and addresses in etcd v3.

Usage:
  kontena-ipam [command] [options]
  kontena-ipam --help | --version

Commands (default: ${DEFAULT_COMMAND}):
${commands}

Run \`kontena-ipam <command> --help\` for a command's options.

Environment (see docs/configuration.md):
  ${ENV_VARS.join('\n  ')}
`;
}

/** runCli runs one invocation and returns its exit code (0 ok, 1 failure, 2 usage or config). */
export async function runCli(io: CommandIo): Promise<number> {
  const [first, ...rest] = io.argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(helpText());
    return EXIT.ok;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    io.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const named = first !== undefined && !first.startsWith('-');
  const name = named ? first : DEFAULT_COMMAND;
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.stderr.write(
      `kontena-ipam: unknown command ${JSON.stringify(name)}; see kontena-ipam --help\n`,
    );
    return EXIT.usage;
  }
  try {
    return await command.run({ ...io, argv: named ? rest : io.argv });
  } catch (error) {
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* on unknown or malformed options.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(
        `kontena-ipam ${name}: ${(error as Error).message}; see kontena-ipam --help\n`,
      );
      return EXIT.usage;
    }
    throw error;
  }
}
