import { SettleError } from './errors.js';

/**
 * Money is always an integer count of the currency's minor unit (cents for USD, yen for JPY,
 * fils for KWD). Floats never represent money anywhere in Settle.
 */

/**
 * ISO 4217 exponents (the maintenance agency's list one, `CcyMnrUnts`) for the currencies Settle accepts. Anything
 * else is refused with a clear error. These are Settle's own minor units: what the catalogue, orders and the UI hold.
 * A provider that counts some currency differently (Stripe: ISK and UGX in hundredths, MGA in whole ariary) says so
 * in src/core/currency-rules.ts, and its adapter converts at its boundary.
 */
const EXPONENTS: Readonly<Record<string, number>> = Object.freeze({
  // zero-decimal
  bif: 0,
  clp: 0,
  djf: 0,
  gnf: 0,
  jpy: 0,
  kmf: 0,
  krw: 0,
  pyg: 0,
  rwf: 0,
  ugx: 0,
  vnd: 0,
  vuv: 0,
  xaf: 0,
  xof: 0,
  xpf: 0,
  isk: 0,
  // two-decimal in ISO 4217 although Stripe lists it as zero-decimal (currency-rules.ts converts)
  mga: 2,
  // three-decimal
  bhd: 3,
  jod: 3,
  kwd: 3,
  omr: 3,
  tnd: 3,
  // two-decimal (common)
  usd: 2,
  eur: 2,
  gbp: 2,
  cad: 2,
  aud: 2,
  nzd: 2,
  chf: 2,
  sek: 2,
  nok: 2,
  dkk: 2,
  pln: 2,
  czk: 2,
  huf: 2,
  mxn: 2,
  brl: 2,
  sgd: 2,
  hkd: 2,
  inr: 2,
  zar: 2,
  aed: 2,
  ils: 2,
  thb: 2,
  myr: 2,
  php: 2,
  ron: 2,
  try: 2,
  twd: 2,
  idr: 2,
});

export type Currency = string & { readonly __currency: unique symbol };

export interface Money {
  /** Integer amount in minor units; never negative for prices, fees and totals. */
  readonly amount: number;
  readonly currency: Currency;
}

/** Parses and normalizes a currency code (case-insensitive ISO 4217). */
export function currency(code: string): Currency {
  const c = code.trim().toLowerCase();
  if (!Object.hasOwn(EXPONENTS, c)) {
    throw new SettleError(
      'currency_unsupported',
      `Currency '${code}' is not supported; use an ISO 4217 code such as usd, eur, jpy or kwd.`,
    );
  }
  return c as Currency;
}

/** Every currency Settle accepts, in the order of the table above. */
export function supportedCurrencies(): Currency[] {
  return Object.keys(EXPONENTS) as Currency[];
}

export function isSupportedCurrency(code: string): boolean {
  return Object.hasOwn(EXPONENTS, code.trim().toLowerCase());
}

/** Number of decimal places of the currency's minor unit: JPY 0, USD 2, KWD 3. */
export function exponent(c: Currency): number {
  const e = EXPONENTS[c];
  if (e === undefined) throw new SettleError('currency_unsupported', `Currency '${c}' is not supported.`);
  return e;
}

/** Asserts a safe, non-negative integer minor-unit amount. */
export function assertMinor(amount: number, what = 'amount'): number {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new SettleError(
      'money_invalid',
      `${what} must be a non-negative integer number of minor units, got ${String(amount)}.`,
    );
  }
  return amount;
}

export function money(amount: number, c: string): Money {
  return { amount: assertMinor(amount), currency: currency(c) };
}

/** Multiplies a unit price by a quantity, refusing results beyond Number.MAX_SAFE_INTEGER. */
export function multiply(unit: Money, quantity: number): Money {
  if (!Number.isSafeInteger(quantity) || quantity <= 0) {
    throw new SettleError('money_invalid', `quantity must be a positive integer, got ${String(quantity)}.`);
  }
  const product = BigInt(unit.amount) * BigInt(quantity);
  if (product > BigInt(Number.MAX_SAFE_INTEGER))
    throw new SettleError('money_invalid', 'amount is too large.');
  return { amount: Number(product), currency: unit.currency };
}

/** Formats minor units as a decimal string without floating point: (1999, usd) → "19.99", (5, kwd) → "0.005". */
export function formatDecimal(m: Money): string {
  const e = exponent(m.currency);
  if (e === 0) return String(m.amount);
  const s = String(m.amount).padStart(e + 1, '0');
  return `${s.slice(0, -e)}.${s.slice(-e)}`;
}

/** Human display, e.g. "USD 19.99". */
export function formatMoney(m: Money): string {
  return `${m.currency.toUpperCase()} ${formatDecimal(m)}`;
}

/** Parses a decimal string into minor units exactly ("19.99" usd → 1999); rejects excess precision. */
export function parseDecimal(value: string, c: string): Money {
  const cur = currency(c);
  const e = exponent(cur);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value.trim());
  if (!match) throw new SettleError('money_invalid', `'${value}' is not a decimal amount.`);
  const whole = match[1] ?? '0';
  const frac = match[2] ?? '';
  if (frac.length > e) {
    throw new SettleError(
      'money_invalid',
      `'${value}' has more decimals than ${cur.toUpperCase()} allows (${e}).`,
    );
  }
  const minor = BigInt(whole) * 10n ** BigInt(e) + BigInt(frac.padEnd(e, '0') || '0');
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new SettleError('money_invalid', 'amount is too large.');
  return { amount: Number(minor), currency: cur };
}

/**
 * Divides with round-half-up (ties go to the larger integer). All operands are non-negative,
 * so this is also "round half away from zero".
 */
function divRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (numerator * 2n + denominator) / (denominator * 2n);
}

export interface FeePolicy {
  /** Percentage part in basis points (1/100 of a percent): 250 = 2.5 %. 0..10000. */
  readonly bps: number;
  /** Fixed part in minor units of the charge's currency. */
  readonly fixed: number;
}

/**
 * Platform fee for a charge: round_half_up(amount × bps / 10 000) + fixed, clamped to [0, amount].
 * A zero charge (100 %-off order) has a zero fee.
 */
export function platformFee(charge: Money, policy: FeePolicy): Money {
  assertMinor(charge.amount, 'charge');
  if (!Number.isInteger(policy.bps) || policy.bps < 0 || policy.bps > 10_000) {
    throw new SettleError(
      'money_invalid',
      `fee bps must be an integer between 0 and 10000, got ${String(policy.bps)}.`,
    );
  }
  assertMinor(policy.fixed, 'fixed fee');
  if (charge.amount === 0) return { amount: 0, currency: charge.currency };
  const pct = divRoundHalfUp(BigInt(charge.amount) * BigInt(policy.bps), 10_000n);
  const fee = pct + BigInt(policy.fixed);
  const clamped = fee > BigInt(charge.amount) ? BigInt(charge.amount) : fee;
  return { amount: Number(clamped), currency: charge.currency };
}

export type Discount =
  | { readonly kind: 'percent'; readonly percentOff: number }
  | { readonly kind: 'amount'; readonly amountOff: Money };

/**
 * Discount applied to a subtotal, never more than the subtotal. Percent discounts round half up,
 * which is how Stripe computes coupon discounts on a single line item.
 */
export function discountAmount(subtotal: Money, d: Discount): Money {
  if (d.kind === 'percent') {
    if (!(d.percentOff > 0 && d.percentOff <= 100)) {
      throw new SettleError('money_invalid', `percent_off must be in (0, 100], got ${String(d.percentOff)}.`);
    }
    // percent_off may carry two decimals (12.5 %): work in hundredths of a percent.
    const hundredths = BigInt(Math.round(d.percentOff * 100));
    const off = divRoundHalfUp(BigInt(subtotal.amount) * hundredths, 10_000n);
    return {
      amount: Number(off > BigInt(subtotal.amount) ? BigInt(subtotal.amount) : off),
      currency: subtotal.currency,
    };
  }
  if (d.amountOff.currency !== subtotal.currency) {
    throw new SettleError(
      'promotion_code_invalid',
      `This code is for ${d.amountOff.currency.toUpperCase()} orders only.`,
    );
  }
  return { amount: Math.min(d.amountOff.amount, subtotal.amount), currency: subtotal.currency };
}
