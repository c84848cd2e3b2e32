/**
 * runCniClient is the whole CNI plugin a runtime execs: it reads the CNI environment and the
 * network config, answers VERSION itself, and hands every other verb to the host's running
 * `kontena-ipam` over its unix socket (`ipam.socket`, else the default). It never opens an etcd
 * connection of its own, and imports only node built-ins and ../wire.js, so it starts fast.
 */
import {
  CLIENT_TIMEOUT_MS,
  CNI_CODES,
  CNI_ENV_NAMES,
  CNI_ROUTES,
  type CniEnv,
  type CniErrorBody,
  type CniVerb,
  DEFAULT_DAEMON_SOCKET,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
} from '../wire.js';
import { post } from './post.js';

/** ClientRun is one invocation's input: the process environment and stdin's bytes. */
export interface ClientRun {
  env: Readonly<Record<string, string | undefined>>;
  stdin: string;
  /** Overrides CLIENT_TIMEOUT_MS (tests). */
  timeoutMs?: number;
}

/** ClientOutcome is what to print on stdout and the exit code (0 ok, 1 a CNI error). */
export interface ClientOutcome {
  stdout: string;
  exitCode: number;
}

/** Parsed is what the client reads of the config: only what it needs to reach the daemon. */
interface Parsed {
  config: Record<string, unknown>;
  cniVersion: string;
  socket: string;
}

function failure(cniVersion: string, code: number, msg: string, details?: string): ClientOutcome {
  const body: CniErrorBody = { cniVersion, code, msg, ...(details ? { details } : {}) };
  return { stdout: `${JSON.stringify(body)}\n`, exitCode: 1 };
}

function parseConfig(stdin: string): Parsed | ClientOutcome {
  let config: unknown;
  try {
    config = JSON.parse(stdin);
  } catch (error) {
    return failure(
      LATEST_VERSION,
      CNI_CODES.decodingFailure,
      'the network configuration on stdin is not JSON',
      (error as Error).message,
    );
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    return failure(
      LATEST_VERSION,
      CNI_CODES.decodingFailure,
      'the network configuration on stdin is not a JSON object',
    );
  }
  const obj = config as Record<string, unknown>;
  const version = typeof obj.cniVersion === 'string' ? obj.cniVersion : LATEST_VERSION;
  const ipam = obj.ipam as Record<string, unknown> | undefined;
  const socket = ipam && typeof ipam === 'object' ? ipam.socket : undefined;
  if (socket !== undefined && (typeof socket !== 'string' || !socket.startsWith('/'))) {
    return failure(
      version,
      CNI_CODES.invalidConfig,
      'ipam.socket must be an absolute path of a unix socket',
      String(socket),
    );
  }
  return {
    config: obj,
    cniVersion: version,
    socket: (socket as string | undefined) ?? DEFAULT_DAEMON_SOCKET,
  };
}

/** cniEnv keeps the CNI_ variables only: the rest of the runtime's environment is not ours to send. */
function cniEnv(env: ClientRun['env']): CniEnv {
  const out: Record<string, string> = {};
  for (const name of CNI_ENV_NAMES) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** runCniClient runs one CNI call; see the file comment. Never throws. */
export async function runCniClient(run: ClientRun): Promise<ClientOutcome> {
  const command = run.env.CNI_COMMAND;
  if (command === 'VERSION') {
    const body = { cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS };
    return { stdout: `${JSON.stringify(body)}\n`, exitCode: 0 };
  }
  const parsed = parseConfig(run.stdin);
  if ('exitCode' in parsed) return parsed;
  if (!command || !Object.hasOwn(CNI_ROUTES, command)) {
    return failure(
      parsed.cniVersion,
      CNI_CODES.invalidEnvironment,
      command
        ? `CNI_COMMAND ${JSON.stringify(command)} is not a CNI verb (ADD, DEL, CHECK, GC, STATUS, VERSION)`
        : 'CNI_COMMAND is missing',
    );
  }
  const verb = command as CniVerb;
  const body = JSON.stringify({ env: cniEnv(run.env), config: parsed.config });
  let reply: { status: number; body: string };
  try {
    reply = await post(parsed.socket, CNI_ROUTES[verb], body, run.timeoutMs ?? CLIENT_TIMEOUT_MS);
  } catch (error) {
    // STATUS asks exactly this; for the other verbs the runtime may try again later.
    return failure(
      parsed.cniVersion,
      verb === 'STATUS' ? CNI_CODES.notAvailable : CNI_CODES.tryAgainLater,
      `kontena-ipam is not answering on ${parsed.socket}: is it running on this host?`,
      (error as Error).message,
    );
  }
  return outcome(verb, parsed.cniVersion, reply);
}

/** outcome turns the daemon's reply into what to print. */
function outcome(
  verb: CniVerb,
  cniVersion: string,
  reply: { status: number; body: string },
): ClientOutcome {
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(reply.body) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  if (reply.status === 200 && body) {
    return { stdout: verb === 'ADD' ? `${JSON.stringify(body)}\n` : '', exitCode: 0 };
  }
  if (body && typeof body.code === 'number' && typeof body.msg === 'string') {
    return { stdout: `${JSON.stringify({ cniVersion, ...body })}\n`, exitCode: 1 };
  }
  // Not our CNI routes' answer: an older kontena-ipam, or a failure before the route ran.
  const err = body && typeof body.Err === 'string' ? body.Err : reply.body.slice(0, 200);
  const unavailable = reply.status === 503;
  return failure(
    cniVersion,
    unavailable
      ? verb === 'STATUS'
        ? CNI_CODES.notAvailable
        : CNI_CODES.tryAgainLater
      : CNI_CODES.internal,
    unavailable ? err : `kontena-ipam answered HTTP ${reply.status}: ${err}`,
  );
}
