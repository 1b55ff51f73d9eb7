/**
 * PayPal amounts: decimal strings in `{currency_code, value}` objects. The emulator's own table of the currencies
 * PayPal's REST APIs accept and how many decimals each may carry
 * (https://developer.paypal.com/api/rest/reference/currency-codes/: "HUF, JPY, TWD: This currency does not support
 * decimals. If you pass a decimal amount, an error occurs."), independent of Settle's `src/core/money.ts`, so a
 * conversion mistake on Settle's side shows up here as a refused request.
 *
 * Amounts are handled as bigint minor units so the spec's maximum (999999999999999.99) never loses precision.
 */
export const PAYPAL_CURRENCIES: Readonly<Record<string, number>> = {
  AUD: 2,
  BRL: 2,
  CAD: 2,
  CNY: 2,
  CZK: 2,
  DKK: 2,
  EUR: 2,
  HKD: 2,
  HUF: 0,
  ILS: 2,
  INR: 2,
  JPY: 0,
  MYR: 2,
  MXN: 2,
  TWD: 0,
  NZD: 2,
  NOK: 2,
  PHP: 2,
  PLN: 2,
  GBP: 2,
  SGD: 2,
  SEK: 2,
  CHF: 2,
  THB: 2,
  USD: 2,
};

export interface Money {
  currency_code: string;
  value: string;
}

/** The spec's maximum for an amount ("Should be less than or equal to 999999999999999.99."). */
const MAX_MAJOR_DIGITS = 15;

export type AmountProblem =
  | 'INVALID_CURRENCY_CODE'
  | 'DECIMAL_PRECISION'
  | 'DECIMALS_NOT_SUPPORTED'
  | 'MAX_VALUE_EXCEEDED'
  | 'CANNOT_BE_NEGATIVE'
  | 'CANNOT_BE_ZERO_OR_NEGATIVE';

export type ParsedAmount =
  { ok: true; minor: bigint; decimals: number } | { ok: false; problem: AmountProblem };

export function decimalsOf(currency: string): number | undefined {
  return PAYPAL_CURRENCIES[currency];
}

/**
 * Parses a value string (already matching the spec's pattern `^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$`) for a
 * currency. `zeroDecimalIssue` is the issue PayPal names for a decimal amount in HUF/JPY/TWD on this operation
 * (Orders: `DECIMAL_PRECISION`; Payments refunds: `DECIMALS_NOT_SUPPORTED`).
 */
export function parseAmount(
  currency: string,
  value: string,
  opts: { allowZero: boolean; zeroDecimalIssue: 'DECIMAL_PRECISION' | 'DECIMALS_NOT_SUPPORTED' },
): ParsedAmount {
  const decimals = decimalsOf(currency);
  if (decimals === undefined) return { ok: false, problem: 'INVALID_CURRENCY_CODE' };
  const negative = value.startsWith('-');
  const body = negative ? value.slice(1) : value;
  const [intPartRaw = '', fracRaw = ''] = body.split('.');
  const intPart = intPartRaw === '' ? '0' : intPartRaw;
  const frac = fracRaw.replace(/0+$/, '');
  if (frac.length > decimals)
    return { ok: false, problem: decimals === 0 ? opts.zeroDecimalIssue : 'DECIMAL_PRECISION' };
  if (intPart.replace(/^0+/, '').length > MAX_MAJOR_DIGITS)
    return { ok: false, problem: 'MAX_VALUE_EXCEEDED' };
  const minor = BigInt(intPart) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0');
  if (negative && minor > 0n)
    return { ok: false, problem: opts.allowZero ? 'CANNOT_BE_NEGATIVE' : 'CANNOT_BE_ZERO_OR_NEGATIVE' };
  if (minor === 0n && !opts.allowZero) return { ok: false, problem: 'CANNOT_BE_ZERO_OR_NEGATIVE' };
  return { ok: true, minor, decimals };
}

/** Formats minor units as PayPal writes amounts: always with the currency's decimals (`10.00`, `1000` JPY). */
export function formatAmount(currency: string, minor: bigint): string {
  const decimals = decimalsOf(currency) ?? 2;
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  if (decimals === 0) return `${negative ? '-' : ''}${abs}`;
  const s = abs.toString().padStart(decimals + 1, '0');
  return `${negative ? '-' : ''}${s.slice(0, -decimals)}.${s.slice(-decimals)}`;
}

export function money(currency: string, minor: bigint): Money {
  return { currency_code: currency, value: formatAmount(currency, minor) };
}

/** Rounds `amount · num / den` half up (non-negative amounts). */
export function proportion(amount: bigint, num: bigint, den: bigint): bigint {
  if (den === 0n) return 0n;
  return (amount * num * 2n + den) / (den * 2n);
}

/**
 * The emulator's PayPal fee on a capture: 3.49 % of the gross plus a fixed fee of 0.49 in two-decimal currencies
 * (49 whole units in HUF/JPY/TWD). Made up, in the range of PayPal's published merchant fees; only its presence and
 * arithmetic (`net = gross − paypal_fee − platform_fees`) matter.
 */
export function paypalFee(gross: bigint): bigint {
  // 49 minor units is 0.49 in a two-decimal currency and 49 in a zero-decimal one.
  const fee = proportion(gross, 349n, 10_000n) + 49n;
  return fee > gross ? gross : fee;
}

/** Renders minor units for people (`USD 10.00`, `JPY 1,000`). */
export function displayAmount(currency: string, minor: bigint): string {
  const s = formatAmount(currency, minor);
  const [i = '0', f] = s.split('.');
  const grouped = i.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${currency} ${f === undefined ? grouped : `${grouped}.${f}`}`;
}
