import type { Square } from 'square';
import { fromProviderAmount, toProviderAmount } from '../../core/currency-rules.js';
import { SettleError } from '../../core/errors.js';
import { isSupportedCurrency, money } from '../../core/money.js';

/**
 * The Square adapter's one amount boundary. Settle holds integer ISO 4217 minor units as `number`; the SDK holds
 * Square's smallest-denomination amounts as `bigint` (and the wire JSON of webhooks as plain numbers). Nothing
 * outside src/providers/square sees a bigint: amounts are converted here, refusing rather than rounding anything
 * that is not a safe, non-negative integer. The per-currency rules (which currencies Square takes, JPY without
 * decimals) live in src/core/currency-rules.ts.
 */

/** Settle minor units → the SDK's `Money` (bigint amount, upper-case ISO code); refuses what Square cannot take. */
export function toSquareMoney(amount: number, currency: string, what = 'amount'): Square.Money {
  const m = money(amount, currency);
  const units = toProviderAmount('square', m, what);
  // The currency-rules table only admits Square's currencies (AUD CAD EUR GBP JPY USD), all members of the SDK's enum.
  return { amount: BigInt(units), currency: m.currency.toUpperCase() as Square.Currency };
}

/** A provider amount (bigint from the SDK, number from wire JSON) as a safe non-negative integer, or throws. */
export function safeUnits(value: unknown, what = 'amount'): number {
  let n: number;
  if (typeof value === 'bigint') {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new SettleError('provider_error', `Square returned an out-of-range ${what}: ${value.toString()}`);
    n = Number(value);
  } else if (typeof value === 'number') {
    n = value;
  } else {
    throw new SettleError('provider_error', `Square returned a ${what} without an integer amount`);
  }
  if (!Number.isSafeInteger(n) || n < 0)
    throw new SettleError('provider_error', `Square returned an invalid ${what}: ${String(n)}`);
  return n;
}

/**
 * Square's `Money` (SDK or wire shape: `{amount, currency}`) → Settle minor units and a lower-case currency. A
 * currency Settle does not know is reported as is (amount unconverted), so the order comparison names the mismatch.
 */
export function fromSquareMoney(
  m: { amount?: bigint | number | null; currency?: string | null } | null | undefined,
  what = 'amount',
): { amount: number; currency: string } {
  if (m === null || m === undefined || typeof m.currency !== 'string' || m.currency === '')
    throw new SettleError('provider_error', `Square returned a ${what} without an amount or currency`);
  const units = safeUnits(m.amount, what);
  const code = m.currency.toLowerCase();
  if (!isSupportedCurrency(code)) return { amount: units, currency: code };
  return fromProviderAmount('square', units, code);
}

/** Minor units of an optional Square amount (an absent app fee is 0). */
export function optionalSquareAmount(
  m: { amount?: bigint | number | null; currency?: string | null } | null | undefined,
  what = 'amount',
): number {
  return m === null || m === undefined ? 0 : fromSquareMoney(m, what).amount;
}
