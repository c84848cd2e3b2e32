/**
 * Which etcd this host uses, in one place, for the serve log and `kontena-ipam status`:
 * single-host mode (an embedded etcd the user asked for) or cluster mode (the endpoints).
 */
import type { Config } from './config.js';
import { endpointText } from './endpoint-text.js';

/** EtcdMode is how this host reaches its store. */
export interface EtcdMode {
  mode: 'single-host' | 'cluster';
  /** endpoints in use, comma-joined. */
  endpoint: string;
  /** text says it in words, e.g. for a log line or the status footer. */
  text: string;
}

/** etcdModeOf describes the mode the config asks for. */
export function etcdModeOf(config: Config): EtcdMode {
  const endpoint = endpointText(config.etcd.endpoints);
  if (config.localEtcd) {
    return {
      mode: 'single-host',
      endpoint,
      text: `single-host mode: embedded etcd at ${config.localEtcd.endpoint}, for this host alone (KONTENA_IPAM_LOCAL_ETCD=on)`,
    };
  }
  const source = config.etcd.explicit
    ? 'ETCD_ENDPOINT'
    : 'the default: ETCD_ENDPOINT is unset; KONTENA_IPAM_LOCAL_ETCD=on is single-host mode';
  return { mode: 'cluster', endpoint, text: `cluster mode: etcd at ${endpoint} (${source})` };
}
