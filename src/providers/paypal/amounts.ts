import type { Money as PayPalMoney } from '@paypal/paypal-server-sdk';
import { fromProviderAmount, providerAmountRule, toProviderAmount } from '../../core/currency-rules.js';
import { SettleError } from '../../core/errors.js';
import { currency as parseCurrency, isSupportedCurrency, money } from '../../core/money.js';

/**
 * The PayPal adapter's one amount boundary. Settle holds integer ISO 4217 minor units; PayPal's API takes and
 * returns decimal strings (`"12.34"`, `"8000"` for JPY; HUF and TWD without decimals although ISO gives them two).
 * Conversion is string and integer arithmetic only, never a float; the per-currency rules (decimals, whole units,
 * the accepted currencies) live in src/core/currency-rules.ts.
 */

/** Settle minor units → PayPal's `{currency_code, value}`; refuses (400) what PayPal cannot take exactly. */
export function toPayPalMoney(amount: number, currencyCode: string, what: string): PayPalMoney {
  const m = money(amount, currencyCode);
  const units = toProviderAmount('paypal', m, what);
  const { providerExponent } = providerAmountRule('paypal', m.currency);
  return { currencyCode: m.currency.toUpperCase(), value: formatUnits(units, providerExponent) };
}

/** An integer count of the provider's smallest unit as a decimal string with `exponent` decimals. */
export function formatUnits(units: number, exponent: number): string {
  if (!Number.isSafeInteger(units) || units < 0)
    throw new Error(`formatUnits: invalid amount ${String(units)}`);
  if (exponent === 0) return String(units);
  const digits = String(units).padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

const DECIMAL_RE = /^(\d+)(?:\.(\d+))?$/;

/**
 * PayPal's `{currency_code, value}` → Settle minor units, exactly. A value with more decimals than PayPal uses
 * for the currency is accepted only when the extra digits are zeros (`"8000.00"` JPY); anything else (a negative,
 * an exponent, `"1.005"` USD) is refused loudly rather than rounded.
 */
export function fromPayPalMoney(m: { currencyCode: string; value: string }): {
  amount: number;
  currency: string;
} {
  const code = m.currencyCode.trim().toLowerCase();
  const match = DECIMAL_RE.exec(m.value.trim());
  if (match === null)
    throw new SettleError(
      'provider_error',
      `PayPal returned an amount that is not a decimal number: ${m.value}`,
    );
  if (!isSupportedCurrency(code)) {
    // Not a currency of any Settle order: reported as is, so the order comparison names the currency mismatch.
    return { amount: 0, currency: code };
  }
  const c = parseCurrency(code);
  const { providerExponent } = providerAmountRule('paypal', c);
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  const kept = fraction.slice(0, providerExponent).padEnd(providerExponent, '0');
  if (!/^0*$/.test(fraction.slice(providerExponent)))
    throw new SettleError(
      'provider_error',
      `PayPal returned ${m.value} ${c.toUpperCase()}, which has more decimals than PayPal uses for ${c.toUpperCase()}.`,
    );
  const digits = `${whole}${kept}`.replace(/^0+(?=\d)/, '');
  if (digits.length > 15)
    throw new SettleError('provider_error', `PayPal returned an amount that is too large: ${m.value}`);
  return fromProviderAmount('paypal', Number(digits), c);
}

/** Minor units of an optional PayPal amount in the order's currency, or null when absent. */
export function optionalPayPalAmount(m: { currencyCode: string; value: string } | undefined): number | null {
  return m === undefined ? null : fromPayPalMoney(m).amount;
}
