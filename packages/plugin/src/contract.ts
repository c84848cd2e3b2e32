/** What the plugin offers and needs: its options, the backend it calls, the events it emits. */
import type { IpamStore, NodeId, NodeRegistration, StoreLogger } from '@kontena-ipam/store';
import type { Route } from './routes.js';

/**
 * PluginLogger is what the plugin logs through: the store's logger methods plus `error`, and
 * `isLevelEnabled` so that debug-only fields (request and reply bodies) are built only when
 * they are logged. A pino logger is one; nothing here depends on pino.
 */
export interface PluginLogger extends StoreLogger {
  error(obj: object, msg?: string): void;
  isLevelEnabled(level: string): boolean;
}

/** IpamBackend is the subset of IpamStore the plugin calls (lets benchmarks plug in a trivial stand-in). */
export type IpamBackend = Pick<
  IpamStore,
  'requestPool' | 'releasePool' | 'requestAddress' | 'releaseAddress' | 'ping'
>;

/** RequestEvent is the outcome of one RPC, for metrics. */
export interface RequestEvent {
  route: string;
  status: number;
  outcome: 'ok' | 'error';
  code?: string;
  durationMs: number;
}

/** PluginServerOptions configures a PluginServer (and, minus the socket, createHandler). */
export interface PluginServerOptions {
  backend: IpamBackend;
  node: NodeId;
  /** Default used by the app: /run/docker/plugins/kontena-ipam.sock */
  socketPath: string;
  logger: PluginLogger;
  /** etcd endpoint(s), for messages ("etcd unavailable at …"). */
  endpoint?: string;
  /** Upper bound per RPC (default 10000) so Docker, which has no timeout of its own, never hangs. */
  callTimeoutMs?: number;
  /** Default 1 MiB; larger bodies get 413. */
  bodyLimitBytes?: number;
  /** Default 0o660. */
  socketMode?: number;
  /** true when an IPv6 supernet is configured (dynamic IPv6 pools possible). */
  v6Dynamic?: boolean;
  onRequest?: (event: RequestEvent) => void;
  /**
   * routes served beside Docker's on the same socket (the CNI calls of @kontena-ipam/cni), with
   * the same body limit, deadline, log line and metrics.
   */
  extraRoutes?: readonly Route[];
  /**
   * The instance's registration of its NODE_ID (the store's NodeRegistration): `GET /health`
   * reports it, and is unavailable while this instance does not hold it.
   */
  registration?: Pick<NodeRegistration, 'instance' | 'state' | 'problem'>;
}

/** HandlerOptions is what createHandler needs: the server's options minus the socket. */
export type HandlerOptions = Omit<PluginServerOptions, 'socketPath' | 'socketMode'>;
