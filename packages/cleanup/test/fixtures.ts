/** Shared test setup: a real IpamStore on a real etcd, and Docker snapshots shaped like `docker network inspect`. */
import { formatAddress, type IpAddress, parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import {
  IpamStore,
  KeyLayout,
  type NetworkName,
  type NodeId,
  type PoolId,
  parseNetworkName,
  parseNodeId,
} from '@kontena-ipam/store';
import { Etcd3 } from 'etcd3';
import type { DockerNetwork, DockerSnapshot, DockerView } from '../src/docker-view.js';

export const nodeA: NodeId = parseNodeId('node-a');
export const nodeB: NodeId = parseNodeId('node-b');
/**
 * poolId is a network's name and its IPv4 pool's id at once (the same text), so one value serves
 * as PoolRequest.network and wherever a PoolId goes. A `:v6` id is no network name: it throws.
 */
export const poolId = (name: string): PoolId & NetworkName =>
  parseNetworkName(name) as PoolId & NetworkName;
export const ip = (text: string): IpAddress => parseAddress(text);
export const subnet = parseSubnet;

let prefixes = 0;

/** StoreFixture is an IpamStore (fresh key prefix) plus the raw client to look at etcd directly. */
export interface StoreFixture {
  store: IpamStore;
  client: Etcd3;
  keys: KeyLayout;
  prefix: string;
  /** Every key under the prefix, sorted, with the prefix stripped. */
  keyList(): Promise<string[]>;
  /** Addresses (text) in a pool, optionally of one node. */
  addressesOf(pool: string, node?: NodeId): Promise<string[]>;
  close(): Promise<void>;
}

/** storeFixture builds an IpamStore on a fresh prefix so tests sharing one etcd never see each other. */
export function storeFixture(endpoint: string, deadlineMs = 2000): StoreFixture {
  const prefix = `/test-${process.pid}-${++prefixes}/`;
  const client = new Etcd3({ hosts: endpoint });
  const store = new IpamStore({ client, prefix, endpoint, deadlineMs });
  const keys = new KeyLayout(prefix);
  return {
    store,
    client,
    keys,
    prefix,
    async keyList() {
      const all = await client.getAll().prefix(prefix).keys();
      return all.map((k) => k.slice(prefix.length)).sort();
    },
    async addressesOf(pool, node) {
      const records = await store.listAddresses({ pool: poolId(pool), ...(node ? { node } : {}) });
      return records.map((r) => formatAddress(r.address)).sort();
    },
    async close() {
      await store.close();
      client.close();
    },
  };
}

/** bridgeNetwork is one network as createDockerView reports a real `docker network inspect`. */
export function bridgeNetwork(opts: {
  name: string;
  pool?: string;
  subnet: string;
  ipRange?: string;
  gateway?: string;
  aux?: string[];
  endpoints?: string[];
  ipamDriver?: string;
}): DockerNetwork {
  return {
    id: `${opts.name}-0123456789abcdef`,
    name: opts.name,
    driver: 'bridge',
    ipamDriver: opts.ipamDriver ?? 'kontena-ipam',
    ipamOptions: { network: opts.pool ?? opts.name },
    ipamConfig: [
      {
        subnet: opts.subnet,
        ipRange: opts.ipRange,
        gateway: opts.gateway,
        auxAddresses: opts.aux ?? [],
      },
    ],
    endpoints: (opts.endpoints ?? []).map((address, i) => ({
      id: `c${i}-fedcba9876543210`,
      name: `${opts.name}-c${i}`,
      ipv4: address,
      ipv6: undefined,
    })),
  };
}

/** The networks every daemon has, as inspect shows them (no IPAM config of ours). */
export const builtinNetworks: DockerNetwork[] = [
  {
    id: 'host0',
    name: 'host',
    driver: 'host',
    ipamDriver: 'default',
    ipamOptions: {},
    ipamConfig: [],
    endpoints: [],
  },
  {
    id: 'none0',
    name: 'none',
    driver: 'null',
    ipamDriver: 'default',
    ipamOptions: {},
    ipamConfig: [],
    endpoints: [],
  },
];

/**
 * fixedView is a DockerView over a snapshot held in memory; `networks` may be changed between
 * calls and `beforeSnapshot` runs inside snapshot() (that is, after the fence), which is how
 * these tests place a concurrent change at a known point of a run.
 */
export function fixedView(networks: DockerNetwork[] = []): DockerView & {
  networks: DockerNetwork[];
  calls: number;
  beforeSnapshot?: (call: number) => Promise<void>;
} {
  const view = {
    endpoint: 'unix:///test/docker.sock',
    networks,
    calls: 0,
    beforeSnapshot: undefined as ((call: number) => Promise<void>) | undefined,
    async snapshot(): Promise<DockerSnapshot> {
      view.calls++;
      await view.beforeSnapshot?.(view.calls);
      return { networks: [...builtinNetworks, ...view.networks] };
    },
  };
  return view;
}

/** HOUR_LATER is a clock an hour ahead: everything written now is past the default grace. */
export const HOUR_LATER = (): number => Date.now() + 3_600_000;
