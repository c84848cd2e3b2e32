/**
 * What @kontena-ipam/cleanup offers, as types: the options of one run, what it reports,
 * and the subset of the store it needs. Everything else here imports from this file.
 */
import type { IpamStore, NodeId, PoolId, StoreLogger } from '@kontena-ipam/store';
import type { DockerView } from './docker-view.js';
import type { NetnsState } from './netns.js';
import type { RevisionClock } from './revision-age.js';

/**
 * CleanupStore is the part of IpamStore a run reads and writes. Every write it uses is
 * guarded in the store by a revision compare, so a concurrent change always wins.
 */
export type CleanupStore = Pick<
  IpamStore,
  | 'revision'
  | 'listPools'
  | 'listAddresses'
  | 'releaseAddressIfUnchanged'
  | 'dropHold'
  | 'removePoolIfUnheld'
  | 'listAttachments'
  | 'detach'
>;

/** CleanupLogger is the store's logger shape (a pino-compatible subset): one interface for both. */
export type CleanupLogger = StoreLogger;

/** DEFAULT_GRACE_MS: addresses younger than this are never freed (5 minutes). */
export const DEFAULT_GRACE_MS = 5 * 60_000;
/**
 * MIN_GRACE_MS is the shortest --grace the CLI takes (30 s). Between the plugin committing an
 * address and Docker listing the endpoint, the address looks like a leak; a shorter grace can
 * free it under a starting container. Only --unsafe-grace goes below it.
 */
export const MIN_GRACE_MS = 30_000;
/** DEFAULT_IPAM_DRIVER is the name Docker knows the plugin by (its socket's base name). */
export const DEFAULT_IPAM_DRIVER = 'kontena-ipam';

/** CleanupOptions configures one run of runCleanup. */
export interface CleanupOptions {
  /** The store (an IpamStore; only the methods in CleanupStore are called). */
  store: CleanupStore;
  /** What Docker says exists on this host. */
  docker: DockerView;
  /** This host (NODE_ID): only its addresses and holds are touched, unless forgetNode. */
  node: NodeId;
  /** Addresses younger than this are never freed; default DEFAULT_GRACE_MS. */
  graceMs?: number;
  /** Report what would be done; write nothing. */
  dryRun?: boolean;
  /**
   * The operator says this host is gone for good: release its holds and endpoint
   * addresses instead of this host's. Must differ from `node`.
   */
  forgetNode?: NodeId;
  logger?: CleanupLogger;
  /** IPAM driver name of our networks in Docker; default DEFAULT_IPAM_DRIVER. */
  ipamDriver?: string;
  /** Clock in ms since the epoch (tests pin it); default Date.now. */
  now?: () => number;
  /**
   * Fences of earlier runs, to age pool holds by (the CLI's --interval loop keeps one); this
   * run notes its own fence in it. Without it, holds are aged by this host's address records.
   */
  revisionClock?: RevisionClock;
  /**
   * netnsState judges a CNI attachment's container by its recorded netns path (default:
   * netns.ts's look at this machine's filesystem).
   */
  netnsState?: (path: string) => NetnsState;
  /** Called with each action as it happens, so a failure later loses no line. */
  onAction?: (action: CleanupAction) => void;
}

/**
 * CleanupActionKind: what one action is about.
 * - free-address: an endpoint address Docker does not know
 * - skip-address: an address that would be freed but is too young (after the fence,
 *   inside the grace period, or of unknown age) or showed up in Docker meanwhile
 * - drop-hold: a host's reference on a pool no local network uses (or a forgotten host's)
 * - remove-pool: a pool nobody holds, with its subnet and addresses
 * - keep-pool: a pool that looked removable but is kept, with the reason
 */
export type CleanupActionKind =
  | 'free-address'
  | 'skip-address'
  | 'drop-hold'
  | 'remove-pool'
  | 'keep-pool';

/**
 * CleanupOutcome: `done` (written), `dry-run` (would be written), `changed` (a concurrent
 * change won the compare, nothing written), `skipped` (deliberately left alone).
 */
export type CleanupOutcome = 'done' | 'dry-run' | 'changed' | 'skipped';

/** CleanupAction is one line of the report. */
export interface CleanupAction {
  kind: CleanupActionKind;
  outcome: CleanupOutcome;
  pool: PoolId;
  /** The address (canonical text), for address actions. */
  address?: string;
  /** The address's owner, or the host whose hold is dropped. */
  node?: NodeId;
  /** Why, in words an operator can act on. */
  reason: string;
}

/** CleanupReport sums up one run; with dryRun, counts say what would have happened. */
export interface CleanupReport {
  /** The etcd revision taken first: nothing written after it is touched. */
  fence: bigint;
  /** When the fence was read (ISO time). */
  fenceAt: string;
  /** Holds changed after this revision were left alone as too young (see revision-age.ts). */
  holdFence: bigint;
  /** Pools scanned. */
  pools: number;
  /** Addresses of the target host kept: Docker uses them, or they are a pool's gateway/aux. */
  kept: number;
  freed: number;
  /**
   * Addresses and pool holds left alone because written after the fence, younger than the
   * grace period, or of unknown age.
   */
  tooYoung: number;
  holdsDropped: number;
  poolsRemoved: number;
  /** Writes that lost to a concurrent change (the change wins; the next run looks again). */
  conflicts: number;
  actions: CleanupAction[];
  dryRun: boolean;
  /** The host whose addresses and holds were considered (this host, or the forgotten one). */
  node: NodeId;
  forgetNode: NodeId | undefined;
  graceMs: number;
}
