import { SettleError } from '../../core/errors.js';
import type { CheckoutOutcome, NormalizedEvent, RefundResult } from '../../core/provider.js';
import { fromSquareMoney } from './amounts.js';

/**
 * Square webhook events in their wire shape (snake_case JSON, amounts as JSON numbers), as delivered to
 * /webhooks/square and as stored in Settle's inbox. Parsing is strict: an event of a type Settle handles that does
 * not have that type's shape is refused as malformed (`webhook_payload_invalid`), never guessed at.
 */
export interface SquareWireEvent {
  event_id: string;
  type: string;
  merchant_id: string;
  created_at: string;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The envelope every Square event has: `event_id`, `type`, `merchant_id`, `created_at` and `data`. */
export function isSquareEvent(v: unknown): v is SquareWireEvent {
  return (
    isRecord(v) &&
    typeof v['event_id'] === 'string' &&
    typeof v['type'] === 'string' &&
    typeof v['merchant_id'] === 'string' &&
    typeof v['created_at'] === 'string' &&
    isRecord(v['data'])
  );
}

/** Payment status → checkout outcome. A FAILED payment leaves the payment link payable: still `open`. */
export function paymentOutcome(status: string | undefined): CheckoutOutcome {
  if (status === 'COMPLETED') return 'succeeded';
  if (status === 'APPROVED' || status === 'PENDING') return 'processing';
  return 'open';
}

/** PaymentRefund status → Settle's refund status (an unknown status changes nothing: pending). */
export function refundStatus(status: string | null | undefined): RefundResult['status'] {
  if (status === 'COMPLETED') return 'succeeded';
  if (status === 'REJECTED' || status === 'FAILED') return 'failed';
  return 'pending';
}

/** A payment as a payment event carries it: what Settle needs before it reads the payment's order. */
export interface WirePayment {
  id: string;
  status: string;
  orderId: string | null;
  amount: number;
  currency: string;
  applicationFee: number;
}

/** What a verified event says before any lookup: a payment (its order is read next), or the normalized event. */
export type ParsedSquareEvent =
  { kind: 'payment'; merchantId: string; payment: WirePayment } | { kind: 'event'; event: NormalizedEvent };

class Malformed extends Error {}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Malformed(what);
  return v;
}

function object(data: Record<string, unknown>): Record<string, unknown> {
  return need(isRecord(data['object']) ? data['object'] : undefined, 'data.object');
}

function wireMoney(v: unknown, what: string): { amount: number; currency: string } {
  if (!isRecord(v)) throw new Malformed(what);
  const currency = v['currency'];
  const amount = v['amount'];
  if (typeof currency !== 'string' || (typeof amount !== 'number' && typeof amount !== 'bigint'))
    throw new Malformed(what);
  return fromSquareMoney({ amount, currency }, what);
}

function parsePayment(p: Record<string, unknown>): WirePayment {
  const amount = wireMoney(p['amount_money'], 'payment.amount_money');
  return {
    id: need(str(p['id']), 'payment.id'),
    status: need(str(p['status']), 'payment.status'),
    orderId: str(p['order_id']) ?? null,
    amount: amount.amount,
    currency: amount.currency,
    applicationFee:
      p['app_fee_money'] === undefined || p['app_fee_money'] === null
        ? 0
        : wireMoney(p['app_fee_money'], 'payment.app_fee_money').amount,
  };
}

function parseRefund(r: Record<string, unknown>): NormalizedEvent {
  return {
    kind: 'refund.updated',
    refund: {
      providerRefundId: need(str(r['id']), 'refund.id'),
      paymentId: str(r['payment_id']) ?? null,
      amount: wireMoney(r['amount_money'], 'refund.amount_money').amount,
      status: refundStatus(need(str(r['status']), 'refund.status')),
      refundId: null,
    },
  };
}

const CLOSED_STATES: Readonly<Record<string, 'won' | 'lost'>> = {
  WON: 'won',
  LOST: 'lost',
  ACCEPTED: 'lost',
};

function parseDispute(type: string, data: Record<string, unknown>): NormalizedEvent {
  const o = object(data);
  // The SDK types the dispute at `data.object.object`; older payloads name it `dispute`.
  const d = isRecord(o['object']) ? o['object'] : isRecord(o['dispute']) ? o['dispute'] : undefined;
  const dispute = need(d, 'data.object.object (dispute)');
  const state = need(str(dispute['state']), 'dispute.state');
  const money = wireMoney(dispute['amount_money'], 'dispute.amount_money');
  const disputed = dispute['disputed_payment'];
  const outcome = type === 'dispute.created' ? null : (CLOSED_STATES[state] ?? null);
  return {
    kind: outcome === null ? 'dispute.created' : 'dispute.closed',
    dispute: {
      providerDisputeId: need(str(dispute['id']) ?? str(dispute['dispute_id']), 'dispute.id'),
      paymentId: isRecord(disputed) ? (str(disputed['payment_id']) ?? null) : null,
      amount: money.amount,
      currency: money.currency,
      reason: str(dispute['reason']) ?? null,
      status: state.toLowerCase(),
      outcome,
    },
  };
}

/**
 * The event's meaning from its payload alone. Payment events still need their order's `reference_id` (Settle's
 * order id), which only Square's order has: the provider reads it with the merchant's token.
 */
export function parseSquareEvent(ev: SquareWireEvent): ParsedSquareEvent {
  try {
    switch (ev.type) {
      case 'payment.created':
      case 'payment.updated': {
        const p = object(ev.data)['payment'];
        return {
          kind: 'payment',
          merchantId: ev.merchant_id,
          payment: parsePayment(need(isRecord(p) ? p : undefined, 'data.object.payment')),
        };
      }
      case 'refund.created':
      case 'refund.updated': {
        const r = object(ev.data)['refund'];
        return { kind: 'event', event: parseRefund(need(isRecord(r) ? r : undefined, 'data.object.refund')) };
      }
      case 'dispute.created':
      case 'dispute.state.updated':
      case 'dispute.state.changed':
        return { kind: 'event', event: parseDispute(ev.type, ev.data) };
      case 'oauth.authorization.revoked':
        return {
          kind: 'event',
          event: {
            kind: 'account.updated',
            revoked: true,
            account: {
              accountId: ev.merchant_id,
              detailsSubmitted: true,
              chargesEnabled: false,
              payoutsEnabled: false,
            },
          },
        };
      default:
        return { kind: 'event', event: { kind: 'ignored' } };
    }
  } catch (err) {
    if (err instanceof Malformed || (err instanceof SettleError && err.code === 'provider_error'))
      throw new SettleError(
        'webhook_payload_invalid',
        `Square event ${ev.event_id} (${ev.type}) does not have the shape of its type (${err instanceof Malformed ? err.message : 'amount'}).`,
        { cause: err },
      );
    throw err;
  }
}
