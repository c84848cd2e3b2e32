#!/usr/bin/env node
/**
 * The kontena-ipam-cleanup command (the seed's bin/kontena-ipam-cleanup): its command line is
 * commands/cleanup.ts, the reconciler is @kontena-ipam/cleanup; this file supplies the
 * config, logger and store.
 */
import { runCleanupCli } from '../commands/cleanup.js';
import { EXIT } from '../commands/command.js';
import { configOrReport } from '../commands/config-or-exit.js';
import { instanceInfo } from '../instance.js';
import { createLogger } from '../logger.js';
import { type OpenStore, openStore } from '../open-store.js';

const io = {
  argv: process.argv.slice(2),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
};
const config = configOrReport(io, 'kontena-ipam-cleanup');
if (!config) process.exit(EXIT.usage);
const logger = createLogger({
  level: config.logLevel,
  format: config.logFormat,
  name: 'kontena-ipam-cleanup',
});
let opened: OpenStore | undefined;
let code: number;
try {
  code = await runCleanupCli(io.argv, {
    store: async () => {
      opened ??= openStore(config, { logger });
      return opened.store;
    },
    node: config.nodeId,
    bootId: instanceInfo().bootId,
    env: io.env,
    stdout: io.stdout,
    stderr: io.stderr,
    logger,
  });
} finally {
  await opened?.close();
}
process.exit(code);
