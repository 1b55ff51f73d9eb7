import { invalid } from './errors.js';

/**
 * Stripe's own view of currencies, as docs.stripe.com/currencies states it. Deliberately independent of Settle's
 * src/core (money.ts holds ISO 4217, currency-rules.ts Settle's reading of these same rules): the emulator plays
 * Stripe, so a mistake in Settle's table shows up as a refused request or a wrong amount here instead of being
 * copied.
 *
 * - Amounts are integers in the currency's API unit: two-decimal unless listed below.
 * - Zero-decimal: the amount is the charge (500 = 500 JPY).
 * - ISK and UGX: two-decimal in the API with the decimal part always 00 (500 = 5 ISK); amounts must be divisible by
 *   100. (UGX also appears in Stripe's zero-decimal list; the special case is the rule that applies.)
 * - HUF and TWD: two-decimal for charges; only manual payouts must be divisible by 100 (the emulator has none).
 * - BHD, JOD, KWD, OMR, TND: three-decimal, and the last digit must be 0 for payments, refunds and disputes.
 */

/**
 * The presentment currencies Stripe accepts, in the order of its own refusal: "Invalid currency: ughjsd. Stripe
 * currently supports these currencies: usd, aed, afn, …" (a real answer recorded in October 2024 with its
 * `request_log_url`, `param: currency`, type `invalid_request_error`, no code; the same list and wording appear in
 * older recorded answers).
 */
export const STRIPE_CURRENCIES: readonly string[] = (
  'usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd cad cdf ' +
  'chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl hrk htg ' +
  'huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt ' +
  'mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar ' +
  'sbd scr sek sgd shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd ' +
  'xof xpf yer zar zmw usdc btn ghs eek lvl svc vef ltl sll mro'
).split(' ');
const SUPPORTED = new Set(STRIPE_CURRENCIES);

/** Refuses, with Stripe's answer, a currency Stripe does not support (case-insensitive, as the API lowercases). */
export function checkCurrency(currency: string, param: string): string {
  const c = currency.toLowerCase();
  if (!SUPPORTED.has(c))
    throw invalid(
      `Invalid currency: ${c}. Stripe currently supports these currencies: ${STRIPE_CURRENCIES.join(', ')}`,
      param,
    );
  return c;
}

const ZERO_DECIMAL = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
const WHOLE_UNITS_ONLY = new Set(['isk', 'ugx']);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** Decimal places of Stripe's API amount for a currency. */
export function apiExponent(currency: string): number {
  const c = currency.toLowerCase();
  if (ZERO_DECIMAL.has(c)) return 0;
  if (THREE_DECIMAL.has(c)) return 3;
  return 2;
}

/** Stripe amounts in this currency must be a multiple of this (ISK/UGX 100, three-decimal 10, otherwise 1). */
export function amountMultiple(currency: string): number {
  const c = currency.toLowerCase();
  if (WHOLE_UNITS_ONLY.has(c)) return 100;
  if (THREE_DECIMAL.has(c)) return 10;
  return 1;
}

/** Refuses, as Stripe does, an amount the currency cannot carry: a 400 invalid_request_error naming `param`. */
export function checkAmount(amount: number, currency: string, param: string): void {
  const multiple = amountMultiple(currency);
  if (amount % multiple === 0) return;
  const code = currency.toUpperCase();
  const reason =
    multiple === 100
      ? `${code} is represented as a two-decimal value whose decimal part is always 00, so amounts must be divisible by 100 (to charge 5 ${code}, use 500)`
      : `the last digit of a three-decimal ${code} amount must be 0 (round to the nearest ten: 5.124 ${code} is 5120 or 5130)`;
  throw invalid(
    `Invalid ${param.replace(/^.*\[([^\]]+)\]$/, '$1')}: ${String(amount)} ${code}: ${reason}.`,
    param,
  );
}

/**
 * Rounds a computed amount (a percent discount) half up to the currency's multiple, so what is left to charge stays
 * chargeable. Stripe documents this rounding for UGX invoices ("rounds that amount to the nearest number evenly
 * divisible by 100"); the emulator applies it to every Checkout discount in a currency with a multiple.
 */
export function roundToMultiple(amount: number, currency: string): number {
  const multiple = amountMultiple(currency);
  const rest = amount % multiple;
  return rest * 2 >= multiple ? amount - rest + multiple : amount - rest;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * What the hosted page shows for an API amount, e.g. (13000, usd) → "USD 130.00", (500000, isk) → "ISK 5,000",
 * (5120, kwd) → "KWD 5.120", (8000, jpy) → "JPY 8,000". ISK and UGX show whole units: their decimals are always 00.
 */
export function formatAmount(amount: number, currency: string): string {
  const code = currency.toUpperCase();
  const c = currency.toLowerCase();
  const shown = WHOLE_UNITS_ONLY.has(c) ? Math.trunc(amount / 100) : amount;
  const exp = WHOLE_UNITS_ONLY.has(c) ? 0 : apiExponent(c);
  const negative = shown < 0;
  const digits = String(Math.abs(shown)).padStart(exp + 1, '0');
  const whole = groupThousands(digits.slice(0, digits.length - exp));
  const frac = exp > 0 ? `.${digits.slice(digits.length - exp)}` : '';
  return `${code} ${negative ? '-' : ''}${whole}${frac}`;
}
