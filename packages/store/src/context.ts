/**
 * StoreContext: the resolved options and shared parts every store module works with, plus the
 * two small things each transition needs (a fresh token, a pause between CAS attempts).
 */
import { formatSubnet, parseSubnet, type Subnet } from '@kontena-ipam/cidr';
import type { Etcd3 } from 'etcd3';
import { StoreError } from './errors.js';
import { EtcdCalls } from './etcd/calls.js';
import type { TransactContext } from './etcd/cas.js';
import { NodeFences } from './etcd/fences.js';
import { toCompare } from './etcd/guards.js';
import { UndoQueue } from './etcd/undo.js';
import { DEFAULT_PREFIX, KeyLayout } from './layout/keys.js';
import type { StoreLogger, StoreOptions } from './types.js';

/** StoreContext is what IpamStore hands its parts: one per store instance. */
export interface StoreContext extends TransactContext {
  readonly client: Etcd3;
  readonly calls: EtcdCalls;
  readonly keys: KeyLayout;
  readonly supernet: Subnet;
  readonly subnetLength: number;
  readonly supernet6: Subnet | undefined;
  readonly subnetLength6: number;
  readonly maxAttempts: number;
  /** Keys per range read when reading a pool's addresses. */
  readonly pageSize: number;
  readonly logger: StoreLogger;
  /** Takes back writes of calls that failed with their outcome unknown (undo.ts). */
  readonly undo: UndoQueue;
  /** What writes for each host must find in etcd to commit (fences.ts). */
  readonly fences: NodeFences;
}

/**
 * STORE_DEFAULTS are the StoreOptions a store takes when none are given, stated once: the app's
 * configuration falls back to these same values.
 */
export const STORE_DEFAULTS = {
  prefix: DEFAULT_PREFIX,
  supernet: '10.80.0.0/12',
  subnetLength: 24,
  subnetLength6: 64,
  deadlineMs: 5000,
  maxAttempts: 16,
  pageSize: 5000,
} as const;

const silent: StoreLogger = { debug() {}, info() {}, warn() {} };

function checkSupernet(name: string, supernet: Subnet, family: 4 | 6, length: number): void {
  const bits = family === 4 ? 32 : 128;
  if (supernet.family !== family) {
    throw new StoreError(
      'INVALID',
      `${name} ${formatSubnet(supernet)} is not an IPv${family} subnet`,
    );
  }
  if (!Number.isInteger(length) || length < supernet.prefix || length > bits) {
    throw new StoreError(
      'INVALID',
      `subnet length /${length} does not fit ${name} ${formatSubnet(supernet)} (allowed /${supernet.prefix}../${bits})`,
    );
  }
}

/** createContext fills in StoreOptions' defaults; StoreError INVALID for options that cannot work. */
export function createContext(options: StoreOptions): StoreContext {
  const deadlineMs = options.deadlineMs ?? STORE_DEFAULTS.deadlineMs;
  if (!(deadlineMs > 0))
    throw new StoreError('INVALID', `deadlineMs must be > 0, not ${deadlineMs}`);
  const supernet = options.supernet ?? parseSubnet(STORE_DEFAULTS.supernet);
  const subnetLength = options.subnetLength ?? STORE_DEFAULTS.subnetLength;
  checkSupernet('supernet', supernet, 4, subnetLength);
  const subnetLength6 = options.subnetLength6 ?? STORE_DEFAULTS.subnetLength6;
  if (options.supernet6) checkSupernet('supernet6', options.supernet6, 6, subnetLength6);
  const endpoint = options.endpoint ?? 'the configured endpoints';
  const calls = new EtcdCalls(options.client, deadlineMs, endpoint, options.observer);
  const logger = options.logger ?? silent;
  return {
    client: options.client,
    calls,
    keys: new KeyLayout(options.prefix),
    supernet,
    subnetLength,
    supernet6: options.supernet6,
    subnetLength6,
    maxAttempts: Math.max(1, options.maxAttempts ?? STORE_DEFAULTS.maxAttempts),
    pageSize: Math.max(1, options.pageSize ?? STORE_DEFAULTS.pageSize),
    logger,
    undo: new UndoQueue(calls, logger, toCompare, options.undoAttemptsMs),
    fences: new NodeFences(),
  };
}
