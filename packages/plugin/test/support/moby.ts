/**
 * What newer Docker daemons send a remote IPAM driver, replayed over the plugin's socket. Each
 * step follows moby's source at the tag named beside it (read with `git show TAG:PATH`), not a
 * guess; the wire types (libnetwork/ipams/remote/api/api.go) are the same from v20.10 to v28:
 *
 * - pkg/plugins/client.go: `Host: plugin.moby.localhost` on unix sockets from v20.10.26 and
 *   v24.0.5 (`dummyHost`); v20.10.24 (Debian's, the captures) sends an empty Host. Every
 *   request carries `Accept: application/vnd.docker.plugins.v1.2+json` and no Content-Type
 *   (pkg/plugins/transport/http.go, v28.0.0).
 * - libnetwork/network.go `deriveAddressSpace`: v20.10.24 reads the address spaces cached at
 *   registration (drvregistry.go); from v24.0.0 it calls GetDefaultAddressSpaces at every
 *   network create.
 * - libnetwork/ipams/remote/remote.go `RequestPool` (v27.0.1, v28.0.0): GetDefaultAddressSpaces
 *   before every RequestPool, then the host-route overlap loop (before v27 it was
 *   network.go `requestPoolHelper`): no check when Pool is given or AddressSpace is the global
 *   default one; an overlapping answer is held, Docker asks again, and every held pool gets a
 *   ReleasePool once the loop ends (also when it ends in an error).
 * - api/types/network/ipam.go `ValidateIPAM` (v25.0.0, v28.0.0), called by daemon/network.go
 *   before libnetwork: subnet without host bits, ip-range inside the subnet and of its family,
 *   gateway and aux addresses inside the subnet. Nothing reaches the plugin otherwise.
 * - libnetwork/network.go `ipamAllocateVersion` (v28.0.0): a gateway in RequestPool's Data is
 *   taken; else the gateway is requested only when `--gateway` was given or the driver wants
 *   one (`GetSkipGwAlloc`: ipvlan l3/l3s and `--internal` macvlan/ipvlan want none,
 *   drivers/ipvlan/ipvlan_network.go, drivers/macvlan/macvlan_network.go). v20.10.24 requests
 *   it when `--gateway` was given or Data had none. `--ipv4=false` (v28) skips the V4 pool.
 * - libnetwork/network.go `createEndpoint` (v28.0.0): with RequiresMACAddress the MAC comes
 *   from netutils.GenerateRandomMAC, fully random (v20.10.24: `02:42` + 4 random bytes); no
 *   IPv6 RequestAddress when the container has IPv6 disabled (`wantIPv6`, daemon/network.go
 *   CreateOptionDisableIPv6).
 */
import { randomBytes } from 'node:crypto';
import {
  CidrError,
  parseAddress,
  parseAddressWithPrefix,
  parseSubnet,
  type Subnet,
  subnetContains,
  subnetsOverlap,
} from '@kontena-ipam/cidr';
import { ROUTES } from '../../src/protocol.js';
import { type RawReply, send } from './client.js';

/** MobyLine is a daemon release line whose traffic is replayed. */
export type MobyLine = '20.10' | '24' | '25' | '27' | '28';

/** MOBY_TAGS names the moby tag each line's replay was read from. */
export const MOBY_TAGS: Readonly<Record<MobyLine, string>> = {
  '20.10': 'v20.10.24',
  '24': 'v24.0.5',
  '25': 'v25.0.0',
  '27': 'v27.0.1',
  '28': 'v28.0.0',
};

const RANK: Readonly<Record<MobyLine, number>> = {
  '20.10': 20,
  '24': 24,
  '25': 25,
  '27': 27,
  '28': 28,
};

/** IpamConf is one `--subnet` block of `docker network create` (libnetwork IpamConf). */
export interface IpamConf {
  subnet?: string;
  ipRange?: string;
  gateway?: string;
  aux?: Record<string, string>;
}

/** NetworkSpec is what `docker network create` gave libnetwork. */
export interface NetworkSpec {
  /** The `--ipam-opt` options (RequestPool's Options). */
  options: Record<string, string>;
  v4?: IpamConf;
  /** v6 set means `--ipv6`. */
  v6?: IpamConf;
  /** `--ipv4=false` (v28). */
  ipv4Disabled?: boolean;
  /** The driver's GetSkipGwAlloc answer (v28): ipvlan l3, `--internal` macvlan. */
  skipGateway?: boolean;
  /** The host's routes and nameservers (netutils.InferReservedNetworks): RequestPool's Exclude. */
  hostRoutes?: string[];
  /** A swarm-scoped (global) network asks in the global address space. */
  global?: boolean;
}

/** AllocatedPool is what Docker keeps of one RequestPool answer. */
export interface AllocatedPool {
  id: string;
  pool: string;
  gateway: string | undefined;
  aux: string[];
}

/** MobyNetwork is a created network: its pools by family. */
export interface MobyNetwork {
  v4?: AllocatedPool;
  v6?: AllocatedPool;
}

/** MobyError is a failed step: the daemon's error and whether the plugin was ever asked. */
export class MobyError extends Error {
  constructor(
    message: string,
    /** validate: refused before any call; daemon: refused by the daemon between calls; plugin: an Err. */
    readonly stage: 'validate' | 'daemon' | 'plugin',
  ) {
    super(message);
  }
}

/**
 * Call is one request as sent, for asserting the order and shape of the traffic, with the
 * plugin's reply (once it came). What the daemon sends is this model's own doing; what the
 * plugin answered is the plugin's.
 */
export interface Call {
  route: string;
  body: unknown;
  host: string;
  reply?: RawReply;
}

/** mobyMac is a MAC as each line makes it when the IPAM driver RequiresMACAddress. */
export function mobyMac(line: MobyLine): string {
  const hw = randomBytes(6);
  if (RANK[line] >= 28) {
    hw[0] = ((hw[0] as number) & 0xfe) | 0x02; // unicast, locally administered
  } else {
    hw[0] = 0x02;
    hw[1] = 0x42;
  }
  return [...hw].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * MobyDaemon sends one daemon line's traffic to the plugin's socket and records it. Its
 * methods are the daemon operations (network create, container start/stop, network rm).
 */
export class MobyDaemon {
  readonly calls: Call[] = [];
  private spaces: { local: string; global: string } | undefined;

  constructor(
    readonly line: MobyLine,
    private readonly socketPath: string,
  ) {}

  /** since tells whether this daemon is `line` or newer. */
  private since(line: MobyLine): boolean {
    return RANK[this.line] >= RANK[line];
  }

  /** rpc posts one call with this line's headers and records it; the reply is returned as it came. */
  async rpc(route: string, body?: unknown): Promise<RawReply> {
    const host = this.line === '20.10' ? '' : 'plugin.moby.localhost';
    const headers = {
      host,
      'user-agent': 'Go-http-client/1.1',
      accept: 'application/vnd.docker.plugins.v1.2+json',
    };
    const call: Call = { route, body, host };
    this.calls.push(call);
    const text = body === undefined ? '' : `${JSON.stringify(body)}\n`;
    call.reply = await send(this.socketPath, route, text, { headers });
    return call.reply;
  }

  private async ok(route: string, body?: unknown): Promise<Record<string, unknown>> {
    const reply = await this.rpc(route, body);
    const json = reply.json as Record<string, unknown> | undefined;
    if (reply.status !== 200) {
      throw new MobyError(`${route.slice(1)}: ${String(json?.Err ?? reply.text)}`, 'plugin');
    }
    return json ?? {};
  }

  /** register is plugin discovery: Activate, GetCapabilities, and (v20.10) the cached address spaces. */
  async register(): Promise<void> {
    await this.ok(ROUTES.activate);
    await this.ok(ROUTES.capabilities);
    if (!this.since('24')) this.spaces = await this.addressSpaces();
  }

  private async addressSpaces(): Promise<{ local: string; global: string }> {
    const json = await this.ok(ROUTES.addressSpaces);
    return {
      local: String(json.LocalDefaultAddressSpace),
      global: String(json.GlobalDefaultAddressSpace),
    };
  }

  /** createNetwork is `docker network create`: validation (v25+), then ipamAllocate. */
  async createNetwork(spec: NetworkSpec): Promise<MobyNetwork> {
    if (this.since('25')) validateIpam(spec);
    const spaces = this.since('24') ? await this.addressSpaces() : this.spaces;
    if (!spaces) throw new Error('register() first');
    const space = spec.global ? spaces.global : spaces.local;
    const network: MobyNetwork = {};
    const ipv4 = !(spec.ipv4Disabled && this.since('28'));
    if (ipv4) network.v4 = await this.allocate(space, spec, false);
    if (spec.v6) {
      try {
        network.v6 = await this.allocate(space, spec, true);
      } catch (error) {
        if (network.v4) await this.releasePools(network.v4);
        throw error;
      }
    }
    return network;
  }

  private async allocate(space: string, spec: NetworkSpec, v6: boolean): Promise<AllocatedPool> {
    const conf = (v6 ? spec.v6 : spec.v4) ?? {};
    const json = await this.requestPool(space, spec, conf, v6);
    const allocated: AllocatedPool = {
      id: String(json.PoolID),
      pool: String(json.Pool),
      gateway: undefined,
      aux: [],
    };
    const data = (json.Data ?? {}) as Record<string, string>;
    let release = true;
    try {
      const skip = this.since('28') ? spec.skipGateway === true : false;
      if (!conf.gateway && data['com.docker.network.gateway']) {
        allocated.gateway = data['com.docker.network.gateway'];
      }
      if (allocated.gateway === undefined && (conf.gateway !== undefined || !skip)) {
        const gw = await this.ok(ROUTES.requestAddress, {
          PoolID: allocated.id,
          Address: conf.gateway ?? '',
          Options: { RequestAddressType: 'com.docker.network.gateway' },
        });
        allocated.gateway = String(gw.Address);
      }
      const pool = parseSubnet(allocated.pool);
      for (const [name, ip] of Object.entries(conf.aux ?? {})) {
        if (!inside(pool, ip)) {
          // moby returns this error without setting the `err` its deferred ReleasePool checks
          // (network.go ipamAllocateVersion, v20.10.24 and v28.0.0 alike): the pool stays held.
          // From v25 ValidateIPAM refuses such an aux address first; the docker CLI always did.
          release = false;
          throw new MobyError(
            `auxiliary address: (${name}:${ip}) must belong to the master pool: ${allocated.pool}`,
            'daemon',
          );
        }
        await this.ok(ROUTES.requestAddress, { PoolID: allocated.id, Address: ip, Options: null });
        allocated.aux.push(ip);
      }
    } catch (error) {
      if (release) await this.ok(ROUTES.releasePool, { PoolID: allocated.id });
      throw error;
    }
    return allocated;
  }

  /** requestPool is ipams/remote RequestPool (v27+) or requestPoolHelper (before). */
  private async requestPool(
    space: string,
    spec: NetworkSpec,
    conf: IpamConf,
    v6: boolean,
  ): Promise<Record<string, unknown>> {
    let globalSpace = this.spaces?.global ?? 'global';
    if (this.since('27')) globalSpace = (await this.addressSpaces()).global;
    const held: string[] = [];
    try {
      for (;;) {
        const json = await this.ok(ROUTES.requestPool, {
          AddressSpace: space,
          Pool: conf.subnet ?? '',
          SubPool: conf.ipRange ?? '',
          Options: spec.options,
          V6: v6,
        });
        const noCheck =
          (conf.subnet ?? '') !== '' ||
          (this.since('27') ? space === globalSpace : spec.global === true);
        if (noCheck) return json;
        const pool = parseSubnet(String(json.Pool));
        const overlaps = (spec.hostRoutes ?? []).some((r) => subnetsOverlap(parseSubnet(r), pool));
        if (!overlaps) return json;
        held.push(String(json.PoolID));
      }
    } finally {
      for (const id of held) await this.rpc(ROUTES.releasePool, { PoolID: id });
    }
  }

  private async releasePools(pool: AllocatedPool): Promise<void> {
    if (pool.gateway) {
      const ip = pool.gateway.split('/')[0];
      await this.ok(ROUTES.releaseAddress, { PoolID: pool.id, Address: ip });
    }
    for (const ip of pool.aux)
      await this.ok(ROUTES.releaseAddress, { PoolID: pool.id, Address: ip });
    await this.ok(ROUTES.releasePool, { PoolID: pool.id });
  }

  /** deleteNetwork is `docker network rm`: gateway, aux, then the pool, per family. */
  async deleteNetwork(network: MobyNetwork): Promise<void> {
    if (network.v4) await this.releasePools(network.v4);
    if (network.v6) await this.releasePools(network.v6);
  }

  /**
   * createEndpoint is a container joining the network: a MAC made the line's way, then a
   * RequestAddress per family (v28: none for IPv6 when the container disabled it).
   */
  async createEndpoint(
    network: MobyNetwork,
    options: { ipv6Disabled?: boolean; mac?: string } = {},
  ): Promise<{ mac: string; v4?: string; v6?: string }> {
    const mac = options.mac ?? mobyMac(this.line);
    const out: { mac: string; v4?: string; v6?: string } = { mac };
    const ask = async (pool: AllocatedPool): Promise<string> => {
      const json = await this.ok(ROUTES.requestAddress, {
        PoolID: pool.id,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': mac },
      });
      return String(json.Address);
    };
    if (network.v4) out.v4 = await ask(network.v4);
    const wantV6 = network.v6 !== undefined && !(options.ipv6Disabled && this.since('28'));
    if (network.v6 && wantV6) out.v6 = await ask(network.v6);
    return out;
  }

  /** deleteEndpoint releases the endpoint's addresses. */
  async deleteEndpoint(
    network: MobyNetwork,
    endpoint: { v4?: string; v6?: string },
  ): Promise<void> {
    const bare = (a: string): string => a.split('/')[0] as string;
    if (network.v4 && endpoint.v4) {
      await this.ok(ROUTES.releaseAddress, { PoolID: network.v4.id, Address: bare(endpoint.v4) });
    }
    if (network.v6 && endpoint.v6) {
      await this.ok(ROUTES.releaseAddress, { PoolID: network.v6.id, Address: bare(endpoint.v6) });
    }
  }

  /** routes lists the routes called so far, in order. */
  routes(): string[] {
    return this.calls.map((c) => c.route);
  }
}

/** inside tells whether `ip` parses and lies in `subnet` (same family). */
function inside(subnet: Subnet, ip: string): boolean {
  try {
    const address = parseAddress(ip);
    return address.family === subnet.family && subnetContains(subnet, address);
  } catch {
    return false;
  }
}

/**
 * validateIpam is v25's ValidateIPAM (api/types/network/ipam.go at v25.0.0; v28.0.0 skips IPv6
 * blocks when IPv6 is off): every error at once, nothing sent to the plugin.
 */
export function validateIpam(spec: NetworkSpec): void {
  const errors: string[] = [];
  for (const conf of [spec.v4, spec.v6]) {
    if (!conf?.subnet) continue;
    const text = conf.subnet;
    let subnet: Subnet;
    try {
      subnet = parseSubnet(text);
    } catch (error) {
      if (error instanceof CidrError && error.code === 'HOST_BITS_SET') {
        const parsed = parseAddressWithPrefix(text);
        errors.push(`invalid subnet ${text}: host bits are set (prefix /${parsed.prefix})`);
      } else {
        errors.push(`invalid subnet ${text}: invalid CIDR block notation`);
      }
      continue;
    }
    if (conf.ipRange) {
      try {
        const range = parseSubnet(conf.ipRange);
        if (range.family !== subnet.family || !subnetContains(subnet, range)) {
          errors.push(
            `invalid ip-range ${conf.ipRange}: parent subnet ${text} doesn't contain ip-range`,
          );
        }
      } catch {
        errors.push(`invalid ip-range ${conf.ipRange}: invalid CIDR block notation`);
      }
    }
    const addresses = { gateway: conf.gateway, ...conf.aux };
    for (const [name, ip] of Object.entries(addresses)) {
      if (ip === undefined) continue;
      if (!inside(subnet, ip))
        errors.push(`invalid ${name} ${ip}: parent subnet ${text} doesn't contain this address`);
    }
  }
  if (errors.length > 0) {
    throw new MobyError(`invalid network config:\n${errors.join('\n')}`, 'validate');
  }
}
