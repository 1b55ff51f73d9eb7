import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  onboardedAccount,
  payViaPage,
  sessionParams,
  startHarness,
  type Harness,
  refusal,
} from './helpers.js';

/**
 * Stripe's business rules, one by one, through the official SDK (src/emulators/stripe/rules.ts and the resources):
 * each refusal has Stripe's type, code and param.
 */
let h: Harness;
let seller: Stripe.Account;

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

const oneItem = (currency: string, unitAmount: number): Stripe.Checkout.SessionCreateParams => ({
  mode: 'payment',
  line_items: [
    { price_data: { currency, unit_amount: unitAmount, product_data: { name: 'Class' } }, quantity: 1 },
  ],
  success_url: 'http://shop.test/success',
  cancel_url: 'http://shop.test/cancel',
});

describe('charge amounts', () => {
  it('a total below the currency minimum is amount_too_small (USD 0.50, GBP 0.30, HUF 175)', async () => {
    for (const [currency, below, ok] of [
      ['usd', 49, 50],
      ['gbp', 29, 30],
      ['huf', 17_400, 17_500],
    ] as const) {
      const err = await refusal(h.stripe.checkout.sessions.create(oneItem(currency, below)));
      expect(err.type).toBe('StripeInvalidRequestError');
      expect(err.code).toBe('amount_too_small');
      expect(err.param).toBe('line_items');
      expect((await h.stripe.checkout.sessions.create(oneItem(currency, ok))).amount_total).toBe(ok);
    }
  });

  it('a total above 99 999 999 minor units is amount_too_large', async () => {
    const err = await refusal(
      h.stripe.checkout.sessions.create({
        ...oneItem('usd', 60_000_000),
        line_items: [
          {
            price_data: { currency: 'usd', unit_amount: 60_000_000, product_data: { name: 'X' } },
            quantity: 2,
          },
        ],
      }),
    );
    expect(err.code).toBe('amount_too_large');
  });

  it('a 100 %-off session (total 0) is no payment and is allowed', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 100 });
    const s = await h.stripe.checkout.sessions.create({
      ...oneItem('usd', 2000),
      discounts: [{ coupon: coupon.id }],
    });
    expect(s.amount_total).toBe(0);
  });
});

describe('promotion codes and coupons', () => {
  const withCode = (promo: string) =>
    h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), discounts: [{ promotion_code: promo }] });

  it('inactive, expired and fully redeemed codes are refused at session creation', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 10 });
    const inactive = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'OFFNOW',
      active: false,
    });
    expect((await refusal(withCode(inactive.id))).message).toMatch(/not active/);
    const expired = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'LATE',
      expires_at: Math.floor(Date.now() / 1000) + 2,
    });
    expect((await withCode(expired.id)).amount_total).toBe(4500);
    h.emu.clock.advance(5_000);
    const e = await refusal(withCode(expired.id));
    expect(e.message).toMatch(/expired/);
    expect(e.param).toBe('discounts[0][promotion_code]');

    const once = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'ONCE',
      max_redemptions: 1,
    });
    const s = await withCode(once.id);
    expect((await payViaPage(s.url ?? '', { card_number: '4242424242424242' })).status).toBe(303);
    expect((await h.stripe.promotionCodes.retrieve(once.id)).times_redeemed).toBe(1);
    expect((await refusal(withCode(once.id))).message).toMatch(/maximum number of times/);
  });

  it('restricted codes: minimum amount and currency, first-time customer, one customer', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 20 });
    const min = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'BIGSPEND',
      restrictions: { minimum_amount: 10_000, minimum_amount_currency: 'usd' },
    });
    expect((await refusal(withCode(min.id))).message).toMatch(/minimum/);
    const big = await h.stripe.checkout.sessions.create({
      ...oneItem('usd', 12_000),
      discounts: [{ promotion_code: min.id }],
    });
    expect(big.amount_total).toBe(9600);
    const eur = await refusal(
      h.stripe.checkout.sessions.create({
        ...oneItem('eur', 12_000),
        discounts: [{ promotion_code: min.id }],
      }),
    );
    expect(eur.message).toMatch(/minimum/);

    // First-time customers only: a customer who already paid cannot use it.
    const customer = await h.stripe.customers.create({ email: 'repeat@example.test' });
    const first = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'WELCOME',
      restrictions: { first_time_transaction: true },
    });
    const paid = await h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), customer: customer.id });
    expect((await payViaPage(paid.url ?? '', { card_number: '4242424242424242' })).status).toBe(303);
    const repeat = await refusal(
      h.stripe.checkout.sessions.create({
        ...oneItem('usd', 5000),
        customer: customer.id,
        discounts: [{ promotion_code: first.id }],
      }),
    );
    expect(repeat.message).toBe(
      'This promotion code cannot be redeemed because the associated customer has prior transactions.',
    );

    // A code for one customer only.
    const other = await h.stripe.customers.create({ email: 'other@example.test' });
    const personal = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'JUSTYOU',
      customer: other.id,
    });
    expect((await refusal(withCode(personal.id))).message).toMatch(/this customer/);
  });

  it('a coupon past redeem_by or used up is expired ("Coupon expired: <id>")', async () => {
    const coupon = await h.stripe.coupons.create({
      percent_off: 5,
      redeem_by: Math.floor(h.emu.clock.now() / 1000) + 2,
    });
    expect(
      (
        await h.stripe.checkout.sessions.create({
          ...oneItem('usd', 5000),
          discounts: [{ coupon: coupon.id }],
        })
      ).amount_total,
    ).toBe(4750);
    h.emu.clock.advance(5_000);
    const err = await refusal(
      h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), discounts: [{ coupon: coupon.id }] }),
    );
    expect(err.message).toBe(`Coupon expired: ${coupon.id}`);
    expect(err.param).toBe('discounts[0][coupon]');
  });

  it('on the hosted page a restricted code is refused with the reason', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 50 });
    await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'HIGHROLLER',
      restrictions: { minimum_amount: 50_000, minimum_amount_currency: 'eur' },
    });
    const s = await h.stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }));
    const r = await payViaPage(s.url ?? '', {
      promotion_code: 'HIGHROLLER',
      card_number: '4242424242424242',
    });
    expect(r.status).toBe(400);
    expect(r.html).toMatch(/minimum/);
  });
});

describe('refunds', () => {
  async function paidCharge(card = '4242424242424242'): Promise<Stripe.Charge> {
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    expect((await payViaPage(s.url ?? '', { card_number: card })).status).toBe(303);
    const done = await h.stripe.checkout.sessions.retrieve(s.id, {
      expand: ['payment_intent.latest_charge'],
    });
    const pi = done.payment_intent as Stripe.PaymentIntent;
    return pi.latest_charge as Stripe.Charge;
  }

  it('a refund above what remains is amount_too_large; a fully refunded charge is charge_already_refunded', async () => {
    const charge = await paidCharge();
    await h.stripe.refunds.create({ charge: charge.id, amount: 4000 });
    const over = await refusal(h.stripe.refunds.create({ charge: charge.id, amount: 7000 }));
    expect(over.code).toBe('amount_too_large');
    await h.stripe.refunds.create({ charge: charge.id });
    const again = await refusal(h.stripe.refunds.create({ charge: charge.id, amount: 1 }));
    expect(again.code).toBe('charge_already_refunded');
  });

  it('a charge under an open dispute cannot be refunded (charge_disputed)', async () => {
    const charge = await paidCharge('4000000000000259');
    await h.emu.idle();
    expect((await h.stripe.charges.retrieve(charge.id)).disputed).toBe(true);
    const err = await refusal(h.stripe.refunds.create({ charge: charge.id, amount: 100 }));
    expect(err.code).toBe('charge_disputed');
    expect(err.param).toBe('charge');
  });
});

describe('metadata', () => {
  it('50 keys, 40-character keys and 500-character values; more is refused', async () => {
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']));
    const ok = await h.stripe.customers.create({ metadata: fifty });
    expect(Object.keys(ok.metadata)).toHaveLength(50);
    const tooMany = await refusal(h.stripe.customers.create({ metadata: { ...fifty, k50: 'v' } }));
    expect(tooMany.param).toBe('metadata');
    const longKey = await refusal(h.stripe.customers.create({ metadata: { ['k'.repeat(41)]: 'v' } }));
    expect(longKey.message).toMatch(/up to 40 characters/);
    const longValue = await refusal(h.stripe.customers.create({ metadata: { note: 'x'.repeat(501) } }));
    expect(longValue.message).toMatch(/up to 500 characters/);
    expect(longValue.param).toBe('metadata[note]');
  });

  it("an update with metadata[k]='' removes that key and keeps the others", async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 1 });
    const promo = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      metadata: { campaign: 'spring', channel: 'mail' },
    });
    const updated = await h.stripe.promotionCodes.update(promo.id, {
      metadata: { campaign: '', owner: 'ops' },
    });
    expect(updated.metadata).toEqual({ channel: 'mail', owner: 'ops' });
    const acct = await h.stripe.accounts.update(seller.id, { metadata: { tier: 'gold' } });
    expect(acct.metadata).toMatchObject({ tier: 'gold' });
    const cleared = await h.stripe.accounts.update(seller.id, { metadata: { tier: '' } });
    expect(cleared.metadata).not.toHaveProperty('tier');
  });
});

describe('Connect', () => {
  it('an application fee above the amount, or on a platform charge, is refused', async () => {
    const above = await refusal(
      h.stripe.checkout.sessions.create({
        ...sessionParams(),
        payment_intent_data: { application_fee_amount: 10_001, transfer_data: { destination: seller.id } },
      }),
    );
    expect(above.param).toBe('payment_intent_data[application_fee_amount]');
    const noConnect = await refusal(
      h.stripe.checkout.sessions.create({
        ...sessionParams(),
        payment_intent_data: { application_fee_amount: 100 },
      }),
    );
    expect(noConnect.param).toBe('payment_intent_data[application_fee_amount]');
  });

  it('a destination without the transfers capability is insufficient_capabilities_for_transfer', async () => {
    // Onboarded but asked for card payments only: no transfers capability.
    const acct = await h.stripe.accounts.create({
      type: 'express',
      capabilities: { card_payments: { requested: true } },
    });
    await h.emu.completeOnboarding(acct.id);
    const onboarded = await h.stripe.accounts.retrieve(acct.id);
    expect(onboarded.capabilities).toEqual({ card_payments: 'active' });
    const err = await refusal(
      h.stripe.checkout.sessions.create({
        ...sessionParams(),
        payment_intent_data: { application_fee_amount: 100, transfer_data: { destination: acct.id } },
      }),
    );
    expect(err.code).toBe('insufficient_capabilities_for_transfer');
  });
});

describe('list filters Stripe documents', () => {
  it('sessions by customer and customer_details[email], payment intents and charges by customer, promotion codes by customer', async () => {
    const customer = await h.stripe.customers.create({ email: 'filter@example.test' });
    const mine = await h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), customer: customer.id });
    await h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), customer_email: 'else@example.test' });
    const byCustomer = await h.stripe.checkout.sessions.list({ customer: customer.id });
    expect(byCustomer.data.map((s) => s.id)).toEqual([mine.id]);
    const byEmail = await h.stripe.checkout.sessions.list({
      customer_details: { email: 'else@example.test' },
    });
    expect(byEmail.data.every((s) => s.customer_details?.email === 'else@example.test')).toBe(true);
    expect(byEmail.data.length).toBe(1);

    expect((await payViaPage(mine.url ?? '', { card_number: '4242424242424242' })).status).toBe(303);
    const pis = await h.stripe.paymentIntents.list({ customer: customer.id });
    expect(pis.data).toHaveLength(1);
    expect((await h.stripe.charges.list({ customer: customer.id })).data).toHaveLength(1);
    expect((await h.stripe.charges.list({ transfer_group: 'no-such-group' })).data).toHaveLength(0);

    const coupon = await h.stripe.coupons.create({ percent_off: 2 });
    const own = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      customer: customer.id,
    });
    const codes = await h.stripe.promotionCodes.list({ customer: customer.id });
    expect(codes.data.map((p) => p.id)).toEqual([own.id]);
  });
});
