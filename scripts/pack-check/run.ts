/** run: one child process, its output kept, so a failing step can show what it printed. */
import { spawn, spawnSync } from 'node:child_process';

/** Output of a finished command. */
export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** RunOptions: where to run and with which environment (the caller's by default). */
export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/** CommandFailed is thrown by runOk; its message carries the command and all it printed. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

/** run runs a command to completion and returns its status and output, whatever the status. */
export function run(command: string, args: readonly string[], options: RunOptions): RunResult {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return {
    status: result.status ?? 1,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

/** runOk is run for commands that must succeed: a non-zero exit throws CommandFailed. */
export function runOk(command: string, args: readonly string[], options: RunOptions): RunResult {
  const result = run(command, args, options);
  if (result.status !== 0) {
    throw new CommandFailed(
      `${[command, ...args].join(' ')} (in ${options.cwd}) exited ${result.status}\n${result.stdout}${result.stderr}`,
    );
  }
  return result;
}

/** runAsync is run without blocking, so independent commands (the linters) overlap. */
export function runAsync(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status: status ?? 1, stdout, stderr }));
  });
}
