/**
 * The server side of scenario 6, run in a worker thread so that it has a core of its own and
 * the load generator the other. workerData.mode picks what listens on workerData.socketPath:
 * the real PluginServer over a trivial backend (logging at info or at warn), or a bare
 * node:http server whose handler only drains the body and answers `{}`.
 */
import { createServer } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { startPluginHost } from '@kontena-ipam/testing/plugin-host';
import { benchPlugin } from './bench-plugin.js';
import { trivialBackend } from './trivial-backend.js';
import { parseNodeId } from './workspace.js';

/** ServerMode names the three servers compared. */
export type ServerMode = 'plugin' | 'plugin-quiet' | 'empty';

const { mode, socketPath } = workerData as { mode: ServerMode; socketPath: string };

async function start(): Promise<() => Promise<void>> {
  if (mode === 'empty') {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Length': 3 });
        res.end('{}\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return () => new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const node = parseNodeId('bench-host');
  const host = await startPluginHost(
    benchPlugin({
      backend: trivialBackend(node),
      node,
      level: mode === 'plugin' ? 'info' : 'warn',
    }),
    { socketPath },
  );
  return () => host.stop();
}

const stop = await start();
parentPort?.on('message', (message) => {
  if (message === 'stop') void stop().then(() => parentPort?.postMessage('stopped'));
});
parentPort?.postMessage('ready');
