/**
 * @kontena-ipam/app: the kontena-ipam and kontena-ipam-cleanup commands. Exported for tests
 * and for anyone embedding the plugin: config loading, the logger, the etcd client options,
 * single-host etcd, and serve().
 */
export { runCli } from './cli.js';
export type { Command, CommandIo } from './commands/command.js';
export { EXIT } from './commands/command.js';
export { COMMANDS, DEFAULT_COMMAND } from './commands/index.js';
export type { Config, EtcdConfig, LocalEtcdConfig, LogLevel } from './config.js';
export {
  ConfigError,
  DEFAULT_ETCD_ENDPOINT,
  DEFAULT_SOCKET_PATH,
  DEFAULT_STATE_DIR,
  ENV_VARS,
  LOCAL_ETCD_CLIENT_PORT,
  LOCAL_ETCD_PEER_PORT,
  loadConfig,
} from './config.js';
export type { AppErrorCode } from './errors.js';
export { AppError } from './errors.js';
export { createEtcdClient, etcdClientOptions } from './etcd-client.js';
export type { EtcdMode } from './etcd-mode.js';
export { etcdModeOf } from './etcd-mode.js';
export type { LocalEtcd, LocalEtcdOptions } from './local-etcd.js';
export { answers, LocalEtcdError, startLocalEtcd } from './local-etcd.js';
export type { LoggerOptions } from './logger.js';
export { createLogger } from './logger.js';
export type { OpenStore } from './open-store.js';
export { openStore } from './open-store.js';
export type { ServeOptions, Serving } from './serve.js';
export { serve } from './serve.js';
export { VERSION } from './version.js';
