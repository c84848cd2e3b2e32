/**
 * Docker's remote IPAM plugin protocol (libnetwork `ipamapi` / `ipams/remote/api`), with
 * Docker's exact field names. Checked against a real Docker 20.10 daemon: see
 * the captures in test/fixtures/docker-ipam-traffic/ (replayed by test/captures.test.ts), and
 * the README of this package.
 */

/** PLUGIN_CONTENT_TYPE is what every reply carries (Docker accepts any, but this is the plugin API's own). */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/** DEFAULT_SOCKET_PATH is where Docker discovers a plugin named `kontena-ipam`. */
export const DEFAULT_SOCKET_PATH = '/run/docker/plugins/kontena-ipam.sock';

/** ROUTES lists every RPC path Docker calls (always POST, body JSON or empty). */
export const ROUTES = {
  activate: '/Plugin.Activate',
  capabilities: '/IpamDriver.GetCapabilities',
  addressSpaces: '/IpamDriver.GetDefaultAddressSpaces',
  requestPool: '/IpamDriver.RequestPool',
  releasePool: '/IpamDriver.ReleasePool',
  requestAddress: '/IpamDriver.RequestAddress',
  releaseAddress: '/IpamDriver.ReleaseAddress',
} as const;

/** HEALTH_PATH is our own `GET` probe on the same socket; Docker never calls it. */
export const HEALTH_PATH = '/health';

/** NETWORK_OPTION is the `--ipam-opt network=NAME` key that names the shared pool. */
export const NETWORK_OPTION = 'network';
/**
 * GATEWAY_OPTION is `--ipam-opt gateway=A.B.C.D`: the pool's gateway from its creation on.
 * Docker only tells `--gateway` later (in the gateway RequestAddress), when the store can move
 * the gateway only if this host alone holds the pool; the option works on every host.
 */
export const GATEWAY_OPTION = 'gateway';
/** REQUEST_ADDRESS_TYPE is the RequestAddress option key that marks the gateway request. */
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
/** GATEWAY_LABEL is libnetwork's `netlabel.Gateway`: the gateway request type and the pool Data key. */
export const GATEWAY_LABEL = 'com.docker.network.gateway';
/** MAC_ADDRESS_OPTION carries the endpoint's MAC when the driver reports RequiresMACAddress. */
export const MAC_ADDRESS_OPTION = 'com.docker.network.endpoint.macaddress';
/** ENDPOINT_NAME_OPTION carries the endpoint (container) name; sent by Docker 29+. */
export const ENDPOINT_NAME_OPTION = 'com.docker.network.endpoint.name';

/** ActivateResponse answers `/Plugin.Activate`. */
export interface ActivateResponse {
  Implements: string[];
}

/** CapabilitiesResponse answers `/IpamDriver.GetCapabilities`. */
export interface CapabilitiesResponse {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}

/** AddressSpacesResponse answers `/IpamDriver.GetDefaultAddressSpaces`. */
export interface AddressSpacesResponse {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

/** RequestPoolRequest is the body of `/IpamDriver.RequestPool` (Pool = --subnet, SubPool = --ip-range). */
export interface RequestPoolRequest {
  AddressSpace: string;
  Pool: string;
  SubPool: string;
  Options: Record<string, string> | null;
  V6: boolean;
}

/** RequestPoolResponse: Pool is a CIDR; Data may carry the gateway as "A.B.C.D/len". */
export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

/** ReleasePoolRequest is the body of `/IpamDriver.ReleasePool`. */
export interface ReleasePoolRequest {
  PoolID: string;
}

/** RequestAddressRequest: Address "" asks for any free address; Options may be null. */
export interface RequestAddressRequest {
  PoolID: string;
  Address: string;
  Options: Record<string, string> | null;
}

/** RequestAddressResponse: Address is "A.B.C.D/<pool prefix length>". */
export interface RequestAddressResponse {
  Address: string;
  Data: Record<string, string>;
}

/** ReleaseAddressRequest: Address is a bare IP (no prefix length). */
export interface ReleaseAddressRequest {
  PoolID: string;
  Address: string;
}

/** EmptyResponse answers both releases. */
export type EmptyResponse = Record<string, never>;

/** ErrorResponse is every failure's body; Docker shows `Err` to the user. */
export interface ErrorResponse {
  Err: string;
}

/** HealthResponse answers `GET /health` (with HTTP 200, or 503 plus `Err`). */
export interface HealthResponse {
  Status: 'ok' | 'unavailable';
  Etcd: 'reachable' | 'unreachable';
  /** This host's NODE_ID, and where this instance stands with it (when it registers). */
  Node?: string;
  Instance?: string;
  Registration?: 'registering' | 'serving' | 'waiting' | 'stopped';
  Err?: string;
}
