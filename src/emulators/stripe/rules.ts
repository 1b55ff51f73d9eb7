import type Stripe from 'stripe';
import { apiExponent } from './currencies.js';
import { ApiError, invalid } from './errors.js';
import { obj, type FormValue } from './form.js';

/**
 * Stripe business rules the emulator enforces on top of parameter checking (params.ts), each with Stripe's answer
 * and where it was found. Where Stripe's exact wording or code could not be found, the answer is the emulator's own
 * and says so (docs/emulator.md, "Business rules").
 */

// ---------------------------------------------------------------------------------------------- charge amounts

/**
 * Minimum charge amounts (minor units), Stripe's table "Minimum and maximum charge amounts"
 * (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). Other currencies: "$0.50 US or equivalent in
 * charge currency" (the SDK's PaymentIntent `amount` documentation); the emulator does not convert and uses 50.
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

/**
 * "The amount value supports up to eight digits (e.g., a value of 99999999 for a USD charge of $999,999.99)" (the
 * SDK's PaymentIntent `amount` documentation, from Stripe's OpenAPI spec).
 */
export const MAX_CHARGE = 99_999_999;

export function minimumCharge(currency: string): number {
  return MIN_CHARGE[currency.toLowerCase()] ?? 50;
}

/** Symbols Stripe puts in front of (or, for HUF, after) amounts in its messages. */
const SYMBOL_BEFORE: Readonly<Record<string, string>> = {
  usd: '$',
  aud: '$',
  cad: '$',
  hkd: '$',
  nzd: '$',
  sgd: '$',
  mxn: '$',
  eur: '€',
  gbp: '£',
  jpy: '¥',
  inr: '₹',
};
const SYMBOL_AFTER: Readonly<Record<string, string>> = { huf: 'Ft' };

/**
 * An amount as Stripe's messages write it: "$0.50", "€0.50", "175.00 Ft", "4.00" (no symbol known). Stripe quotes
 * "at least $0.50 usd", "at least $4.00 hkd", "at least 175.00 Ft huf", "Amount must be no more than $999,999.99".
 */
export function moneyText(amount: number, currency: string): string {
  const c = currency.toLowerCase();
  const exp = apiExponent(c);
  const digits = String(Math.abs(amount)).padStart(exp + 1, '0');
  const whole = digits.slice(0, digits.length - exp).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const n = `${amount < 0 ? '-' : ''}${whole}${exp > 0 ? `.${digits.slice(digits.length - exp)}` : ''}`;
  const before = SYMBOL_BEFORE[c];
  if (before !== undefined) return `${before}${n}`;
  const after = SYMBOL_AFTER[c];
  return after !== undefined ? `${n} ${after}` : n;
}

/**
 * A Checkout Session's total due within Stripe's limits. Below the minimum Stripe answers `amount_too_small`, "The
 * Checkout Session's total amount due must add up to at least $0.50 usd" (quoted in many public projects, e.g.
 * "... at least $4.00 hkd", "... at least 175.00 Ft huf"). Above eight digits: `amount_too_large`, with the
 * PaymentIntent wording "Amount must be no more than $999,999.99" (the Checkout wording was not found). A total of 0
 * (a 100 %-off session) is no payment and is allowed (docs.stripe.com/payments/checkout/no-cost-orders). No `param`:
 * no single parameter is wrong (the emulator's choice; Stripe's was not found).
 */
export function checkChargeAmount(amount: number, currency: string): void {
  if (amount === 0) return;
  const min = minimumCharge(currency);
  if (amount < min)
    throw invalid(
      `The Checkout Session's total amount due must add up to at least ${moneyText(min, currency)} ${currency.toLowerCase()}`,
      undefined,
      'amount_too_small',
    );
  if (amount > MAX_CHARGE)
    throw invalid(
      `Amount must be no more than ${moneyText(MAX_CHARGE, currency)}`,
      undefined,
      'amount_too_large',
    );
}

// ---------------------------------------------------------------------------------------------- metadata

/** Stripe's metadata limits (docs.stripe.com/metadata): 50 keys, keys up to 40 characters, values up to 500. */
export const METADATA_MAX_KEYS = 50;
export const METADATA_MAX_KEY_LENGTH = 40;
export const METADATA_MAX_VALUE_LENGTH = 500;

/**
 * The metadata an object has after a create (`current` empty) or an update: `metadata[k]=v` sets a key,
 * `metadata[k]=` removes it ("Individual keys can be unset by posting an empty value to them. All keys can be unset
 * by posting an empty value to `metadata`", the SDK's `metadata` documentation), `metadata=` clears all. Stripe's
 * refusals, as real answers quote them:
 * - "Metadata keys can have up to 40 characters, but you passed in a key that is 41 characters. Invalid key: <key>"
 * - "Metadata values can have up to 500 characters, but you passed in a value that is 801 characters. Invalid value: …"
 * - "Metadata can have up to 50 keys, but you've set 51. Email us at support+metadata@stripe.com for more information."
 *   (FlowFuse/flowfuse#1948)
 * A nested value (`metadata[a][b]=c`) is refused by params.ts ("Invalid string: …") before this runs.
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
    if (typeof v !== 'string') throw invalid(`Invalid string: ${JSON.stringify(v)}`, `${param}[${k}]`);
    if (k.length > METADATA_MAX_KEY_LENGTH)
      throw invalid(
        `Metadata keys can have up to ${METADATA_MAX_KEY_LENGTH} characters, but you passed in a key that is ${k.length} characters. Invalid key: ${k}`,
        `${param}[${k}]`,
      );
    if (v.length > METADATA_MAX_VALUE_LENGTH)
      throw invalid(
        `Metadata values can have up to ${METADATA_MAX_VALUE_LENGTH} characters, but you passed in a value that is ${v.length} characters. Invalid value: ${v}`,
        `${param}[${k}]`,
      );
    if (v === '') delete out[k];
    else out[k] = v;
  }
  const count = Object.keys(out).length;
  if (count > METADATA_MAX_KEYS)
    throw invalid(
      `Metadata can have up to ${METADATA_MAX_KEYS} keys, but you've set ${count}. Email us at support+metadata@stripe.com for more information.`,
      param,
    );
  return out;
}

// ---------------------------------------------------------------------------------------------- discounts

/** What a redemption is checked against. */
export interface RedemptionContext {
  /** The amount the discount applies to (the session's subtotal), minor units. */
  amount: number;
  currency: string;
  /** The products of the session's line items (a coupon's `applies_to.products` must name one). */
  products: readonly string[];
  /**
   * Whether the customer already paid on this account. Stripe: `first_time_transaction` "indicating if the Promotion
   * Code should only be redeemed for Customers without any successful payments or invoices" (SDK documentation).
   */
  customerHasPaid: boolean;
  /** The session's customer, if any (a promotion code may be restricted to one customer). */
  customer: string | null;
  nowSeconds: number;
}

/** A refused redemption: Stripe's message and, where it has one, its code. */
export interface RedemptionProblem {
  message: string;
  code?: string;
}

/** The amount a coupon takes off in `currency`: `amount_off` in its own currency or a `currency_options` entry. */
export function couponAmountOff(coupon: Stripe.Coupon, currency: string): number | null {
  if (coupon.amount_off === null) return null;
  if (coupon.currency === currency) return coupon.amount_off;
  return coupon.currency_options?.[currency]?.amount_off ?? null;
}

/**
 * Why a coupon cannot be redeemed now, or null. Past `redeem_by`, used `max_redemptions` times or otherwise invalid,
 * Stripe answers "Coupon expired: <id>" (the prefix real integrations match on, e.g. "TODO: Handle when
 * e.message.start_with?('Coupon expired')"), code `coupon_expired` ("The coupon provided for a subscription or order
 * has expired", docs.stripe.com/error-codes; the code is in the SDK's error-code list).
 */
export function couponProblem(coupon: Stripe.Coupon, ctx: RedemptionContext): RedemptionProblem | null {
  const expired = { message: `Coupon expired: ${coupon.id}`, code: 'coupon_expired' };
  if (coupon.redeem_by !== null && coupon.redeem_by <= ctx.nowSeconds) return expired;
  if (coupon.max_redemptions !== null && coupon.times_redeemed >= coupon.max_redemptions) return expired;
  if (!coupon.valid) return expired;
  if (coupon.amount_off !== null && couponAmountOff(coupon, ctx.currency) === null)
    return {
      message: `This coupon's currency (${String(coupon.currency)}) does not match the currency of the Checkout Session (${ctx.currency}), and the coupon has no currency_options for it.`,
    };
  const products = coupon.applies_to?.products;
  if (products !== undefined && !ctx.products.some((p) => products.includes(p)))
    return {
      message:
        'This promotion code cannot be redeemed because the associated coupon is not valid for any of the items.',
    };
  return null;
}

/**
 * Why a promotion code cannot be redeemed now, or null. Stripe's wording where real answers quote it: "This
 * promotion code cannot be redeemed because the associated customer has prior transactions." (stripe/stripe-node#1318),
 * "... because the associated purchase does not meet the minimum amount requirement." (a project's recorded
 * refusal, `param: discounts[0][promotion_code]`); the others follow the same pattern (the emulator's wording).
 */
export function promotionCodeProblem(
  promo: Stripe.PromotionCode,
  coupon: Stripe.Coupon,
  ctx: RedemptionContext,
): RedemptionProblem | null {
  if (!promo.active) return { message: 'This promotion code cannot be redeemed because it is inactive.' };
  if (promo.expires_at !== null && promo.expires_at <= ctx.nowSeconds)
    return { message: 'This promotion code cannot be redeemed because it has expired.' };
  if (promo.max_redemptions !== null && promo.times_redeemed >= promo.max_redemptions)
    return {
      message: 'This promotion code cannot be redeemed because it has been used the maximum number of times.',
    };
  if (promo.customer !== null && promo.customer !== ctx.customer)
    return {
      message: 'This promotion code cannot be redeemed because it is restricted to a different customer.',
    };
  const r = promo.restrictions;
  if (r.first_time_transaction && ctx.customerHasPaid)
    return {
      message:
        'This promotion code cannot be redeemed because the associated customer has prior transactions.',
    };
  // The minimum in the session's currency: `minimum_amount` in `minimum_amount_currency`, or a `currency_options` entry.
  const minimum =
    r.minimum_amount !== null && r.minimum_amount_currency === ctx.currency
      ? r.minimum_amount
      : (r.currency_options?.[ctx.currency]?.minimum_amount ?? null);
  if (r.minimum_amount !== null && minimum === null)
    return {
      message: `This promotion code cannot be redeemed because its minimum amount is in ${String(r.minimum_amount_currency)}, not ${ctx.currency}.`,
    };
  if (minimum !== null && ctx.amount < minimum)
    return {
      message:
        'This promotion code cannot be redeemed because the associated purchase does not meet the minimum amount requirement.',
    };
  return couponProblem(coupon, ctx);
}

/** The 400 a refused redemption is, naming `param`. */
export function redemptionError(problem: RedemptionProblem, param: string): ApiError {
  return invalid(problem.message, param, problem.code);
}
