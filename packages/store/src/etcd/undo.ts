/**
 * Taking back writes whose outcome nobody knows. A commit that fails with UNAVAILABLE (its
 * budget ran out, the member died mid-call) may still have been applied by etcd, possibly
 * after the call gave up: the request can sit in a frozen member's socket and be committed
 * when it thaws. Docker was told the call failed and will not use or release what it wrote,
 * so an address (or a hold) would be held by nobody until cleanup found it.
 *
 * So such a write leaves an undo: one guarded transaction that reverts exactly that write and
 * nothing else — its compare is on the very bytes written (with the write's random token in
 * them), so it can never touch a later record. The queue runs it a few times over a minute
 * (the late commit may come after the first try), stops at the first success, and gives up
 * quietly: cleanup remains the backstop.
 */
import type { ICompare, IRequestOp } from 'etcd3';
import type { StoreLogger } from '../types.js';
import type { EtcdCalls } from './calls.js';
import type { Guard } from './guards.js';

/** Undo is one write's inverse, as a guarded transaction. */
export interface Undo {
  /** what the undone write was ("request address"), for logs. */
  what: string;
  /** Fields for the log line (pool, address, node). */
  fields: Record<string, unknown>;
  /** Guards that hold only while what the write put is still there, byte for byte. */
  guards: Guard[];
  ops: IRequestOp[];
  /** finished runs once: the write was taken back, was never there, or the queue gave up. */
  finished?(outcome: 'undone' | 'absent' | 'gave-up'): void;
}

/** When each attempt runs, after the call failed (ms). */
const ATTEMPTS_AT = [1_000, 5_000, 20_000, 60_000];

/** UndoQueue runs the undos of one store instance. */
export class UndoQueue {
  private readonly calls: EtcdCalls;
  private readonly logger: StoreLogger;
  private readonly toCompare: (guard: Guard) => ICompare;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly live = new Set<Undo>();
  private readonly attemptsAt: readonly number[];
  private closed = false;

  constructor(
    calls: EtcdCalls,
    logger: StoreLogger,
    toCompare: (guard: Guard) => ICompare,
    attemptsAt: readonly number[] = ATTEMPTS_AT,
  ) {
    this.calls = calls;
    this.logger = logger;
    this.toCompare = toCompare;
    this.attemptsAt = attemptsAt;
  }

  /** pending is how many undos are still being tried. */
  get pending(): number {
    return this.live.size;
  }

  /** schedule starts trying `undo` in the background. */
  schedule(undo: Undo): void {
    if (this.closed) return;
    this.live.add(undo);
    this.logger.info(
      { ...undo.fields, what: undo.what },
      'a failed call may still have been committed by etcd: taking its write back',
    );
    this.next(undo, 0, false);
  }

  private next(undo: Undo, i: number, sawAbsent: boolean): void {
    const at = this.attemptsAt[i];
    if (at === undefined || this.closed) {
      this.finish(undo, sawAbsent ? 'absent' : 'gave-up');
      return;
    }
    const wait = at - (this.attemptsAt[i - 1] ?? 0);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(undo).then((outcome) => {
        if (outcome === 'undone') this.finish(undo, 'undone');
        else this.next(undo, i + 1, sawAbsent || outcome === 'absent');
      });
    }, wait);
    timer.unref();
    this.timers.add(timer);
  }

  private async attempt(undo: Undo): Promise<'undone' | 'absent' | 'failed'> {
    try {
      const res = await this.calls.commit(`undo ${undo.what}`, {
        compare: undo.guards.map(this.toCompare),
        success: undo.ops,
        failure: [],
      });
      return res.succeeded ? 'undone' : 'absent';
    } catch {
      return 'failed';
    }
  }

  private finish(undo: Undo, outcome: 'undone' | 'absent' | 'gave-up'): void {
    if (!this.live.delete(undo)) return;
    if (outcome === 'undone') {
      this.logger.warn(
        { ...undo.fields, what: undo.what },
        'took back a write etcd committed after its call had failed',
      );
    } else if (outcome === 'absent') {
      this.logger.info(
        { ...undo.fields, what: undo.what },
        'the write of a failed call never landed: nothing to take back',
      );
    } else {
      this.logger.warn(
        { ...undo.fields, what: undo.what },
        'could not take back a write of a failed call; cleanup will find it if etcd committed it',
      );
    }
    undo.finished?.(outcome);
  }

  /** close stops trying: what is left is cleanup's. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const undo of [...this.live]) this.finish(undo, 'gave-up');
  }
}
