/**
 * parseListenAddress reads KONTENA_IPAM_METRICS-style `host:port` values ("127.0.0.1:9464",
 * "localhost:9464", "[::1]:9464") and says whether the host is loopback, so that config can
 * refuse anything else unless the operator opts in.
 */
import { isIP } from 'node:net';

/** ListenAddress is where a local HTTP server listens. */
export interface ListenAddress {
  host: string;
  port: number;
  /** loopback is true for localhost, 127.0.0.0/8 and ::1. */
  loopback: boolean;
}

/** isLoopbackHost tells loopback host names and addresses from the rest. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** parseListenAddress parses `host:port`; throws an Error saying what is expected. */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined) {
    throw new Error('must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464');
  }
  if (match[1] !== undefined && isIP(host) !== 6) {
    throw new Error(`[${host}] is not an IPv6 address`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port ${match[3]} must be 1-65535`);
  }
  return { host, port, loopback: isLoopbackHost(host) };
}
