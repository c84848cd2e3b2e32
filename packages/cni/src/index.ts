/**
 * @kontena-ipam/cni: a CNI IPAM plugin on the kontena-ipam store. The daemon side: the CNI
 * routes a PluginServer serves beside Docker's (`extraRoutes: cniRoutes({ backend: store })`),
 * the parser and result shaping they use, and what `install-cni` writes. The client a runtime
 * execs is the static Go binary this package ships (native/, built into dist/native/), or
 * `@kontena-ipam/cni/client` (node built-ins only) where none is shipped for the host.
 */
export type { CniRequest } from './config.js';
export { parseCniCall, staticIps } from './config.js';
export type { CniCode, CniErrorObject } from './errors.js';
export { CniError, cniErrorOf } from './errors.js';
export type { ClientKind, Installed, InstallOptions } from './install.js';
export {
  CNI_PLUGIN_NAME,
  DEFAULT_CNI_BIN_DIR,
  installCniPlugin,
  launcherScript,
  nativeClientPath,
} from './install.js';
export type { RangeRequest } from './ranges.js';
export { parseRanges } from './ranges.js';
export type { CniIp, CniResult } from './result.js';
export { addResult, addressesOf } from './result.js';
export type { CniRoutesOptions } from './routes.js';
export { cniRoutes } from './routes.js';
export type { CniBackend } from './verbs.js';
export type { CniCall, CniEnv, CniErrorBody, CniVerb } from './wire.js';
export {
  CNI_CODES,
  CNI_ROUTES,
  DEFAULT_DAEMON_SOCKET,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
} from './wire.js';
