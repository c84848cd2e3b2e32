/**
 * runCleanupCli: the command line behind the `kontena-ipam-cleanup` bin. It parses flags,
 * builds the Docker view, runs @kontena-ipam/cleanup's runCleanup once or every --interval,
 * prints, and returns the exit code. The bin hands it a ready store factory, so nothing here
 * knows etcd.
 */
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  CleanupError,
  type CleanupLogger,
  createDockerView,
  DEFAULT_GRACE_MS,
  DEFAULT_IPAM_DRIVER,
  type DockerView,
  formatAction,
  formatDuration,
  MIN_GRACE_MS,
  parseDuration,
  RevisionClock,
  reportToJson,
  runCleanup,
} from '@kontena-ipam/cleanup';
import { type IpamStore, type NodeId, parseNodeId, StoreError } from '@kontena-ipam/store';
import { type Colors, colors, useColor } from '../render/table.js';
import { fenceCleanup } from './cleanup-liveness.js';
import { cleanupSummary } from './cleanup-summary.js';
import { EXIT } from './command.js';

/** CleanupCliDeps is what the app passes in: a store factory, this host, streams, logger. */
export interface CleanupCliDeps {
  /** Builds the store (called once; again on the next --interval tick if it threw). */
  store: () => Promise<IpamStore>;
  /** This host (NODE_ID). */
  node: NodeId;
  /**
   * This machine's boot id (instance.ts): cleanup runs only where the live instance that
   * holds NODE_ID's registration runs (cleanup-liveness.ts).
   */
  bootId: string | undefined;
  /** Environment: DOCKER_HOST, KONTENA_IPAM_SOCKET (its base name is the driver name). */
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
  logger: CleanupLogger;
  /** Use this Docker view instead of the Engine API one (embedding; tests use the real one). */
  docker?: DockerView;
  /** Stops an --interval loop; default: SIGTERM or SIGINT. */
  signal?: AbortSignal;
  /** Clock for the grace period; default Date.now. */
  now?: () => number;
}

/** CLEANUP_USAGE is the --help text. */
export const CLEANUP_USAGE = `Usage: kontena-ipam-cleanup [options]

Frees addresses and pools in etcd that Docker on this host no longer uses.
Runs only on the machine whose kontena-ipam holds NODE_ID's registration.
Never frees an address written after the run started, one younger than --grace,
a live network's gateway or aux address, or another host's address (unless
--node NAME --forget-node).

Options:
  --dry-run               report what would be freed; write nothing
  --grace DURATION        never free addresses younger than this (default ${formatDuration(DEFAULT_GRACE_MS)},
                          at least ${formatDuration(MIN_GRACE_MS)})
  --unsafe-grace DURATION like --grace, below ${formatDuration(MIN_GRACE_MS)} too (0 = no age check): may free
                          the address of a container Docker is starting; only when no
                          docker command runs on this host
  --interval DURATION     run every DURATION until SIGTERM (survives outages between runs)
  --node NAME --forget-node
                          host NAME is gone for good: release its holds and addresses
                          (refused while NAME is registered, i.e. live; not with --interval)
  --docker-socket PATH    Docker Engine API socket (default: DOCKER_HOST unix://…,
                          else /var/run/docker.sock)
  --ipam-driver NAME      IPAM driver name of our networks (default: base name of
                          KONTENA_IPAM_SOCKET, else ${DEFAULT_IPAM_DRIVER})
  --json                  print the report as JSON (one object per run)
  -h, --help              show this text

Durations: 250ms, 30s, 5m, 1h30m. Exit: 0 clean or cleaned, 1 Docker/etcd unreachable, 2 bad flags.
`;

interface CliConfig {
  dryRun: boolean;
  json: boolean;
  graceMs: number;
  /** unsafeGrace: the grace came from --unsafe-grace (it may lie below MIN_GRACE_MS). */
  unsafeGrace: boolean;
  intervalMs: number | undefined;
  forgetNode: NodeId | undefined;
  dockerSocket: string | undefined;
  ipamDriver: string;
}

function usageError(message: string): CleanupError {
  return new CleanupError('INVALID_ARGUMENT', message);
}

function driverFromEnv(env: NodeJS.ProcessEnv): string {
  // Docker names a socket plugin after its file: /run/docker/plugins/NAME.sock → NAME.
  const socket = env.KONTENA_IPAM_SOCKET?.trim();
  if (socket?.endsWith('.sock')) return basename(socket, '.sock');
  return DEFAULT_IPAM_DRIVER;
}

/** parseCleanupArgs turns argv into a config or throws CleanupError INVALID_ARGUMENT. */
function parseCleanupArgs(argv: string[], deps: CleanupCliDeps): CliConfig | 'help' {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (values.help) return 'help';
  if (Boolean(values['forget-node']) !== Boolean(values.node)) {
    throw usageError(
      '--node NAME and --forget-node go together: name the host that is gone for good, and confirm it',
    );
  }
  let forgetNode: NodeId | undefined;
  if (values.node) {
    try {
      forgetNode = parseNodeId(values.node);
    } catch (error) {
      throw usageError(`--node: ${(error as Error).message}`);
    }
    if (forgetNode === deps.node) {
      throw usageError(
        `--node ${forgetNode} is this host (NODE_ID): a live host is cleaned without --forget-node`,
      );
    }
  }
  if (forgetNode !== undefined && values.interval !== undefined) {
    // A standing loop would keep freeing that host's addresses if it came back, or its name
    // were reused: forgetting a host is a one-off act.
    throw usageError(
      '--forget-node runs once: it cannot go with --interval (a loop would keep freeing the host if it came back)',
    );
  }
  const intervalMs =
    values.interval === undefined ? undefined : parseDuration(values.interval, '--interval');
  if (intervalMs !== undefined && intervalMs < 1000) {
    throw usageError(`--interval ${values.interval} is shorter than 1s`);
  }
  return {
    dryRun: values['dry-run'] ?? false,
    json: values.json ?? false,
    ...graceOf(values.grace, values['unsafe-grace']),
    intervalMs,
    forgetNode,
    dockerSocket: values['docker-socket'],
    ipamDriver: values['ipam-driver'] ?? driverFromEnv(deps.env),
  };
}

/**
 * graceOf reads --grace (at least MIN_GRACE_MS) or --unsafe-grace (any duration). The floor
 * covers the gap between the plugin's commit and Docker listing the endpoint, during which
 * a fresh address looks like a leak.
 */
function graceOf(
  grace: string | undefined,
  unsafe: string | undefined,
): { graceMs: number; unsafeGrace: boolean } {
  if (grace !== undefined && unsafe !== undefined) {
    throw usageError('--grace and --unsafe-grace exclude each other: give one');
  }
  if (unsafe !== undefined) {
    return { graceMs: parseDuration(unsafe, '--unsafe-grace'), unsafeGrace: true };
  }
  if (grace === undefined) return { graceMs: DEFAULT_GRACE_MS, unsafeGrace: false };
  const graceMs = parseDuration(grace, '--grace');
  if (graceMs < MIN_GRACE_MS) {
    throw usageError(
      `--grace ${grace} is below the floor of ${formatDuration(MIN_GRACE_MS)}: an address the plugin has just handed out is not yet listed by Docker and would be freed under its container; give --grace ${formatDuration(MIN_GRACE_MS)} or more, or --unsafe-grace ${grace} if no docker command runs on this host meanwhile`,
    );
  }
  return { graceMs, unsafeGrace: false };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'dry-run': { type: 'boolean' },
      grace: { type: 'string' },
      'unsafe-grace': { type: 'string' },
      interval: { type: 'string' },
      node: { type: 'string' },
      'forget-node': { type: 'boolean' },
      'docker-socket': { type: 'string' },
      'ipam-driver': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function errorMessage(error: unknown): { code: string; kind: string; message: string } {
  if (error instanceof CleanupError || error instanceof StoreError) {
    return { code: error.code, kind: error.kind, message: error.message };
  }
  return {
    code: 'INTERNAL',
    kind: 'internal',
    message: String((error as Error)?.message ?? error),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * runCleanupCli runs the command and returns its exit code (0 clean or cleaned, lost races
 * included: the concurrent change won, as it should; 1 Docker or etcd unreachable or the store
 * failed; 2 bad flags). It closes the store it built; the app closes the etcd client.
 */
export async function runCleanupCli(argv: string[], deps: CleanupCliDeps): Promise<number> {
  const setup = prepare(argv, deps);
  if (typeof setup === 'number') return setup;
  const { config, docker } = setup;
  if (config.unsafeGrace && config.graceMs < MIN_GRACE_MS) {
    // Loud on purpose: whoever reads the logs later should see why a live address went.
    deps.logger.warn(
      { graceMs: config.graceMs, floorMs: MIN_GRACE_MS },
      `cleanup: --unsafe-grace ${formatDuration(config.graceMs)} is below the ${formatDuration(MIN_GRACE_MS)} floor; addresses Docker has not listed yet may be freed`,
    );
  }
  const runs = new Runs(config, docker, deps);
  try {
    if (config.intervalMs === undefined) return await runs.once();
    return await loop(config.intervalMs, () => runs.once(), deps);
  } finally {
    await runs.close();
  }
}

/**
 * prepare parses the flags and builds the Docker view; on --help or bad flags it has already
 * printed and returns the exit code instead.
 */
function prepare(
  argv: string[],
  deps: CleanupCliDeps,
): { config: CliConfig; docker: DockerView } | number {
  try {
    const config = parseCleanupArgs(argv, deps);
    if (config === 'help') {
      deps.stdout.write(CLEANUP_USAGE);
      return EXIT.ok;
    }
    const docker =
      deps.docker ??
      createDockerView({
        ...(config.dockerSocket ? { socketPath: config.dockerSocket } : {}),
        env: deps.env,
      });
    return { config, docker };
  } catch (error) {
    deps.stderr.write(`kontena-ipam-cleanup: ${errorMessage(error).message}\n`);
    deps.stderr.write('Run kontena-ipam-cleanup --help for the options.\n');
    return EXIT.usage;
  }
}

/**
 * Runs holds what every run of one invocation shares: the store (built on the first run that
 * reaches it, again after a failure to build it) and the clock of this process's fences.
 */
class Runs {
  #store: IpamStore | undefined;
  // Remembers this process's fences, so --interval runs can always age a pool hold.
  readonly #revisionClock = new RevisionClock();
  readonly #config: CliConfig;
  readonly #docker: DockerView;
  readonly #deps: CleanupCliDeps;
  // The summary table's header is bold on a terminal, like the operator commands' tables.
  readonly #colors: Colors;

  constructor(config: CliConfig, docker: DockerView, deps: CleanupCliDeps) {
    this.#config = config;
    this.#docker = docker;
    this.#deps = deps;
    this.#colors = colors(useColor(deps.stdout, deps.env));
  }

  /** once runs cleanup one time and prints its report, or its error; returns the exit code. */
  async once(): Promise<number> {
    const { stdout, stderr } = this.#deps;
    const cfg = this.#config;
    try {
      this.#store ??= await this.#deps.store();
      await fenceCleanup(
        this.#store,
        { node: this.#deps.node, bootId: this.#deps.bootId },
        cfg.forgetNode,
      );
      const report = await runCleanup({
        store: this.#store,
        docker: this.#docker,
        node: this.#deps.node,
        graceMs: cfg.graceMs,
        dryRun: cfg.dryRun,
        forgetNode: cfg.forgetNode,
        logger: this.#deps.logger,
        ipamDriver: cfg.ipamDriver,
        revisionClock: this.#revisionClock,
        ...(this.#deps.now ? { now: this.#deps.now } : {}),
        // Lines go out as actions happen, so a failure later in the run loses none.
        ...(cfg.json ? {} : { onAction: (action) => stdout.write(`${formatAction(action)}\n`) }),
      });
      if (cfg.json) {
        stdout.write(`${JSON.stringify(reportToJson(report))}\n`);
      } else {
        if (report.actions.length === 0) stdout.write('nothing to do: the store matches Docker\n');
        stdout.write(cleanupSummary(report, this.#colors));
      }
      return EXIT.ok;
    } catch (error) {
      const info = errorMessage(error);
      stderr.write(`kontena-ipam-cleanup: ${info.message}\n`);
      if (cfg.json) stdout.write(`${JSON.stringify({ error: info })}\n`);
      // One-shot: the stderr line says it all; a loop also logs it for whoever watches logs.
      if (cfg.intervalMs !== undefined) this.#deps.logger.warn({ err: info }, 'cleanup run failed');
      return EXIT.failure;
    }
  }

  /** close closes the store if a run built one. */
  async close(): Promise<void> {
    await this.#store?.close().catch(() => undefined);
  }
}

/** loop runs every intervalMs until the signal; a failed run is reported and retried next time. */
async function loop(
  intervalMs: number,
  runOnce: () => Promise<number>,
  deps: CleanupCliDeps,
): Promise<number> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  const signal = deps.signal ?? controller.signal;
  if (!deps.signal) {
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }
  try {
    deps.logger.info({ intervalMs }, 'cleanup: running periodically until SIGTERM');
    while (!signal.aborted) {
      const code = await runOnce();
      if (code !== EXIT.ok) {
        deps.logger.warn({ intervalMs }, 'cleanup: run failed; trying again next interval');
      }
      await sleep(intervalMs, signal);
    }
    deps.logger.info({}, 'cleanup: stopped');
    return EXIT.ok;
  } finally {
    process.removeListener('SIGTERM', stop);
    process.removeListener('SIGINT', stop);
  }
}
