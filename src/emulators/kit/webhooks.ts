import type { Logger } from '../../log/logger.js';
import type { Clock } from './clock.js';
import type { Faults } from './faults.js';
import type { Tasks } from './tasks.js';

/**
 * Signed webhook delivery with retries and exponential backoff on the emulator's clock, and the webhook faults
 * (duplicate, reorder, delay, drop, endpoint down). The provider decides which endpoints an event goes to, the body
 * each endpoint receives and how it is signed; this module sends, retries, logs and counts.
 */

/** One delivery attempt (or dropped delivery), as `GET /_emulator/deliveries` lists it. */
export interface DeliveryRecord {
  eventId: string;
  type: string;
  endpointId: string;
  url: string;
  /** The account the event belongs to, as the provider names it (null = the platform / no account). */
  account: string | null;
  /** 1-based attempt number (retries increase it; duplicate copies share it). */
  attempt: number;
  /** HTTP status answered by the endpoint, `error` (connection error, timeout, injected endpoint failure) or `dropped`. */
  status: number | 'error' | 'dropped';
  /** Clock ms when the attempt finished. */
  at: number;
}

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  attempts: number;
  /** Delay before the 2nd attempt; doubled for each further one, then multiplied by the clock's time scale. */
  baseDelayMs: number;
  /** Cap of one delay before scaling (PayPal and Square retry for days); default none. */
  maxDelayMs?: number;
}

/** A webhook endpoint as the sender needs it: the provider's own endpoint type extends this. */
export interface WebhookTarget {
  id: string;
  url: string;
}

/** What a signer gets: the exact bytes sent and where they go. */
export interface SignInput<T extends WebhookTarget> {
  endpoint: T;
  body: string;
  url: string;
  eventId: string;
  attempt: number;
  /** Clock ms of the attempt. */
  timestampMs: number;
}

/**
 * The provider's signature: returns the headers that carry it, e.g. Stripe `Stripe-Signature: t=…,v1=<hex HMAC>`,
 * Square `x-square-hmacsha256-signature: base64(HMAC(url + body))`, PayPal the `PAYPAL-TRANSMISSION-*` and
 * `PAYPAL-CERT-URL` headers of an RSA signature.
 */
export type WebhookSigner<T extends WebhookTarget> = (input: SignInput<T>) => Record<string, string>;

/** One event for one endpoint. */
export interface WebhookMessage<T extends WebhookTarget> {
  eventId: string;
  type: string;
  account: string | null;
  endpointId: string;
  /** The body this endpoint receives, built at each attempt (so it reflects the endpoint's current settings). */
  body(endpoint: T): string;
  /** Called once: true on the first successful attempt, false when dropped, given up or the endpoint is gone. */
  settle?(ok: boolean): void;
}

export interface WebhookSenderOptions<T extends WebhookTarget> {
  clock: Clock;
  faults: Faults;
  tasks: Tasks;
  logger: Logger;
  /** Prefix of log messages, e.g. `square emulator`. */
  name?: string;
  /** The endpoint as it is now; undefined when it was deleted (the delivery fails without retry). */
  endpoint(id: string): T | undefined;
  sign: WebhookSigner<T>;
  retry: RetryPolicy;
  /** Headers of every POST besides the signature; default `content-type: application/json; charset=utf-8`. */
  headers?: Record<string, string>;
  /** Timeout of one POST, in real ms; default 10 000. */
  timeoutMs?: number;
}

interface Job<T extends WebhookTarget> {
  msg: WebhookMessage<T>;
  attempt: number;
  release: () => void;
}

export class WebhookSender<T extends WebhookTarget> {
  readonly deliveries: DeliveryRecord[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private reorderBuffer: Job<T>[] = [];
  private reorderTimer: { cancel(): void } | null = null;
  private readonly aborter = new AbortController();
  private readonly settled = new WeakSet<WebhookMessage<T>>();
  private closed = false;
  private readonly name: string;

  constructor(private readonly opts: WebhookSenderOptions<T>) {
    this.name = opts.name ?? 'emulator';
  }

  /** Queues the first attempt of one event to one endpoint (or drops it, under the drop fault). */
  send(msg: WebhookMessage<T>): void {
    if (this.closed) return;
    if (this.opts.faults.shouldDrop(msg.type)) {
      const ep = this.opts.endpoint(msg.endpointId);
      this.record(msg, ep?.url ?? '', 1, 'dropped');
      this.settle(msg, false);
      return;
    }
    this.enqueue({ msg, attempt: 1, release: this.opts.tasks.hold() });
  }

  /** Stops every delivery: in-flight POSTs are aborted, scheduled attempts forgotten. */
  close(): void {
    this.closed = true;
    this.aborter.abort();
    this.reorderTimer?.cancel();
    this.reorderTimer = null;
    for (const job of this.reorderBuffer) job.release();
    this.reorderBuffer = [];
  }

  /** Delay before attempt `attempt + 1`, in clock ms. */
  backoff(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.opts.retry;
    const raw = baseDelayMs * 2 ** (attempt - 1);
    return this.opts.clock.scaled(maxDelayMs !== undefined ? Math.min(raw, maxDelayMs) : raw);
  }

  private enqueue(job: Job<T>): void {
    const reorder = this.opts.faults.current.webhookReorder;
    if (reorder && job.attempt === 1) {
      this.reorderBuffer.push(job);
      if (!this.reorderTimer)
        this.reorderTimer = this.opts.clock.setTimeout(() => this.flushReorder(), reorder.windowMs);
      return;
    }
    this.start(job, 0);
  }

  private flushReorder(): void {
    this.reorderTimer = null;
    const mode = this.opts.faults.current.webhookReorder?.mode ?? 'reverse';
    const jobs = this.reorderBuffer;
    this.reorderBuffer = [];
    const ordered = mode === 'shuffle' ? this.opts.faults.shuffle(jobs) : [...jobs].reverse();
    for (const job of ordered) this.start(job, 0);
  }

  /** Runs a job after `delayMs` (+ the injected delay); attempts to one endpoint are serialised in queue order. */
  private start(job: Job<T>, delayMs: number): void {
    const run = (): void => {
      const key = job.msg.endpointId;
      const prev = this.chains.get(key) ?? Promise.resolve();
      const next = prev
        .then(() => this.attempt(job))
        .catch((err: unknown) => {
          this.opts.logger.error({ err }, `${this.name}: delivery crashed`);
        });
      this.chains.set(key, next);
      void next.finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
        job.release();
      });
    };
    const total = delayMs + this.opts.faults.current.webhookDelayMs;
    if (total <= 0) {
      run();
      return;
    }
    this.opts.clock.setTimeout(run, total);
  }

  private async attempt(job: Job<T>): Promise<void> {
    if (this.closed) return;
    const { msg } = job;
    const ep = this.opts.endpoint(msg.endpointId);
    if (!ep) {
      this.settle(msg, false);
      return;
    }
    const copies = Math.max(1, Math.floor(this.opts.faults.current.webhookDuplicates));
    let ok = false;
    for (let c = 0; c < copies; c++) {
      const failure = this.opts.faults.endpointFailure(ep.id, ep.url);
      if (failure === 'skip') {
        this.record(msg, ep.url, job.attempt, 'error');
        continue;
      }
      const status = await this.post(ep, msg, job.attempt);
      this.record(msg, ep.url, job.attempt, failure === 'call' ? 'error' : status);
      if (failure === null && typeof status === 'number' && status >= 200 && status < 300) ok = true;
    }
    if (ok) {
      this.settle(msg, true);
      return;
    }
    if (job.attempt < this.opts.retry.attempts && !this.closed) {
      this.start(
        { msg, attempt: job.attempt + 1, release: this.opts.tasks.hold() },
        this.backoff(job.attempt),
      );
    } else {
      this.settle(msg, false);
    }
  }

  private async post(ep: T, msg: WebhookMessage<T>, attempt: number): Promise<number | 'error'> {
    try {
      const body = msg.body(ep);
      const headers = {
        'content-type': 'application/json; charset=utf-8',
        ...this.opts.headers,
        ...this.opts.sign({
          endpoint: ep,
          body,
          url: ep.url,
          eventId: msg.eventId,
          attempt,
          timestampMs: this.opts.clock.now(),
        }),
      };
      const res = await fetch(ep.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.any([this.aborter.signal, AbortSignal.timeout(this.opts.timeoutMs ?? 10_000)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch (err) {
      this.opts.logger.debug({ err, url: ep.url }, `${this.name}: webhook delivery error`);
      return 'error';
    }
  }

  private settle(msg: WebhookMessage<T>, ok: boolean): void {
    if (this.settled.has(msg)) return;
    this.settled.add(msg);
    msg.settle?.(ok);
  }

  private record(
    msg: WebhookMessage<T>,
    url: string,
    attempt: number,
    status: DeliveryRecord['status'],
  ): void {
    this.deliveries.push({
      eventId: msg.eventId,
      type: msg.type,
      endpointId: msg.endpointId,
      url,
      account: msg.account,
      attempt,
      status,
      at: this.opts.clock.now(),
    });
  }
}
