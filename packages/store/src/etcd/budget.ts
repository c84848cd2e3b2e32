/**
 * Budget: how long one caller's call may take, end to end. The plugin makes one per Docker
 * call and passes it down; every retry and every etcd attempt made for that call fits inside
 * it, so no store work is still running once Docker has its answer. A store call made without
 * one gets `StoreOptions.deadlineMs` from its start.
 */

/** Budget is an absolute deadline (epoch ms) for one call and everything it does. */
export class Budget {
  /** deadline is Date.now() at which the call must have answered. */
  readonly deadline: number;

  private constructor(deadline: number) {
    this.deadline = deadline;
  }

  /** within gives a budget of `ms` from now. */
  static within(ms: number): Budget {
    return new Budget(Date.now() + ms);
  }

  /** until gives a budget that ends at `deadline` (epoch ms). */
  static until(deadline: number): Budget {
    return new Budget(deadline);
  }

  /** remainingMs is what is left, never below 0. */
  remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  /** expired: nothing is left. */
  expired(): boolean {
    return this.remainingMs() === 0;
  }
}
