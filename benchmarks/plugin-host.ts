/** A real PluginServer on a temp unix socket, with the production logger shape (pino, info). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IpamBackend, type NodeId, PluginServer, pino } from './workspace.js';

/** PluginHost is a listening plugin and the folder its socket lives in. */
export interface PluginHost {
  readonly socketPath: string;
  close(): Promise<void>;
}

/**
 * startPlugin serves `backend` on a fresh socket. The logger writes pino's JSON lines at the
 * app's default level (info, one line per request, synchronously) to /dev/null: the benchmark
 * pays for building each line, as production does, but not for a terminal.
 */
export async function startPlugin(options: {
  backend: IpamBackend;
  node: NodeId;
  level?: string;
  /** socketPath: where to listen; default a fresh temp folder (removed by close()). */
  socketPath?: string;
}): Promise<PluginHost> {
  const dir = options.socketPath ? undefined : mkdtempSync(join(tmpdir(), 'kontena-ipam-bench-'));
  const socketPath = options.socketPath ?? join(dir as string, 'kontena-ipam.sock');
  const logger = pino.pino(
    { level: options.level ?? 'info' },
    pino.destination({ dest: '/dev/null', sync: true }),
  );
  const server = new PluginServer({
    backend: options.backend,
    node: options.node,
    socketPath,
    logger,
  });
  await server.listen();
  return {
    socketPath,
    async close() {
      await server.close(1000);
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
