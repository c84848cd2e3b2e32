import { createLogger } from '../logger.js';
import { serve } from '../serve.js';
import { argsOrHelp, type Command, EXIT } from './command.js';
import { configOrReport } from './config-or-exit.js';

/** serveCommand runs the plugin until SIGTERM or SIGINT, then shuts down gracefully. */
export const serveCommand: Command = {
  summary: 'serve the IPAM plugin on KONTENA_IPAM_SOCKET (the default command)',
  async run(io) {
    const usage =
      'Usage: kontena-ipam [serve]\n\nServes the Docker IPAM plugin on KONTENA_IPAM_SOCKET until SIGTERM/SIGINT.\nConfigured by environment variables; see `kontena-ipam --help`.\n';
    if (!argsOrHelp(io, { usage })) return EXIT.ok;
    const config = configOrReport(io);
    if (!config) return EXIT.usage;
    const logger = createLogger({ level: config.logLevel, format: config.logFormat });
    // Listen for the stop signal before starting, so that a SIGTERM during start-up (while a
    // local etcd comes up, say) still ends in a graceful close instead of Node's default kill.
    const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    let serving: Awaited<ReturnType<typeof serve>>;
    try {
      serving = await serve({ config, logger });
    } catch (error) {
      logger.fatal({ err: error }, 'kontena-ipam could not start');
      return EXIT.failure;
    }
    const signal = await stopSignal;
    logger.info({ signal }, 'shutting down');
    // A second signal means "now": skip the graceful wait.
    const forced = new Promise<number>((resolve) => {
      const now = () => resolve(EXIT.failure);
      process.once('SIGTERM', now);
      process.once('SIGINT', now);
    });
    const graceful = serving.close().then(
      () => EXIT.ok,
      (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        return EXIT.failure;
      },
    );
    return await Promise.race([graceful, forced]);
  },
};
