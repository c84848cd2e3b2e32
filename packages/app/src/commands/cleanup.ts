/**
 * runCleanupCli: the command line behind the `kontena-ipam-cleanup` bin. It parses flags
 * (cleanup-args.ts), builds the Docker view, runs @kontena-ipam/cleanup's runCleanup once or
 * every --interval (for this host, then with --forget-after for each host absent long enough),
 * prints, and returns the exit code. The bin hands it a ready store factory, so nothing here
 * knows etcd.
 */
import type { Writable } from 'node:stream';
import {
  absentHosts,
  CleanupError,
  type CleanupLogger,
  createDockerView,
  type DockerView,
  formatAction,
  formatDuration,
  MIN_GRACE_MS,
  RevisionClock,
  reportToJson,
  runCleanup,
  type Sighting,
} from '@kontena-ipam/cleanup';
import { type IpamStore, type NodeId, StoreError } from '@kontena-ipam/store';
import { type Colors, colors, useColor } from '../render/table.js';
import { CLEANUP_USAGE, type CliConfig, parseCleanupArgs } from './cleanup-args.js';
import { fenceCleanup } from './cleanup-liveness.js';
import { cleanupSummary } from './cleanup-summary.js';
import { EXIT } from './command.js';

export { CLEANUP_USAGE } from './cleanup-args.js';

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
  // --forget-after: when this process first saw each absent host (absent-hosts.ts).
  #sightings: ReadonlyMap<NodeId, Sighting> = new Map();
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

  /**
   * once runs cleanup one time: this host (or --forget-node's host), then with --forget-after
   * every host absent long enough; prints each report, or the error. Returns the exit code.
   */
  async once(): Promise<number> {
    const { stdout, stderr } = this.#deps;
    const cfg = this.#config;
    try {
      this.#store ??= await this.#deps.store();
      await this.#cleanFor(this.#store, cfg.forgetNode);
      if (cfg.forgetAfterMs !== undefined) await this.#forgetAbsent(this.#store, cfg.forgetAfterMs);
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

  /** cleanFor cleans this host, or forgets `forgetNode`, fenced on its liveness; prints the report. */
  async #cleanFor(store: IpamStore, forgetNode: NodeId | undefined): Promise<void> {
    const { stdout } = this.#deps;
    const cfg = this.#config;
    await fenceCleanup(store, { node: this.#deps.node, bootId: this.#deps.bootId }, forgetNode);
    const report = await runCleanup({
      store,
      docker: this.#docker,
      node: this.#deps.node,
      graceMs: cfg.graceMs,
      dryRun: cfg.dryRun,
      forgetNode,
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
  }

  /**
   * forgetAbsent forgets each host absentHosts finds due, as --forget-node would. A host that
   * comes back meanwhile is kept, not a failed run: refused (HOST_LIVE) before its first write
   * by fenceCleanup's check, or at any write after by the store's fence (runCleanup translates
   * it); either stops that host's forget where it is, and what was already freed was freed
   * while it was absent.
   */
  async #forgetAbsent(store: IpamStore, afterMs: number): Promise<void> {
    const now = (this.#deps.now ?? Date.now)();
    const decision = absentHosts({
      hosts: await store.listHosts(),
      self: this.#deps.node,
      now,
      afterMs,
      sightings: this.#sightings,
    });
    this.#sightings = decision.sightings;
    for (const host of decision.due) {
      const since = host.from === 'stopped' ? 'its clean stop' : 'this cleanup first saw it absent';
      const line = `forgetting host ${host.node}: absent for ${formatDuration(host.absentMs)} (since ${since}), --forget-after ${formatDuration(afterMs)}`;
      this.#deps.logger.warn({ node: host.node, absentMs: host.absentMs, from: host.from }, line);
      if (!this.#config.json) this.#deps.stdout.write(`${line}\n`);
      try {
        await this.#cleanFor(store, host.node);
      } catch (error) {
        if (!(error instanceof CleanupError && error.code === 'HOST_LIVE')) throw error;
        this.#deps.logger.info({ node: host.node }, `cleanup: ${host.node} came back; kept`);
        if (!this.#config.json) this.#deps.stdout.write(`${host.node} came back: kept\n`);
      }
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
