/**
 * The logger: pino JSON lines on stderr (stdout stays free for command output such as the
 * cleanup report). pino-pretty only when asked (LOG_FORMAT=pretty) or when stderr is a
 * terminal and no format was asked for.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

/** LoggerOptions pick the level and format; `destination` is for tests (default: fd 2). */
export interface LoggerOptions {
  level: LogLevel;
  format?: 'json' | 'pretty' | undefined;
  name?: string;
  destination?: DestinationStream;
}

/** createLogger builds the pino logger every part of the app shares. */
export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const base = { level: options.level, name: options.name ?? 'kontena-ipam' };
  if (format === 'pretty') {
    // Synchronous so that the last lines before an exit are not lost.
    const stream = pretty({
      destination: options.destination ?? 2,
      sync: true,
      colorize: options.destination === undefined && Boolean(process.stderr.isTTY),
    });
    return pino(base, stream);
  }
  return pino(base, options.destination ?? pino.destination({ dest: 2, sync: true }));
}

export type { Logger };
