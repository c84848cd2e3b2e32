/**
 * @kontena-ipam/plugin: Docker's remote IPAM plugin protocol on a unix socket, backed by the
 * store. What a consumer needs to serve it (PluginServer, or createHandler for a server of its
 * own), its options and events, its errors, and the names Docker and operators see. The wire
 * types, the capability answer and the error table stay inside (tests import them by path).
 */

export type {
  HandlerOptions,
  IpamBackend,
  PluginLogger,
  PluginServerOptions,
  RequestEvent,
} from './contract.js';
export type { PluginErrorCode } from './errors.js';
export { PluginError } from './errors.js';
export {
  createHandler,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_CALL_TIMEOUT_MS,
  UNKNOWN_ROUTE,
} from './handler.js';
export {
  DEFAULT_SOCKET_PATH,
  GATEWAY_OPTION,
  HEALTH_PATH,
  NETWORK_OPTION,
  ROUTES,
} from './protocol.js';
export type { RequestFields, Route, RouteContext } from './routes.js';
export { DEFAULT_SHUTDOWN_GRACE_MS, DEFAULT_SOCKET_MODE, PluginServer } from './server.js';
