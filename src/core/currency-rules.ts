import type { ProviderId } from '../db/schema.js';
import { SettleError } from './errors.js';
import {
  currency as parseCurrency,
  exponent,
  formatMoney,
  supportedCurrencies,
  type Currency,
  type Money,
} from './money.js';

/**
 * What each payment provider can charge, per currency, in one provider-neutral table.
 *
 * Settle's own amounts are ISO 4217 minor units (src/core/money.ts). A provider's API may count a currency in
 * other units (Stripe keeps ISK and UGX two-decimal, so 100 = 1 króna, and MGA zero-decimal although ISO gives
 * it two decimals) and may accept only some amounts (Stripe: ISK/UGX whole units only, the last digit of a
 * three-decimal amount must be 0). Adapters convert every amount they send or read with `toProviderAmount` /
 * `fromProviderAmount`; core code checks what it is about to charge, refund or take as a fee with
 * `assertProviderAmount` and rounds fees with `roundDownToStep`.
 *
 * Core never imports a provider SDK: the rules are data, stated here from each provider's documentation.
 */

/** How one provider counts one currency, relative to Settle's ISO 4217 minor units. */
export interface ProviderAmountRule {
  /** Decimal places of the provider's API amount (Stripe: ISK 2, JPY 0, MGA 0, KWD 3). */
  readonly providerExponent: number;
  /** Provider units per Settle minor unit, ≥ 1 (Stripe ISK/UGX: 100; otherwise 1). */
  readonly factor: number;
  /** Settle minor units per provider unit, ≥ 1 (Stripe MGA: 100, ISO has 2 decimals and Stripe 0; otherwise 1). */
  readonly divisor: number;
  /** A Settle amount must be a multiple of this to be chargeable (Stripe three-decimal: 10, MGA: 100; else 1). */
  readonly step: number;
  /** The provider's own wording of the special case, for messages and docs; null for ordinary currencies. */
  readonly note: string | null;
}

/** A provider's rule for one currency, in the provider's own terms. */
interface ProviderCurrencySpec {
  /** Decimal places the provider's API uses for amounts in this currency. */
  readonly exponent: number;
  /** Provider-unit amounts must be a multiple of this (Stripe ISK/UGX 100, three-decimal 10). */
  readonly multipleOf: number;
  readonly note: string | null;
}

/** One provider's table: the rule of every currency it lists specially, and the rule of all others. */
interface ProviderCurrencyTable {
  readonly source: string;
  readonly ordinary: ProviderCurrencySpec;
  readonly special: Readonly<Partial<Record<string, ProviderCurrencySpec>>>;
  /** The only currencies the provider accepts (lower case); null: every currency Settle supports. */
  readonly only: readonly string[] | null;
}

const STRIPE_ZERO_DECIMAL: ProviderCurrencySpec = { exponent: 0, multipleOf: 1, note: null };
const STRIPE_WHOLE_UNITS_ONLY = (code: string): ProviderCurrencySpec => ({
  exponent: 2,
  multipleOf: 100,
  note: `Stripe represents ${code} as a two-decimal value whose decimal part is always 00: the amount is in hundredths and must be divisible by 100 (no fractions of ${code}).`,
});
const STRIPE_THREE_DECIMAL: ProviderCurrencySpec = {
  exponent: 3,
  multipleOf: 10,
  note: 'Stripe requires the last digit of a three-decimal amount to be 0 (amounts are multiples of 10 thousandths).',
};
const STRIPE_PAYOUT_ONLY = (code: string): ProviderCurrencySpec => ({
  exponent: 2,
  multipleOf: 1,
  note: `Stripe charges ${code} as an ordinary two-decimal currency; only manual payouts must be divisible by 100 (Settle creates none).`,
});

/**
 * Stripe, from docs.stripe.com/currencies: two-decimal unless listed; the zero-decimal list; the special cases
 * (ISK, UGX: two-decimal in the API with the decimals always 00, whatever the zero-decimal list says of UGX;
 * HUF, TWD: two-decimal for charges, zero-decimal for payouts only); three-decimal BHD, JOD, KWD, OMR, TND with a
 * last digit of 0 for payments, refunds and disputes.
 */
const STRIPE: ProviderCurrencyTable = {
  source: 'https://docs.stripe.com/currencies',
  ordinary: { exponent: 2, multipleOf: 1, note: null },
  special: {
    bif: STRIPE_ZERO_DECIMAL,
    clp: STRIPE_ZERO_DECIMAL,
    djf: STRIPE_ZERO_DECIMAL,
    gnf: STRIPE_ZERO_DECIMAL,
    jpy: STRIPE_ZERO_DECIMAL,
    kmf: STRIPE_ZERO_DECIMAL,
    krw: STRIPE_ZERO_DECIMAL,
    mga: STRIPE_ZERO_DECIMAL,
    pyg: STRIPE_ZERO_DECIMAL,
    rwf: STRIPE_ZERO_DECIMAL,
    vnd: STRIPE_ZERO_DECIMAL,
    vuv: STRIPE_ZERO_DECIMAL,
    xaf: STRIPE_ZERO_DECIMAL,
    xof: STRIPE_ZERO_DECIMAL,
    xpf: STRIPE_ZERO_DECIMAL,
    isk: STRIPE_WHOLE_UNITS_ONLY('ISK'),
    ugx: STRIPE_WHOLE_UNITS_ONLY('UGX'),
    huf: STRIPE_PAYOUT_ONLY('HUF'),
    twd: STRIPE_PAYOUT_ONLY('TWD'),
    bhd: STRIPE_THREE_DECIMAL,
    jod: STRIPE_THREE_DECIMAL,
    kwd: STRIPE_THREE_DECIMAL,
    omr: STRIPE_THREE_DECIMAL,
    tnd: STRIPE_THREE_DECIMAL,
  },
  only: null,
};

const PAYPAL_NO_DECIMALS = (code: string): ProviderCurrencySpec => ({
  exponent: 0,
  multipleOf: 1,
  note: `PayPal does not support decimals for ${code} ("If you pass a decimal amount, an error occurs"): whole units only.`,
});

/**
 * PayPal, from developer.paypal.com/docs/api/reference/currency-codes: the REST API accepts only the listed
 * currencies (BRL and MYR as payment currencies of in-country accounts only; CNY and RUB are not Settle
 * currencies), amounts are decimal strings with the ISO decimals, and HUF, JPY and TWD take no decimals. Settle
 * holds HUF and TWD with ISO's two decimals, so through PayPal they must be whole forints and dollars (a
 * multiple of 100 minor units).
 */
const PAYPAL: ProviderCurrencyTable = {
  source: 'https://developer.paypal.com/docs/api/reference/currency-codes/',
  ordinary: { exponent: 2, multipleOf: 1, note: null },
  special: {
    huf: PAYPAL_NO_DECIMALS('HUF'),
    jpy: PAYPAL_NO_DECIMALS('JPY'),
    twd: PAYPAL_NO_DECIMALS('TWD'),
  },
  only: [
    'aud',
    'brl',
    'cad',
    'chf',
    'czk',
    'dkk',
    'eur',
    'gbp',
    'hkd',
    'huf',
    'ils',
    'jpy',
    'mxn',
    'myr',
    'nok',
    'nzd',
    'php',
    'pln',
    'sek',
    'sgd',
    'thb',
    'twd',
    'usd',
  ],
};

/**
 * Square, from developer.squareup.com/docs/build-basics/working-with-monetary-amounts: amounts are integers in the
 * currency's smallest denomination (ISO decimals: JPY none), and a seller takes payments in its own country's
 * currency only, so the currencies are those of the countries Square processes in (US, CA, GB, AU, JP, IE/FR/ES).
 * Whether one seller can take one currency is the seller's location's business: the adapter checks it per checkout.
 */
const SQUARE: ProviderCurrencyTable = {
  source: 'https://developer.squareup.com/docs/build-basics/working-with-monetary-amounts',
  ordinary: { exponent: 2, multipleOf: 1, note: null },
  special: { jpy: { exponent: 0, multipleOf: 1, note: null } },
  only: ['aud', 'cad', 'eur', 'gbp', 'jpy', 'usd'],
};

/**
 * Every provider Settle knows of. `null`: no adapter yet and no rules stated. Fill the table from the provider's
 * own documentation when its adapter is written; until then amounts for it are refused rather than guessed.
 */
const TABLES: Readonly<Record<ProviderId, ProviderCurrencyTable | null>> = {
  stripe: STRIPE,
  paypal: PAYPAL,
  square: SQUARE,
};

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function tableOf(provider: ProviderId): ProviderCurrencyTable {
  const table = TABLES[provider];
  if (table === null)
    throw new SettleError(
      'currency_unsupported',
      `No currency rules are stated for ${provider} yet; add them to src/core/currency-rules.ts with its adapter.`,
    );
  return table;
}

/** The provider's rule for a currency Settle supports: conversion factor or divisor, and the chargeable step. */
export function providerAmountRule(provider: ProviderId, currency: Currency): ProviderAmountRule {
  const table = tableOf(provider);
  if (table.only !== null && !table.only.includes(currency))
    throw new SettleError(
      'currency_unsupported',
      `${provider} does not accept ${currency.toUpperCase()}; its currencies are ${table.only.map((c) => c.toUpperCase()).join(', ')}.`,
      { details: { provider, currency } },
    );
  const spec = table.special[currency] ?? table.ordinary;
  const settleExponent = exponent(currency);
  const shift = spec.exponent - settleExponent;
  const factor = shift >= 0 ? 10 ** shift : 1;
  const divisor = shift < 0 ? 10 ** -shift : 1;
  // provider = settle × factor / divisor must be a whole number and a multiple of `multipleOf`.
  const step = divisor > 1 ? divisor * spec.multipleOf : spec.multipleOf / gcd(spec.multipleOf, factor);
  return { providerExponent: spec.exponent, factor, divisor, step, note: spec.note };
}

/** Whether the provider can charge (or refund, or take as a fee) exactly this amount. */
export function isProviderAmount(provider: ProviderId, m: Money): boolean {
  return m.amount % providerAmountRule(provider, m.currency).step === 0;
}

/** Whether the provider takes this currency at all and can charge exactly this amount in it. */
export function chargeableThrough(provider: ProviderId, m: Money): boolean {
  try {
    return isProviderAmount(provider, m);
  } catch {
    return false;
  }
}

/**
 * Refuses an amount the provider cannot represent exactly, with a 400 `amount_not_supported` naming the nearest
 * amounts it can. `what` names the amount in the message ("unit price", "refund amount", …). Returns `m`.
 */
export function assertProviderAmount(provider: ProviderId, m: Money, what: string): Money {
  const rule = providerAmountRule(provider, m.currency);
  if (m.amount % rule.step === 0) return m;
  const below = roundDownToStep(provider, m);
  const above: Money = { amount: below.amount + rule.step, currency: m.currency };
  throw new SettleError(
    'amount_not_supported',
    `${what} ${formatMoney(m)} cannot be charged through ${provider}: ${m.currency.toUpperCase()} amounts must be multiples of ${formatMoney({ amount: rule.step, currency: m.currency })} there${rule.note ? ` (${rule.note})` : ''}. Use ${formatMoney(below)} or ${formatMoney(above)}.`,
    { details: { provider, currency: m.currency, amount: m.amount, step: rule.step } },
  );
}

/** The largest amount ≤ m the provider can charge (platform fees round down, never up, to the provider's step). */
export function roundDownToStep(provider: ProviderId, m: Money): Money {
  const { step } = providerAmountRule(provider, m.currency);
  return { amount: m.amount - (m.amount % step), currency: m.currency };
}

/**
 * The nearest amount the provider can charge, ties up (discounts: a percent discount rounded half up to the step,
 * so the discounted total stays chargeable).
 */
export function roundHalfUpToStep(provider: ProviderId, m: Money): Money {
  const { step } = providerAmountRule(provider, m.currency);
  const rest = m.amount % step;
  const down = m.amount - rest;
  return { amount: rest * 2 >= step ? down + step : down, currency: m.currency };
}

/** Settle minor units → the provider's API units (exact; refuses an amount the provider cannot represent). */
export function toProviderAmount(provider: ProviderId, m: Money, what = 'amount'): number {
  assertProviderAmount(provider, m, what);
  const rule = providerAmountRule(provider, m.currency);
  const out = rule.divisor > 1 ? m.amount / rule.divisor : m.amount * rule.factor;
  if (!Number.isSafeInteger(out)) throw new SettleError('money_invalid', `${what} is too large.`);
  return out;
}

/**
 * The provider's API units → Settle minor units, exactly. An amount that has no exact Settle value (Stripe sending
 * 4 495.50 ISK, which its own rules exclude) is refused loudly rather than rounded.
 */
export function fromProviderAmount(provider: ProviderId, amount: number, currencyCode: string): Money {
  const c = parseCurrency(currencyCode);
  const rule = providerAmountRule(provider, c);
  if (!Number.isSafeInteger(amount) || amount < 0)
    throw new SettleError('provider_error', `${provider} returned an invalid amount ${String(amount)}.`);
  if (amount % rule.factor !== 0)
    throw new SettleError(
      'provider_error',
      `${provider} returned ${String(amount)} ${c.toUpperCase()} (provider units), which is not a whole number of Settle's minor units.`,
    );
  const out = rule.divisor > 1 ? amount * rule.divisor : amount / rule.factor;
  if (!Number.isSafeInteger(out))
    throw new SettleError('provider_error', `${provider} returned an amount that is too large.`);
  return { amount: out, currency: c };
}

/** The rule of every currency Settle supports that the provider accepts (docs and tests). */
export function providerAmountRules(
  provider: ProviderId,
): ReadonlyArray<{ currency: Currency; rule: ProviderAmountRule }> {
  const only = tableOf(provider).only;
  return supportedCurrencies()
    .filter((c) => only === null || only.includes(c))
    .map((c) => ({ currency: c, rule: providerAmountRule(provider, c) }));
}

/** Where a provider's rules come from (its currency documentation), or null when none are stated yet. */
export function providerRulesSource(provider: ProviderId): string | null {
  return TABLES[provider]?.source ?? null;
}
