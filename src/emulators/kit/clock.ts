import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The emulator's clock. Every timestamp an emulator writes (`created`, `expires_at`, log entries) and every piece of
 * scheduled work (expiry, disputes, webhook retries, reorder windows) goes through one Clock, so a test can move time
 * forward with `advance(ms)` and see the scheduled work run at once.
 *
 * - `system` mode (default): `now()` is the system time plus everything advanced so far; scheduled work also runs when
 *   real time reaches it.
 * - `manual` mode: time stands still except through `advance()`; scheduled work runs only when advanced to.
 *
 * `timeScale` multiplies the emulator's internal delays (`scaled(ms)`), e.g. 0.01 makes a 24 h expiry fire after
 * 14.4 min of real time; it does not change what `now()` reports.
 */
export interface ClockOptions {
  /** Multiplies internal delays through `scaled()`; default 1. */
  timeScale?: number;
  mode?: 'system' | 'manual';
  /** Start of a manual clock (epoch ms); default the system time at construction. */
  startMs?: number;
  /** Receives what a scheduled callback throws; default: rethrown asynchronously, like a throwing setTimeout. */
  onError?: (err: unknown) => void;
}

/** What `GET /_emulator/clock` answers. */
export interface ClockState {
  /** Epoch ms. */
  now: number;
  /** Epoch seconds (what providers put in `created`). */
  nowSeconds: number;
  /** Total advanced so far (ms). */
  advancedMs: number;
  timeScale: number;
  mode: 'system' | 'manual';
  /** Callbacks waiting on the clock. */
  scheduled: number;
}

export interface ClockTimer {
  /** Clock time (epoch ms) at which the callback runs. */
  readonly dueAt: number;
  cancel(): void;
}

interface Entry {
  dueAt: number;
  seq: number;
  fn: () => void;
  real: NodeJS.Timeout | null;
}

const ambient = new AsyncLocalStorage<Clock>();

export class Clock {
  readonly timeScale: number;
  readonly mode: 'system' | 'manual';
  private advanced = 0;
  private readonly start: number;
  private readonly entries = new Set<Entry>();
  private readonly listeners = new Set<(now: number) => void>();
  private readonly onError: (err: unknown) => void;
  private seq = 0;
  private closed = false;

  constructor(opts: ClockOptions = {}) {
    const scale = opts.timeScale ?? 1;
    if (!Number.isFinite(scale) || scale < 0) throw new RangeError(`timeScale must be ≥ 0 (got ${scale})`);
    this.timeScale = scale;
    this.mode = opts.mode ?? 'system';
    this.start = opts.startMs ?? Date.now();
    this.onError =
      opts.onError ??
      ((err) =>
        queueMicrotask(() => {
          throw err;
        }));
  }

  /** The clock that the current request or scheduled callback runs under (see `run`), if any. */
  static current(): Clock | undefined {
    return ambient.getStore();
  }

  /** Epoch ms. */
  now(): number {
    return this.base() + this.advanced;
  }

  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** An internal delay multiplied by the time scale (never negative). */
  scaled(ms: number): number {
    return Math.max(0, ms * this.timeScale);
  }

  state(): ClockState {
    return {
      now: this.now(),
      nowSeconds: this.nowSeconds(),
      advancedMs: this.advanced,
      timeScale: this.timeScale,
      mode: this.mode,
      scheduled: this.entries.size,
    };
  }

  /**
   * Moves time forward by `ms` and runs, in due order, every callback that became due (including ones those
   * callbacks schedule within the new time), then the `onAdvance` listeners. Time steps through each callback's due
   * time, so a callback sees `now()` equal to the time it was due (and what it schedules is relative to that).
   * Synchronous: asynchronous work the callbacks start (an HTTP delivery) continues after it returns.
   */
  advance(ms: number): ClockState {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance(ms) needs a finite ms ≥ 0 (got ${ms})`);
    const target = this.advanced + ms;
    this.runDue(target);
    this.advanced = target;
    const now = this.now();
    for (const l of [...this.listeners]) this.guard(() => l(now));
    this.rearm();
    return this.state();
  }

  /** Runs `fn` after `ms` of clock time (real time in system mode, or sooner through `advance`). */
  setTimeout(fn: () => void, ms: number): ClockTimer {
    const entry: Entry = { dueAt: this.now() + Math.max(0, ms), seq: ++this.seq, fn, real: null };
    if (this.closed) return { dueAt: entry.dueAt, cancel: () => undefined };
    this.entries.add(entry);
    this.arm(entry);
    return {
      dueAt: entry.dueAt,
      cancel: () => this.drop(entry),
    };
  }

  /** Resolves after `ms` of clock time (never, once the clock is closed). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.setTimeout(resolve, ms);
    });
  }

  /** Called after every `advance`, with the new time (e.g. to sweep objects whose expiry passed). */
  onAdvance(fn: (now: number) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Runs `fn` with this clock as the ambient one (`Clock.current()`, `ambientNow()`), across its async work. */
  run<T>(fn: () => T): T {
    return ambient.run(this, fn);
  }

  /** Cancels every scheduled callback; later ones are ignored. */
  close(): void {
    this.closed = true;
    for (const e of this.entries) if (e.real) clearTimeout(e.real);
    this.entries.clear();
    this.listeners.clear();
  }

  private guard(fn: () => void): void {
    try {
      this.run(fn);
    } catch (err) {
      this.onError(err);
    }
  }

  private arm(entry: Entry): void {
    if (this.mode === 'manual') return;
    if (entry.real) clearTimeout(entry.real);
    entry.real = setTimeout(
      () => {
        entry.real = null;
        if (!this.entries.delete(entry)) return;
        this.guard(entry.fn);
      },
      Math.max(0, entry.dueAt - this.now()),
    );
  }

  private drop(entry: Entry): void {
    if (entry.real) clearTimeout(entry.real);
    entry.real = null;
    this.entries.delete(entry);
  }

  /** Runs the callbacks due up to `advanced = target`, stepping the time to each one's due time. */
  private runDue(target: number): void {
    for (;;) {
      const limit = this.base() + target;
      let next: Entry | null = null;
      for (const e of this.entries)
        if (
          e.dueAt <= limit &&
          (!next || e.dueAt < next.dueAt || (e.dueAt === next.dueAt && e.seq < next.seq))
        )
          next = e;
      if (!next) return;
      // Never backwards: an overdue callback runs at the current time.
      this.advanced = Math.max(this.advanced, next.dueAt - this.base());
      this.drop(next);
      this.guard(next.fn);
    }
  }

  private base(): number {
    return this.mode === 'manual' ? this.start : Date.now();
  }

  private rearm(): void {
    for (const e of this.entries) this.arm(e);
  }
}

/** Epoch ms of the ambient clock (`Clock.run`), or the system time outside any emulator context. */
export function ambientNow(): number {
  return ambient.getStore()?.now() ?? Date.now();
}
