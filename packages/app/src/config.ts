/**
 * The environment, read once at start into a typed Config. Every bad value gets its own
 * message naming the variable and what it accepts; the bins print them all and exit 2.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { CidrError, parseSubnet, type Subnet } from '@kontena-ipam/cidr';
import { DEFAULT_SOCKET_PATH } from '@kontena-ipam/plugin';
import {
  type NodeId,
  parseNodeId,
  REGISTRATION_TTL_SECONDS,
  STORE_DEFAULTS,
} from '@kontena-ipam/store';
import { z } from 'zod';
import { AppError } from './errors.js';
import { type ListenAddress, parseListenAddress } from './listen-address.js';

/** LogLevel is a pino level name (or silent). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** EtcdConfig says how to reach etcd. */
export interface EtcdConfig {
  /** endpoints are the client URLs, used whole (the client balances and fails over). */
  endpoints: string[];
  /** explicit is true when ETCD_ENDPOINT was set (false = the default endpoint, or single-host mode). */
  explicit: boolean;
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
  username: string | undefined;
  /** password from ETCD_PASSWORD or the file ETCD_PASSWORD_FILE names (read once, at start). */
  password: string | undefined;
  /** prefix of every key (the store adds `v2/`). */
  prefix: string;
  /** timeoutMs bounds each etcd call. */
  timeoutMs: number;
}

/**
 * LocalEtcdConfig is single-host mode's embedded etcd (KONTENA_IPAM_LOCAL_ETCD=on): one member
 * on loopback, on ports a real etcd does not use, serving this host alone.
 */
export interface LocalEtcdConfig {
  /** endpoint is its client URL (also `etcd.endpoints`, so the operator tools reach it). */
  endpoint: string;
  clientPort: number;
  peerPort: number;
}

/** Config is everything the bins read from the environment. */
export interface Config {
  logLevel: LogLevel;
  /** logFormat: undefined = pretty on a terminal, JSON otherwise. */
  logFormat: 'json' | 'pretty' | undefined;
  nodeId: NodeId;
  etcd: EtcdConfig;
  supernet: Subnet;
  subnetLength: number;
  supernet6: Subnet | undefined;
  subnetLength6: number;
  socketPath: string;
  stateDir: string;
  /**
   * localEtcd: set when single-host mode was asked for (KONTENA_IPAM_LOCAL_ETCD=on); undefined
   * (the default) = cluster mode: only the configured endpoints, never an etcd of our own.
   */
  localEtcd: LocalEtcdConfig | undefined;
  /** metrics: where to serve /metrics, /healthz, /readyz (KONTENA_IPAM_METRICS); undefined = off. */
  metrics: ListenAddress | undefined;
  /**
   * nodeTtlSeconds: the TTL of this instance's registration of NODE_ID (KONTENA_IPAM_NODE_TTL):
   * how long a crashed instance keeps another one of the same NODE_ID from serving.
   */
  nodeTtlSeconds: number;
}

/** DEFAULT_ETCD_ENDPOINT is the seed's default. */
export const DEFAULT_ETCD_ENDPOINT = 'http://localhost:2379';
/**
 * LOCAL_ETCD_CLIENT_PORT and LOCAL_ETCD_PEER_PORT are the embedded etcd's ports: not etcd's
 * own 2379/2380 (nor its legacy 4001/7001), so that it can never take the port of a real
 * member that runs on this host (with `--net host`) and starts a moment later; ten times
 * etcd's, to be recognisable, and below Linux's ephemeral range (32768-60999), so that no
 * outgoing connection holds them.
 */
export const LOCAL_ETCD_CLIENT_PORT = 23790;
/** LOCAL_ETCD_PEER_PORT: see LOCAL_ETCD_CLIENT_PORT. */
export const LOCAL_ETCD_PEER_PORT = 23800;
/** DEFAULT_STATE_DIR holds the single-host etcd's data. */
export const DEFAULT_STATE_DIR = '/var/lib/kontena-ipam';

/** ConfigError lists every bad environment value, one message each. */
export class ConfigError extends AppError<'INVALID_CONFIG'> {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('INVALID_CONFIG', `invalid configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** The seed's numeric levels (Ruby Logger: 0 = DEBUG … 5 = UNKNOWN) mapped to pino's. */
const NUMERIC_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const LEVEL_NAMES: readonly string[] = [
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'fatal',
  'silent',
];

function fail(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

const logLevel = z.string().transform((text, ctx): LogLevel => {
  const value = text.trim().toLowerCase();
  if (/^\d$/.test(value)) {
    const level = NUMERIC_LEVELS[Number(value)];
    if (level) return level;
  }
  const name = value === 'warning' ? 'warn' : value;
  if (LEVEL_NAMES.includes(name)) return name as LogLevel;
  return fail(
    ctx,
    `must be 0-5 (0 = debug, 1 = info, 2 = warn, 3 = error, 4 = fatal) or one of ${LEVEL_NAMES.join(', ')}`,
  );
});

const logFormat = z.enum(['json', 'pretty'], { error: 'must be json or pretty' });

const nodeId = z.string().transform((text, ctx) => {
  try {
    return parseNodeId(text.trim());
  } catch (error) {
    return fail(
      ctx,
      `must be 1-253 characters of letters, digits, '.', '_' or '-' starting with a letter or digit (${(error as Error).message})`,
    );
  }
});

function subnetOf(family: 4 | 6) {
  return z.string().transform((text, ctx): Subnet => {
    let subnet: Subnet;
    try {
      subnet = parseSubnet(text.trim());
    } catch (error) {
      if (error instanceof CidrError)
        return fail(ctx, `must be an IPv${family} subnet in CIDR form: ${error.message}`);
      throw error;
    }
    if (subnet.family !== family) return fail(ctx, `must be an IPv${family} subnet`);
    return subnet;
  });
}

function wholeNumber(min: number, max: number, unit = '') {
  return z
    .string()
    .trim()
    .regex(/^\d+$/, { error: `must be a whole number from ${min} to ${max}${unit}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be a whole number from ${min} to ${max}${unit}` })
        .max(max, { error: `must be a whole number from ${min} to ${max}${unit}` }),
    );
}

const endpoints = z.string().transform((text, ctx): string[] => {
  const list = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (list.length === 0) return fail(ctx, 'must list at least one http:// or https:// URL');
  for (const entry of list) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return fail(
        ctx,
        `${JSON.stringify(entry)} is not a URL (expected e.g. http://127.0.0.1:2379)`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return fail(ctx, `${JSON.stringify(entry)} must use http:// or https://`);
    }
    if (
      !url.hostname ||
      (url.pathname !== '/' && url.pathname !== '') ||
      url.search ||
      url.username
    ) {
      return fail(
        ctx,
        `${JSON.stringify(entry)} must be scheme://host[:port] with nothing after it`,
      );
    }
  }
  const schemes = new Set(list.map((e) => new URL(e).protocol));
  if (schemes.size > 1) return fail(ctx, 'must not mix http:// and https:// endpoints');
  return list.map((e) => e.replace(/\/$/, ''));
});

const readableFile = z.string().transform((text, ctx) => {
  const path = text.trim();
  try {
    accessSync(path, constants.R_OK);
  } catch {
    return fail(ctx, `cannot read ${path}`);
  }
  return path;
});

const absolutePath = (max: number) =>
  z
    .string()
    .trim()
    .refine((p) => isAbsolute(p), { error: 'must be an absolute path' })
    .refine((p) => Buffer.byteLength(p) <= max, { error: `must be at most ${max} bytes` });

const prefix = z
  .string()
  .trim()
  .regex(/^\/([A-Za-z0-9_.-]+\/)*$/, {
    error: "must start and end with '/' and hold only letters, digits, '.', '_', '-' and '/'",
  });

// `auto` (start an etcd when none answers) is gone on purpose: a host that starts one of its own
// unasked can split a cluster (issue 13). Its message says what replaced it.
const localEtcd = z.enum(['on', 'off'], {
  error:
    'must be on (single-host mode: an embedded etcd for this host alone) or off (the default: use ETCD_ENDPOINT)',
});

const listenAddress = z.string().transform((text, ctx): ListenAddress => {
  try {
    return parseListenAddress(text.trim());
  } catch (error) {
    return fail(ctx, (error as Error).message);
  }
});

/** ENV_VARS names every variable loadConfig reads (docs/configuration.md's table documents each). */
export const ENV_VARS = [
  'LOG_LEVEL',
  'LOG_FORMAT',
  'NODE_ID',
  'ETCD_ENDPOINT',
  'ETCD_CA_FILE',
  'ETCD_CERT_FILE',
  'ETCD_KEY_FILE',
  'ETCD_USERNAME',
  'ETCD_PASSWORD',
  'ETCD_PASSWORD_FILE',
  'KONTENA_IPAM_ETCD_PREFIX',
  'KONTENA_IPAM_ETCD_TIMEOUT',
  'KONTENA_IPAM_SUPERNET',
  'KONTENA_IPAM_SUBNET_LENGTH',
  'KONTENA_IPAM_SUPERNET6',
  'KONTENA_IPAM_SUBNET_LENGTH6',
  'KONTENA_IPAM_SOCKET',
  'KONTENA_IPAM_STATE_DIR',
  'KONTENA_IPAM_LOCAL_ETCD',
  'KONTENA_IPAM_METRICS',
  'KONTENA_IPAM_METRICS_ALLOW_REMOTE',
  'KONTENA_IPAM_MANAGED_PLUGIN',
  'KONTENA_IPAM_NODE_TTL',
] as const;

// Unix socket paths are limited to 108 bytes including the terminating NUL.
const SOCKET_PATH_MAX = 107;

const schema = z.object({
  LOG_LEVEL: logLevel.optional(),
  LOG_FORMAT: logFormat.optional(),
  NODE_ID: nodeId.optional(),
  ETCD_ENDPOINT: endpoints.optional(),
  ETCD_CA_FILE: readableFile.optional(),
  ETCD_CERT_FILE: readableFile.optional(),
  ETCD_KEY_FILE: readableFile.optional(),
  ETCD_USERNAME: z.string().optional(),
  ETCD_PASSWORD: z.string().optional(),
  ETCD_PASSWORD_FILE: absolutePath(4096).optional(),
  KONTENA_IPAM_ETCD_PREFIX: prefix.optional(),
  KONTENA_IPAM_ETCD_TIMEOUT: wholeNumber(100, 600_000, ' (milliseconds)').optional(),
  KONTENA_IPAM_SUPERNET: subnetOf(4).optional(),
  KONTENA_IPAM_SUBNET_LENGTH: wholeNumber(1, 30).optional(),
  KONTENA_IPAM_SUPERNET6: subnetOf(6).optional(),
  KONTENA_IPAM_SUBNET_LENGTH6: wholeNumber(1, 126).optional(),
  KONTENA_IPAM_SOCKET: absolutePath(SOCKET_PATH_MAX).optional(),
  KONTENA_IPAM_STATE_DIR: absolutePath(4096).optional(),
  KONTENA_IPAM_LOCAL_ETCD: localEtcd.optional(),
  KONTENA_IPAM_METRICS: listenAddress.optional(),
  KONTENA_IPAM_METRICS_ALLOW_REMOTE: z.enum(['0', '1'], { error: 'must be 0 or 1' }).optional(),
  KONTENA_IPAM_MANAGED_PLUGIN: z.enum(['0', '1'], { error: 'must be 0 or 1' }).optional(),
  KONTENA_IPAM_NODE_TTL: wholeNumber(2, 300, ' (seconds)').optional(),
});

/**
 * passwordOf takes ETCD_PASSWORD, or reads the file ETCD_PASSWORD_FILE names (so that the
 * secret stays out of `docker plugin inspect` and `docker inspect`), without the line end an
 * editor or `echo` leaves. `given` is false when an issue was pushed.
 */
function passwordOf(
  inline: string | undefined,
  file: string | undefined,
  issues: string[],
): { given: true; value: string | undefined } | { given: false } {
  if (file === undefined) return { given: true, value: inline };
  if (inline !== undefined) {
    issues.push(
      `ETCD_PASSWORD_FILE=${show(file)}: ETCD_PASSWORD is set too; give the password one way only`,
    );
    return { given: false };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    issues.push(
      `ETCD_PASSWORD_FILE=${show(file)}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return { given: false };
  }
  const value = text.replace(/(\r?\n)+$/, '');
  if (value === '') {
    issues.push(`ETCD_PASSWORD_FILE=${show(file)}: the file is empty`);
    return { given: false };
  }
  return { given: true, value };
}

function show(value: string | undefined): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

/** Env is the environment as the schema parsed it; Raw is each variable's text (empty = unset). */
type Env = z.infer<typeof schema>;
type Raw = Record<string, string | undefined>;

/**
 * loadConfig reads the environment (empty values count as unset, as in the seed's
 * `LOG_LEVEL=`) and returns the config, or throws ConfigError listing every bad value.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { raw, v } = parseEnv(env);
  // Each check below adds its issues, so that one run lists every bad value at once.
  const issues: string[] = [];
  const subnets = subnetsOf(v, raw, issues);
  const etcd = etcdOf(v, raw, issues);
  const node = nodeIdOf(v, issues);
  checkMetrics(v, raw, issues);
  if (issues.length > 0 || node === undefined || etcd === undefined) throw new ConfigError(issues);

  return {
    logLevel: v.LOG_LEVEL ?? 'info',
    logFormat: v.LOG_FORMAT,
    nodeId: node,
    etcd: etcd.config,
    ...subnets,
    socketPath: v.KONTENA_IPAM_SOCKET ?? DEFAULT_SOCKET_PATH,
    stateDir: v.KONTENA_IPAM_STATE_DIR ?? DEFAULT_STATE_DIR,
    localEtcd: etcd.local,
    metrics: v.KONTENA_IPAM_METRICS,
    nodeTtlSeconds: v.KONTENA_IPAM_NODE_TTL ?? REGISTRATION_TTL_SECONDS,
  };
}

/** parseEnv reads ENV_VARS through the schema, or throws ConfigError naming each bad one. */
function parseEnv(env: NodeJS.ProcessEnv): { raw: Raw; v: Env } {
  const raw: Raw = {};
  for (const name of ENV_VARS) {
    const value = env[name];
    raw[name] = value === undefined || value.trim() === '' ? undefined : value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '');
      const secret = name === 'ETCD_PASSWORD';
      return `${name}=${secret ? '(hidden)' : show(raw[name])}: ${issue.message}`;
    });
    throw new ConfigError(issues);
  }
  return { raw, v: parsed.data };
}

/** subnetsOf fills in the store's default supernet and lengths, and checks they fit together. */
function subnetsOf(
  v: Env,
  raw: Raw,
  issues: string[],
): Pick<Config, 'supernet' | 'subnetLength' | 'supernet6' | 'subnetLength6'> {
  const supernet = v.KONTENA_IPAM_SUPERNET ?? parseSubnet(STORE_DEFAULTS.supernet);
  const subnetLength = v.KONTENA_IPAM_SUBNET_LENGTH ?? STORE_DEFAULTS.subnetLength;
  if (subnetLength < supernet.prefix) {
    issues.push(
      `KONTENA_IPAM_SUBNET_LENGTH=${show(raw.KONTENA_IPAM_SUBNET_LENGTH ?? String(STORE_DEFAULTS.subnetLength))}: must be at least the supernet's prefix length ${supernet.prefix} (KONTENA_IPAM_SUPERNET=${show(raw.KONTENA_IPAM_SUPERNET ?? STORE_DEFAULTS.supernet)})`,
    );
  }
  const subnetLength6 = v.KONTENA_IPAM_SUBNET_LENGTH6 ?? STORE_DEFAULTS.subnetLength6;
  if (v.KONTENA_IPAM_SUPERNET6 && subnetLength6 < v.KONTENA_IPAM_SUPERNET6.prefix) {
    issues.push(
      `KONTENA_IPAM_SUBNET_LENGTH6=${show(raw.KONTENA_IPAM_SUBNET_LENGTH6 ?? String(STORE_DEFAULTS.subnetLength6))}: must be at least the IPv6 supernet's prefix length ${v.KONTENA_IPAM_SUPERNET6.prefix}`,
    );
  }
  if (!v.KONTENA_IPAM_SUPERNET6 && raw.KONTENA_IPAM_SUBNET_LENGTH6 !== undefined) {
    issues.push(
      `KONTENA_IPAM_SUBNET_LENGTH6=${show(raw.KONTENA_IPAM_SUBNET_LENGTH6)}: needs KONTENA_IPAM_SUPERNET6`,
    );
  }
  return { supernet, subnetLength, supernet6: v.KONTENA_IPAM_SUPERNET6, subnetLength6 };
}

/**
 * etcdOf decides where etcd is (single-host mode's own, ETCD_ENDPOINT, or the default) and
 * checks TLS and authentication against it; undefined when the password could not be had.
 */
function etcdOf(
  v: Env,
  raw: Raw,
  issues: string[],
): { config: EtcdConfig; local: LocalEtcdConfig | undefined } | undefined {
  const single = v.KONTENA_IPAM_LOCAL_ETCD === 'on';
  if (single && v.ETCD_ENDPOINT) {
    issues.push(
      `KONTENA_IPAM_LOCAL_ETCD=${show(raw.KONTENA_IPAM_LOCAL_ETCD)}: single-host mode runs an embedded etcd for this host alone, so ETCD_ENDPOINT must be unset; to use the etcd at ETCD_ENDPOINT, set KONTENA_IPAM_LOCAL_ETCD=off`,
    );
  }
  const local: LocalEtcdConfig | undefined = single
    ? {
        endpoint: `http://127.0.0.1:${LOCAL_ETCD_CLIENT_PORT}`,
        clientPort: LOCAL_ETCD_CLIENT_PORT,
        peerPort: LOCAL_ETCD_PEER_PORT,
      }
    : undefined;
  const endpoints = local ? [local.endpoint] : (v.ETCD_ENDPOINT ?? [DEFAULT_ETCD_ENDPOINT]);
  checkTls(v, raw, endpoints, issues);
  const password = passwordOf(v.ETCD_PASSWORD, v.ETCD_PASSWORD_FILE, issues);
  if (password.given && (v.ETCD_USERNAME === undefined) !== (password.value === undefined)) {
    issues.push(
      `${v.ETCD_USERNAME ? 'ETCD_PASSWORD' : 'ETCD_USERNAME'}=(unset): ETCD_USERNAME and ETCD_PASSWORD go together`,
    );
  }
  if (!password.given) return undefined;
  const config: EtcdConfig = {
    endpoints,
    explicit: v.ETCD_ENDPOINT !== undefined,
    caFile: v.ETCD_CA_FILE,
    certFile: v.ETCD_CERT_FILE,
    keyFile: v.ETCD_KEY_FILE,
    username: v.ETCD_USERNAME,
    password: password.value,
    prefix: v.KONTENA_IPAM_ETCD_PREFIX ?? STORE_DEFAULTS.prefix,
    timeoutMs: v.KONTENA_IPAM_ETCD_TIMEOUT ?? STORE_DEFAULTS.deadlineMs,
  };
  return { config, local };
}

/** checkTls: certificate files need https:// endpoints, a client certificate its key and CA. */
function checkTls(v: Env, raw: Raw, endpoints: readonly string[], issues: string[]): void {
  const tls = endpoints.every((e) => e.startsWith('https://'));
  for (const name of ['ETCD_CA_FILE', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE'] as const) {
    if (raw[name] !== undefined && !tls) {
      issues.push(`${name}=${show(raw[name])}: needs https:// endpoints in ETCD_ENDPOINT`);
    }
  }
  if ((v.ETCD_CERT_FILE === undefined) !== (v.ETCD_KEY_FILE === undefined)) {
    issues.push(
      `${v.ETCD_CERT_FILE ? 'ETCD_CERT_FILE' : 'ETCD_KEY_FILE'}: ETCD_CERT_FILE and ETCD_KEY_FILE go together (a client certificate and its key)`,
    );
  }
  if (v.ETCD_CERT_FILE && !v.ETCD_CA_FILE) {
    issues.push(
      `ETCD_CA_FILE=(unset): a client certificate needs the CA that signed the etcd server's certificate`,
    );
  }
}

/** nodeIdOf is NODE_ID, else the hostname (never in a managed plugin); undefined with an issue. */
function nodeIdOf(v: Env, issues: string[]): NodeId | undefined {
  if (v.NODE_ID !== undefined) return v.NODE_ID;
  if (v.KONTENA_IPAM_MANAGED_PLUGIN === '1') {
    // Docker sets no hostname of the host's own in a managed plugin: a fallback could name
    // some other host, and two hosts under one name share their addresses' ownership.
    issues.push(
      `NODE_ID=(unset): a managed plugin (KONTENA_IPAM_MANAGED_PLUGIN=1) needs an explicit NODE_ID, since its hostname need not be this host's; set it with \`docker plugin set <plugin> NODE_ID=$(hostname)\` before \`docker plugin enable\``,
    );
    return undefined;
  }
  try {
    return parseNodeId(hostname());
  } catch {
    issues.push(
      `NODE_ID=(unset): the hostname ${JSON.stringify(hostname())} is not a valid node id; set NODE_ID`,
    );
    return undefined;
  }
}

/** checkMetrics: metrics say how busy and how full every pool is, so never on the network unless asked. */
function checkMetrics(v: Env, raw: Raw, issues: string[]): void {
  if (!v.KONTENA_IPAM_METRICS || v.KONTENA_IPAM_METRICS.loopback) return;
  if (v.KONTENA_IPAM_METRICS_ALLOW_REMOTE === '1') return;
  issues.push(
    `KONTENA_IPAM_METRICS=${show(raw.KONTENA_IPAM_METRICS)}: not a loopback address (localhost, 127.0.0.0/8, ::1); set KONTENA_IPAM_METRICS_ALLOW_REMOTE=1 to serve metrics on the network`,
  );
}
