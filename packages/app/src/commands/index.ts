/**
 * COMMANDS is the one table of `kontena-ipam <command>` subcommands. To add one (status,
 * show, check, release…), write a Command in its own file and add a line here.
 */
import type { Command } from './command.js';
import { healthcheckCommand } from './healthcheck.js';
import { serveCommand } from './serve.js';

/** COMMANDS maps each subcommand name to its Command; `serve` runs when none is given. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  serve: serveCommand,
  healthcheck: healthcheckCommand,
};

/** DEFAULT_COMMAND runs when argv names no command. */
export const DEFAULT_COMMAND = 'serve';
