import type { Order, OrdersCapture } from '@paypal/paypal-server-sdk';
import type {
  CheckoutOutcome,
  CheckoutState,
  NormalizedEvent,
  RefundResult,
  SellerAccountState,
} from '../../core/provider.js';
import { fromPayPalMoney } from './amounts.js';
import type { MerchantIntegration } from './partner-referrals.js';
import { isRecord, linkHref, records, str } from './rest.js';

/**
 * PayPal objects → Settle's vocabulary. Orders read through the SDK arrive as its camelCase models; webhook
 * payloads are the raw snake_case JSON PayPal signed, read with shape checks (never cast).
 */

type Money = { currencyCode: string; value: string };

function sumMoney(list: readonly { amount: Money }[] | undefined, currencyCode: string): number {
  let total = 0;
  for (const f of list ?? []) {
    const m = fromPayPalMoney(f.amount);
    if (m.currency === currencyCode.toLowerCase()) total += m.amount;
  }
  return total;
}

/** The capture that decides the order: a completed (or since refunded) one, else a pending one, else the last. */
export function decisiveCapture(order: Order): OrdersCapture | null {
  const captures = order.purchaseUnits?.[0]?.payments?.captures ?? [];
  const paid = captures.find(
    (c) => c.status === 'COMPLETED' || c.status === 'PARTIALLY_REFUNDED' || c.status === 'REFUNDED',
  );
  return paid ?? captures.find((c) => c.status === 'PENDING') ?? captures.at(-1) ?? null;
}

/**
 * The order's outcome:
 * - a capture COMPLETED (or PARTIALLY_REFUNDED / REFUNDED: it was paid) → `succeeded`;
 * - a capture PENDING (e-check, review) → `processing`; DECLINED / FAILED → `failed`;
 * - CREATED, SAVED, PAYER_ACTION_REQUIRED, APPROVED (not captured yet) → `open`;
 * - VOIDED → `expired`.
 */
export function orderOutcome(order: Order): CheckoutOutcome {
  const capture = decisiveCapture(order);
  if (capture !== null) {
    switch (capture.status) {
      case 'COMPLETED':
      case 'PARTIALLY_REFUNDED':
      case 'REFUNDED':
        return 'succeeded';
      case 'PENDING':
        return 'processing';
      case 'DECLINED':
      case 'FAILED':
        return 'failed';
      default:
        return 'open';
    }
  }
  return order.status === 'VOIDED' ? 'expired' : 'open';
}

/**
 * CheckoutState of an order read from PayPal (authoritative: amounts, fee and payee come from PayPal). The
 * payee of a paid or pending order is PayPal's `payee.merchant_id`; if PayPal named none, the state carries an
 * empty account id, which core never accepts as the order's seller.
 */
export function toCheckoutState(order: Order, outcomeOverride?: CheckoutOutcome): CheckoutState {
  const unit = order.purchaseUnits?.[0];
  const outcome = outcomeOverride ?? orderOutcome(order);
  const capture = outcome === 'open' || outcome === 'expired' ? null : decisiveCapture(order);
  const amount = capture?.amount ?? unit?.amount;
  const m = amount !== undefined ? fromPayPalMoney(amount) : { amount: 0, currency: '' };
  const moneyMoved = outcome === 'succeeded' || outcome === 'processing';
  const payee = unit?.payee?.merchantId ?? null;
  const fees =
    capture?.sellerReceivableBreakdown?.platformFees ?? unit?.paymentInstruction?.platformFees ?? undefined;
  return {
    provider: 'paypal',
    sessionId: order.id ?? '',
    orderId: unit?.customId ?? null,
    accountId: moneyMoved ? (payee ?? '') : payee,
    outcome,
    amountTotal: m.amount,
    currency: m.currency,
    paymentId: capture?.id ?? null,
    applicationFee: amount !== undefined ? sumMoney(fees, amount.currencyCode) : 0,
    promotionCode: null,
  };
}

/** PayPal refund status → Settle's three states. */
export function refundStatus(status: string | undefined): RefundResult['status'] {
  switch (status) {
    case 'COMPLETED':
      return 'succeeded';
    case 'CANCELLED':
    case 'FAILED':
      return 'failed';
    default:
      return 'pending';
  }
}

/**
 * A seller's state from the merchant-integrations API. Charges need `payments_receivable` and a confirmed
 * primary e-mail (PayPal's own onboarding checks), and the platform's third-party permissions not revoked.
 */
export function toSellerAccountState(m: MerchantIntegration): SellerAccountState {
  return {
    accountId: m.merchantId,
    sellerId: m.trackingId,
    detailsSubmitted: true,
    chargesEnabled: m.paymentsReceivable && m.primaryEmailConfirmed && m.thirdPartyGranted !== false,
    payoutsEnabled: m.paymentsReceivable,
  };
}

// ---------------------------------------------------------------- webhook events (raw JSON)

/** A PayPal webhook event, as delivered and as listed by GET /v1/notifications/webhooks-events. */
export interface PayPalEvent {
  id: string;
  event_type: string;
  create_time: string;
  resource: Record<string, unknown>;
  [k: string]: unknown;
}

export function isPayPalEvent(v: unknown): v is PayPalEvent {
  return (
    isRecord(v) &&
    typeof v['id'] === 'string' &&
    v['id'] !== '' &&
    typeof v['event_type'] === 'string' &&
    typeof v['create_time'] === 'string' &&
    !Number.isNaN(Date.parse(v['create_time'])) &&
    isRecord(v['resource'])
  );
}

function rawMoney(v: unknown): Money | undefined {
  if (!isRecord(v)) return undefined;
  const currencyCode = str(v['currency_code']);
  const value = str(v['value']);
  return currencyCode !== undefined && value !== undefined ? { currencyCode, value } : undefined;
}

/** Placeholder state of an order event: core re-reads the order (retrieveCheckout) before anything moves. */
function orderEventState(order: Record<string, unknown>): CheckoutState | null {
  const sessionId = str(order['id']) ?? str(order['order_id']);
  if (sessionId === undefined) return null;
  const unit = records(order['purchase_units'])[0];
  const amount = rawMoney(unit?.['amount']);
  const m = amount !== undefined ? fromPayPalMoney(amount) : { amount: 0, currency: '' };
  return {
    provider: 'paypal',
    sessionId,
    orderId: str(unit?.['custom_id']) ?? null,
    accountId: null,
    outcome: 'open',
    amountTotal: m.amount,
    currency: m.currency,
    paymentId: null,
    applicationFee: 0,
    promotionCode: null,
  };
}

/** State of a capture event's payload: the order id from `supplementary_data.related_ids.order_id`. */
function captureEventState(capture: Record<string, unknown>, outcome: CheckoutOutcome): CheckoutState | null {
  const supplementary = capture['supplementary_data'];
  const related = isRecord(supplementary) ? supplementary['related_ids'] : undefined;
  const sessionId = isRecord(related) ? str(related['order_id']) : undefined;
  if (sessionId === undefined) return null;
  const amount = rawMoney(capture['amount']);
  const m = amount !== undefined ? fromPayPalMoney(amount) : { amount: 0, currency: '' };
  const payee = capture['payee'];
  return {
    provider: 'paypal',
    sessionId,
    orderId: str(capture['custom_id']) ?? null,
    accountId: isRecord(payee) ? (str(payee['merchant_id']) ?? null) : null,
    outcome,
    amountTotal: m.amount,
    currency: m.currency,
    paymentId: str(capture['id']) ?? null,
    applicationFee: 0,
    promotionCode: null,
  };
}

/** The capture id a refund belongs to (its `up` link: /v2/payments/captures/{id}). */
function captureIdOfRefund(refund: Record<string, unknown>): string | null {
  const up = linkHref(refund['links'], 'up');
  const m = up === undefined ? null : /\/v2\/payments\/captures\/([^/?#]+)/.exec(up);
  return m?.[1] !== undefined ? decodeURIComponent(m[1]) : null;
}

const DISPUTE_WON = new Set(['RESOLVED_SELLER_FAVOUR', 'CANCELED_BY_BUYER', 'DENIED']);
// Every other outcome of a resolved dispute (RESOLVED_BUYER_FAVOUR, RESOLVED_WITH_PAYOUT, ACCEPTED, …) is lost.

function disputeEvent(
  kind: 'dispute.created' | 'dispute.closed',
  d: Record<string, unknown>,
): NormalizedEvent {
  const id = str(d['dispute_id']);
  if (id === undefined) return { kind: 'ignored' };
  const tx = records(d['disputed_transactions'])[0];
  const amount = rawMoney(d['dispute_amount']);
  const m = amount !== undefined ? fromPayPalMoney(amount) : { amount: 0, currency: '' };
  const outcomeRecord = d['dispute_outcome'];
  const code = isRecord(outcomeRecord) ? str(outcomeRecord['outcome_code']) : undefined;
  const outcome =
    kind === 'dispute.closed' ? (code !== undefined && DISPUTE_WON.has(code) ? 'won' : 'lost') : null;
  return {
    kind,
    dispute: {
      providerDisputeId: id,
      paymentId: str(tx?.['seller_transaction_id']) ?? null,
      amount: m.amount,
      currency: m.currency,
      reason: str(d['reason']) ?? null,
      status: str(d['status']) ?? (kind === 'dispute.closed' ? 'RESOLVED' : 'OPEN'),
      outcome,
    },
  };
}

/**
 * PayPal event types → Settle's normalized kinds. Order and capture events that confirm a payment are re-read
 * by core through retrieveCheckout (which captures an approved order), so their payload state is a placeholder:
 * - CHECKOUT.ORDER.APPROVED, CHECKOUT.ORDER.COMPLETED, CHECKOUT.PAYMENT-APPROVAL.REVERSED → `checkout.completed`;
 * - PAYMENT.CAPTURE.COMPLETED → `checkout.async_succeeded`; PAYMENT.CAPTURE.PENDING → `checkout.completed`
 *   (the re-read says processing);
 * - PAYMENT.CAPTURE.DENIED / DECLINED → `checkout.async_failed` (applied from the signed payload, as for Stripe);
 * - PAYMENT.CAPTURE.REFUNDED → `refund.updated` (Settle's refund id travels as the refund's `custom_id`);
 * - PAYMENT.CAPTURE.REVERSED (the money taken back after a lost dispute) → `refund.updated` naming no Settle
 *   refund: core ignores it, the dispute's RESOLVED event records the loss;
 * - CUSTOMER.DISPUTE.CREATED / UPDATED → `dispute.created`; CUSTOMER.DISPUTE.RESOLVED → `dispute.closed`;
 * - MERCHANT.ONBOARDING.COMPLETED → `account.updated` read back from the API; MERCHANT.PARTNER-CONSENT.REVOKED →
 *   `account.updated` that can no longer charge;
 * - anything else → `ignored`.
 */
export function normalizePayPalEvent(event: PayPalEvent): NormalizedEvent {
  const r = event.resource;
  const orDrop = (
    s: CheckoutState | null,
    kind: 'checkout.completed' | 'checkout.async_succeeded' | 'checkout.async_failed',
  ): NormalizedEvent => (s === null ? { kind: 'ignored' } : { kind, checkout: s });
  switch (event.event_type) {
    case 'CHECKOUT.ORDER.APPROVED':
    case 'CHECKOUT.ORDER.COMPLETED':
    case 'CHECKOUT.PAYMENT-APPROVAL.REVERSED':
      return orDrop(orderEventState(r), 'checkout.completed');
    case 'PAYMENT.CAPTURE.COMPLETED':
      return orDrop(captureEventState(r, 'succeeded'), 'checkout.async_succeeded');
    case 'PAYMENT.CAPTURE.PENDING':
      return orDrop(captureEventState(r, 'processing'), 'checkout.completed');
    case 'PAYMENT.CAPTURE.DENIED':
    case 'PAYMENT.CAPTURE.DECLINED':
      return orDrop(captureEventState(r, 'failed'), 'checkout.async_failed');
    case 'PAYMENT.CAPTURE.REFUNDED':
    case 'PAYMENT.CAPTURE.REVERSED': {
      // Both carry a refund resource linking `up` to its capture. A reversal (PayPal took the money back after a
      // lost dispute) is no refund Settle made: core finds no refund of its own and ignores it; the dispute's own
      // events (CUSTOMER.DISPUTE.RESOLVED) record the outcome.
      const id = str(r['id']);
      if (id === undefined) return { kind: 'ignored' };
      const amount = rawMoney(r['amount']);
      const customId = str(r['custom_id']);
      const reversal = event.event_type === 'PAYMENT.CAPTURE.REVERSED';
      return {
        kind: 'refund.updated',
        refund: {
          providerRefundId: id,
          paymentId: captureIdOfRefund(r),
          amount: amount !== undefined ? fromPayPalMoney(amount).amount : 0,
          status: refundStatus(str(r['status'])),
          // Settle's refund id, when Settle made the refund (custom_id of refunds Settle sends).
          refundId: !reversal && customId !== undefined && /^ref_[a-z0-9]+$/.test(customId) ? customId : null,
        },
      };
    }
    case 'CUSTOMER.DISPUTE.CREATED':
    case 'CUSTOMER.DISPUTE.UPDATED':
      return disputeEvent(str(r['status']) === 'RESOLVED' ? 'dispute.closed' : 'dispute.created', r);
    case 'CUSTOMER.DISPUTE.RESOLVED':
      return disputeEvent('dispute.closed', r);
    case 'MERCHANT.ONBOARDING.COMPLETED':
    case 'MERCHANT.PARTNER-CONSENT.REVOKED': {
      const merchantId = str(r['merchant_id']);
      if (merchantId === undefined) return { kind: 'ignored' };
      const revoked = event.event_type === 'MERCHANT.PARTNER-CONSENT.REVOKED';
      return {
        kind: 'account.updated',
        account: {
          accountId: merchantId,
          sellerId: str(r['tracking_id']) ?? null,
          detailsSubmitted: true,
          chargesEnabled: false,
          payoutsEnabled: false,
        },
        ...(revoked ? {} : { readBack: true }),
      };
    }
    default:
      return { kind: 'ignored' };
  }
}
