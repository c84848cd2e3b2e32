import { parseArgs } from 'node:util';
import { createLogger } from '../logger.js';
import { serve } from '../serve.js';
import { type Command, EXIT } from './command.js';
import { configOrReport } from './config-or-exit.js';

/** serveCommand runs the plugin until SIGTERM or SIGINT, then shuts down gracefully. */
export const serveCommand: Command = {
  summary: 'serve the IPAM plugin on KONTENA_IPAM_SOCKET (the default command)',
  async run(io) {
    const { values } = parseArgs({
      args: io.argv,
      options: { help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    if (values.help) {
      io.stdout.write(
        'Usage: kontena-ipam [serve]\n\nServes the Docker IPAM plugin on KONTENA_IPAM_SOCKET until SIGTERM/SIGINT.\nConfigured by environment variables; see `kontena-ipam --help`.\n',
      );
      return EXIT.ok;
    }
    const config = configOrReport(io);
    if (!config) return EXIT.usage;
    const logger = createLogger({ level: config.logLevel, format: config.logFormat });
    let serving: Awaited<ReturnType<typeof serve>>;
    try {
      serving = await serve({ config, logger });
    } catch (error) {
      logger.fatal({ err: error }, 'kontena-ipam could not start');
      return EXIT.failure;
    }
    return await new Promise<number>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        logger.info({ signal }, 'shutting down');
        // A second signal means "now": skip the graceful wait.
        process.once(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM', () => resolve(EXIT.failure));
        serving.close().then(
          () => resolve(EXIT.ok),
          (error: unknown) => {
            logger.error({ err: error }, 'error while shutting down');
            resolve(EXIT.failure);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  },
};
