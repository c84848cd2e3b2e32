/**
 * The ops transactions are written with, and readers of their responses. Plain values etcd
 * takes as they are (etcd3's builder cannot express range compares or nested transactions).
 */
import type { IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';

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

/** getOp reads one key. */
export function getOp(key: string): IRequestOp {
  return { request_range: { key: Buffer.from(key) } };
}

/** RangeOptions shape a prefix read: counts only, keys only, a fixed revision, a page. */
export interface RangeOptions {
  countOnly?: boolean;
  keysOnly?: boolean;
  revision?: bigint;
  /** At most this many keys; the response's `more` says whether there are others. */
  limit?: number;
  /** Start after this key (the last one of the previous page). */
  after?: Buffer;
  /**
   * Only keys created or changed after this revision. etcd then scans the whole range before
   * it applies `limit`: for rare reads (after a lost compare), not for hot paths.
   */
  changedAfter?: bigint;
}

/** rangeOp reads every key under a prefix (or a page of them, or only counts them). */
export function rangeOp(prefix: string, options: RangeOptions = {}): IRequestOp {
  return {
    request_range: {
      // The smallest key after `after` is `after` + a zero byte.
      key: options.after ? Buffer.concat([options.after, Buffer.from([0])]) : Buffer.from(prefix),
      range_end: prefixEnd(prefix),
      ...(options.countOnly ? { count_only: true } : {}),
      ...(options.keysOnly ? { keys_only: true } : {}),
      ...(options.limit ? { limit: options.limit } : {}),
      ...(options.revision !== undefined ? { revision: options.revision.toString() } : {}),
      ...(options.changedAfter !== undefined
        ? { min_mod_revision: (options.changedAfter + 1n).toString() }
        : {}),
    },
  };
}

/** spanOp reads the keys in [from, to): a run of fixed-width keys, such as block claims. */
export function spanOp(from: string, to: string, options: { keysOnly?: boolean } = {}): IRequestOp {
  return {
    request_range: {
      key: Buffer.from(from),
      range_end: Buffer.from(to),
      ...(options.keysOnly ? { keys_only: true } : {}),
    },
  };
}

/** putOp writes one key. */
export function putOp(key: string, value: string): IRequestOp {
  return { request_put: { key: Buffer.from(key), value: Buffer.from(value) } };
}

/** deleteOp deletes one key. */
export function deleteOp(key: string): IRequestOp {
  return { request_delete_range: { key: Buffer.from(key) } };
}

/** deletePrefixOp deletes every key under a prefix. */
export function deletePrefixOp(prefix: string): IRequestOp {
  return { request_delete_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix) } };
}

/** kvsAt returns the key-values of the i-th response of a transaction (a range op). */
export function kvsAt(res: ITxnResponse, i: number): IKeyValue[] {
  return res.responses[i]?.response_range?.kvs ?? [];
}

/** countAt returns the count of the i-th response of a transaction (a range op). */
export function countAt(res: ITxnResponse, i: number): number {
  return Number(res.responses[i]?.response_range?.count ?? 0);
}

/** revisionOf is the store revision a response was served at. */
export function revisionOf(res: ITxnResponse): bigint {
  return BigInt(res.header.revision);
}
