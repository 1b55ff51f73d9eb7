import type { Clock, ClockTimer } from './clock.js';

/**
 * Counts the emulator's outstanding background work (queued or in-flight deliveries, scheduled retries, delayed
 * events such as a dispute) so a test can wait for quiet with `idle()`.
 */
export class Tasks {
  private pendingCount = 0;
  private waiters: Array<() => void> = [];
  private readonly scheduled = new Set<ClockTimer>();

  constructor(
    private readonly clock: Clock,
    /** Receives what a `later` callback throws or rejects with. */
    private readonly onError: (err: unknown) => void,
    /** Used in the `idle()` timeout message, e.g. `paypal emulator`. */
    private readonly name = 'emulator',
  ) {}

  get pending(): number {
    return this.pendingCount;
  }

  /** Marks one unit of work as outstanding; call the returned function (idempotent) when it is done. */
  hold(): () => void {
    this.pendingCount += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pendingCount = Math.max(0, this.pendingCount - 1);
      this.checkIdle();
    };
  }

  /** Runs `fn` after `ms` of clock time, counted by `idle()` until it has finished (sync or async). */
  later(ms: number, fn: () => void | Promise<void>): ClockTimer {
    const release = this.hold();
    const timer = this.clock.setTimeout(() => {
      this.scheduled.delete(timer);
      Promise.resolve()
        .then(fn)
        .catch((err: unknown) => this.onError(err))
        .finally(release);
    }, ms);
    this.scheduled.add(timer);
    return {
      dueAt: timer.dueAt,
      cancel: () => {
        if (!this.scheduled.delete(timer)) return;
        timer.cancel();
        release();
      },
    };
  }

  /** Resolves when nothing is outstanding; rejects after `timeoutMs` of real time. */
  idle(timeoutMs = 15_000): Promise<void> {
    if (this.pendingCount === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`${this.name}: still ${this.pendingCount} job(s) pending after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  /** Cancels scheduled work and releases every waiter. */
  close(): void {
    for (const t of this.scheduled) t.cancel();
    this.scheduled.clear();
    this.pendingCount = 0;
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.pendingCount > 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }
}
