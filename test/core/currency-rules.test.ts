import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertProviderAmount,
  chargeableThrough,
  fromProviderAmount,
  isProviderAmount,
  providerAmountRule,
  providerAmountRules,
  providerRulesSource,
  roundDownToStep,
  roundHalfUpToStep,
  toProviderAmount,
} from '../../src/core/currency-rules.js';
import { SettleError } from '../../src/core/errors.js';
import { currency, exponent, money, supportedCurrencies } from '../../src/core/money.js';
import { amountMultiple, apiExponent } from '../../src/emulators/stripe/currencies.js';

const rule = (c: string) => providerAmountRule('stripe', currency(c));

describe('Stripe amount rules (docs.stripe.com/currencies)', () => {
  it('ISK and UGX: Settle holds whole units (ISO 0), Stripe hundredths that are always 00', () => {
    for (const c of ['isk', 'ugx']) {
      expect(exponent(currency(c))).toBe(0);
      expect(rule(c)).toMatchObject({ providerExponent: 2, factor: 100, divisor: 1, step: 1 });
    }
    // The defect: a 5 000 kr listing must be sent as 500000, not 5000 (50 kr).
    expect(toProviderAmount('stripe', money(5000, 'isk'))).toBe(500_000);
    expect(fromProviderAmount('stripe', 500_000, 'isk')).toEqual(money(5000, 'isk'));
    expect(toProviderAmount('stripe', money(12_345, 'ugx'))).toBe(1_234_500);
  });

  it('three-decimal currencies: amounts must end in 0; no conversion', () => {
    for (const c of ['bhd', 'jod', 'kwd', 'omr', 'tnd']) {
      expect(rule(c)).toMatchObject({ providerExponent: 3, factor: 1, divisor: 1, step: 10 });
    }
    expect(toProviderAmount('stripe', money(5120, 'kwd'))).toBe(5120);
    expect(isProviderAmount('stripe', money(1005, 'kwd'))).toBe(false);
    expect(() => toProviderAmount('stripe', money(1005, 'kwd'), 'The unit price')).toThrow(
      /The unit price KWD 1\.005 cannot be charged through stripe.*multiples of KWD 0\.010.*KWD 1\.000 or KWD 1\.010/,
    );
  });

  it('HUF and TWD are ordinary two-decimal currencies for charges (the divisible-by-100 rule is for payouts)', () => {
    for (const c of ['huf', 'twd']) {
      expect(exponent(currency(c))).toBe(2);
      expect(rule(c)).toMatchObject({ providerExponent: 2, factor: 1, divisor: 1, step: 1 });
      expect(rule(c).note).toMatch(/payouts/);
    }
    expect(toProviderAmount('stripe', money(1045, 'huf'))).toBe(1045);
  });

  it('MGA: ISO 4217 has two decimals, Stripe none; Settle amounts must be whole ariary', () => {
    expect(exponent(currency('mga'))).toBe(2);
    expect(rule('mga')).toMatchObject({ providerExponent: 0, factor: 1, divisor: 100, step: 100 });
    expect(toProviderAmount('stripe', money(500_000, 'mga'))).toBe(5000);
    expect(fromProviderAmount('stripe', 5000, 'mga')).toEqual(money(500_000, 'mga'));
    expect(() => toProviderAmount('stripe', money(500_050, 'mga'))).toThrow(SettleError);
  });

  it('zero-decimal and ordinary two-decimal currencies pass through unchanged', () => {
    expect(rule('jpy')).toMatchObject({ providerExponent: 0, factor: 1, divisor: 1, step: 1, note: null });
    expect(rule('usd')).toMatchObject({ providerExponent: 2, factor: 1, divisor: 1, step: 1, note: null });
    expect(toProviderAmount('stripe', money(8000, 'jpy'))).toBe(8000);
    expect(toProviderAmount('stripe', money(1999, 'usd'))).toBe(1999);
  });

  it("agrees with the emulator's independent reading of Stripe for every currency Settle supports", () => {
    const rules = providerAmountRules('stripe');
    expect(rules.map((r) => r.currency)).toEqual(supportedCurrencies());
    for (const { currency: c, rule: r } of rules) {
      expect(r.providerExponent, c).toBe(apiExponent(c));
      // The smallest chargeable Settle amount is the smallest Stripe amount Stripe accepts.
      expect(toProviderAmount('stripe', money(r.step, c)) % amountMultiple(c), c).toBe(0);
      expect(r.step * r.factor, c).toBe(amountMultiple(c) * r.divisor);
    }
  });

  it('assertProviderAmount: 400 amount_not_supported with the step in the details', () => {
    const err: unknown = (() => {
      try {
        assertProviderAmount('stripe', money(1005, 'kwd'), 'The unit price');
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(SettleError);
    expect(err).toMatchObject({
      code: 'amount_not_supported',
      httpStatus: 400,
      details: { provider: 'stripe', currency: 'kwd', amount: 1005, step: 10 },
    });
    expect(assertProviderAmount('stripe', money(1010, 'kwd'), 'x')).toEqual(money(1010, 'kwd'));
  });

  it('rounding to the step: fees round down, discounts half up', () => {
    expect(roundDownToStep('stripe', money(1239, 'kwd'))).toEqual(money(1230, 'kwd'));
    expect(roundDownToStep('stripe', money(1230, 'kwd'))).toEqual(money(1230, 'kwd'));
    expect(roundDownToStep('stripe', money(123_456, 'mga'))).toEqual(money(123_400, 'mga'));
    expect(roundDownToStep('stripe', money(499, 'isk'))).toEqual(money(499, 'isk'));
    expect(roundHalfUpToStep('stripe', money(125, 'kwd'))).toEqual(money(130, 'kwd'));
    expect(roundHalfUpToStep('stripe', money(124, 'kwd'))).toEqual(money(120, 'kwd'));
    expect(roundHalfUpToStep('stripe', money(1999, 'usd'))).toEqual(money(1999, 'usd'));
  });

  it('property: conversions round-trip exactly and rounded amounts are always chargeable', () => {
    const codes = supportedCurrencies();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000_000 }), fc.constantFrom(...codes), (amount, c) => {
        const m = money(amount, c);
        const down = roundDownToStep('stripe', m);
        const near = roundHalfUpToStep('stripe', m);
        const step = providerAmountRule('stripe', m.currency).step;
        expect(down.amount).toBeLessThanOrEqual(amount);
        expect(amount - down.amount).toBeLessThan(step);
        expect(Math.abs(near.amount - amount) * 2).toBeLessThanOrEqual(step);
        for (const x of [down, near]) {
          expect(isProviderAmount('stripe', x)).toBe(true);
          const sent = toProviderAmount('stripe', x);
          expect(sent % amountMultiple(c)).toBe(0);
          expect(fromProviderAmount('stripe', sent, c)).toEqual(x);
        }
      }),
    );
  });

  it('reading back an amount with no exact Settle value is refused, never rounded', () => {
    expect(() => fromProviderAmount('stripe', 449_550, 'isk')).toThrow(/not a whole number/);
    expect(() => fromProviderAmount('stripe', -1, 'usd')).toThrow(/invalid amount/);
  });

  it('Square: ISO decimals (JPY whole yen) in the currencies of the countries it processes in', () => {
    expect(providerRulesSource('square')).toBe(
      'https://developer.squareup.com/docs/build-basics/working-with-monetary-amounts',
    );
    expect(toProviderAmount('square', { amount: 2500, currency: currency('usd') })).toBe(2500);
    expect(toProviderAmount('square', { amount: 8000, currency: currency('jpy') })).toBe(8000);
    expect(fromProviderAmount('square', 8000, 'JPY')).toEqual({ amount: 8000, currency: 'jpy' });
    expect(chargeableThrough('square', { amount: 1000, currency: currency('kwd') })).toBe(false);
    expect(() => providerAmountRule('square', currency('chf'))).toThrow(/square does not accept CHF/);
  });
});
