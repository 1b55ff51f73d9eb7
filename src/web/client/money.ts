/**
 * Formats integer minor units for display without ever using floating point: the amount is split into
 * integer and fraction digits by string arithmetic on the currency's ISO 4217 exponent.
 * `formatMinor(2000, 'usd')` → `$20.00`, `formatMinor(2000, 'jpy')` → `¥2,000`, `formatMinor(1500, 'kwd')` → `KWD 1.500`.
 */

const EXPONENT_0 = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'isk',
  'jpy',
  'kmf',
  'krw',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
const EXPONENT_3 = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

const SYMBOLS: Readonly<Record<string, string>> = {
  usd: '$',
  eur: '€',
  gbp: '£',
  jpy: '¥',
  inr: '₹',
  krw: '₩',
};

/** ISO 4217 minor-unit exponent (0, 2 or 3). Unknown currencies are treated as 2-decimal. */
export function currencyExponent(currency: string): number {
  const c = currency.toLowerCase();
  if (EXPONENT_0.has(c)) return 0;
  if (EXPONENT_3.has(c)) return 3;
  return 2;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Decimal string for an integer minor amount, e.g. (1999, 'usd') → "19.99", (-5, 'kwd') → "-0.005". */
export function minorToDecimal(amount: number, currency: string): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`amount must be an integer, got ${amount}`);
  const exp = currencyExponent(currency);
  const negative = amount < 0;
  const digits = String(Math.abs(amount)).padStart(exp + 1, '0');
  const whole = digits.slice(0, digits.length - exp);
  const frac = digits.slice(digits.length - exp);
  return `${negative ? '-' : ''}${groupThousands(whole)}${exp > 0 ? `.${frac}` : ''}`;
}

/** Display string with a symbol when one is well known, otherwise the upper-case code. */
export function formatMinor(amount: number, currency: string): string {
  const c = currency.toLowerCase();
  const text = minorToDecimal(amount, c);
  const negative = text.startsWith('-');
  const abs = negative ? text.slice(1) : text;
  const symbol = SYMBOLS[c];
  const shown = symbol !== undefined ? `${symbol}${abs}` : `${c.toUpperCase()} ${abs}`;
  return negative ? `−${shown}` : shown;
}

/**
 * Parses what an operator types ("12.5", "12.50", "1,200") into integer minor units, or returns null if it
 * is not a valid amount for this currency (too many decimals, not a number, zero or negative).
 */
export function parseDecimalToMinor(input: string, currency: string): number | null {
  const exp = currencyExponent(currency);
  const s = input.trim().replace(/,/g, '');
  const m = /^(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return null;
  const whole = m[1] ?? '0';
  const frac = m[2] ?? '';
  if (frac.length > exp) return null;
  const n = Number(whole + frac.padEnd(exp, '0'));
  if (!Number.isSafeInteger(n) || n <= 0) return null;
  return n;
}
