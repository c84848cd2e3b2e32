/**
 * The etcd key layout, in one place. Everything lives under `${prefix}v2/`, so that a later
 * layout can sit beside this one during a migration.
 *
 *   pools/<PoolId>                  pool record: subnet, ip-range, gateway
 *   holds/<PoolId>/<NodeId>         one host's hold on a pool → { count }
 *   subnets/<network>/<prefix>      subnet reservation → { pool }
 *   addresses/<PoolId>/<address>    one taken address
 *   guard/subnets                   bumped by every reservation (see pool-store.ts)
 *
 * v2 (nothing released used v1) moved the hosts' holds out of the pool record into keys of
 * their own: a host joining or leaving a network writes only its own key, so a fleet joining
 * at once does not queue on one record, and a client-chosen node id is a key, never an object
 * property. An allocation compares its host's hold key, so a host that holds no reference to a
 * pool cannot take an address in it.
 */
import { formatAddress, formatSubnet, type IpAddress, type Subnet } from '@kontena-ipam/cidr';
import type { NodeId, PoolId } from './types.js';

/** DEFAULT_PREFIX is where keys live unless StoreOptions.prefix says otherwise. */
export const DEFAULT_PREFIX = '/kontena/ipam/';

/** LAYOUT_VERSION names the key layout: keys live under `${prefix}${LAYOUT_VERSION}/`. */
export const LAYOUT_VERSION = 'v2';

/** KeyLayout builds every key the store reads or writes. */
export class KeyLayout {
  /** root is `${prefix}v2/`; nothing is written outside it. */
  readonly root: string;
  readonly poolsPrefix: string;
  readonly holdsRoot: string;
  readonly subnetsPrefix: string;
  readonly addressesRoot: string;
  /** guard is the key every subnet reservation compares and bumps. */
  readonly guard: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.root = `${base}${LAYOUT_VERSION}/`;
    this.poolsPrefix = `${this.root}pools/`;
    this.holdsRoot = `${this.root}holds/`;
    this.subnetsPrefix = `${this.root}subnets/`;
    this.addressesRoot = `${this.root}addresses/`;
    this.guard = `${this.root}guard/subnets`;
  }

  pool(id: PoolId): string {
    return `${this.poolsPrefix}${id}`;
  }

  /** holds is the prefix of one pool's hold keys (PoolIds hold no '/', so it is exact). */
  holds(pool: PoolId): string {
    return `${this.holdsRoot}${pool}/`;
  }

  /** hold is one host's hold on one pool. */
  hold(pool: PoolId, node: NodeId): string {
    return `${this.holds(pool)}${node}`;
  }

  subnet(subnet: Subnet): string {
    return `${this.subnetsPrefix}${formatSubnet(subnet)}`;
  }

  /** addresses is the prefix of one pool's address keys (PoolIds hold no '/', so it is exact). */
  addresses(pool: PoolId): string {
    return `${this.addressesRoot}${pool}/`;
  }

  address(pool: PoolId, address: IpAddress): string {
    return `${this.addresses(pool)}${formatAddress(address)}`;
  }

  /** poolIdOf returns the PoolId part of a pool key. */
  poolIdOf(key: string): string {
    return key.slice(this.poolsPrefix.length);
  }

  /** addressTextOf returns the address part of one pool's address key. */
  addressTextOf(pool: PoolId, key: string): string {
    return key.slice(this.addresses(pool).length);
  }
}

/** prefixEnd is etcd's range_end for "every key starting with prefix". */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] as number;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff: the range runs to the end of the keyspace.
  return Buffer.from([0]);
}
