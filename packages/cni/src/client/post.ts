/** post sends one JSON request to the daemon's unix socket: node:http only, nothing else loaded. */
import { request } from 'node:http';

/** Reply is the daemon's answer: its HTTP status and body text. */
export interface Reply {
  status: number;
  body: string;
}

/** post POSTs `body` to `path` on `socketPath`, rejecting after `timeoutMs` or on a socket error. */
export function post(
  socketPath: string,
  path: string,
  body: string,
  timeoutMs: number,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
