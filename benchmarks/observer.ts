/**
 * Counting what the store reports through its observer (StoreOptions.observer, store-api.md):
 * etcd round trips and lost compare-and-swaps. A store that never calls the observer (one
 * built before it existed) gets "n/a" for its conflict figures rather than a false 0.
 */
import type { Figure } from './scenario.js';
import { IpamStore, type StoreObserver, type StoreOptions } from './workspace.js';

/** ObserverCounts tallies observer events for one or more stores. */
export class ObserverCounts {
  etcdCalls = 0;
  readonly conflicts = new Map<string, number>();
  readonly observer: StoreObserver = {
    etcdCall: () => {
      this.etcdCalls++;
    },
    casConflict: (event) => {
      this.conflicts.set(event.op, (this.conflicts.get(event.op) ?? 0) + 1);
    },
  };

  /** reporting: the store called the observer at all (it makes etcd calls in every scenario). */
  get reporting(): boolean {
    return this.etcdCalls > 0 || this.conflicts.size > 0;
  }

  conflictsOf(op: string): number {
    return this.conflicts.get(op) ?? 0;
  }

  reset(): void {
    this.etcdCalls = 0;
    this.conflicts.clear();
  }
}

/** observedStore builds an IpamStore that reports to `counts`. */
export function observedStore(options: StoreOptions, counts: ObserverCounts): IpamStore {
  return new IpamStore({ ...options, observer: counts.observer });
}

/**
 * conflictShare is the share of `op` transactions that lost their compare:
 * conflicts / (conflicts + wins). "n/a" when the store reported nothing at all.
 */
export function conflictShare(
  counts: ObserverCounts,
  base: Omit<Figure, 'value' | 'unit'>,
  op: 'allocate' | 'pool' | 'release' | 'hold',
  wins: number,
): Figure {
  if (!counts.reporting) {
    return {
      ...base,
      value: undefined,
      unit: '%',
      note: 'n/a: the store called its observer not once (a build without StoreOptions.observer?)',
    };
  }
  const lost = counts.conflictsOf(op);
  return {
    ...base,
    value: (100 * lost) / (lost + wins),
    unit: '%',
    note: `${lost} lost compares, ${wins} won (store observer)`,
  };
}
