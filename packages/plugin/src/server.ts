/** PluginServer: the handler on a unix socket, with a clean start (stale socket) and a graceful stop. */
import { chmod, stat, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { PluginServerOptions } from './contract.js';
import { createHandler, DEFAULT_CALL_TIMEOUT_MS } from './handler.js';
import { claimSocketPath, socketInUse } from './socket.js';

/** DEFAULT_SOCKET_MODE lets root (dockerd) and the socket's group in, nobody else. */
export const DEFAULT_SOCKET_MODE = 0o660;
/** DEFAULT_SHUTDOWN_GRACE_MS bounds how long close() waits for in-flight requests. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;

/** PluginServer serves Docker's IPAM plugin protocol on a unix socket. */
export class PluginServer {
  /** socketPath is where the server listens (and what close() removes). */
  readonly socketPath: string;
  readonly #options: PluginServerOptions;
  readonly #server: Server;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #inode: number | undefined;

  constructor(options: PluginServerOptions) {
    this.#options = options;
    this.socketPath = options.socketPath;
    const handler = createHandler(options);
    // A client that trickles its headers or body must not hold a connection forever.
    const requestTimeout = (options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS) + 30_000;
    this.#server = createServer(
      { requestTimeout, headersTimeout: Math.min(60_000, requestTimeout) },
      (req, res) => {
        this.#inFlight++;
        res.once('close', () => {
          this.#inFlight--;
          if (this.#inFlight === 0) this.#idle?.();
        });
        handler(req, res);
      },
    );
  }

  /** inFlight is how many requests are being handled right now (close() waits for them). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** listen creates the socket folder, replaces a stale socket, refuses a live one (PluginError SOCKET_IN_USE). */
  async listen(): Promise<void> {
    const path = this.socketPath;
    await claimSocketPath(path);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        // Another process won the race between our probe and our listen.
        reject(error.code === 'EADDRINUSE' ? socketInUse(path, error) : error);
      };
      this.#server.once('error', onError);
      this.#server.listen(path, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    await chmod(path, this.#options.socketMode ?? DEFAULT_SOCKET_MODE);
    // Remember which file is ours, so close() never removes a successor's socket.
    this.#inode = (await stat(path)).ino;
    this.#options.logger.info({ socket: path, node: this.#options.node }, 'plugin listening');
  }

  /** close stops accepting, waits for in-flight requests (bounded by graceMs), removes the socket. Does not close the backend. */
  async close(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#idle = undefined;
    }
    const abandoned = this.#inFlight;
    this.#server.closeAllConnections();
    await closed;
    await this.#removeSocket();
    this.#options.logger.info({ socket: this.socketPath, abandoned }, 'plugin stopped');
  }

  async #removeSocket(): Promise<void> {
    // libuv already unlinks a pipe's path when the server closes; this covers runtimes that do
    // not, and never removes a file that is not the socket this server made.
    const current = await stat(this.socketPath).catch(() => undefined);
    if (current && current.ino === this.#inode) {
      await unlink(this.socketPath).catch(() => undefined);
    }
  }
}
