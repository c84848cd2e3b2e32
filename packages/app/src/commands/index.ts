/**
 * COMMANDS is the one table of `kontena-ipam <command>` subcommands. To add one (status,
 * show, check, release…), write a Command in its own file and add a line here.
 */

import { checkCommand } from './check.js';
import type { Command } from './command.js';
import { healthcheckCommand } from './healthcheck.js';
import { installCniCommand } from './install-cni.js';
import { releaseCommand } from './release.js';
import { serveCommand } from './serve.js';
import { showCommand } from './show.js';
import { statusCommand } from './status.js';

/** COMMANDS maps each subcommand name to its Command; `serve` runs when none is given. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  serve: serveCommand,
  healthcheck: healthcheckCommand,
  status: statusCommand,
  show: showCommand,
  check: checkCommand,
  release: releaseCommand,
  'install-cni': installCniCommand,
};

/** DEFAULT_COMMAND runs when argv names no command. */
export const DEFAULT_COMMAND = 'serve';
