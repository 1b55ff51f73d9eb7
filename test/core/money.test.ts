import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  currency,
  discountAmount,
  exponent,
  formatDecimal,
  money,
  multiply,
  parseDecimal,
  platformFee,
} from '../../src/core/money.js';

const CURRENCIES = ['usd', 'eur', 'jpy', 'krw', 'kwd', 'bhd', 'gbp'] as const;
const arbCurrency = fc.constantFrom(...CURRENCIES);
const arbAmount = fc.integer({ min: 0, max: 1_000_000_000_000 });
const arbPolicy = fc.record({
  bps: fc.integer({ min: 0, max: 10_000 }),
  fixed: fc.integer({ min: 0, max: 100_000 }),
});

describe('money', () => {
  it('knows the exponents: JPY 0, USD 2, KWD 3', () => {
    expect(exponent(currency('JPY'))).toBe(0);
    expect(exponent(currency('usd'))).toBe(2);
    expect(exponent(currency('kwd'))).toBe(3);
    expect(() => currency('xyz')).toThrow(/not supported/);
  });

  it("holds ISO 4217 minor units, not a provider's: ISK 0, UGX 0, MGA 2, HUF 2, TWD 2", () => {
    // Stripe counts ISK/UGX in hundredths and MGA in whole ariary: src/core/currency-rules.ts converts.
    expect(['isk', 'ugx', 'mga', 'huf', 'twd'].map((c) => exponent(currency(c)))).toEqual([0, 0, 2, 2, 2]);
    expect(formatDecimal(money(5000, 'isk'))).toBe('5000');
    expect(parseDecimal('1234.50', 'mga')).toEqual(money(123_450, 'mga'));
  });

  it('formats without floating point', () => {
    expect(formatDecimal(money(1999, 'usd'))).toBe('19.99');
    expect(formatDecimal(money(5, 'usd'))).toBe('0.05');
    expect(formatDecimal(money(1999, 'jpy'))).toBe('1999');
    expect(formatDecimal(money(5, 'kwd'))).toBe('0.005');
    expect(() => parseDecimal('1.234', 'usd')).toThrow(/more decimals/);
    expect(() => money(1.5, 'usd')).toThrow(/integer/);
    expect(() => money(-1, 'usd')).toThrow(/non-negative/);
  });

  it('property: parse(format(m)) round-trips exactly for every currency', () => {
    fc.assert(
      fc.property(arbAmount, arbCurrency, (amount, c) => {
        const m = money(amount, c);
        expect(parseDecimal(formatDecimal(m), c)).toEqual(m);
      }),
    );
  });

  it('property: the platform fee is an integer within [0, charge] and monotone in the charge', () => {
    fc.assert(
      fc.property(arbAmount, arbAmount, arbCurrency, arbPolicy, (a, b, c, policy) => {
        const lo = Math.min(a, b);
        const hi = Math.max(a, b);
        const feeLo = platformFee(money(lo, c), policy).amount;
        const feeHi = platformFee(money(hi, c), policy).amount;
        for (const [charge, fee] of [
          [lo, feeLo],
          [hi, feeHi],
        ] as const) {
          expect(Number.isSafeInteger(fee)).toBe(true);
          expect(fee).toBeGreaterThanOrEqual(0);
          expect(fee).toBeLessThanOrEqual(charge);
        }
        expect(feeLo).toBeLessThanOrEqual(feeHi);
      }),
    );
  });

  it('property: the percentage part rounds half up and matches exact rational arithmetic', () => {
    fc.assert(
      fc.property(arbAmount, arbCurrency, fc.integer({ min: 0, max: 10_000 }), (amount, c, bps) => {
        const fee = platformFee(money(amount, c), { bps, fixed: 0 }).amount;
        const exact = BigInt(amount) * BigInt(bps); // fee × 10 000 exactly
        // fee is the integer nearest exact/10000, ties upward: exact/10000 − ½ < fee ≤ exact/10000 + ½
        expect(BigInt(fee) * 10_000n * 2n > exact * 2n - 10_000n).toBe(true);
        expect(BigInt(fee) * 10_000n * 2n <= exact * 2n + 10_000n || amount === 0).toBe(true);
      }),
    );
    expect(platformFee(money(5, 'usd'), { bps: 1000, fixed: 0 }).amount).toBe(1); // 0.5 → 1
    expect(platformFee(money(14, 'usd'), { bps: 1000, fixed: 0 }).amount).toBe(1); // 1.4 → 1
    expect(platformFee(money(0, 'usd'), { bps: 1000, fixed: 30 }).amount).toBe(0); // a free order has no fee
    expect(platformFee(money(20, 'usd'), { bps: 0, fixed: 30 }).amount).toBe(20); // never above the charge
  });

  it('property: discounts never exceed the subtotal and 100 % off is the whole subtotal', () => {
    fc.assert(
      fc.property(arbAmount, arbCurrency, fc.integer({ min: 1, max: 10_000 }), (amount, c, hundredths) => {
        const subtotal = money(amount, c);
        const off = discountAmount(subtotal, { kind: 'percent', percentOff: hundredths / 100 }).amount;
        expect(off).toBeGreaterThanOrEqual(0);
        expect(off).toBeLessThanOrEqual(amount);
        expect(Number.isSafeInteger(off)).toBe(true);
      }),
    );
    expect(discountAmount(money(4999, 'usd'), { kind: 'percent', percentOff: 100 }).amount).toBe(4999);
    expect(discountAmount(money(4999, 'usd'), { kind: 'percent', percentOff: 10 }).amount).toBe(500);
    expect(discountAmount(money(300, 'usd'), { kind: 'amount', amountOff: money(500, 'usd') }).amount).toBe(
      300,
    );
  });

  it('property: quantity × unit is exact and refuses unsafe results', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 100 }),
        arbCurrency,
        (unit, q, c) => {
          expect(multiply(money(unit, c), q).amount).toBe(unit * q);
        },
      ),
    );
    expect(() => multiply(money(Number.MAX_SAFE_INTEGER, 'usd'), 2)).toThrow(/too large/);
    expect(() => multiply(money(1, 'usd'), 0)).toThrow(/positive/);
  });
});
