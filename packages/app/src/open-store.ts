/**
 * openStore builds the etcd client and the IpamStore from the config, for every command
 * that needs the store (serve, cleanup, operator tools), so they all read etcd alike.
 */
import { IpamStore, type StoreObserver } from '@kontena-ipam/store';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { endpointText, plainPasswordEndpoints } from './endpoint-text.js';
import { createEtcdClient } from './etcd-client.js';

/** OpenStore is a store with the client it owns; close() closes both. */
export interface OpenStore {
  readonly store: IpamStore;
  readonly client: Etcd3;
  /** endpoint names the etcd endpoints, comma-joined and redacted, for messages. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * openStore makes the client and store; it does not touch etcd (both are lazy). It warns,
 * before anything dials, when the password would cross the network in the clear.
 */
export function openStore(
  config: Config,
  options: { logger: Logger; observer?: StoreObserver },
): OpenStore {
  const endpoints = config.etcd.endpoints;
  const endpoint = endpointText(endpoints);
  const clear = plainPasswordEndpoints(config.etcd);
  if (clear.length > 0) {
    options.logger.warn(
      { endpoint: endpointText(clear) },
      'the etcd password goes over plain http:// to a host that is not loopback: anyone on the path can read it; use https:// endpoints (ETCD_CA_FILE) or a unix:// socket',
    );
  }
  const client = createEtcdClient(config.etcd, endpoints);
  const store = new IpamStore({
    client,
    prefix: config.etcd.prefix,
    supernet: config.supernet,
    subnetLength: config.subnetLength,
    ...(config.supernet6
      ? { supernet6: config.supernet6, subnetLength6: config.subnetLength6 }
      : {}),
    deadlineMs: config.etcd.timeoutMs,
    endpoint,
    logger: options.logger.child({ component: 'store' }),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  return {
    store,
    client,
    endpoint,
    async close() {
      await store.close();
      client.close();
    },
  };
}
