/**
 * How to reach etcd, from the environment: where it is (single-host mode's embedded etcd,
 * ETCD_ENDPOINT, or the default), TLS files and the user and password. Split from config.ts,
 * which reads the rest; every bad value still becomes one message naming its variable.
 *
 * Credentials never travel inside an endpoint URL: `http://user:secret@host` is refused (the
 * endpoint text goes into logs, `status` and the errors Docker shows), and no message
 * repeats such a value in full (see endpoint-text.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STORE_DEFAULTS } from '@kontena-ipam/store';
import { z } from 'zod';
import { redactEndpoint } from './endpoint-text.js';

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
 * serving this host alone, on unix sockets in a root-only folder of the state folder, so that
 * no other local user and no `--net host` container can reach it (it has no TCP port at all).
 */
export interface LocalEtcdConfig {
  /** endpoint is its client URL, `unix://<socketDir>/client:0` (also `etcd.endpoints`). */
  endpoint: string;
  /** socketDir holds the client and peer sockets; made 0700, owned by the plugin's user. */
  socketDir: string;
}

/** DEFAULT_ETCD_ENDPOINT is the seed's default. */
export const DEFAULT_ETCD_ENDPOINT = 'http://localhost:2379';

/** LocalEtcdSockets are the embedded etcd's socket paths inside the state folder. */
export interface LocalEtcdSockets {
  dir: string;
  client: string;
  peer: string;
  /** endpoint is the client socket as a URL the client dials (`unix:///…/client:0`). */
  endpoint: string;
}

/**
 * localEtcdSockets names the sockets. etcd accepts a unix URL only in `host:port` form and
 * listens on it relative to its working folder (etcd's embed resolveURL: host + path), so the
 * names end in `:0` and etcd runs inside `dir`.
 */
export function localEtcdSockets(stateDir: string): LocalEtcdSockets {
  const dir = join(stateDir, 'etcd-sockets');
  const client = join(dir, 'client:0');
  return { dir, client, peer: join(dir, 'peer:0'), endpoint: `unix://${client}` };
}

// Unix socket paths are limited to 108 bytes including the terminating NUL.
const SOCKET_PATH_MAX = 107;

const AT_SIGN =
  "must not hold a user name or password ('@'): they would show in logs and in the errors Docker prints; set ETCD_USERNAME and ETCD_PASSWORD_FILE (or ETCD_PASSWORD) instead";

/** endpointIssue says what is wrong with one endpoint, or undefined when it is fine. */
function endpointIssue(entry: string): string | undefined {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return `${JSON.stringify(entry)} is not a URL (expected e.g. http://127.0.0.1:2379)`;
  }
  if (url.protocol === 'unix:') {
    const path = entry.slice('unix://'.length);
    if (url.host || !path.startsWith('/') || url.pathname !== path) {
      return `${JSON.stringify(entry)} must be unix:///absolute/path/of/the/socket`;
    }
    if (Buffer.byteLength(path) > SOCKET_PATH_MAX) {
      return `${JSON.stringify(entry)}: a socket path must be at most ${SOCKET_PATH_MAX} bytes`;
    }
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `${JSON.stringify(entry)} must use http:// or https:// (or unix:///path for a local socket)`;
  }
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    return `${JSON.stringify(entry)} must be scheme://host[:port] with nothing after it`;
  }
  return undefined;
}

/** etcdEndpoints parses ETCD_ENDPOINT: a comma-separated list of client URLs. */
export const etcdEndpoints = z.string().transform((text, ctx): string[] => {
  const fail = (message: string): never => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  // Before anything that repeats the text: a password must not reach a message, even in part.
  if (text.includes('@')) return fail(AT_SIGN);
  const list = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (list.length === 0) return fail('must list at least one http:// or https:// URL');
  for (const entry of list) {
    const issue = endpointIssue(entry);
    if (issue) return fail(issue);
  }
  const schemes = new Set(list.map((e) => new URL(e).protocol));
  if (schemes.has('unix:') && schemes.size > 1) {
    return fail('must not mix unix:// with http:// or https:// endpoints');
  }
  if (schemes.size > 1) return fail('must not mix http:// and https:// endpoints');
  return list.map((e) => (e.startsWith('unix:') ? e : e.replace(/\/$/, '')));
});

/** EtcdEnv is what etcdOf reads, as the config schema parsed it. */
export interface EtcdEnv {
  ETCD_ENDPOINT?: string[] | undefined;
  ETCD_CA_FILE?: string | undefined;
  ETCD_CERT_FILE?: string | undefined;
  ETCD_KEY_FILE?: string | undefined;
  ETCD_USERNAME?: string | undefined;
  ETCD_PASSWORD?: string | undefined;
  ETCD_PASSWORD_FILE?: string | undefined;
  KONTENA_IPAM_ETCD_PREFIX?: string | undefined;
  KONTENA_IPAM_ETCD_TIMEOUT?: number | undefined;
  KONTENA_IPAM_LOCAL_ETCD?: 'on' | 'off' | undefined;
}

/** Raw is each variable's text (undefined = unset). */
export type Raw = Record<string, string | undefined>;

/** showValue quotes a variable's value for a message; an endpoint with '@' is redacted. */
export function showValue(name: string, value: string | undefined): string {
  if (value === undefined) return '(unset)';
  if (name === 'ETCD_PASSWORD') return '(hidden)';
  return JSON.stringify(name === 'ETCD_ENDPOINT' ? redactEndpoint(value) : value);
}

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
  const show = (path: string) => showValue('ETCD_PASSWORD_FILE', path);
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

/** localEtcdOf is single-host mode's embedded etcd, when asked for and alone. */
function localEtcdOf(
  v: EtcdEnv,
  raw: Raw,
  stateDir: string,
  issues: string[],
): LocalEtcdConfig | undefined {
  if (v.KONTENA_IPAM_LOCAL_ETCD !== 'on') return undefined;
  if (v.ETCD_ENDPOINT) {
    issues.push(
      `KONTENA_IPAM_LOCAL_ETCD=${showValue('KONTENA_IPAM_LOCAL_ETCD', raw.KONTENA_IPAM_LOCAL_ETCD)}: single-host mode runs an embedded etcd for this host alone, so ETCD_ENDPOINT must be unset; to use the etcd at ETCD_ENDPOINT, set KONTENA_IPAM_LOCAL_ETCD=off`,
    );
  }
  const sockets = localEtcdSockets(stateDir);
  if (Buffer.byteLength(sockets.client) > SOCKET_PATH_MAX) {
    issues.push(
      `KONTENA_IPAM_STATE_DIR=${JSON.stringify(stateDir)}: too long for single-host mode, whose etcd socket ${sockets.client} must be at most ${SOCKET_PATH_MAX} bytes`,
    );
  }
  return { endpoint: sockets.endpoint, socketDir: sockets.dir };
}

/**
 * etcdOf decides where etcd is (single-host mode's own, ETCD_ENDPOINT, or the default) and
 * checks TLS and authentication against it; undefined when the password could not be had.
 */
export function etcdOf(
  v: EtcdEnv,
  raw: Raw,
  stateDir: string,
  issues: string[],
): { config: EtcdConfig; local: LocalEtcdConfig | undefined } | undefined {
  const local = localEtcdOf(v, raw, stateDir, issues);
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
function checkTls(v: EtcdEnv, raw: Raw, endpoints: readonly string[], issues: string[]): void {
  const tls = endpoints.every((e) => e.startsWith('https://'));
  for (const name of ['ETCD_CA_FILE', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE'] as const) {
    if (raw[name] !== undefined && !tls) {
      issues.push(
        `${name}=${showValue(name, raw[name])}: needs https:// endpoints in ETCD_ENDPOINT`,
      );
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
