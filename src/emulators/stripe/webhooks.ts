import { createHmac } from 'node:crypto';
import type { Logger } from '../../log/logger.js';
import type { Faults } from './faults.js';
import type { EventRecord, Store } from './store.js';

export interface DeliveryRecord {
  eventId: string;
  type: string;
  endpointId: string;
  url: string;
  /** Connected account the event belongs to (null = platform). */
  account: string | null;
  /** 1-based attempt number (retries increase it; duplicate copies share it). */
  attempt: number;
  /** HTTP status answered by the endpoint, `error` (connection error, timeout, injected endpoint failure) or `dropped`. */
  status: number | 'error' | 'dropped';
  /** Epoch ms when the attempt finished. */
  at: number;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
}

interface Job {
  rec: EventRecord;
  endpointId: string;
  attempt: number;
}

/** Signs like Stripe: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body" keyed with the whole whsec_ string>`. */
export function signPayload(
  payload: string,
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): string {
  const sig = createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
  return `t=${timestamp},v1=${sig}`;
}

export class WebhookDispatcher {
  readonly deliveries: DeliveryRecord[] = [];
  private pending = 0;
  private waiters: Array<() => void> = [];
  private timers = new Set<NodeJS.Timeout>();
  private chains = new Map<string, Promise<void>>();
  private reorderBuffer: Job[] = [];
  private reorderTimer: NodeJS.Timeout | null = null;
  private readonly aborter = new AbortController();
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly faults: Faults,
    private readonly retry: RetryPolicy,
    private readonly timeScale: number,
    private readonly logger: Logger,
    private readonly requestTimeoutMs = 10_000,
  ) {}

  /** Fans an event out to every matching endpoint (Connect endpoints for connected-account events only). */
  dispatch(rec: EventRecord): void {
    const connect = rec.event.account !== undefined;
    const endpoints = [...this.store.webhookEndpoints.values()].filter(
      (e) =>
        e.status === 'enabled' &&
        e.connect === connect &&
        (e.enabled_events.includes('*') || e.enabled_events.includes(rec.event.type)),
    );
    rec.event.pending_webhooks = endpoints.length;
    for (const ep of endpoints) {
      rec.deliveries.set(ep.id, 'pending');
      if (this.faults.shouldDrop(rec.event.type)) {
        rec.deliveries.set(ep.id, 'failed');
        this.record(rec, ep.id, ep.url, 1, 'dropped');
        continue;
      }
      this.enqueue({ rec, endpointId: ep.id, attempt: 1 });
    }
  }

  /** Keeps `idle()` from resolving while some internal job (e.g. a scheduled dispute) is pending. */
  hold(): () => void {
    this.pending += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending -= 1;
      this.checkIdle();
    };
  }

  /** Schedules `fn` after `ms` (tracked: cleared on close, counted by idle()). */
  later(ms: number, fn: () => void | Promise<void>): void {
    const release = this.hold();
    const t = setTimeout(() => {
      this.timers.delete(t);
      Promise.resolve()
        .then(fn)
        .catch((err: unknown) => this.logger.error({ err }, 'stripe emulator: scheduled job failed'))
        .finally(release);
    }, ms);
    this.timers.add(t);
  }

  idle(timeoutMs = 15_000): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(
          new Error(`stripe emulator: still ${this.pending} webhook job(s) pending after ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  close(): void {
    this.closed = true;
    this.aborter.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.reorderTimer) clearTimeout(this.reorderTimer);
    this.reorderBuffer = [];
    this.pending = 0;
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.pending > 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  private enqueue(job: Job): void {
    this.pending += 1;
    const reorder = this.faults.current.webhookReorder;
    if (reorder && job.attempt === 1) {
      this.reorderBuffer.push(job);
      if (!this.reorderTimer) {
        this.reorderTimer = setTimeout(() => this.flushReorder(), reorder.windowMs);
      }
      return;
    }
    this.start(job, 0);
  }

  private flushReorder(): void {
    this.reorderTimer = null;
    const mode = this.faults.current.webhookReorder?.mode ?? 'reverse';
    const jobs = this.reorderBuffer;
    this.reorderBuffer = [];
    const ordered = mode === 'shuffle' ? this.faults.shuffle(jobs) : [...jobs].reverse();
    for (const job of ordered) this.start(job, 0);
  }

  /** Runs a job after `delayMs` (+ injected delay); attempts to one endpoint are serialised in queue order. */
  private start(job: Job, delayMs: number): void {
    const run = (): void => {
      const prev = this.chains.get(job.endpointId) ?? Promise.resolve();
      const next = prev
        .then(() => this.attempt(job))
        .catch((err: unknown) => {
          this.logger.error({ err }, 'stripe emulator: delivery crashed');
        });
      this.chains.set(job.endpointId, next);
      void next.finally(() => {
        if (this.chains.get(job.endpointId) === next) this.chains.delete(job.endpointId);
        this.pending -= 1;
        this.checkIdle();
      });
    };
    const total = delayMs + this.faults.current.webhookDelayMs;
    if (total <= 0) {
      run();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      run();
    }, total);
    this.timers.add(t);
  }

  private async attempt(job: Job): Promise<void> {
    if (this.closed) return;
    const { rec, endpointId } = job;
    const ep = this.store.webhookEndpoints.get(endpointId);
    if (!ep) {
      rec.deliveries.set(endpointId, 'failed');
      return;
    }
    const copies = Math.max(1, Math.floor(this.faults.current.webhookDuplicates));
    let ok = false;
    for (let c = 0; c < copies; c++) {
      const failure = this.faults.endpointFailure(ep.id, ep.url);
      if (failure === 'skip') {
        this.record(rec, ep.id, ep.url, job.attempt, 'error');
        continue;
      }
      const status = await this.post(ep.url, ep.secret, rec);
      this.record(rec, ep.id, ep.url, job.attempt, failure === 'call' ? 'error' : status);
      if (failure === null && typeof status === 'number' && status >= 200 && status < 300) ok = true;
    }
    if (ok) {
      if (rec.deliveries.get(endpointId) !== 'succeeded') {
        rec.deliveries.set(endpointId, 'succeeded');
        rec.event.pending_webhooks = Math.max(0, rec.event.pending_webhooks - 1);
      }
      return;
    }
    if (job.attempt < this.retry.attempts && !this.closed) {
      const delay = this.retry.baseDelayMs * 2 ** (job.attempt - 1) * this.timeScale;
      this.pending += 1;
      this.start({ ...job, attempt: job.attempt + 1 }, delay);
    } else {
      rec.deliveries.set(endpointId, 'failed');
    }
  }

  private async post(url: string, secret: string, rec: EventRecord): Promise<number | 'error'> {
    const body = JSON.stringify(rec.event);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signPayload(body, secret),
        },
        body,
        signal: AbortSignal.any([this.aborter.signal, AbortSignal.timeout(this.requestTimeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch (err) {
      this.logger.debug({ err, url }, 'stripe emulator: webhook delivery error');
      return 'error';
    }
  }

  private record(
    rec: EventRecord,
    endpointId: string,
    url: string,
    attempt: number,
    status: DeliveryRecord['status'],
  ): void {
    this.deliveries.push({
      eventId: rec.event.id,
      type: rec.event.type,
      endpointId,
      url,
      account: rec.event.account ?? null,
      attempt,
      status,
      at: Date.now(),
    });
  }
}
