import type { KeyObject } from 'node:crypto';
import type { Clock } from '../kit/clock.js';
import { Table } from '../kit/store.js';
import type { WebhookSender } from '../kit/webhooks.js';
import type { EmittedEvent } from './engine.js';
import { v1Error } from './errors.js';
import { isoTime, newEventId, newTransmissionId, newWebhookId } from './ids.js';
import type { EventRecord, WebhookRecord } from './model.js';
import {
  AUTH_ALGO,
  rawMemberText,
  signTransmission,
  verifyTransmission,
  type SigningKey,
} from './signing.js';

/**
 * PayPal webhooks: subscriptions (`/v1/notifications/webhooks`), the events the emulator emits (kept for
 * `/v1/notifications/webhooks-events`), their delivery through the kit's sender (retries, faults) with PayPal's
 * signature headers, and `/v1/notifications/verify-webhook-signature`.
 */

/** PayPal's limit of webhooks per app (https://developer.paypal.com/api/rest/webhooks/rest/: "up to 10"). */
export const MAX_WEBHOOKS = 10;

/**
 * Event names the emulator accepts in a subscription: the ones it emits, and other PayPal event names a platform may
 * subscribe to (https://developer.paypal.com/api/rest/webhooks/event-names/). A name outside this list is refused.
 */
export const EMITTED_EVENT_TYPES: readonly string[] = [
  'CHECKOUT.ORDER.APPROVED',
  'CHECKOUT.ORDER.COMPLETED',
  'CHECKOUT.PAYMENT-APPROVAL.REVERSED',
  'PAYMENT.CAPTURE.COMPLETED',
  'PAYMENT.CAPTURE.PENDING',
  'PAYMENT.CAPTURE.DENIED',
  'PAYMENT.CAPTURE.DECLINED',
  'PAYMENT.CAPTURE.REFUNDED',
  'PAYMENT.CAPTURE.REVERSED',
  'PAYMENT.REFUND.PENDING',
  'PAYMENT.REFUND.FAILED',
  'CUSTOMER.DISPUTE.CREATED',
  'CUSTOMER.DISPUTE.UPDATED',
  'CUSTOMER.DISPUTE.RESOLVED',
  'MERCHANT.ONBOARDING.COMPLETED',
  'MERCHANT.PARTNER-CONSENT.REVOKED',
];

const OTHER_EVENT_TYPES: readonly string[] = [
  'CHECKOUT.ORDER.SAVED',
  'CHECKOUT.ORDER.VOIDED',
  'PAYMENT.AUTHORIZATION.CREATED',
  'PAYMENT.AUTHORIZATION.VOIDED',
  'PAYMENT.REFERENCED-PAYOUT-ITEM.COMPLETED',
  'PAYMENT.REFERENCED-PAYOUT-ITEM.FAILED',
  'PAYMENT.SALE.COMPLETED',
  'PAYMENT.SALE.DENIED',
  'PAYMENT.SALE.PENDING',
  'PAYMENT.SALE.REFUNDED',
  'PAYMENT.SALE.REVERSED',
  'CUSTOMER.MERCHANT-INTEGRATION.CAPABILITY-UPDATED',
  'CUSTOMER.MERCHANT-INTEGRATION.PRODUCT-SUBSCRIPTION-UPDATED',
  'CUSTOMER.MERCHANT-INTEGRATION.SELLER-ALREADY-INTEGRATED',
  'CUSTOMER.MERCHANT-INTEGRATION.SELLER-ONBOARDING-INITIATED',
  'CUSTOMER.MERCHANT-INTEGRATION.SELLER-CONSENT-GRANTED',
  'CUSTOMER.MERCHANT-INTEGRATION.SELLER-EMAIL-CONFIRMED',
  'MERCHANT.PARTNER-CONSENT.GRANTED',
  'BILLING.SUBSCRIPTION.CREATED',
  'BILLING.SUBSCRIPTION.ACTIVATED',
  'BILLING.SUBSCRIPTION.UPDATED',
  'BILLING.SUBSCRIPTION.EXPIRED',
  'BILLING.SUBSCRIPTION.CANCELLED',
  'BILLING.SUBSCRIPTION.SUSPENDED',
  'BILLING.SUBSCRIPTION.PAYMENT.FAILED',
  'VAULT.PAYMENT-TOKEN.CREATED',
  'VAULT.PAYMENT-TOKEN.DELETED',
];

export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set([...EMITTED_EVENT_TYPES, ...OTHER_EVENT_TYPES]);

const EVENT_DESCRIPTIONS: Readonly<Record<string, string>> = {
  'CHECKOUT.ORDER.APPROVED': 'An order has been approved by buyer.',
  'CHECKOUT.ORDER.COMPLETED': 'Checkout Order Completed.',
  'CHECKOUT.PAYMENT-APPROVAL.REVERSED': 'A payment has been reversed after approval.',
  'PAYMENT.CAPTURE.COMPLETED': 'A payment capture completes.',
  'PAYMENT.CAPTURE.PENDING': 'The state of a payment capture changes to pending.',
  'PAYMENT.CAPTURE.DENIED': 'A payment capture is denied.',
  'PAYMENT.CAPTURE.DECLINED': 'A payment capture is declined.',
  'PAYMENT.CAPTURE.REFUNDED': 'A merchant refunds a payment capture.',
  'PAYMENT.CAPTURE.REVERSED': 'PayPal reverses a payment capture.',
  'PAYMENT.REFUND.PENDING': 'A refund is pending.',
  'PAYMENT.REFUND.FAILED': 'A refund fails.',
  'CUSTOMER.DISPUTE.CREATED': 'A dispute is created.',
  'CUSTOMER.DISPUTE.UPDATED': 'A dispute is updated.',
  'CUSTOMER.DISPUTE.RESOLVED': 'A dispute is resolved.',
  'MERCHANT.ONBOARDING.COMPLETED': 'A merchant completes setup.',
  'MERCHANT.PARTNER-CONSENT.REVOKED':
    'The consents for a merchant account setup are revoked or an account is closed.',
};

export interface WebhookHubOptions {
  clock: Clock;
  publicUrl(): string;
  key: SigningKey;
  /** Spaces of indentation in delivered bodies (0 = compact, as PayPal sends them). */
  bodyIndent: number;
}

export class WebhookHub {
  readonly webhooks = new Table<WebhookRecord>();
  readonly events = new Table<EventRecord>();
  private sender: WebhookSender<WebhookRecord> | null = null;

  constructor(private readonly opts: WebhookHubOptions) {}

  attach(sender: WebhookSender<WebhookRecord>): void {
    this.sender = sender;
  }

  certUrl(): string {
    return `${this.opts.publicUrl()}/v1/notifications/certs/${this.opts.key.certId}`;
  }

  get certPem(): string {
    return this.opts.key.certPem;
  }

  get privateKey(): KeyObject {
    return this.opts.key.privateKey;
  }

  // ---- subscriptions ----

  webhookJson(w: WebhookRecord): Record<string, unknown> {
    const self = `${this.opts.publicUrl()}/v1/notifications/webhooks/${w.id}`;
    return {
      id: w.id,
      url: w.url,
      event_types: w.eventTypes.map((name) => ({
        name,
        description: name === '*' ? 'ALL' : (EVENT_DESCRIPTIONS[name] ?? name),
        status: 'ENABLED',
      })),
      links: [
        { href: self, rel: 'self', method: 'GET' },
        { href: self, rel: 'update', method: 'PATCH' },
        { href: self, rel: 'delete', method: 'DELETE' },
      ],
    };
  }

  /** `POST /v1/notifications/webhooks` (body already schema-checked). */
  createWebhook(body: Record<string, unknown>, clientId: string): WebhookRecord {
    const op = 'webhooks.post';
    const url = String(body['url']);
    const rawTypes = Array.isArray(body['event_types']) ? body['event_types'] : [];
    const names: string[] = [];
    rawTypes.forEach((t, i) => {
      const name = typeof t === 'object' && t !== null ? (t as Record<string, unknown>)['name'] : undefined;
      if (typeof name !== 'string' || (name !== '*' && !KNOWN_EVENT_TYPES.has(name)))
        throw v1Error(400, 'VALIDATION_ERROR', 'Invalid data provided', op, [
          { field: `event_types[${i}].name`, issue: `Event type ${String(name)} is not supported.` },
        ]);
      if (!names.includes(name)) names.push(name);
    });
    if (names.length === 0)
      throw v1Error(400, 'VALIDATION_ERROR', 'Invalid data provided', op, [
        { field: 'event_types', issue: 'At least one event type is required.' },
      ]);
    const mine = [...this.webhooks.values()].filter((w) => w.clientId === clientId);
    if (mine.some((w) => w.url === url))
      throw v1Error(400, 'WEBHOOK_URL_ALREADY_EXISTS', 'Webhook URL already exists.', op);
    if (mine.length >= MAX_WEBHOOKS)
      throw v1Error(400, 'WEBHOOK_NUMBER_LIMIT_EXCEEDED', 'Maximum number of webhooks reached.', op);
    const w: WebhookRecord = {
      id: newWebhookId(),
      url,
      eventTypes: names,
      clientId,
      createdAt: this.opts.clock.now(),
    };
    this.webhooks.set(w.id, w);
    return w;
  }

  requireWebhook(op: string, id: string, clientId: string): WebhookRecord {
    const w = this.webhooks.get(id);
    if (!w || w.clientId !== clientId)
      throw v1Error(404, 'INVALID_RESOURCE_ID', 'Resource id is invalid.', op, [
        { field: 'webhook_id', issue: 'Webhook id not found.' },
      ]);
    return w;
  }

  deleteWebhook(id: string, clientId: string): void {
    this.requireWebhook('webhooks.delete', id, clientId);
    this.webhooks.delete(id);
  }

  // ---- events ----

  /** Records an event and sends it to every subscribed webhook. */
  emit(e: EmittedEvent): EventRecord {
    const id = newEventId();
    const now = this.opts.clock.now();
    const base = this.opts.publicUrl();
    const envelope: Record<string, unknown> = {
      id,
      event_version: '1.0',
      create_time: isoTime(now),
      resource_type: e.resourceType,
      resource_version: e.resourceVersion,
      event_type: e.type,
      summary: e.summary,
      resource: e.resource,
      links: [
        { href: `${base}/v1/notifications/webhooks-events/${id}`, rel: 'self', method: 'GET' },
        { href: `${base}/v1/notifications/webhooks-events/${id}/resend`, rel: 'resend', method: 'POST' },
      ],
    };
    const rec: EventRecord = {
      id,
      type: e.type,
      envelope,
      merchantId: e.merchantId,
      createdAt: now,
      relatedIds: e.relatedIds,
      deliveries: new Map(),
    };
    this.events.set(id, rec);
    this.deliver(rec, null);
    return rec;
  }

  /** The exact bytes every endpoint receives for an event. */
  bodyOf(rec: EventRecord): string {
    return JSON.stringify(rec.envelope, null, this.opts.bodyIndent > 0 ? this.opts.bodyIndent : undefined);
  }

  /** Sends an event to its subscribers (or to `only`, for resend). */
  deliver(rec: EventRecord, only: readonly string[] | null): void {
    const sender = this.sender;
    if (!sender) return;
    const targets = [...this.webhooks.values()].filter(
      (w) =>
        (only === null || only.includes(w.id)) &&
        (w.eventTypes.includes('*') || w.eventTypes.includes(rec.type)),
    );
    const body = this.bodyOf(rec);
    for (const w of targets) {
      rec.deliveries.set(w.id, 'pending');
      sender.send({
        eventId: rec.id,
        type: rec.type,
        account: rec.merchantId,
        endpointId: w.id,
        body: () => body,
        settle: (ok) => rec.deliveries.set(w.id, ok ? 'succeeded' : 'failed'),
      });
    }
  }

  /** The signature headers of one delivery attempt. */
  sign(webhookId: string, body: string, timestampMs: number): Record<string, string> {
    const transmissionId = newTransmissionId();
    const transmissionTime = isoTime(timestampMs);
    return {
      'paypal-transmission-id': transmissionId,
      'paypal-transmission-time': transmissionTime,
      'paypal-transmission-sig': signTransmission(
        this.privateKey,
        transmissionId,
        transmissionTime,
        webhookId,
        body,
      ),
      'paypal-cert-url': this.certUrl(),
      'paypal-auth-algo': AUTH_ALGO,
      'user-agent': 'PayPal/AUHD-214.0-58849329 (Settle emulator)',
    };
  }

  /**
   * `POST /v1/notifications/verify-webhook-signature`: SUCCESS when the signature verifies, by PayPal's scheme,
   * over the `webhook_event` exactly as it appears in the request's raw text (so an event that was parsed and
   * re-serialised differently from the delivered bytes fails), with the emulator's certificate and algorithm.
   */
  verify(rawRequest: string, body: Record<string, unknown>): 'SUCCESS' | 'FAILURE' {
    const eventText = rawMemberText(rawRequest, 'webhook_event');
    if (eventText === null) return 'FAILURE';
    if (body['auth_algo'] !== AUTH_ALGO) return 'FAILURE';
    if (body['cert_url'] !== this.certUrl()) return 'FAILURE';
    const webhookId = String(body['webhook_id']);
    if (!this.webhooks.has(webhookId)) return 'FAILURE';
    const ok = verifyTransmission(
      this.opts.key.certPem,
      String(body['transmission_sig']),
      String(body['transmission_id']),
      String(body['transmission_time']),
      webhookId,
      eventText,
    );
    return ok ? 'SUCCESS' : 'FAILURE';
  }
}
