/**
 * NaiveAllocator allocates the way the original kontena-ipam did: on every request it lists
 * the pool's taken addresses from etcd, picks the lowest free host address, and creates its key
 * if absent (retrying on a lost race). Each request therefore reads the whole pool, so its cost
 * grows with how full the pool is. It exists only as the benchmarks' point of comparison; keys
 * use the store's layout so that both read and write the same amount per key.
 */
import {
  addressAt,
  type etcd3,
  hostRange,
  type IpAddress,
  KeyLayout,
  type PoolId,
  type Subnet,
} from './workspace.js';

type Etcd3 = InstanceType<typeof etcd3.Etcd3>;

// etcd refuses transactions with more than 128 operations (--max-txn-ops).
const BATCH = 100;

/** NaiveAllocator hands out addresses of one subnet, listing the pool per request. */
export class NaiveAllocator {
  private readonly client: Etcd3;
  private readonly subnet: Subnet;
  private readonly prefix: string;
  private readonly keys: KeyLayout;
  private readonly pool: PoolId;
  private readonly hosts: { first: number; last: number };

  constructor(options: { client: Etcd3; subnet: Subnet; pool: PoolId }) {
    if (options.subnet.family !== 4) throw new Error('the naive allocator is IPv4 only');
    const range = hostRange(options.subnet);
    this.hosts = { first: Number(range.first.value), last: Number(range.last.value) };
    this.client = options.client;
    this.subnet = options.subnet;
    this.pool = options.pool;
    this.keys = new KeyLayout();
    this.prefix = this.keys.addresses(options.pool);
  }

  private key(address: IpAddress): string {
    return this.keys.address(this.pool, address);
  }

  /** allocate lists the pool, takes the lowest free host address, or throws when full. */
  async allocate(): Promise<IpAddress> {
    for (;;) {
      const keys = await this.client.getAll().prefix(this.prefix).keys();
      // Numbers, not strings: the comparison is about reading the pool, not about parsing.
      const taken = new Set<number>();
      for (const key of keys) taken.add(ipv4Value(key, this.prefix.length));
      const { first, last } = this.hosts;
      let value = first;
      while (value <= last && taken.has(value)) value++;
      if (value > last) throw new Error(`naive allocator: ${this.pool} is full`);
      const candidate: IpAddress = { family: 4, value: BigInt(value) };
      const key = this.key(candidate);
      const res = await this.client
        .if(key, 'Create', '==', 0)
        .then(this.client.put(key).value('{"node":"naive","kind":"endpoint"}'))
        .commit();
      if (res.succeeded) return candidate;
    }
  }

  /**
   * prefill takes offsets [from, to] in transactions of 100 puts, several at once: filling
   * 65k addresses through allocate() would take hours, and only the pool's size matters.
   */
  async prefill(from: number, to: number, concurrency = 8): Promise<void> {
    const batches: Array<[number, number]> = [];
    for (let o = from; o <= to; o += BATCH) batches.push([o, Math.min(to, o + BATCH - 1)]);
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let b = batches[next++]; b; b = batches[next++]) {
        const ops = [];
        for (let o = b[0]; o <= b[1]; o++) {
          ops.push({
            request_put: {
              key: Buffer.from(this.key(addressAt(this.subnet, BigInt(o)))),
              value: Buffer.from('{"node":"naive","kind":"endpoint"}'),
            },
          });
        }
        await this.client.kv.txn({ compare: [], success: ops, failure: [] });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
  }
}

/** ipv4Value parses the dotted quad that follows `skip` characters of `key`. */
function ipv4Value(key: string, skip: number): number {
  let value = 0;
  let octet = 0;
  for (let i = skip; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === 46) {
      value = value * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return value * 256 + octet;
}
