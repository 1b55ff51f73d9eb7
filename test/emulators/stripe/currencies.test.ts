import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAmount, roundToMultiple } from '../../../src/emulators/stripe/currencies.js';
import { onboardedAccount, payViaPage, startHarness, type Harness, refusal } from './helpers.js';

/** The emulator follows Stripe's currency rules (docs.stripe.com/currencies), not Settle's money.ts. */
let h: Harness;
let seller: Stripe.Account;

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

const session = (
  currency: string,
  unitAmount: number,
  extra: Partial<Stripe.Checkout.SessionCreateParams> = {},
) =>
  h.stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [
      { price_data: { currency, unit_amount: unitAmount, product_data: { name: 'Tour' } }, quantity: 1 },
    ],
    success_url: 'http://shop.test/success',
    cancel_url: 'http://shop.test/cancel',
    ...extra,
  });

describe('Stripe currency rules in the emulator', () => {
  it('ISK and UGX amounts must be divisible by 100: a 400 invalid_request_error naming the param', async () => {
    for (const c of ['isk', 'ugx']) {
      const err = await refusal(session(c, 5000_50));
      expect(err.statusCode).toBe(400);
      expect(err.type).toBe('StripeInvalidRequestError');
      expect(err.param).toBe('line_items[0][price_data][unit_amount]');
      expect(err.message).toMatch(
        new RegExp(`Invalid unit_amount: 500050 ${c.toUpperCase()}: .*divisible by 100`),
      );
      expect((await session(c, 500_000)).amount_total).toBe(500_000);
    }
  });

  it('three-decimal amounts must end in 0 (unit price, application fee, refunds, coupons)', async () => {
    const err = await refusal(session('kwd', 1005));
    expect(err.param).toBe('line_items[0][price_data][unit_amount]');
    expect(err.message).toMatch(/last digit of a three-decimal KWD amount must be 0/);
    const fee = await refusal(
      h.stripe.checkout.sessions.create(
        {
          mode: 'payment',
          line_items: [
            {
              price_data: { currency: 'kwd', unit_amount: 1010, product_data: { name: 'Tour' } },
              quantity: 1,
            },
          ],
          success_url: 'http://shop.test/success',
          payment_intent_data: { application_fee_amount: 101 },
        },
        { stripeAccount: seller.id },
      ),
    );
    expect(fee.param).toBe('payment_intent_data[application_fee_amount]');
    const coupon = await refusal(h.stripe.coupons.create({ amount_off: 105, currency: 'bhd' }));
    expect(coupon.param).toBe('amount_off');

    const ok = await session('kwd', 1010);
    await payViaPage(ok.url ?? '', { card_number: '4242424242424242' });
    const paid = await h.stripe.checkout.sessions.retrieve(ok.id);
    const refund = await refusal(
      h.stripe.refunds.create({ payment_intent: String(paid.payment_intent), amount: 505 }),
    );
    expect(refund.param).toBe('amount');
    expect(
      (await h.stripe.refunds.create({ payment_intent: String(paid.payment_intent), amount: 500 })).amount,
    ).toBe(500);
  });

  it('HUF and TWD charge two-decimal amounts; JPY any whole amount', async () => {
    // HUF amounts are above Stripe's HUF 175.00 minimum charge.
    expect((await session('huf', 17_545)).amount_total).toBe(17_545);
    expect((await session('twd', 80_045)).amount_total).toBe(80_045);
    expect((await session('jpy', 8001)).amount_total).toBe(8001);
  });

  it('the hosted page shows Stripe units as money: ISK 500000 is ISK 5,000, KWD 5120 is KWD 5.120', async () => {
    expect(formatAmount(500_000, 'isk')).toBe('ISK 5,000');
    expect(formatAmount(5120, 'kwd')).toBe('KWD 5.120');
    expect(formatAmount(13_000, 'usd')).toBe('USD 130.00');
    expect(formatAmount(8000, 'jpy')).toBe('JPY 8,000');
    expect(formatAmount(5000, 'mga')).toBe('MGA 5,000');
    const s = await session('isk', 500_000);
    const html = await (await fetch(s.url ?? '')).text();
    expect(html).toContain('ISK 5,000');
    expect(html).not.toContain('ISK 500,000');
  });

  it('a percent discount is rounded to the currency multiple, so the total stays chargeable', async () => {
    expect(roundToMultiple(49_950, 'isk')).toBe(50_000);
    expect(roundToMultiple(125, 'kwd')).toBe(130);
    expect(roundToMultiple(124, 'kwd')).toBe(120);
    expect(roundToMultiple(499, 'usd')).toBe(499);
    const coupon = await h.stripe.coupons.create({ percent_off: 10 });
    const isk = await session('isk', 499_500, { discounts: [{ coupon: coupon.id }] });
    expect(isk.total_details?.amount_discount).toBe(50_000);
    expect(isk.amount_total).toBe(449_500);
    const kwd = await session('kwd', 1250, { discounts: [{ coupon: coupon.id }] });
    expect(kwd.amount_total).toBe(1120);
  });
});
