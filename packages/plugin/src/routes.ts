/**
 * One handler per RPC: validate (requests.ts), make one backend call, shape Docker's reply.
 * No allocation logic lives here; the store decides everything about pools and addresses.
 */
import { formatAddress, formatAddressWithPrefix, formatSubnet } from '@kontena-ipam/cidr';
import { type Budget, isStoreError, type NodeId } from '@kontena-ipam/store';
import type { IpamBackend } from './contract.js';
import { invalid, PluginError } from './errors.js';
import {
  type ActivateResponse,
  type AddressSpacesResponse,
  type CapabilitiesResponse,
  type EmptyResponse,
  GATEWAY_LABEL,
  GATEWAY_OPTION,
  type RequestAddressResponse,
  type RequestPoolResponse,
  ROUTES,
} from './protocol.js';
import {
  parseHandshake,
  parseReleaseAddress,
  parseReleasePool,
  parseRequestAddress,
  parseRequestPool,
} from './requests.js';

/**
 * CAPABILITIES: why each flag (the README says more).
 * - RequiresMACAddress: true. Docker then sends each container's MAC with its RequestAddress,
 *   while `--aux-address` requests keep `Options: null`: that is how a static `--ip`
 *   (exclusive) is told apart from an aux address (shared by every host that creates the
 *   network). The MAC is also recorded for cleanup and operators.
 * - RequiresRequestReplay: false. Our state lives in etcd and survives daemon and plugin
 *   restarts; with replay, every daemon restart re-sends RequestPool for each network (see
 *   fakeipam2 capture), adding a hold that no ReleasePool ever takes back, so the pool would
 *   never be freed.
 */
export const CAPABILITIES: CapabilitiesResponse = {
  RequiresMACAddress: true,
  RequiresRequestReplay: false,
};

/** ADDRESS_SPACES: names only; pools are cluster-wide whatever space Docker asks in. */
export const ADDRESS_SPACES: AddressSpacesResponse = {
  LocalDefaultAddressSpace: 'local',
  GlobalDefaultAddressSpace: 'global',
};

/** RequestFields are what one request is about, filled in as it is understood, for its log line. */
export interface RequestFields {
  pool?: string;
  address?: string;
  /** The pool's subnet, for RequestPool. */
  subnet?: string;
  /** What happened beyond the status, e.g. "nothing to release". */
  result?: string;
}

/** RouteContext is what a handler gets besides the decoded body. */
export interface RouteContext {
  backend: IpamBackend;
  node: NodeId;
  v6Dynamic: boolean;
  fields: RequestFields;
  /**
   * call runs one backend call under the per-call deadline; `budget` is that deadline, for the
   * store to fit every retry and etcd attempt into.
   */
  call<T>(operation: (budget: Budget) => Promise<T>): Promise<T>;
}

/** Route is one RPC: `handle` gets the JSON-decoded body (undefined when empty). */
export interface Route {
  readonly path: string;
  handle(input: unknown, ctx: RouteContext): Promise<object>;
  /**
   * errorBody shapes the reply body of a failure of this route (the status stays the error
   * table's); without it the body is Docker's `{"Err": message}`.
   */
  errorBody?(error: unknown, reply: { status: number; err: string; code: string }): object;
}

const activate: Route = {
  path: ROUTES.activate,
  async handle(input): Promise<ActivateResponse> {
    parseHandshake(input);
    return { Implements: ['IpamDriver'] };
  },
};

const capabilities: Route = {
  path: ROUTES.capabilities,
  async handle(input): Promise<CapabilitiesResponse> {
    parseHandshake(input);
    return CAPABILITIES;
  },
};

const addressSpaces: Route = {
  path: ROUTES.addressSpaces,
  async handle(input): Promise<AddressSpacesResponse> {
    parseHandshake(input);
    return ADDRESS_SPACES;
  },
};

const requestPool: Route = {
  path: ROUTES.requestPool,
  async handle(input, ctx): Promise<RequestPoolResponse> {
    const req = parseRequestPool(input);
    ctx.fields.pool = req.network;
    if (req.v6 && !req.subnet && !ctx.v6Dynamic) {
      throw invalid(
        'V6 is true but Pool is empty: dynamic IPv6 pools need an IPv6 supernet configured on the plugin; give the network an IPv6 --subnet instead',
      );
    }
    const pool = await ctx.call((budget) =>
      ctx.backend.requestPool(
        {
          network: req.network,
          node: ctx.node,
          subnet: req.subnet,
          ipRange: req.ipRange,
          gateway: req.gateway,
          v6: req.v6,
        },
        budget,
      ),
    );
    ctx.fields.pool = pool.id;
    ctx.fields.subnet = formatSubnet(pool.subnet);
    return {
      PoolID: pool.id,
      Pool: formatSubnet(pool.subnet),
      // Docker takes this gateway instead of asking for one, so every host uses the same.
      Data: { [GATEWAY_LABEL]: formatAddressWithPrefix(pool.gateway, pool.subnet.prefix) },
    };
  },
};

const releasePool: Route = {
  path: ROUTES.releasePool,
  async handle(input, ctx): Promise<EmptyResponse> {
    const req = parseReleasePool(input);
    ctx.fields.pool = req.pool;
    const result = await ctx.call((budget) =>
      ctx.backend.releasePool({ pool: req.pool, node: ctx.node }, budget),
    );
    // Docker never retries a release: an unknown pool is answered {} and only logged.
    ctx.fields.result = result.removed
      ? 'pool removed'
      : result.released
        ? 'hold released'
        : 'nothing to release';
    return {};
  },
};

const requestAddress: Route = {
  path: ROUTES.requestAddress,
  async handle(input, ctx): Promise<RequestAddressResponse> {
    const req = parseRequestAddress(input);
    ctx.fields.pool = req.pool;
    if (req.address) ctx.fields.address = formatAddress(req.address);
    const allocation = await ctx
      .call((budget) =>
        ctx.backend.requestAddress(
          {
            pool: req.pool,
            node: ctx.node,
            address: req.address,
            kind: req.kind,
            attrs: req.attrs,
          },
          budget,
        ),
      )
      .catch((error: unknown) => {
        throw req.kind === 'gateway' && req.address
          ? gatewayHint(error, formatAddress(req.address))
          : error;
      });
    ctx.fields.address = formatAddress(allocation.address);
    ctx.fields.result = allocation.kind;
    return {
      Address: formatAddressWithPrefix(allocation.address, allocation.subnet.prefix),
      Data: {},
    };
  },
};

const releaseAddress: Route = {
  path: ROUTES.releaseAddress,
  async handle(input, ctx): Promise<EmptyResponse> {
    const req = parseReleaseAddress(input);
    ctx.fields.pool = req.pool;
    ctx.fields.address = formatAddress(req.address);
    const result = await ctx.call((budget) =>
      ctx.backend.releaseAddress({ pool: req.pool, address: req.address, node: ctx.node }, budget),
    );
    ctx.fields.result = result.released ? 'released' : 'nothing to release';
    return {};
  },
};

/**
 * gatewayHint explains a refused `--gateway`: the pool got its gateway at RequestPool, before
 * Docker said which one it wants, and the store moves it only for the one host that alone
 * holds the pool (another host may already use the old one). Saying it at RequestPool, on
 * every host, always works.
 */
function gatewayHint(error: unknown, asked: string): unknown {
  if (!isStoreError(error, 'POOL_MISMATCH')) return error;
  return new PluginError(
    'INVALID_REQUEST',
    `${error.message}; pass --ipam-opt ${GATEWAY_OPTION}=${asked} along with --gateway ${asked} on every host`,
    { cause: error },
  );
}

/** routeTable maps each RPC path to its handler: Docker's, then `extra` (which may not replace one). */
export function routeTable(extra: readonly Route[] = []): ReadonlyMap<string, Route> {
  const routes = [
    activate,
    capabilities,
    addressSpaces,
    requestPool,
    releasePool,
    requestAddress,
    releaseAddress,
  ];
  const table = new Map(routes.map((route) => [route.path, route]));
  for (const route of extra) {
    if (table.has(route.path)) throw new Error(`route ${route.path} is served twice`);
    table.set(route.path, route);
  }
  return table;
}
