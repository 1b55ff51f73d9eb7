import type Stripe from 'stripe';
import { SettleError } from '../../core/errors.js';
import type {
  CheckoutOutcome,
  CheckoutState,
  InvoiceState,
  NormalizedEvent,
  RefundResult,
  SellerAccountState,
  SubscriptionCheckoutState,
  SubscriptionState,
} from '../../core/provider.js';
import type { ProviderSubscriptionStatus } from '../../db/schema.js';
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

// ---------------------------------------------------------------- subscriptions (issue 13)

/** Unix seconds → Date; null when absent. */
export function dateOf(seconds: number | null | undefined): Date | null {
  return seconds === null || seconds === undefined ? null : new Date(seconds * 1000);
}

/** A subscription-mode session's status: open, complete or expired (Stripe's own three). */
export function subscriptionCheckoutOutcome(
  session: Stripe.Checkout.Session,
): SubscriptionCheckoutState['outcome'] {
  if (session.status === 'complete') return 'complete';
  if (session.status === 'expired') return 'expired';
  return 'open';
}

/** Settle's subscription id, written to `metadata.settleSubscriptionId` on the session and the subscription. */
export function settleSubscriptionIdOf(metadata: Stripe.Metadata | null | undefined): string | null {
  return metadata?.['settleSubscriptionId'] ?? null;
}

export function toSubscriptionCheckoutState(
  session: Stripe.Checkout.Session,
  accountId: string | null,
): SubscriptionCheckoutState {
  return {
    provider: 'stripe',
    sessionId: session.id,
    subscriptionId: settleSubscriptionIdOf(session.metadata),
    accountId,
    outcome: subscriptionCheckoutOutcome(session),
    providerSubscriptionId: idOf(session.subscription),
    providerCustomerId: idOf(session.customer),
  };
}

const SUBSCRIPTION_STATUS: Readonly<Record<string, ProviderSubscriptionStatus>> = {
  incomplete: 'incomplete',
  incomplete_expired: 'incomplete_expired',
  trialing: 'trialing',
  active: 'active',
  past_due: 'past_due',
  unpaid: 'unpaid',
  paused: 'paused',
  canceled: 'canceled',
};

/** Stripe's subscription status is Settle's vocabulary; a status Stripe adds later is refused, not guessed. */
export function subscriptionStatus(status: Stripe.Subscription.Status): ProviderSubscriptionStatus {
  const known = SUBSCRIPTION_STATUS[status];
  if (known === undefined)
    throw new SettleError('provider_error', `Stripe returned an unknown subscription status: ${status}`);
  return known;
}

/**
 * SubscriptionState from a subscription. `contextAccountId` is the connected account the subscription was read on
 * (direct charges); otherwise the seller is the transfer destination. In API version 2026-10-28.endive the current
 * period lives on the items, not on the subscription.
 */
export function toSubscriptionState(
  sub: Stripe.Subscription,
  contextAccountId: string | null,
): SubscriptionState {
  const item = sub.items.data[0];
  return {
    provider: 'stripe',
    providerSubscriptionId: sub.id,
    subscriptionId: settleSubscriptionIdOf(sub.metadata),
    accountId: contextAccountId ?? (sub.transfer_data ? idOf(sub.transfer_data.destination) : null),
    customerId: idOf(sub.customer),
    status: subscriptionStatus(sub.status),
    cancelAtPeriodEnd: sub.cancel_at_period_end,
    currentPeriodStart: dateOf(item?.current_period_start),
    currentPeriodEnd: dateOf(item?.current_period_end),
    trialEnd: dateOf(sub.trial_end),
    endedAt: dateOf(sub.ended_at),
    feePercent: sub.application_fee_percent,
    latestInvoiceId: idOf(sub.latest_invoice),
    testClockId: idOf(sub.test_clock),
  };
}

/** The subscription an invoice bills (`parent.subscription_details.subscription` in this API version), if any. */
export function invoiceSubscriptionId(invoice: Stripe.Invoice): string | null {
  return idOf(invoice.parent?.subscription_details?.subscription);
}

const INVOICE_STATUS: Readonly<Record<string, InvoiceState['status']>> = {
  draft: 'draft',
  open: 'open',
  paid: 'paid',
  void: 'void',
  uncollectible: 'uncollectible',
};

/** Stripe's invoice status (null only on previews: a draft); a status Stripe adds later is refused. */
function invoiceStatus(status: Stripe.Invoice.Status | null): InvoiceState['status'] {
  const known = INVOICE_STATUS[status ?? 'draft'];
  if (known === undefined)
    throw new SettleError('provider_error', `Stripe returned an unknown invoice status: ${String(status)}`);
  return known;
}

/**
 * The payment behind an invoice: its paid InvoicePayment, else its default one, else the first (this API version's
 * invoice has no `payment_intent` of its own). Null when nothing was attempted (a trial's zero invoice).
 */
export function invoicePaymentOf(payments: Stripe.InvoicePayment[]): Stripe.InvoicePayment | null {
  return (
    payments.find((p) => p.status === 'paid') ?? payments.find((p) => p.is_default) ?? payments[0] ?? null
  );
}

/**
 * InvoiceState from an invoice and its PaymentIntent (when one exists). The fee is the PaymentIntent's
 * `application_fee_amount` once the invoice is paid; the period is the first line's (a renewal invoice's own
 * period_start|end are the period that just ended).
 */
export function toInvoiceState(
  invoice: Stripe.Invoice,
  payment: { paymentIntentId: string | null; applicationFeeAmount: number | null },
): InvoiceState {
  const currency = invoice.currency.toLowerCase();
  const period = invoice.lines.data[0]?.period ?? { start: invoice.period_start, end: invoice.period_end };
  const status = invoiceStatus(invoice.status);
  return {
    provider: 'stripe',
    providerInvoiceId: invoice.id,
    providerSubscriptionId: invoiceSubscriptionId(invoice),
    status,
    billingReason: invoice.billing_reason ?? null,
    amountPaid: fromStripeAmount(invoice.amount_paid, currency),
    amountDue: fromStripeAmount(invoice.amount_due, currency),
    currency,
    applicationFee:
      status === 'paid' && payment.applicationFeeAmount !== null
        ? fromStripeAmount(payment.applicationFeeAmount, currency)
        : 0,
    paymentId: payment.paymentIntentId,
    periodStart: new Date(period.start * 1000),
    periodEnd: new Date(period.end * 1000),
    attemptCount: invoice.attempt_count,
    nextPaymentAttempt: dateOf(invoice.next_payment_attempt),
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
  };
}

const SUBSCRIPTION_CHANGES = {
  'customer.subscription.created': 'created',
  'customer.subscription.updated': 'updated',
  'customer.subscription.deleted': 'deleted',
  'customer.subscription.paused': 'paused',
  'customer.subscription.resumed': 'resumed',
  'customer.subscription.trial_will_end': 'trial_will_end',
} as const;

export type SubscriptionChangeEventType = keyof typeof SUBSCRIPTION_CHANGES;

export function toSubscriptionChangedEvent(
  type: SubscriptionChangeEventType,
  sub: Stripe.Subscription,
): NormalizedEvent {
  return {
    kind: 'subscription.changed',
    change: SUBSCRIPTION_CHANGES[type],
    providerSubscriptionId: sub.id,
    subscriptionId: settleSubscriptionIdOf(sub.metadata),
  };
}

const INVOICE_KINDS = {
  'invoice.paid': 'subscription.invoice_paid',
  'invoice.payment_failed': 'subscription.invoice_failed',
  'invoice.payment_action_required': 'subscription.invoice_action_required',
} as const;

export type SubscriptionInvoiceEventType = keyof typeof INVOICE_KINDS;

/** An invoice event of a subscription's invoice; other invoices (one-off) are not Settle's: ignored. */
export function toSubscriptionInvoiceEvent(
  type: SubscriptionInvoiceEventType,
  invoice: Stripe.Invoice,
): NormalizedEvent {
  const providerSubscriptionId = invoiceSubscriptionId(invoice);
  if (providerSubscriptionId === null) return { kind: 'ignored' };
  return { kind: INVOICE_KINDS[type], providerInvoiceId: invoice.id, providerSubscriptionId };
}
