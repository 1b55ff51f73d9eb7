import type Stripe from 'stripe';
import type {
  CheckoutOutcome,
  CheckoutState,
  NormalizedEvent,
  RefundResult,
  SellerAccountState,
} from '../../core/provider.js';
import { fromStripeAmount } from './amounts.js';

/** Id of an expandable field, whether Stripe returned the id or the expanded object. */
export function idOf(v: string | { id: string } | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : v.id;
}

/**
 * Outcome of a Checkout Session.
 * - `succeeded`: complete + paid + amount_total > 0.
 * - `zero_amount`: complete, amount_total 0 and no PaymentIntent, with payment_status `no_payment_required` (what
 *   Stripe documents for no-cost orders) or `paid` (what the spec Settle was built from says). Never on `unpaid`.
 * - `processing`: complete + unpaid (delayed-notification method; async_payment_* follows).
 * - `failed`: complete + unpaid, and the PaymentIntent went back to `requires_payment_method` or was canceled (the
 *   delayed payment failed; checkout.session.async_payment_failed says the same).
 * - `expired`: status expired. `open` otherwise.
 */
export function checkoutOutcome(
  session: Stripe.Checkout.Session,
  payment: Stripe.PaymentIntent | null = typeof session.payment_intent === 'object'
    ? session.payment_intent
    : null,
): CheckoutOutcome {
  const total = session.amount_total ?? 0;
  const hasPayment = idOf(session.payment_intent) !== null;
  if (session.status === 'expired') return 'expired';
  if (session.status !== 'complete') return 'open';
  if (session.payment_status === 'paid' && total > 0) return 'succeeded';
  if (
    total === 0 &&
    !hasPayment &&
    (session.payment_status === 'paid' || session.payment_status === 'no_payment_required')
  )
    return 'zero_amount';
  if (session.payment_status === 'unpaid') {
    // A delayed method that failed: the session stays complete + unpaid for ever, so the PaymentIntent's own status
    // says so (it went back to requires_payment_method, or was canceled) even when async_payment_failed was missed.
    if (payment !== null && (payment.status === 'requires_payment_method' || payment.status === 'canceled'))
      return 'failed';
    return 'processing';
  }
  return 'open';
}

/** Settle order id written at creation: metadata.orderId, else client_reference_id. */
export function orderIdOf(session: Stripe.Checkout.Session): string | null {
  return session.metadata?.['orderId'] ?? session.client_reference_id ?? null;
}

/** Id of the first applied promotion code (a string id, or the expanded object's id). */
export function promotionCodeIdOf(session: Stripe.Checkout.Session): string | null {
  const d = session.discounts?.[0];
  return d === undefined ? null : idOf(d.promotion_code);
}

/**
 * Builds CheckoutState from a session plus what had to be fetched separately (fee, customer-facing code). Amounts
 * are converted from Stripe's API units (the session total and `extra.applicationFee`) into Settle's minor units.
 */
export function toCheckoutState(
  session: Stripe.Checkout.Session,
  extra: {
    accountId: string | null;
    /** The PaymentIntent's application_fee_amount, in Stripe's units. */
    applicationFee: number;
    promotionCode: string | null;
    outcome?: CheckoutOutcome;
  },
): CheckoutState {
  const outcome = extra.outcome ?? checkoutOutcome(session);
  const currency = (session.currency ?? '').toLowerCase();
  return {
    provider: 'stripe',
    sessionId: session.id,
    orderId: orderIdOf(session),
    accountId: extra.accountId,
    outcome,
    amountTotal: fromStripeAmount(session.amount_total ?? 0, currency),
    currency,
    paymentId: idOf(session.payment_intent),
    applicationFee: outcome === 'zero_amount' ? 0 : fromStripeAmount(extra.applicationFee, currency),
    promotionCode: extra.promotionCode,
  };
}

/** Stripe refund status → Settle's three states (`requires_action` waits; `canceled` is final). */
export function refundStatus(status: string | null): RefundResult['status'] {
  switch (status) {
    case 'succeeded':
      return 'succeeded';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return 'pending';
  }
}

export function toRefundEvent(refund: Stripe.Refund): NormalizedEvent {
  return {
    kind: 'refund.updated',
    refund: {
      providerRefundId: refund.id,
      paymentId: idOf(refund.payment_intent),
      amount: fromStripeAmount(refund.amount, refund.currency),
      status: refundStatus(refund.status),
      refundId: refund.metadata?.['refundId'] ?? null,
    },
  };
}

export function toDisputeEvent(
  kind: 'dispute.created' | 'dispute.closed',
  dispute: Stripe.Dispute,
): NormalizedEvent {
  return {
    kind,
    dispute: {
      providerDisputeId: dispute.id,
      paymentId: idOf(dispute.payment_intent),
      amount: fromStripeAmount(dispute.amount, dispute.currency),
      currency: dispute.currency.toLowerCase(),
      reason: dispute.reason === '' ? null : dispute.reason,
      status: dispute.status,
      outcome: dispute.status === 'won' ? 'won' : dispute.status === 'lost' ? 'lost' : null,
    },
  };
}

/** A Stripe account's state: Stripe assigns the account id when the account is created, so it is never null. */
export type StripeAccountState = SellerAccountState & { accountId: string };

export function toSellerAccountState(account: Stripe.Account): StripeAccountState {
  return {
    accountId: account.id,
    detailsSubmitted: account.details_submitted ?? false,
    chargesEnabled: account.charges_enabled ?? false,
    payoutsEnabled: account.payouts_enabled ?? false,
  };
}

/** Minimal structural check that parsed JSON is a v1 Stripe event before it is treated as one. */
export function isStripeEvent(v: unknown): v is Stripe.Event {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  const data = e['data'];
  return (
    e['object'] === 'event' &&
    typeof e['id'] === 'string' &&
    typeof e['type'] === 'string' &&
    typeof e['created'] === 'number' &&
    typeof e['livemode'] === 'boolean' &&
    typeof data === 'object' &&
    data !== null &&
    typeof (data as Record<string, unknown>)['object'] === 'object'
  );
}
