import { createHmac } from 'node:crypto';
import type { Logger } from '../../log/logger.js';
import { ambientNow, type Clock } from '../kit/clock.js';
import type { Faults } from '../kit/faults.js';
import type { Tasks } from '../kit/tasks.js';
import { WebhookSender, type DeliveryRecord, type RetryPolicy } from '../kit/webhooks.js';
import { API_VERSION, type EventRecord, type Store, type StoredWebhookEndpoint } from './store.js';

export type { DeliveryRecord, RetryPolicy } from '../kit/webhooks.js';

/** Signs like Stripe: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body" keyed with the whole whsec_ string>`. */
export function signPayload(
  payload: string,
  secret: string,
  timestamp = Math.floor(ambientNow() / 1000),
): string {
  const sig = createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
  return `t=${timestamp},v1=${sig}`;
}

/**
 * Stripe's side of webhook delivery: which endpoints an event goes to (Connect endpoints for connected-account
 * events only, `enabled_events`), the body each receives (the event rendered with the endpoint's `api_version`, the
 * account default otherwise), the `Stripe-Signature`, and the bookkeeping behind `pending_webhooks` and
 * `delivery_success`. Sending, retries, backoff and faults are the toolkit's (kit/webhooks.ts).
 */
export class WebhookDispatcher {
  private readonly sender: WebhookSender<StoredWebhookEndpoint>;

  constructor(
    private readonly store: Store,
    faults: Faults,
    retry: RetryPolicy,
    clock: Clock,
    private readonly tasks: Tasks,
    logger: Logger,
    requestTimeoutMs = 10_000,
  ) {
    this.sender = new WebhookSender<StoredWebhookEndpoint>({
      name: 'stripe emulator',
      clock,
      faults,
      tasks,
      logger,
      retry,
      timeoutMs: requestTimeoutMs,
      endpoint: (id) => this.store.webhookEndpoints.get(id),
      headers: { 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' },
      sign: ({ endpoint, body, timestampMs }) => ({
        'stripe-signature': signPayload(body, endpoint.secret, Math.floor(timestampMs / 1000)),
      }),
    });
  }

  /** One row per attempt (and per dropped delivery). */
  get deliveries(): DeliveryRecord[] {
    return this.sender.deliveries;
  }

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
      this.sender.send({
        eventId: rec.event.id,
        type: rec.event.type,
        account: rec.event.account ?? null,
        endpointId: ep.id,
        // An endpoint created with `api_version` receives events rendered at that version; others get the account's.
        body: (endpoint) =>
          JSON.stringify({ ...rec.event, api_version: endpoint.api_version ?? API_VERSION }),
        settle: (ok) => {
          if (!ok) {
            rec.deliveries.set(ep.id, 'failed');
            return;
          }
          if (rec.deliveries.get(ep.id) !== 'succeeded') {
            rec.deliveries.set(ep.id, 'succeeded');
            rec.event.pending_webhooks = Math.max(0, rec.event.pending_webhooks - 1);
          }
        },
      });
    }
  }

  /** Keeps `idle()` from resolving while some internal job (e.g. a scheduled dispute) is pending. */
  hold(): () => void {
    return this.tasks.hold();
  }

  /** Schedules `fn` after `ms` of clock time (counted by idle(); runs at once when the clock is advanced past it). */
  later(ms: number, fn: () => void | Promise<void>): void {
    this.tasks.later(ms, fn);
  }

  idle(timeoutMs = 15_000): Promise<void> {
    return this.tasks.idle(timeoutMs);
  }

  close(): void {
    this.sender.close();
    this.tasks.close();
  }
}
