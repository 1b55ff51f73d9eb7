import { fromProviderAmount, toProviderAmount } from '../../core/currency-rules.js';
import { isSupportedCurrency, money } from '../../core/money.js';

/**
 * The Stripe adapter's one amount boundary. Settle holds ISO 4217 minor units; Stripe's API counts some currencies
 * differently (ISK and UGX in hundredths, MGA in whole ariary) and accepts only some amounts (whole ISK/UGX, a
 * last digit of 0 for three-decimal currencies). Every amount the adapter sends goes through `toStripeAmount`,
 * every amount it reads through `fromStripeAmount`; the rules live in src/core/currency-rules.ts.
 */

/** Settle minor units → Stripe's API units; refuses (400 amount_not_supported) what Stripe cannot charge. */
export function toStripeAmount(amount: number, currencyCode: string, what: string): number {
  return toProviderAmount('stripe', money(amount, currencyCode), what);
}

/**
 * Stripe's API units → Settle minor units. An amount in a currency Settle does not support cannot belong to one
 * of its orders; it is passed through unchanged (the order comparison then reports the currency mismatch).
 */
export function fromStripeAmount(amount: number, currencyCode: string | null | undefined): number {
  const code = (currencyCode ?? '').toLowerCase();
  if (!isSupportedCurrency(code)) return amount;
  return fromProviderAmount('stripe', amount, code).amount;
}
