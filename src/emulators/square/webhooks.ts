import { createHmac } from 'node:crypto';
import type { Clock } from '../kit/clock.js';
import { Table } from '../kit/store.js';
import type { SignInput, WebhookSender } from '../kit/webhooks.js';
import { newEventId } from './ids.js';
import type { EventRecord, Subscription } from './model.js';
import { rfc3339 } from './present.js';

/**
 * Events and webhook subscriptions. Every event the engine emits is kept (the Events API searches those that happened
 * while events were enabled, for 28 days) and delivered to each enabled subscription of the application that lists
 * its type, when the merchant granted the scope the event needs.
 *
 * Signature (square@46.0.0 `WebhooksHelper.verifySignature`; https://developer.squareup.com/docs/webhooks/step3validate):
 * `x-square-hmacsha256-signature` = base64(HMAC-SHA256(signature key, notification URL + raw body)); the legacy
 * `x-square-signature` = base64(HMAC-SHA1(same key, same message)) is sent too.
 */
export const EVENT_RETENTION_MS = 28 * 24 * 3600_000;

/** The OAuth permission a seller must have granted for the application to receive the event (Square's webhook docs). */
export const EVENT_SCOPES: Readonly<Record<string, string>> = {
  'payment.created': 'PAYMENTS_READ',
  'payment.updated': 'PAYMENTS_READ',
  'refund.created': 'PAYMENTS_READ',
  'refund.updated': 'PAYMENTS_READ',
  'order.created': 'ORDERS_READ',
  'order.updated': 'ORDERS_READ',
  'dispute.created': 'DISPUTES_READ',
  'dispute.state.updated': 'DISPUTES_READ',
};

export function squareSignature(key: string, notificationUrl: string, body: string): string {
  return createHmac('sha256', key)
    .update(notificationUrl + body, 'utf8')
    .digest('base64');
}

export function legacySquareSignature(key: string, notificationUrl: string, body: string): string {
  return createHmac('sha1', key)
    .update(notificationUrl + body, 'utf8')
    .digest('base64');
}

export class SquareEvents {
  readonly subscriptions = new Table<Subscription>();
  readonly events: EventRecord[] = [];
  /** SearchEvents sees only events that happened while enabled; disabled until EnableEvents, as on Square. */
  enabled = false;
  private sender: WebhookSender<Subscription> | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly opts: {
      environment: string;
      /** The scopes through which the application sees a merchant's events (null: not authorized). */
      grantedScopes(merchantId: string): readonly string[] | null;
      defaultApiVersion: string;
    },
  ) {}

  attach(sender: WebhookSender<Subscription>): void {
    this.sender = sender;
  }

  sign(input: SignInput<Subscription>): Record<string, string> {
    const key = input.endpoint.signatureKey;
    return {
      'x-square-hmacsha256-signature': squareSignature(key, input.url, input.body),
      'x-square-signature': legacySquareSignature(key, input.url, input.body),
      'square-environment': this.opts.environment,
      ...(input.attempt > 1
        ? { 'square-retry-number': String(input.attempt - 1), 'square-retry-reason': 'http_error' }
        : {}),
    };
  }

  emit(e: {
    type: string;
    merchantId: string;
    locationId: string | null;
    data: Record<string, unknown>;
    apiVersion?: string;
  }): EventRecord {
    const now = this.clock.now();
    const id = newEventId();
    const envelope: Record<string, unknown> = {
      merchant_id: e.merchantId,
      ...(e.locationId !== null ? { location_id: e.locationId } : {}),
      type: e.type,
      event_id: id,
      created_at: rfc3339(now),
      data: e.data,
    };
    const rec: EventRecord = {
      id,
      type: e.type,
      merchantId: e.merchantId,
      locationId: e.locationId,
      createdAt: now,
      apiVersion: e.apiVersion ?? this.opts.defaultApiVersion,
      searchable: this.enabled,
      envelope,
    };
    this.events.push(rec);
    this.deliver(rec);
    return rec;
  }

  private deliver(rec: EventRecord): void {
    if (!this.sender) return;
    const needed = EVENT_SCOPES[rec.type];
    const granted = this.opts.grantedScopes(rec.merchantId);
    // A revocation reaches the application even though the authorization is gone.
    if (rec.type !== 'oauth.authorization.revoked') {
      if (granted === null) return;
      if (needed !== undefined && !granted.includes(needed)) return;
    }
    const body = JSON.stringify(rec.envelope);
    for (const sub of this.subscriptions.values()) {
      if (!sub.enabled || !sub.eventTypes.includes(rec.type)) continue;
      this.sender.send({
        eventId: rec.id,
        type: rec.type,
        account: rec.merchantId,
        endpointId: sub.id,
        body: () => body,
      });
    }
  }

  /** Events a search may return: searchable, within the retention window, visible to the caller. */
  searchable(visible: (merchantId: string) => boolean): EventRecord[] {
    const since = this.clock.now() - EVENT_RETENTION_MS;
    return this.events.filter((e) => e.searchable && e.createdAt >= since && visible(e.merchantId));
  }
}
