/**
 * Runs the app's built bin (dist/bin/kontena-ipam.js) as a child process, the way Docker
 * hosts run it, and talks to its socket the way Docker does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { ServedPlugin, ServePlugin } from '@kontena-ipam/testing/plugin-host';

/** BIN is the built kontena-ipam entry point; tests run after `pnpm build` (turbo's test dependsOn build). */
export const BIN = fileURLToPath(new URL('../../dist/bin/kontena-ipam.js', import.meta.url));
/** CLEANUP_BIN is the built kontena-ipam-cleanup entry point. */
export const CLEANUP_BIN = fileURLToPath(
  new URL('../../dist/bin/kontena-ipam-cleanup.js', import.meta.url),
);

/** requireBuilt fails loudly when the bins are not built yet. */
export function requireBuilt(): void {
  if (!existsSync(BIN)) {
    throw new Error(`${BIN} is missing: run \`pnpm --filter @kontena-ipam/app build\` first`);
  }
}

/** RunResult is one finished bin run. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** runBin runs a bin to completion with exactly the given environment (plus PATH). */
export function runBin(
  args: string[],
  env: Record<string, string>,
  bin = BIN,
  timeoutMs = 30_000,
): Promise<RunResult> {
  return runBinUnder([], { args, env, bin, timeoutMs });
}

/**
 * runBinUnder runs a bin like runBin, started through `prefix` (a command that execs its
 * arguments, e.g. nsenter into a test's network namespace).
 */
export function runBinUnder(
  prefix: readonly string[],
  run: { args: string[]; env: Record<string, string>; bin?: string; timeoutMs?: number },
): Promise<RunResult> {
  requireBuilt();
  const argv = [...prefix, process.execPath, run.bin ?? BIN, ...run.args];
  const { env, timeoutMs = 30_000 } = run;
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** PluginProcess is a running `kontena-ipam` serving on `socket`. */
export interface PluginProcess {
  readonly socket: string;
  readonly child: ChildProcess;
  /** output is everything the process printed so far (JSON log lines). */
  output(): string;
  /** stop sends the signal and resolves with the exit code (SIGKILL after 15 s). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** startPlugin starts the bin and resolves once its socket answers Plugin.Activate. */
export async function startPlugin(options: {
  socket: string;
  env: Record<string, string>;
  /** prefix starts the bin through a command that execs it (e.g. into a network namespace). */
  prefix?: readonly string[];
}): Promise<PluginProcess> {
  requireBuilt();
  const argv = [...(options.prefix ?? []), process.execPath, BIN];
  const child = spawn(argv[0] as string, argv.slice(1), {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      KONTENA_IPAM_SOCKET: options.socket,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
  });
  const plugin: PluginProcess = {
    socket: options.socket,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`kontena-ipam exited with ${child.exitCode} before serving:\n${output}`);
    }
    try {
      const reply = await callPlugin(options.socket, 'Plugin.Activate', undefined);
      if (reply.status === 200) return plugin;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await plugin.stop('SIGKILL');
  throw new Error(`kontena-ipam did not answer on ${options.socket}:\n${output}`);
}

/** BinPlugin is the bin serving a Docker host's socket (see @kontena-ipam/testing/plugin-host). */
export interface BinPlugin extends ServedPlugin {
  readonly bin: PluginProcess;
}

/**
 * serveBin is how the e2e tests' Docker hosts serve: the bin with `env` on the host's socket.
 * Its stop() sends SIGTERM and fails unless the bin exits 0 (a clean shutdown is part of what
 * a restart tests).
 */
export function serveBin(env: Record<string, string>): ServePlugin<BinPlugin> {
  return async (socket) => {
    const bin = await startPlugin({ socket, env });
    return {
      bin,
      async stop() {
        const code = await bin.stop('SIGTERM');
        if (code !== 0) throw new Error(`plugin exited ${code}:\n${bin.output()}`);
      },
    };
  };
}

/** callPlugin POSTs one plugin RPC the way Docker does (no Content-Type, newline-terminated JSON). */
export function callPlugin(
  socket: string,
  route: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, path: `/${route}`, method: 'POST', timeout: 30_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(text) as Record<string, unknown>,
            });
          } catch {
            reject(new Error(`not JSON (HTTP ${res.statusCode}): ${text}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('plugin call timed out')));
    req.on('error', reject);
    req.end(body === undefined ? '' : `${JSON.stringify(body)}\n`);
  });
}
