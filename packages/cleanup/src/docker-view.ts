import { Agent } from 'node:http';
import Docker from 'dockerode';
import { CleanupError } from './errors.js';

/** DockerIpamConfig is one entry of a network's IPAM config, as Docker reports it. */
export interface DockerIpamConfig {
  readonly subnet: string | undefined;
  readonly ipRange: string | undefined;
  readonly gateway: string | undefined;
  /** The values of `--aux-address name=IP`, bare IPs. */
  readonly auxAddresses: readonly string[];
}

/** DockerEndpoint is one endpoint on a network (a container), with bare IPs (no prefix length). */
export interface DockerEndpoint {
  readonly id: string;
  readonly name: string;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
}

/** DockerNetwork is what cleanup needs to know of one local Docker network. */
export interface DockerNetwork {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly ipamDriver: string;
  /** `--ipam-opt` values; `network` is the PoolID of the IPv4 pool (`network:v6`: IPv6). */
  readonly ipamOptions: Readonly<Record<string, string>>;
  /** `--ipv6`: the network also has an IPv6 pool. Absent = false. */
  readonly enableIPv6?: boolean;
  readonly ipamConfig: readonly DockerIpamConfig[];
  readonly endpoints: readonly DockerEndpoint[];
}

/** DockerSnapshot is every local network with its endpoints, read at one moment. */
export interface DockerSnapshot {
  readonly networks: readonly DockerNetwork[];
}

/**
 * DockerView is what Docker says exists on this host. The reconciler reads only this, so
 * its logic stays independent of the Engine API client; production uses createDockerView.
 */
export interface DockerView {
  /** Where the view reads from, for messages ("unix:///var/run/docker.sock"). */
  readonly endpoint: string;
  /** snapshot lists every local network (any driver) with its IPAM config and endpoints. */
  snapshot(): Promise<DockerSnapshot>;
}

/** DockerViewOptions configures createDockerView. */
export interface DockerViewOptions {
  /** Unix socket of the Docker daemon; wins over DOCKER_HOST. */
  socketPath?: string;
  /** Environment to read DOCKER_HOST from (default: none, so the default socket). */
  env?: NodeJS.ProcessEnv;
  /** Upper bound per Engine API call (default 10 s): a hung daemon must not hang cleanup. */
  timeoutMs?: number;
}

/** DEFAULT_DOCKER_SOCKET is where Docker listens unless told otherwise. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * resolveDockerSocket picks the daemon socket: an explicit path, else DOCKER_HOST
 * (`unix://` only: cleanup must judge the host it runs on, and we never talk to a remote
 * address), else /var/run/docker.sock.
 */
export function resolveDockerSocket(opts: DockerViewOptions): string {
  if (opts.socketPath) return opts.socketPath;
  const host = opts.env?.DOCKER_HOST?.trim();
  if (!host) return DEFAULT_DOCKER_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET;
  throw new CleanupError(
    'DOCKER_UNSUPPORTED',
    `DOCKER_HOST=${host} is not a unix socket: cleanup reads the local daemon only (use unix:///path/to/docker.sock)`,
  );
}

function bareIp(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const slash = text.indexOf('/');
  return slash === -1 ? text : text.slice(0, slash);
}

function toNetwork(info: Docker.NetworkInspectInfo): DockerNetwork {
  const endpoints: DockerEndpoint[] = Object.entries(info.Containers ?? {}).map(([id, c]) => ({
    id,
    name: c.Name,
    ipv4: bareIp(c.IPv4Address),
    ipv6: bareIp(c.IPv6Address),
  }));
  const ipamConfig: DockerIpamConfig[] = (info.IPAM?.Config ?? []).map((c) => ({
    subnet: c.Subnet || undefined,
    ipRange: c.IPRange || undefined,
    gateway: bareIp(c.Gateway),
    auxAddresses: Object.values(c.AuxiliaryAddresses ?? {})
      .map((a) => bareIp(a))
      .filter((a): a is string => Boolean(a)),
  }));
  return {
    id: info.Id,
    name: info.Name,
    driver: info.Driver,
    ipamDriver: info.IPAM?.Driver ?? '',
    ipamOptions: { ...(info.IPAM?.Options ?? {}) },
    enableIPv6: info.EnableIPv6 === true,
    ipamConfig,
    endpoints,
  };
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * createDockerView reads the local daemon through dockerode (a maintained Engine API
 * client; hand-written HTTP would have to track API versions itself). Every failure to
 * reach the daemon becomes CleanupError DOCKER_UNAVAILABLE naming the socket.
 */
export function createDockerView(opts: DockerViewOptions = {}): DockerView {
  const socketPath = resolveDockerSocket(opts);
  // socketPath is always given, so docker-modem never reads process.env itself. No
  // keep-alive: each look opens a fresh connection, so a daemon that went away (or came
  // back) between two --interval runs is seen as it is now, not through an old socket.
  const docker = new Docker({
    socketPath,
    timeout: opts.timeoutMs ?? 10_000,
    agent: new Agent({ keepAlive: false }),
  } as Docker.DockerOptions);
  const endpoint = `unix://${socketPath}`;
  const unavailable = (error: unknown): CleanupError =>
    new CleanupError(
      'DOCKER_UNAVAILABLE',
      `Docker unreachable at ${endpoint}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );

  return {
    endpoint,
    async snapshot() {
      let listed: Docker.NetworkInspectInfo[];
      try {
        listed = await docker.listNetworks();
      } catch (error) {
        throw unavailable(error);
      }
      const networks: DockerNetwork[] = [];
      // The list omits endpoints (Containers is empty there), so inspect each network.
      for (const summary of listed) {
        try {
          const info = (await docker.getNetwork(summary.Id).inspect()) as Docker.NetworkInspectInfo;
          networks.push(toNetwork(info));
        } catch (error) {
          // Removed between list and inspect: it is gone, which is what a later list says too.
          if (statusOf(error) === 404) continue;
          throw unavailable(error);
        }
      }
      return { networks };
    },
  };
}
