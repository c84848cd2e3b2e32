/** A real pino logger whose lines land in an array, so tests can read what was logged. */
import { type Logger, pino } from 'pino';

/** CapturedLogger is a logger plus every line it wrote, parsed. */
export interface CapturedLogger {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
}

/** captureLogs builds a pino logger at `level` writing into `lines`. */
export function captureLogs(level = 'debug'): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines };
}
