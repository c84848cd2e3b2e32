/**
 * @kontena-ipam/app: the kontena-ipam and kontena-ipam-cleanup commands. Exported for anyone
 * embedding the plugin instead of running the bin: the command line itself, configuration from
 * the environment, the logger, the store and etcd client wiring, single-host etcd, and serve().
 * The commands' internals stay inside (tests import them by path).
 */
export { runCli } from './cli.js';
export type { CommandIo } from './commands/command.js';
export { EXIT } from './commands/command.js';
export type { Config, EtcdConfig, LocalEtcdConfig, LogLevel } from './config.js';
export { ConfigError, ENV_VARS, loadConfig } from './config.js';
export type { AppErrorCode } from './errors.js';
export { AppError } from './errors.js';
export { createEtcdClient, etcdClientOptions } from './etcd-client.js';
export type { LocalEtcd, LocalEtcdOptions } from './local-etcd.js';
export { LocalEtcdError, startLocalEtcd } from './local-etcd.js';
export type { LoggerOptions } from './logger.js';
export { createLogger } from './logger.js';
export type { OpenStore } from './open-store.js';
export { openStore } from './open-store.js';
export type { ServeOptions, Serving } from './serve.js';
export { serve } from './serve.js';
export { VERSION } from './version.js';
