import { SettleError } from '../../core/errors.js';
import { isRecord, records, str, type PayPalRest } from './rest.js';

/** Every event Settle handles; the PayPal webhook must subscribe to all of them (`npm run doctor` checks). */
export const REQUIRED_EVENTS = [
  'CHECKOUT.ORDER.APPROVED',
  'PAYMENT.CAPTURE.COMPLETED',
  'PAYMENT.CAPTURE.PENDING',
  'PAYMENT.CAPTURE.DENIED',
  'PAYMENT.CAPTURE.DECLINED',
  'PAYMENT.CAPTURE.REFUNDED',
  'PAYMENT.CAPTURE.REVERSED',
  'CUSTOMER.DISPUTE.CREATED',
  'CUSTOMER.DISPUTE.UPDATED',
  'CUSTOMER.DISPUTE.RESOLVED',
  'MERCHANT.ONBOARDING.COMPLETED',
  'MERCHANT.PARTNER-CONSENT.REVOKED',
] as const;

/** The path Settle serves PayPal webhooks on, relative to PUBLIC_URL. */
export const WEBHOOK_PATH = '/webhooks/paypal';

export interface PayPalWebhook {
  id: string;
  url: string;
  /** Subscribed event names; `*` means all. */
  events: string[];
}

function toWebhook(v: Record<string, unknown>): PayPalWebhook | null {
  const id = str(v['id']);
  const url = str(v['url']);
  if (id === undefined || url === undefined) return null;
  return {
    id,
    url,
    events: records(v['event_types']).flatMap((e) => (typeof e['name'] === 'string' ? [e['name']] : [])),
  };
}

/** GET /v1/notifications/webhooks: the app's webhooks. */
export async function listWebhooks(rest: PayPalRest): Promise<PayPalWebhook[]> {
  return rest.request('webhooks.list', {
    method: 'GET',
    path: '/v1/notifications/webhooks',
    parse: (body) => {
      if (!isRecord(body))
        throw new SettleError('provider_error', 'PayPal returned a webhook list without webhooks');
      return records(body['webhooks']).flatMap((w) => {
        const hook = toWebhook(w);
        return hook === null ? [] : [hook];
      });
    },
  });
}

/**
 * Subscribes `url` to REQUIRED_EVENTS (POST /v1/notifications/webhooks) and returns the webhook id, reusing a
 * webhook already registered for that URL. Used by demo mode against its emulator; in production the webhook is
 * created in the PayPal developer dashboard and its id set in PAYPAL_WEBHOOK_ID.
 */
export async function registerWebhook(rest: PayPalRest, url: string): Promise<string> {
  const existing = (await listWebhooks(rest)).find((w) => w.url === url);
  if (existing !== undefined) return existing.id;
  return rest.request('webhooks.create', {
    method: 'POST',
    path: '/v1/notifications/webhooks',
    body: { url, event_types: REQUIRED_EVENTS.map((name) => ({ name })) },
    parse: (body) => {
      const hook = isRecord(body) ? toWebhook(body) : null;
      if (hook === null) throw new SettleError('provider_error', 'PayPal returned a webhook without an id');
      return hook.id;
    },
  });
}
