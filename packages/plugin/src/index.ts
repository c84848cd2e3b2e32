/** @kontena-ipam/plugin: Docker's remote IPAM plugin protocol on a unix socket, backed by the store. */

export type { HandlerOptions, IpamBackend, PluginServerOptions, RequestEvent } from './contract.js';
export type { ErrorReply, PluginErrorCode } from './errors.js';
export { errorReply, INTERNAL_ERR, PluginError } from './errors.js';
export {
  createHandler,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_CALL_TIMEOUT_MS,
  UNKNOWN_ROUTE,
} from './handler.js';
export type {
  ActivateResponse,
  AddressSpacesResponse,
  CapabilitiesResponse,
  EmptyResponse,
  ErrorResponse,
  HealthResponse,
  ReleaseAddressRequest,
  ReleasePoolRequest,
  RequestAddressRequest,
  RequestAddressResponse,
  RequestPoolRequest,
  RequestPoolResponse,
} from './protocol.js';
export {
  DEFAULT_SOCKET_PATH,
  ENDPOINT_NAME_OPTION,
  GATEWAY_LABEL,
  GATEWAY_OPTION,
  HEALTH_PATH,
  MAC_ADDRESS_OPTION,
  NETWORK_OPTION,
  PLUGIN_CONTENT_TYPE,
  REQUEST_ADDRESS_TYPE,
  ROUTES,
} from './protocol.js';
export { ADDRESS_SPACES, CAPABILITIES } from './routes.js';
export { DEFAULT_SHUTDOWN_GRACE_MS, DEFAULT_SOCKET_MODE, PluginServer } from './server.js';
