import { createServer, type Server } from 'node:net';

function listenAny(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

/**
 * freePorts asks the kernel for `count` distinct unused loopback TCP ports. Every listener stays
 * open until all are chosen: the kernel may hand a just-closed port out again, and two members
 * given one port once left a "3-member" test cluster with only two (the third could not bind,
 * and its health check reached the member that held the port).
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  try {
    const ports: number[] = [];
    while (ports.length < count) {
      const { server, port } = await listenAny();
      held.push(server);
      if (!ports.includes(port)) ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

/** freePort asks the kernel for one unused loopback TCP port. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}
