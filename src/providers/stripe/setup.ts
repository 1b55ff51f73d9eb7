import type Stripe from 'stripe';
import { stripeCall } from './errors.js';

/** Every event Settle handles; both webhook endpoints must enable all of them. */
export const REQUIRED_EVENTS = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'charge.refunded',
  'refund.updated',
  'refund.created',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.closed',
  'account.updated',
  // Subscriptions (issue 13): direct-charge subscriptions live on connected accounts, so the Connect endpoint needs
  // them as much as the platform one.
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.trial_will_end',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.payment_action_required',
] as const satisfies readonly Stripe.WebhookEndpointCreateParams.EnabledEvent[];

export type RequiredEvent = (typeof REQUIRED_EVENTS)[number];

/** Paths Settle serves webhooks on, relative to PUBLIC_URL. */
export const WEBHOOK_PATHS = { platform: '/webhooks/stripe', connect: '/webhooks/stripe/connect' } as const;

export interface PromotionCodeSpec {
  code: string;
  /** Exactly one of percentOff / amountOff. */
  percentOff?: number;
  /** In Stripe's API units (StripeProvider.ensurePromotionCode converts Settle's amounts before calling this). */
  amountOff?: number;
  /** Required with amountOff. */
  currency?: string;
}

/**
 * Returns the active promotion code `code` on the platform (or `stripeAccount` for direct charges), creating a
 * one-off coupon and the promotion code when none exists. Used by demo seeding and tests.
 */
export async function ensurePromotionCode(
  stripe: Stripe,
  spec: PromotionCodeSpec,
  stripeAccount?: string,
): Promise<Stripe.PromotionCode> {
  const opts: Stripe.RequestOptions = stripeAccount !== undefined ? { stripeAccount } : {};
  const existing = await stripeCall('promotionCodes.list', () =>
    stripe.promotionCodes.list({ code: spec.code, active: true, limit: 1 }, opts),
  );
  const found = existing.data[0];
  if (found !== undefined) return found;
  if ((spec.percentOff === undefined) === (spec.amountOff === undefined))
    throw new Error('ensurePromotionCode: give exactly one of percentOff or amountOff');
  const couponParams: Stripe.CouponCreateParams =
    spec.percentOff !== undefined
      ? { percent_off: spec.percentOff, duration: 'once', name: spec.code }
      : {
          amount_off: spec.amountOff ?? 0,
          currency: (spec.currency ?? 'eur').toLowerCase(),
          duration: 'once',
          name: spec.code,
        };
  const coupon = await stripeCall('coupons.create', () => stripe.coupons.create(couponParams, opts));
  const params: Stripe.PromotionCodeCreateParams = {
    promotion: { type: 'coupon', coupon: coupon.id },
    code: spec.code,
  };
  return stripeCall('promotionCodes.create', () => stripe.promotionCodes.create(params, opts));
}

/**
 * Creates the two webhook endpoints Settle needs and returns their signing secrets (only returned at creation):
 * `${publicUrl}/webhooks/stripe` for platform events (destination charges) and `${publicUrl}/webhooks/stripe/connect`
 * with `connect: true` for connected-account events (direct charges, account.updated). It always creates new
 * endpoints; for demo seeding and tests against a fresh emulator. In production register them once (or with the
 * Dashboard) and check them with `npm run doctor`.
 */
export async function registerWebhookEndpoints(
  stripe: Stripe,
  publicUrl: string,
): Promise<{ platformSecret: string; connectSecret: string }> {
  const base = publicUrl.replace(/\/+$/, '');
  const enabled_events = [...REQUIRED_EVENTS];
  const platform = await stripeCall('webhookEndpoints.create', () =>
    stripe.webhookEndpoints.create({
      url: `${base}${WEBHOOK_PATHS.platform}`,
      enabled_events,
      connect: false,
      description: 'Settle platform events',
    }),
  );
  const connect = await stripeCall('webhookEndpoints.create', () =>
    stripe.webhookEndpoints.create({
      url: `${base}${WEBHOOK_PATHS.connect}`,
      enabled_events,
      connect: true,
      description: 'Settle connected-account events',
    }),
  );
  if (platform.secret === undefined || connect.secret === undefined)
    throw new Error('registerWebhookEndpoints: Stripe returned no signing secret');
  return { platformSecret: platform.secret, connectSecret: connect.secret };
}
