/**
 * A raw client over the unix socket, shaped like Docker's: POST, no Content-Type, the body
 * exactly as given. Uses node:http with explicit headers so nothing is added that Docker
 * would not send (no Content-Type; Host is empty as in the captures).
 */
import { request } from 'node:http';

/** RawReply is what came back, untouched. */
export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** DOCKER_HEADERS are the headers a Docker 20.10 daemon sends (see the captures). */
export const DOCKER_HEADERS: Readonly<Record<string, string>> = {
  host: '',
  'user-agent': 'Go-http-client/1.1',
  accept: 'application/vnd.docker.plugins.v1.2+json',
};

/** send posts `body` (bytes as given) to `path` on the socket, with Docker's headers unless told otherwise. */
export function send(
  socketPath: string,
  path: string,
  body: string | Buffer = '',
  options: { method?: string; headers?: Record<string, string>; chunked?: boolean } = {},
): Promise<RawReply> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headers: Record<string, string> = { ...(options.headers ?? DOCKER_HEADERS) };
  // chunked: no Content-Length, so the server only learns the size while reading.
  if (options.chunked) headers['transfer-encoding'] = 'chunked';
  else headers['content-length'] = String(bytes.length);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path, method: options.method ?? 'POST', headers, setHost: false, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    if (options.chunked) {
      for (let at = 0; at < bytes.length; at += 16 * 1024)
        req.write(bytes.subarray(at, at + 16 * 1024));
      req.end();
    } else {
      req.end(bytes);
    }
  });
}

/** call sends a JSON body the way Docker encodes it: compact, with a trailing newline. */
export function call(socketPath: string, path: string, body?: unknown): Promise<RawReply> {
  return send(socketPath, path, body === undefined ? '' : `${JSON.stringify(body)}\n`);
}
