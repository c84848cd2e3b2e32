/**
 * The environment, read once at start into a typed Config. Every bad value gets its own
 * message naming the variable and what it accepts; the bins print them all and exit 2.
 */
import { accessSync, constants } from 'node:fs';
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
import {
  type EtcdConfig,
  type EtcdEnv,
  etcdEndpoints,
  etcdOf,
  type LocalEtcdConfig,
  type Raw,
  showValue,
} from './etcd-config.js';
import { type ListenAddress, parseListenAddress } from './listen-address.js';

/** LogLevel is a pino level name (or silent). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export type { EtcdConfig, LocalEtcdConfig } from './etcd-config.js';
export { DEFAULT_ETCD_ENDPOINT } from './etcd-config.js';

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
   * metricsCacheMs: /metrics reads the pools from etcd at most once per this many ms,
   * however many scrapes arrive (KONTENA_IPAM_METRICS_CACHE_MS; 0 = at every scrape).
   */
  metricsCacheMs: number;
  /**
   * nodeTtlSeconds: the TTL of this instance's registration of NODE_ID (KONTENA_IPAM_NODE_TTL):
   * how long a crashed instance keeps another one of the same NODE_ID from serving.
   */
  nodeTtlSeconds: number;
}

/** DEFAULT_METRICS_CACHE_MS: pool gauges are at most this old (ms); see Config. */
export const DEFAULT_METRICS_CACHE_MS = 5000;
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
  'KONTENA_IPAM_METRICS_CACHE_MS',
  'KONTENA_IPAM_MANAGED_PLUGIN',
  'KONTENA_IPAM_NODE_TTL',
] as const;

// Unix socket paths are limited to 108 bytes including the terminating NUL.
const SOCKET_PATH_MAX = 107;

const schema = z.object({
  LOG_LEVEL: logLevel.optional(),
  LOG_FORMAT: logFormat.optional(),
  NODE_ID: nodeId.optional(),
  ETCD_ENDPOINT: etcdEndpoints.optional(),
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
  KONTENA_IPAM_METRICS_CACHE_MS: wholeNumber(0, 600_000, ' (milliseconds)').optional(),
  KONTENA_IPAM_MANAGED_PLUGIN: z.enum(['0', '1'], { error: 'must be 0 or 1' }).optional(),
  KONTENA_IPAM_NODE_TTL: wholeNumber(2, 300, ' (seconds)').optional(),
});

/** Env is the environment as the schema parsed it (Raw: each variable's text, empty = unset). */
type Env = z.infer<typeof schema> & EtcdEnv;

function show(value: string | undefined): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

/**
 * loadConfig reads the environment (empty values count as unset, as in the seed's
 * `LOG_LEVEL=`) and returns the config, or throws ConfigError listing every bad value.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { raw, v } = parseEnv(env);
  // Each check below adds its issues, so that one run lists every bad value at once.
  const issues: string[] = [];
  const subnets = subnetsOf(v, raw, issues);
  const stateDir = v.KONTENA_IPAM_STATE_DIR ?? DEFAULT_STATE_DIR;
  const etcd = etcdOf(v, raw, stateDir, issues);
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
    stateDir,
    localEtcd: etcd.local,
    metrics: v.KONTENA_IPAM_METRICS,
    metricsCacheMs: v.KONTENA_IPAM_METRICS_CACHE_MS ?? DEFAULT_METRICS_CACHE_MS,
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
      return `${name}=${showValue(name, raw[name])}: ${issue.message}`;
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
