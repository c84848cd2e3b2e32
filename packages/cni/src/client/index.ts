/**
 * @kontena-ipam/cni/client: the CNI plugin a runtime execs, as a function (runCniClient) and
 * the wire contract it shares with the daemon. Node built-ins only: no zod, pino or etcd3.
 */

export type { CniCall, CniEnv, CniErrorBody, CniVerb } from '../wire.js';
export {
  CLIENT_TIMEOUT_MS,
  CNI_CODES,
  CNI_ENV_NAMES,
  CNI_ROUTES,
  DEFAULT_DAEMON_SOCKET,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
} from '../wire.js';
export { cniMain } from './main.js';
export type { ClientOutcome, ClientRun } from './run.js';
export { runCniClient } from './run.js';
