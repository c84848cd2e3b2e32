/**
 * kontena-ipam-cleanup's flags: the --help text, and argv parsed into a CliConfig, or a
 * CleanupError INVALID_ARGUMENT (exit 2) naming what is wrong.
 */
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CleanupError,
  DEFAULT_GRACE_MS,
  DEFAULT_IPAM_DRIVER,
  formatDuration,
  MIN_FORGET_AFTER_MS,
  MIN_GRACE_MS,
  parseDuration,
} from '@kontena-ipam/cleanup';
import { type NodeId, parseNodeId } from '@kontena-ipam/store';

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
  --forget-after DURATION also forget every other host absent longer than DURATION (at
                          least ${formatDuration(MIN_FORGET_AFTER_MS)}), as --forget-node does, each while it stays
                          absent; absence counts from its clean stop, else from when this
                          process first saw it absent (so a restart of cleanup counts anew)
  --docker-socket PATH    Docker Engine API socket (default: DOCKER_HOST unix://…,
                          else /var/run/docker.sock)
  --ipam-driver NAME      IPAM driver name of our networks (default: base name of
                          KONTENA_IPAM_SOCKET, else ${DEFAULT_IPAM_DRIVER})
  --json                  print the report as JSON (one object per run)
  -h, --help              show this text

Durations: 250ms, 30s, 5m, 1h30m. Exit: 0 clean or cleaned, 1 Docker/etcd unreachable, 2 bad flags.
`;

export interface CliConfig {
  dryRun: boolean;
  json: boolean;
  graceMs: number;
  /** unsafeGrace: the grace came from --unsafe-grace (it may lie below MIN_GRACE_MS). */
  unsafeGrace: boolean;
  intervalMs: number | undefined;
  forgetNode: NodeId | undefined;
  /** --forget-after: forget other hosts absent at least this long. */
  forgetAfterMs: number | undefined;
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
export function parseCleanupArgs(
  argv: string[],
  here: { node: NodeId; env: NodeJS.ProcessEnv },
): CliConfig | 'help' {
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
    if (forgetNode === here.node) {
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
    forgetAfterMs: forgetAfterOf(values['forget-after'], forgetNode),
    dockerSocket: values['docker-socket'],
    ipamDriver: values['ipam-driver'] ?? driverFromEnv(here.env),
  };
}

/** forgetAfterOf reads --forget-after: at least MIN_FORGET_AFTER_MS, not with --forget-node. */
function forgetAfterOf(
  value: string | undefined,
  forgetNode: NodeId | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  if (forgetNode !== undefined) {
    throw usageError('--forget-after and --node NAME --forget-node exclude each other: give one');
  }
  const ms = parseDuration(value, '--forget-after');
  if (ms < MIN_FORGET_AFTER_MS) {
    throw usageError(
      `--forget-after ${value} is below ${formatDuration(MIN_FORGET_AFTER_MS)}: a host rebooting or upgrading would be forgotten and its live addresses freed`,
    );
  }
  return ms;
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
      'forget-after': { type: 'string' },
      'docker-socket': { type: 'string' },
      'ipam-driver': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
