import type Stripe from 'stripe';
import { invalid } from './errors.js';
import { obj, type FormValue } from './form.js';

/**
 * Stripe business rules the emulator enforces on top of parameter checking (params.ts), each with Stripe's own
 * answer: charge amount limits, metadata limits and unsetting, promotion code and coupon redeemability.
 */

/**
 * Minimum charge amounts (minor units) from Stripe's table "Minimum and maximum charge amounts"
 * (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). Other currencies: 50 minor units, the
 * equivalent Stripe converts to (the emulator does not convert).
 */
const MIN_CHARGE: Readonly<Record<string, number>> = {
  usd: 50,
  aed: 200,
  aud: 50,
  bgn: 100,
  brl: 50,
  cad: 50,
  chf: 50,
  czk: 1500,
  dkk: 250,
  eur: 50,
  gbp: 30,
  hkd: 400,
  huf: 17500,
  inr: 50,
  jpy: 50,
  mxn: 1000,
  myr: 200,
  nok: 300,
  nzd: 50,
  pln: 200,
  ron: 200,
  sek: 300,
  sgd: 50,
  thb: 1000,
};

/** Stripe's maximum: 8 digits of the currency's minor unit ($999,999.99), per the same page. */
export const MAX_CHARGE = 99_999_999;

export function minimumCharge(currency: string): number {
  return MIN_CHARGE[currency.toLowerCase()] ?? 50;
}

/**
 * A payment amount (a Checkout Session's total due) within Stripe's limits: Stripe answers `amount_too_small`
 * ("Amount must be at least $0.50 usd") and `amount_too_large`. A total of 0 (a 100 %-off session) is no payment
 * and is allowed.
 */
export function checkChargeAmount(amount: number, currency: string, param: string): void {
  if (amount === 0) return;
  const min = minimumCharge(currency);
  if (amount < min)
    throw invalid(
      `The Checkout Session's total amount due must add up to at least ${min} ${currency} (minor units): amount must be at least ${min}.`,
      param,
      'amount_too_small',
    );
  if (amount > MAX_CHARGE)
    throw invalid(
      `Amount must be no more than ${MAX_CHARGE} ${currency} (minor units).`,
      param,
      'amount_too_large',
    );
}

/** Stripe's metadata limits (docs.stripe.com/metadata): 50 keys, keys up to 40 characters, values up to 500. */
export const METADATA_MAX_KEYS = 50;
export const METADATA_MAX_KEY_LENGTH = 40;
export const METADATA_MAX_VALUE_LENGTH = 500;

/**
 * The metadata an object has after a create (`current` empty) or an update: `metadata[k]=v` sets a key,
 * `metadata[k]=` removes it, `metadata=` clears all. Refuses nested values and Stripe's limits with its messages.
 */
export function applyMetadata(
  current: Readonly<Record<string, string>>,
  value: FormValue | undefined,
  param = 'metadata',
): Record<string, string> {
  if (value === undefined) return { ...current };
  if (value === '') return {};
  const o = obj(value);
  if (o === undefined) throw invalid('Invalid object', param);
  const out: Record<string, string> = { ...current };
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string') throw invalid('Metadata values must be strings.', `${param}[${k}]`);
    if (k.length > METADATA_MAX_KEY_LENGTH)
      throw invalid(
        `Metadata keys can have up to ${METADATA_MAX_KEY_LENGTH} characters. The key '${k.slice(0, 60)}' has ${k.length}.`,
        `${param}[${k.slice(0, 60)}]`,
      );
    if (v.length > METADATA_MAX_VALUE_LENGTH)
      throw invalid(
        `Metadata values can have up to ${METADATA_MAX_VALUE_LENGTH} characters, but you passed in a value that is ${v.length} characters.`,
        `${param}[${k}]`,
      );
    if (v === '') delete out[k];
    else out[k] = v;
  }
  if (Object.keys(out).length > METADATA_MAX_KEYS)
    throw invalid(`You can have up to ${METADATA_MAX_KEYS} metadata keys.`, param);
  return out;
}

/** What a redemption is checked against. */
export interface RedemptionContext {
  /** The amount the discount applies to (the session's subtotal), minor units. */
  amount: number;
  currency: string;
  /** Whether the customer already paid on this account (Stripe: `first_time_transaction` restriction). */
  customerHasPaid: boolean;
  /** The session's customer, if any (a promotion code may be restricted to one customer). */
  customer: string | null;
  nowSeconds: number;
}

/**
 * Why a coupon cannot be redeemed now, in Stripe's words, or null. Stripe: `Coupon expired: <id>` when past
 * `redeem_by` or fully redeemed (`valid: false`).
 */
export function couponProblem(coupon: Stripe.Coupon, ctx: RedemptionContext): string | null {
  if (coupon.redeem_by !== null && coupon.redeem_by <= ctx.nowSeconds) return `Coupon expired: ${coupon.id}`;
  if (coupon.max_redemptions !== null && coupon.times_redeemed >= coupon.max_redemptions)
    return `Coupon expired: ${coupon.id}`;
  if (!coupon.valid) return `Coupon expired: ${coupon.id}`;
  if (coupon.amount_off !== null && coupon.currency !== null && coupon.currency !== ctx.currency)
    return `This coupon's currency (${coupon.currency}) does not match the currency of the payment (${ctx.currency}).`;
  return null;
}

/** Why a promotion code cannot be redeemed now, in Stripe's words, or null. */
export function promotionCodeProblem(
  promo: Stripe.PromotionCode,
  coupon: Stripe.Coupon,
  ctx: RedemptionContext,
): string | null {
  if (!promo.active) return 'This promotion code is not active.';
  if (promo.expires_at !== null && promo.expires_at <= ctx.nowSeconds)
    return 'This promotion code has expired.';
  if (promo.max_redemptions !== null && promo.times_redeemed >= promo.max_redemptions)
    return 'This promotion code cannot be redeemed because it has been used the maximum number of times.';
  if (promo.customer !== null && promo.customer !== ctx.customer)
    return 'This promotion code cannot be redeemed by this customer.';
  const r = promo.restrictions;
  if (r.first_time_transaction && ctx.customerHasPaid)
    return 'This promotion code cannot be redeemed because the associated customer has prior transactions.';
  if (r.minimum_amount !== null) {
    const minCurrency = r.minimum_amount_currency ?? ctx.currency;
    if (minCurrency !== ctx.currency || ctx.amount < r.minimum_amount)
      return `This promotion code cannot be redeemed because the order amount is below the minimum of ${r.minimum_amount} ${minCurrency}.`;
  }
  return couponProblem(coupon, ctx);
}
