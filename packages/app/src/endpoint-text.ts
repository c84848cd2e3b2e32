/**
 * Endpoint text for people: what logs, `status` and the errors Docker shows say about where
 * etcd is. Config refuses an endpoint that carries a user or password; redacting here as well
 * keeps a secret out of every message should one ever get through another way.
 */
import { isLoopbackHost } from './listen-address.js';

/**
 * redactEndpoint hides everything up to the last '@' (the URL's user and password), keeping
 * the scheme and what follows: `http://u:secret@host:2379` → `http://***@host:2379`. It works
 * on any text, also one that is not a URL, since a password may hold ',' or '/'.
 */
export function redactEndpoint(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(text)?.[0] ?? '';
  return `${scheme}***${text.slice(at)}`;
}

/** endpointText names the endpoints, comma-joined and each redacted, for messages. */
export function endpointText(endpoints: readonly string[]): string {
  return endpoints.map(redactEndpoint).join(',');
}

/**
 * plainPasswordEndpoints lists the endpoints a password would cross the network to in the
 * clear: plain http:// to a host that is not loopback (a unix socket and https:// are fine).
 * Empty without a password.
 */
export function plainPasswordEndpoints(etcd: {
  endpoints: readonly string[];
  password: string | undefined;
}): string[] {
  if (etcd.password === undefined) return [];
  return etcd.endpoints.filter((endpoint) => {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return false;
    }
    if (url.protocol !== 'http:') return false;
    return !isLoopbackHost(url.hostname.replace(/^\[|\]$/g, ''));
  });
}
