import { createHash } from 'node:crypto';
import type { Square } from 'square';
import { SettleError } from '../../core/errors.js';
import { neutralReturnUrl, SETTLE_PROMOTION_PREFIX } from '../../core/hosted-checkout.js';
import type { CheckoutState, CreateCheckoutInput } from '../../core/provider.js';
import { fromSquareMoney, optionalSquareAmount, toSquareMoney } from './amounts.js';
import { paymentOutcome } from './normalize.js';

/** Square's limits: line item `name` 512 characters, `idempotency_key` 192, refund `reason` 192. */
export const SQUARE_NAME_MAX = 512;
export const SQUARE_IDEMPOTENCY_KEY_MAX = 192;
export const SQUARE_REASON_MAX = 192;

/** Settle's key as Square's `idempotency_key`: as is when it fits, else its SHA-256 (deterministic either way). */
export function squareIdempotencyKey(key: string): string {
  return key.length <= SQUARE_IDEMPOTENCY_KEY_MAX ? key : createHash('sha256').update(key).digest('hex');
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** unit × quantity − discount, in minor units; refuses anything that is not a safe non-negative integer. */
export function checkoutTotal(input: Pick<CreateCheckoutInput, 'lineItem' | 'discount'>): number {
  const { unitAmount, quantity } = input.lineItem;
  const total = unitAmount * quantity - (input.discount ?? 0);
  if (!Number.isSafeInteger(total) || total < 0 || !Number.isSafeInteger(quantity) || quantity <= 0)
    throw new SettleError('money_invalid', 'Invalid order total.');
  return total;
}

/**
 * Square's limits on an amount and Settle's fee: no payment of 0, and an app fee of at most 90 % of the payment
 * (compared in integers: fee × 10 ≤ total × 9).
 */
export function assertSquareCharge(total: number, fee: number, currency: string): void {
  if (total === 0)
    throw new SettleError(
      'amount_not_supported',
      'Square cannot take a payment of 0: an order that is free after its promotion code needs no Square checkout (choose another provider for it).',
      { details: { provider: 'square', amount: 0 } },
    );
  if (!Number.isSafeInteger(fee) || fee < 0) throw new SettleError('money_invalid', 'Invalid platform fee.');
  if (fee * 10 > total * 9)
    throw new SettleError(
      'fee_not_supported',
      `Square caps the platform fee at 90% of the payment: fee ${fee} of total ${total} ${currency.toUpperCase()} (minor units) is more; lower the fee or choose another provider.`,
      { details: { provider: 'square', fee, total, currency } },
    );
}

/** The customer-facing code in a Settle promotion id (`settle:TENOFF` → `TENOFF`). */
function promotionCodeOf(providerId: string | null): string | null {
  if (providerId === null) return null;
  return providerId.startsWith(SETTLE_PROMOTION_PREFIX)
    ? providerId.slice(SETTLE_PROMOTION_PREFIX.length)
    : null;
}

/**
 * The line item Square shows. Without a discount: the item at its unit price × quantity. With one, the emulator
 * (like Settle) does not use Square's order discounts, so the line is one item of quantity 1 priced at the
 * discounted total, named after the item, the quantity and the code: what the buyer pays is what Settle priced.
 */
function lineItem(input: CreateCheckoutInput, total: number): Square.OrderLineItem {
  const { name, unitAmount, quantity } = input.lineItem;
  const discount = input.discount ?? 0;
  if (discount === 0)
    return {
      name: clip(name, SQUARE_NAME_MAX),
      quantity: String(quantity),
      basePriceMoney: toSquareMoney(unitAmount, input.currency, 'The unit price'),
    };
  const code = promotionCodeOf(input.promotionCodeProviderId);
  const label = `${quantity > 1 ? `${name} × ${quantity}` : name} (${code ?? 'discounted'})`;
  return {
    name: clip(label, SQUARE_NAME_MAX),
    quantity: '1',
    basePriceMoney: toSquareMoney(total, input.currency, 'The order total'),
  };
}

/** CreatePaymentLink for one Settle checkout, at the seller's location, with Settle's app fee. */
export function paymentLinkRequest(
  input: CreateCheckoutInput,
  locationId: string,
): Square.checkout.CreatePaymentLinkRequest {
  const total = checkoutTotal(input);
  assertSquareCharge(total, input.applicationFee, input.currency);
  return {
    idempotencyKey: squareIdempotencyKey(input.idempotencyKey),
    order: {
      locationId,
      referenceId: input.orderId,
      lineItems: [lineItem(input, total)],
    },
    checkoutOptions: {
      redirectUrl: neutralReturnUrl(input.successUrl),
      ...(input.applicationFee > 0
        ? { appFeeMoney: toSquareMoney(input.applicationFee, input.currency, 'The platform fee') }
        : {}),
      askForShippingAddress: false,
    },
    // Square's hosted page has no cancel URL: a buyer who leaves simply does not pay (the hold expires).
    ...(input.customerEmail !== null ? { prePopulatedData: { buyerEmail: input.customerEmail } } : {}),
  };
}

/** Everything read back about one checkout: its link (null once deleted), order and payments. */
export interface CheckoutReadings {
  sessionId: string;
  accountId: string;
  link: Square.PaymentLink | null;
  order: Square.Order | null;
  payments: readonly Square.Payment[];
  nowMs: number;
  lifetimeMs: number;
}

export function goneState(sessionId: string, accountId: string | null): CheckoutState {
  return {
    provider: 'square',
    sessionId,
    orderId: null,
    accountId,
    outcome: 'expired',
    amountTotal: 0,
    currency: '',
    paymentId: null,
    applicationFee: 0,
    promotionCode: null,
  };
}

/**
 * The checkout's outcome: a COMPLETED payment → succeeded; APPROVED or PENDING → processing; otherwise a deleted
 * link or CANCELED order → expired, a DRAFT order older than the hold → expired, a failed bank transfer → failed,
 * else open (a declined card leaves the link payable). Amounts come from the payment when there is one, else from the order and the link's fee.
 */
export function checkoutState(r: CheckoutReadings): CheckoutState {
  if (r.link === null || r.order === null) return goneState(r.sessionId, r.accountId);
  const order = r.order;
  const paid =
    r.payments.find((p) => p.status === 'COMPLETED') ??
    r.payments.find((p) => p.status === 'APPROVED' || p.status === 'PENDING');
  const base = {
    provider: 'square' as const,
    sessionId: r.sessionId,
    orderId: order.referenceId ?? null,
    accountId: r.accountId,
    promotionCode: null,
  };
  if (paid !== undefined) {
    const amount = fromSquareMoney(paid.amountMoney, 'payment amount');
    return {
      ...base,
      outcome: paymentOutcome(paid.status),
      amountTotal: amount.amount,
      currency: amount.currency,
      paymentId: paid.id ?? null,
      applicationFee: optionalSquareAmount(paid.appFeeMoney, 'app fee'),
    };
  }
  const amount = fromSquareMoney(order.totalMoney, 'order total');
  const created = order.createdAt === undefined ? Number.NaN : Date.parse(order.createdAt);
  const stale = order.state === 'DRAFT' && !Number.isNaN(created) && r.nowMs - created > r.lifetimeMs;
  // A delayed payment (bank transfer) that failed after it was accepted: the checkout failed, as Stripe's
  // async_payment_failed says (the provider deletes the link). A declined card is refused while the buyer is still
  // on the page, which stays payable: still open.
  const lastFailed = [...r.payments]
    .filter((p) => p.status === 'FAILED')
    .sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''))
    .at(-1);
  const delayedFailed = lastFailed !== undefined && lastFailed.sourceType === 'BANK_ACCOUNT';
  return {
    ...base,
    outcome: order.state === 'CANCELED' || stale ? 'expired' : delayedFailed ? 'failed' : 'open',
    amountTotal: amount.amount,
    currency: amount.currency,
    paymentId: null,
    applicationFee: optionalSquareAmount(r.link.checkoutOptions?.appFeeMoney, 'app fee'),
  };
}
