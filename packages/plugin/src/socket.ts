/**
 * Claiming a unix socket path the way a restarted plugin must: a socket file left by a crash
 * is replaced, one that a live process still serves is refused.
 */
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { PluginError } from './errors.js';

// A live server accepts at once (the kernel queues the connection); waiting longer only delays start.
const PROBE_TIMEOUT_MS = 1000;

/** probeSocket says whether something accepts connections on `path` right now. */
export function probeSocket(path: string): Promise<'live' | 'stale' | 'absent'> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      // Connected-but-silent or hanging: assume someone owns it rather than steal it.
      resolve('live');
    }, PROBE_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ECONNREFUSED') resolve('stale');
      else if (error.code === 'ENOENT') resolve('absent');
      else
        reject(
          new PluginError('SOCKET_PATH_INVALID', `cannot probe socket ${path}: ${error.message}`, {
            cause: error,
          }),
        );
    });
  });
}

/**
 * claimSocketPath makes `path` free to listen on: creates its folder, removes a stale socket,
 * throws SOCKET_IN_USE for a live one and SOCKET_PATH_INVALID for a file that is not a socket.
 */
export async function claimSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const stats = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!stats) return;
  if (!stats.isSocket()) {
    throw new PluginError(
      'SOCKET_PATH_INVALID',
      `${path} exists and is not a socket; refusing to replace it`,
    );
  }
  const state = await probeSocket(path);
  if (state === 'live') throw socketInUse(path);
  if (state === 'stale') {
    await unlink(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
}

/** socketInUse is the error for a path another live process serves. */
export function socketInUse(path: string, cause?: unknown): PluginError {
  return new PluginError(
    'SOCKET_IN_USE',
    `another process is serving ${path}; stop it first (or choose another socket path)`,
    cause === undefined ? undefined : { cause },
  );
}
