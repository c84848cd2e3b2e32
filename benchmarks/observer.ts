/**
 * Counting what the store reports through its observer (store-api.md, "Observer"): etcd round
 * trips and lost compare-and-swaps. Until the store takes `StoreOptions.observer`, it never
 * calls us; a scenario then shows its conflict figures as "n/a" rather than a false 0.
 */
import type { Figure } from './scenario.js';
import { IpamStore, type StoreOptions } from './workspace.js';

/**
 * StoreObserver mirrors the contract's shape.
 * TODO: import it from the store once packages/store exports StoreObserver.
 */
export interface StoreObserver {
  etcdCall?(event: { op: string; durationMs: number; ok: boolean; code?: string }): void;
  casConflict?(event: { op: 'allocate' | 'pool' | 'release' | 'hold'; pool?: string }): void;
}

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

/** observedStore builds an IpamStore that reports to `counts` (once the store supports it). */
export function observedStore(options: StoreOptions, counts: ObserverCounts): IpamStore {
  // A variable, not a literal: StoreOptions may not declare `observer` yet.
  const withObserver: StoreOptions & { observer: StoreObserver } = {
    ...options,
    observer: counts.observer,
  };
  return new IpamStore(withObserver);
}

/**
 * conflictShare is the share of `op` transactions that lost their compare:
 * conflicts / (conflicts + wins). "n/a" while the store does not report conflicts.
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
      note: 'n/a: the store does not report CAS conflicts yet (StoreOptions.observer, store-api.md); TODO: drop this fallback once it lands',
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
