/**
 * The benchmarks' plugin: a real PluginServer with the production logger shape, served on a
 * socket by @kontena-ipam/testing's plugin host (the one the tests use).
 */
import {
  type InProcessPlugin,
  inProcess,
  type ServePlugin,
} from '@kontena-ipam/testing/plugin-host';
import { type IpamBackend, type NodeId, PluginServer, pino } from './workspace.js';

/**
 * benchPlugin serves `backend`. The logger writes pino's JSON lines at the app's default level
 * (info, one line per request, synchronously) to /dev/null: the benchmark pays for building
 * each line, as production does, but not for a terminal.
 */
export function benchPlugin(options: {
  backend: IpamBackend;
  node: NodeId;
  level?: string;
}): ServePlugin<InProcessPlugin<PluginServer>> {
  return inProcess((socketPath) => {
    const logger = pino.pino(
      { level: options.level ?? 'info' },
      pino.destination({ dest: '/dev/null', sync: true }),
    );
    return new PluginServer({
      backend: options.backend,
      node: options.node,
      socketPath,
      logger,
    });
  });
}
