/**
 * SharedRead: a read that runs at most once per interval, however often it is asked for. A
 * caller within the interval of the last read gets that read's result; callers while a read is
 * in flight share it. /metrics uses it so that a burst of scrapes (several Prometheus
 * replicas, a dashboard refreshing) costs etcd one listing.
 */

/** SharedResult is a read's value and whether this caller's request started the read. */
export interface SharedResult<T> {
  value: T;
  started: boolean;
}

/** SharedRead wraps `read`; intervalMs 0 reads for every caller not sharing one in flight. */
export class SharedRead<T> {
  private last: { startedAt: number; value: T } | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** get returns the last value if read less than intervalMs ago, else reads (once). */
  async get(): Promise<SharedResult<T>> {
    if (this.inFlight) return { value: await this.inFlight, started: false };
    if (this.last && this.now() - this.last.startedAt < this.intervalMs) {
      return { value: this.last.value, started: false };
    }
    const startedAt = this.now();
    const reading = this.read();
    this.inFlight = reading;
    try {
      const value = await reading;
      this.last = { startedAt, value };
      return { value, started: true };
    } finally {
      this.inFlight = undefined;
    }
  }
}
