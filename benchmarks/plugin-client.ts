/**
 * A Docker-like client of the plugin socket: HTTP/1.1 POSTs over a unix socket on kept-alive
 * connections (Docker's plugin client reuses its connections too), bodies ending in a newline
 * and no Content-Type, as Docker sends them.
 */
import { Agent, request } from 'node:http';

/** Reply is a status and the body as text. */
export interface Reply {
  status: number;
  body: string;
}

/** PluginClient posts plugin RPCs to one socket. */
export class PluginClient {
  private readonly agent: Agent;
  private readonly socketPath: string;

  /** connections bounds how many requests are on the wire at once (the rest queue). */
  constructor(socketPath: string, connections = 1) {
    this.socketPath = socketPath;
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  /** post sends one RPC and resolves with the reply (any status). */
  post(path: string, body: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** postOk is post that throws unless the status is 200. */
  async postOk(path: string, body: string): Promise<string> {
    const reply = await this.post(path, body);
    if (reply.status !== 200) {
      throw new Error(`${path} answered ${reply.status}: ${reply.body.trim()}`);
    }
    return reply.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** requestAddressBody is RequestAddress for the next free address, as Docker sends it for a container. */
export function requestAddressBody(pool: string, n: number): string {
  // A distinct, valid MAC per request (locally administered prefix 02:42, as Docker's).
  const mac = `02:42:${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':')}`;
  return `${JSON.stringify({
    PoolID: pool,
    Address: '',
    Options: { 'com.docker.network.endpoint.macaddress': mac },
  })}\n`;
}

/** requestPoolBody is RequestPool for a static subnet with `--ipam-opt network=NAME`. */
export function requestPoolBody(network: string, subnet: string): string {
  return `${JSON.stringify({
    AddressSpace: 'global',
    Pool: subnet,
    SubPool: '',
    Options: { network },
    V6: false,
  })}\n`;
}
