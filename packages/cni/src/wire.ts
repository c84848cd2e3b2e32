/**
 * The contract between the CNI client (`kontena-ipam-cni`, exec'd by a CNI runtime) and the
 * host's running `kontena-ipam`, which serves it on the socket it serves Docker on. Imported by
 * both sides, so it imports nothing: the client must start fast.
 *
 *   POST /Cni.Add | /Cni.Del | /Cni.Check | /Cni.Gc | /Cni.Status
 *   body  { "env": { CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH },
 *           "config": <the network configuration from stdin, as JSON> }
 *   200   the CNI result to print (ADD), or {} (DEL, CHECK, GC, STATUS)
 *   4xx/5xx  a CNI error object { cniVersion, code, msg, details }
 */

/** CNI_ROUTES maps each CNI verb the daemon serves to its route on the plugin's socket. */
export const CNI_ROUTES = {
  ADD: '/Cni.Add',
  DEL: '/Cni.Del',
  CHECK: '/Cni.Check',
  GC: '/Cni.Gc',
  STATUS: '/Cni.Status',
} as const;

/** CniVerb is a CNI_COMMAND the daemon serves (VERSION the client answers itself). */
export type CniVerb = keyof typeof CNI_ROUTES;

/** SUPPORTED_VERSIONS are the CNI spec versions whose configs and results we speak. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** LATEST_VERSION is the newest spec version we speak (VERSION's answer, errors' default). */
export const LATEST_VERSION = '1.1.0';

/**
 * CNI_CODES are the CNI spec's error codes we use (1-7, 11, 50 from the spec; 100+ are ours).
 * Runtimes act on them: 11 means "try again later", 50 (STATUS) "cannot serve ADD now".
 */
export const CNI_CODES = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodingFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  /** The address asked for (CNI_ARGS IP=) is another's, or the subnet overlaps another pool's. */
  addressInUse: 100,
  /** No free address left in the pool, or no free subnet in the supernet. */
  exhausted: 101,
  /** The attachment's address is not (or no longer) recorded for this host: CHECK failed. */
  notRecorded: 102,
  /** A bug in kontena-ipam: the daemon's log says more. */
  internal: 999,
} as const;

/** CniErrorBody is a CNI error object as printed on stdout. */
export interface CniErrorBody {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** CniEnv is the CNI environment the client passes on (only the CNI_ variables). */
export interface CniEnv {
  CNI_COMMAND?: string;
  CNI_CONTAINERID?: string;
  CNI_NETNS?: string;
  CNI_IFNAME?: string;
  CNI_ARGS?: string;
  CNI_PATH?: string;
}

/** CNI_ENV_NAMES are the variables of CniEnv, in the spec's order. */
export const CNI_ENV_NAMES = [
  'CNI_COMMAND',
  'CNI_CONTAINERID',
  'CNI_NETNS',
  'CNI_IFNAME',
  'CNI_ARGS',
  'CNI_PATH',
] as const;

/** CniCall is the body of every CNI route. */
export interface CniCall {
  env: CniEnv;
  config: unknown;
}

/** DEFAULT_DAEMON_SOCKET is the socket `kontena-ipam` serves Docker (and CNI) on by default. */
export const DEFAULT_DAEMON_SOCKET = '/run/docker/plugins/kontena-ipam.sock';

/** CLIENT_TIMEOUT_MS bounds a call to the daemon (its own per-call deadline is 10 s). */
export const CLIENT_TIMEOUT_MS = 15_000;
