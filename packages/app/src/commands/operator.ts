/**
 * What the operator commands (status, show, check, release) share: the same env config and
 * store wiring as serve, `--json`, colour only on a terminal, and one clear line when etcd
 * cannot be reached (exit 1, naming the endpoint) instead of a stack trace.
 */
import { isStoreError, StoreError } from '@kontena-ipam/store';
import type { Config, LogLevel } from '../config.js';
import { createLogger } from '../logger.js';
import { type OpenStore, openStore } from '../open-store.js';
import { type Colors, colors, useColor } from '../render/table.js';
import { type CommandIo, EXIT } from './command.js';
import { configOrReport } from './config-or-exit.js';

/** OperatorContext is what an operator command's body gets: config, open store, output style. */
export interface OperatorContext {
  config: Config;
  opened: OpenStore;
  colors: Colors;
  io: CommandIo;
}

// The store logs at info about things a one-shot command need not show; debug/trace still work.
function toolLevel(level: LogLevel): LogLevel {
  return level === 'info' ? 'warn' : level;
}

/**
 * runWithStore loads the config, opens the store, runs `body`, and always closes the store.
 * StoreErrors become one line on stderr (exit 1); the store's INVALID (a bad argument) exits 2.
 */
export async function runWithStore(
  io: CommandIo,
  name: string,
  body: (ctx: OperatorContext) => Promise<number>,
): Promise<number> {
  const config = configOrReport(io);
  if (!config) return EXIT.usage;
  const logger = createLogger({ level: toolLevel(config.logLevel), format: config.logFormat });
  const opened = openStore(config, { logger });
  try {
    return await body({
      config,
      opened,
      colors: colors(useColor(io.stdout, io.env)),
      io,
    });
  } catch (error) {
    if (isStoreError(error, 'INVALID')) {
      io.stderr.write(`kontena-ipam ${name}: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof StoreError) {
      // One bad record stops every listing; check reads past it and lists them all.
      const hint = error.code === 'CORRUPT_RECORD' && name !== 'check';
      const more = hint ? '; `kontena-ipam check` lists every such record' : '';
      // grpc-js ends some messages with an empty "Resolution note:"; drop it from the one line.
      const message = error.message.replace(/\s*Resolution note:\s*$/, '');
      io.stderr.write(`kontena-ipam ${name}: ${message}${more}${modeHint(config, error)}\n`);
      return EXIT.failure;
    }
    throw error;
  } finally {
    await opened.close().catch(() => undefined);
  }
}

// After `./start.sh` (single-host mode) a shell without its environment looks for the
// default endpoint, where nothing runs: say where the embedded etcd is.
function modeHint(config: Config, error: StoreError): string {
  if (config.etcd.explicit || config.localEtcd) return '';
  if (!error.message.startsWith('etcd unavailable at')) return '';
  return '; ETCD_ENDPOINT is unset: to reach the embedded etcd of a single-host plugin, set KONTENA_IPAM_LOCAL_ETCD=on';
}

/** writeJson prints one JSON document; BigInts (totals, revisions) become decimal strings. */
export function writeJson(io: CommandIo, value: unknown): void {
  io.stdout.write(
    `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
}

/** usageFailure prints a bad-argument message and returns the usage exit code (2). */
export function usageFailure(io: CommandIo, name: string, message: string): number {
  io.stderr.write(`kontena-ipam ${name}: ${message}; see kontena-ipam ${name} --help\n`);
  return EXIT.usage;
}
