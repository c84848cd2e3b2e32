/**
 * What callers are answered, made from records: an Allocation from an address record, and the
 * POOL_NOT_FOUND every address path says the same way.
 */
import type { IpAddress } from '@kontena-ipam/cidr';
import { StoreError } from '../errors.js';
import type { Allocation, PoolId } from '../types.js';
import type { PoolRecord, StoredAddress } from './records.js';

/** allocation is what callers get for an address record of `pool`. */
export function allocation(pool: PoolRecord, address: IpAddress, rec: StoredAddress): Allocation {
  return {
    pool: pool.id,
    address,
    subnet: pool.subnet,
    node: rec.node,
    kind: rec.kind,
    attrs: rec.attrs,
    at: rec.at,
    ...(rec.attachment ? { attachment: rec.attachment } : {}),
  };
}

export function notFound(pool: PoolId): StoreError {
  return new StoreError('POOL_NOT_FOUND', `network ${pool} does not exist`);
}
