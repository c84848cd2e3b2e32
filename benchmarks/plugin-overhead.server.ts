/**
 * The server side of scenario 6, run in a worker thread so that it has a core of its own and
 * the load generator the other. workerData.mode picks what listens on workerData.socketPath:
 * the real PluginServer over a trivial backend (logging at info or at warn), or a bare
 * node:http server whose handler only drains the body and answers `{}`.
 */
import { createServer } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { startPlugin } from './plugin-host.js';
import {
  type Allocation,
  type IpamBackend,
  type NodeId,
  type Pool,
  type PoolId,
  parseAddress,
  parseNodeId,
  parseSubnet,
} from './workspace.js';

/** ServerMode names the three servers compared. */
export type ServerMode = 'plugin' | 'plugin-quiet' | 'empty';

const { mode, socketPath } = workerData as { mode: ServerMode; socketPath: string };
const node = parseNodeId('bench-host');

/** trivialBackend answers every call at once with the same result: no store, no etcd. */
function trivialBackend(): IpamBackend {
  const subnet = parseSubnet('10.85.0.0/16');
  const address = parseAddress('10.85.0.2');
  const pool: Pool = {
    id: 'bench' as PoolId,
    subnet,
    ipRange: undefined,
    gateway: parseAddress('10.85.0.1'),
    dynamic: false,
    createdAt: new Date().toISOString(),
    holds: { [node]: 1 },
  };
  const allocation = (req: { pool: PoolId; node: NodeId }): Allocation => ({
    pool: req.pool,
    address,
    subnet,
    node: req.node,
    kind: 'endpoint',
    attrs: {},
    at: pool.createdAt,
  });
  return {
    requestPool: async () => pool,
    releasePool: async () => ({ removed: false, released: true }),
    requestAddress: async (req) => allocation(req),
    releaseAddress: async () => ({ released: true }),
    ping: async () => undefined,
  };
}

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
  const host = await startPlugin({
    backend: trivialBackend(),
    node,
    level: mode === 'plugin' ? 'info' : 'warn',
    socketPath,
  });
  return () => host.close();
}

const stop = await start();
parentPort?.on('message', (message) => {
  if (message === 'stop') void stop().then(() => parentPort?.postMessage('stopped'));
});
parentPort?.postMessage('ready');
