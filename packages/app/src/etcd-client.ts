/**
 * The etcd3 client options, from the config: endpoints used whole, TLS from files, user
 * and password, a dial timeout, and the store's fault handling (resilientClientOptions: no
 * 5 s per-host breaker, a short cool-down for a member that does not answer, etcd3's own
 * retry off because the store retries with per-attempt deadlines, require-leader metadata on
 * every call, gRPC keepalive). A `unix:///path` endpoint goes to gRPC as it is (etcd3 strips only
 * http:// and https://, and grpc-js dials `unix:` targets). The store puts a deadline on each of its calls; the unary
 * deadline here is the backstop for anything else (auth).
 */
import { readFileSync } from 'node:fs';
import { resilientClientOptions } from '@kontena-ipam/store';
import { Etcd3, type IOptions } from 'etcd3';
import type { EtcdConfig } from './config.js';
import { redactEndpoint } from './endpoint-text.js';
import { AppError } from './errors.js';

/** etcdClientOptions turns the etcd config into etcd3's options (reads the TLS files). */
export function etcdClientOptions(etcd: EtcdConfig, endpoints = etcd.endpoints): IOptions {
  // Config refuses these; an embedder's hand-made EtcdConfig gets the same answer, since etcd3
  // would pass `user:secret@host` on to gRPC as the target and into its error messages.
  const withSecret = endpoints.find((e) => e.includes('@'));
  if (withSecret !== undefined) {
    throw new AppError(
      'INVALID_CONFIG',
      `etcd endpoint ${redactEndpoint(withSecret)} holds a user name or password; give them as username and password (ETCD_USERNAME, ETCD_PASSWORD_FILE) instead`,
    );
  }
  const options: IOptions = {
    hosts: endpoints,
    dialTimeout: etcd.timeoutMs,
    // Streams (watches) live long; only unary calls get the deadline.
    ...resilientClientOptions(etcd.timeoutMs),
  };
  if (etcd.caFile) {
    options.credentials = {
      rootCertificate: readFileSync(etcd.caFile),
      ...(etcd.keyFile ? { privateKey: readFileSync(etcd.keyFile) } : {}),
      ...(etcd.certFile ? { certChain: readFileSync(etcd.certFile) } : {}),
    };
  }
  if (etcd.username !== undefined && etcd.password !== undefined) {
    options.auth = { username: etcd.username, password: etcd.password };
  }
  return options;
}

/** createEtcdClient makes the client; it connects lazily, so it never fails while etcd is down. */
export function createEtcdClient(etcd: EtcdConfig, endpoints = etcd.endpoints): Etcd3 {
  return new Etcd3(etcdClientOptions(etcd, endpoints));
}
