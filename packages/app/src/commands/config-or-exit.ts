import { type Config, ConfigError, loadConfig } from '../config.js';
import type { CommandIo } from './command.js';

/**
 * configOrReport loads the config, or prints every bad value on stderr and returns undefined
 * (the caller exits 2) — one message per variable instead of a stack trace.
 */
export function configOrReport(io: CommandIo, program = 'kontena-ipam'): Config | undefined {
  try {
    return loadConfig(io.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`${program}: ${error.message}\n`);
    return undefined;
  }
}
