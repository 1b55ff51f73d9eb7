import { randomUUID } from 'node:crypto';
import type { Square, SquareClient } from 'square';
import { SettleError } from '../../core/errors.js';
import { squareCall } from './errors.js';

/** The path Settle serves Square webhooks on, relative to PUBLIC_URL (SQUARE_WEBHOOK_URL is the full URL). */
export const SQUARE_WEBHOOK_PATH = '/webhooks/square';

/** Every event Settle handles; the subscription must include all of them (`npm run doctor` checks). */
export const SQUARE_EVENT_TYPES = [
  'payment.created',
  'payment.updated',
  'refund.created',
  'refund.updated',
  'dispute.created',
  'dispute.state.updated',
  'oauth.authorization.revoked',
] as const;

/** The application's webhook subscriptions, disabled ones included (personal access token). */
export async function listSquareSubscriptions(client: SquareClient): Promise<Square.WebhookSubscription[]> {
  return squareCall(
    'webhooks.subscriptions.list',
    async () => {
      const out: Square.WebhookSubscription[] = [];
      const page = await client.webhooks.subscriptions.list({ includeDisabled: true });
      for await (const s of page) {
        out.push(s);
        if (out.length >= 1000) break;
      }
      return out;
    },
    'application',
  );
}

/** Event types of SQUARE_EVENT_TYPES a subscription does not include. */
export function missingEventTypes(s: Pick<Square.WebhookSubscription, 'eventTypes'>): string[] {
  const have = s.eventTypes ?? [];
  return SQUARE_EVENT_TYPES.filter((t) => !have.includes(t));
}

/**
 * Subscribes `notificationUrl` to SQUARE_EVENT_TYPES with the application's token and returns the subscription's id
 * and signature key (what SQUARE_WEBHOOK_SIGNATURE_KEY holds). An enabled subscription for the same URL is reused
 * (its missing event types added); its key is read back, and only if Square does not show it is a new key made
 * (which ends the old one: other instances verifying with it must be given the new key). Used by demo mode against
 * the emulator; in production the subscription is made in the Developer Console.
 */
export async function registerSquareWebhook(
  client: SquareClient,
  notificationUrl: string,
): Promise<{ subscriptionId: string; signatureKey: string }> {
  const existing = (await listSquareSubscriptions(client)).find(
    (s) => s.notificationUrl === notificationUrl && s.enabled === true && s.id !== undefined,
  );
  if (existing?.id !== undefined) {
    const subscriptionId = existing.id;
    const missing = missingEventTypes(existing);
    if (missing.length > 0)
      await squareCall(
        'webhooks.subscriptions.update',
        () =>
          client.webhooks.subscriptions.update({
            subscriptionId,
            subscription: { eventTypes: [...(existing.eventTypes ?? []), ...missing] },
          }),
        'application',
      );
    const got = await squareCall(
      'webhooks.subscriptions.get',
      () => client.webhooks.subscriptions.get({ subscriptionId }),
      'application',
    );
    let signatureKey = got.subscription?.signatureKey;
    if (signatureKey === undefined || signatureKey === '') {
      const updated = await squareCall(
        'webhooks.subscriptions.updateSignatureKey',
        // A random key per call: the SDK's own retries of this call resend it; a later call is a new rotation.
        () =>
          client.webhooks.subscriptions.updateSignatureKey({ subscriptionId, idempotencyKey: randomUUID() }),
        'application',
      );
      signatureKey = updated.signatureKey;
    }
    if (signatureKey === undefined || signatureKey === '')
      throw new SettleError('provider_error', `Square did not give the signature key of ${subscriptionId}`);
    return { subscriptionId, signatureKey };
  }
  const created = await squareCall(
    'webhooks.subscriptions.create',
    () =>
      client.webhooks.subscriptions.create({
        idempotencyKey: randomUUID(),
        subscription: {
          name: 'Settle',
          enabled: true,
          eventTypes: [...SQUARE_EVENT_TYPES],
          notificationUrl,
        },
      }),
    'application',
  );
  const s = created.subscription;
  if (s?.id === undefined || s.signatureKey === undefined || s.signatureKey === '')
    throw new SettleError(
      'provider_error',
      'Square created a webhook subscription without an id or signature key',
    );
  return { subscriptionId: s.id, signatureKey: s.signatureKey };
}

/**
 * Turns on the Events API for the application (events are searchable only from then on; Square keeps them 28 days).
 * Idempotent. Reconciliation (`listEvents`) reads them with the application's token.
 */
export async function enableSquareEvents(client: SquareClient): Promise<void> {
  await squareCall('events.enable', () => client.events.enableEvents(), 'application');
}
