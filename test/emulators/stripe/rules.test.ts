import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRIPE_CURRENCIES } from '../../../src/emulators/stripe/currencies.js';
import { supportOf } from '../../../src/emulators/stripe/spec/support.js';
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
 * each refusal has Stripe's status, type, code, param and message as far as they could be found (the sources are
 * cited next to each rule in the code).
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

const nowS = (): number => Math.floor(h.emu.clock.now() / 1000);
const PAY = { card_number: '4242424242424242' };

/** A paid charge of a fresh EUR 100.00 session (card `card`). */
async function paidCharge(card = '4242424242424242'): Promise<Stripe.Charge> {
  const s = await h.stripe.checkout.sessions.create(sessionParams());
  expect((await payViaPage(s.url ?? '', { card_number: card })).status).toBe(303);
  const done = await h.stripe.checkout.sessions.retrieve(s.id, { expand: ['payment_intent.latest_charge'] });
  return (done.payment_intent as Stripe.PaymentIntent).latest_charge as Stripe.Charge;
}

/** A 400 invalid_request_error with the code, param and message given (a key given as undefined: none sent). */
function expectRefusal(
  err: Stripe.errors.StripeError,
  want: { code?: string | undefined; param?: string | undefined; message?: string | RegExp },
): void {
  expect(err.statusCode).toBe(400);
  expect(err.type).toBe('StripeInvalidRequestError');
  expect(err.raw).toMatchObject({ type: 'invalid_request_error' });
  if ('code' in want) expect(err.code).toBe(want.code);
  if ('param' in want) expect(err.param).toBe(want.param);
  if (typeof want.message === 'string') expect(err.message).toBe(want.message);
  else if (want.message) expect(err.message).toMatch(want.message);
}

describe('charge amounts and currencies', () => {
  it('a total below the currency minimum is amount_too_small, in Stripe words ($0.50 usd, £0.30 gbp, 175.00 Ft huf, ¥50 jpy)', async () => {
    for (const [currency, below, ok, shown] of [
      ['usd', 49, 50, '$0.50 usd'],
      ['gbp', 29, 30, '£0.30 gbp'],
      ['huf', 17_400, 17_500, '175.00 Ft huf'],
      ['jpy', 49, 50, '¥50 jpy'],
      ['hkd', 399, 400, '$4.00 hkd'],
      ['aed', 199, 200, '2.00 aed'],
    ] as const) {
      const err = await refusal(h.stripe.checkout.sessions.create(oneItem(currency, below)));
      expectRefusal(err, {
        code: 'amount_too_small',
        param: undefined,
        message: `The Checkout Session's total amount due must add up to at least ${shown}`,
      });
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
    expectRefusal(err, {
      code: 'amount_too_large',
      param: undefined,
      message: 'Amount must be no more than $999,999.99',
    });
    expect((await h.stripe.checkout.sessions.create(oneItem('usd', 99_999_999))).amount_total).toBe(
      99_999_999,
    );
  });

  it('the total after discounts counts: a discount leaving less than the minimum is refused, 100 % off is allowed', async () => {
    const most = await h.stripe.coupons.create({ amount_off: 4980, currency: 'usd' });
    expectRefusal(
      await refusal(
        h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), discounts: [{ coupon: most.id }] }),
      ),
      { code: 'amount_too_small' },
    );
    const all = await h.stripe.coupons.create({ percent_off: 100 });
    const free = await h.stripe.checkout.sessions.create({
      ...oneItem('usd', 2000),
      discounts: [{ coupon: all.id }],
    });
    expect(free.amount_total).toBe(0);
  });

  it("an unsupported currency is refused with Stripe's list, wherever a currency is given", async () => {
    const list = STRIPE_CURRENCIES.join(', ');
    expectRefusal(await refusal(h.stripe.checkout.sessions.create(oneItem('xyz', 5000))), {
      code: undefined,
      param: 'line_items[0][price_data][currency]',
      message: `Invalid currency: xyz. Stripe currently supports these currencies: ${list}`,
    });
    expectRefusal(await refusal(h.stripe.checkout.sessions.create(oneItem('euro', 5000))), {
      param: 'line_items[0][price_data][currency]',
      message: /^Invalid currency: euro\. Stripe currently supports these currencies: usd, aed, afn, /,
    });
    expectRefusal(await refusal(h.stripe.coupons.create({ amount_off: 100, currency: 'abc' })), {
      param: 'currency',
      message: /^Invalid currency: abc\./,
    });
    const coupon = await h.stripe.coupons.create({ percent_off: 5 });
    expectRefusal(
      await refusal(
        h.stripe.promotionCodes.create({
          promotion: { type: 'coupon', coupon: coupon.id },
          restrictions: { minimum_amount: 1000, minimum_amount_currency: 'zzz' },
        }),
      ),
      { param: 'restrictions[minimum_amount_currency]', message: /^Invalid currency: zzz\./ },
    );
    // Upper case is Stripe's currency too (the API lowercases it).
    expect((await h.stripe.checkout.sessions.create(oneItem('EUR', 5000))).currency).toBe('eur');
  });
});

describe('promotion codes and coupons at session creation', () => {
  const withCode = (promo: string, currency = 'usd', amount = 5000) =>
    h.stripe.checkout.sessions.create({
      ...oneItem(currency, amount),
      discounts: [{ promotion_code: promo }],
    });
  const promoFor = async (
    coupon: Stripe.Coupon,
    extra: Partial<Stripe.PromotionCodeCreateParams> = {},
  ): Promise<Stripe.PromotionCode> =>
    h.stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: coupon.id }, ...extra });
  const PARAM = 'discounts[0][promotion_code]';

  it('an inactive code is refused; reactivated, it applies', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 10 });
    const promo = await promoFor(coupon, { code: 'OFFNOW', active: false });
    expectRefusal(await refusal(withCode(promo.id)), {
      code: undefined,
      param: PARAM,
      message: 'This promotion code cannot be redeemed because it is inactive.',
    });
    await h.stripe.promotionCodes.update(promo.id, { active: true });
    expect((await withCode(promo.id)).amount_total).toBe(4500);
  });

  it('a code past expires_at is refused', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 10 });
    const promo = await promoFor(coupon, { code: 'LATE', expires_at: nowS() + 2 });
    expect((await withCode(promo.id)).amount_total).toBe(4500);
    h.emu.clock.advance(5_000);
    expectRefusal(await refusal(withCode(promo.id)), {
      param: PARAM,
      message: 'This promotion code cannot be redeemed because it has expired.',
    });
  });

  it('max_redemptions counts completed sessions only; then the code is used up', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 10 });
    const promo = await promoFor(coupon, { code: 'ONCE', max_redemptions: 1 });
    const first = await withCode(promo.id);
    const second = await withCode(promo.id);
    expect((await h.stripe.promotionCodes.retrieve(promo.id)).times_redeemed).toBe(0);
    expect((await payViaPage(first.url ?? '', PAY)).status).toBe(303);
    expect((await h.stripe.promotionCodes.retrieve(promo.id)).times_redeemed).toBe(1);
    expectRefusal(await refusal(withCode(promo.id)), {
      param: PARAM,
      message: 'This promotion code cannot be redeemed because it has been used the maximum number of times.',
    });
    // A session created before the code ran out cannot complete with it either.
    const late = await payViaPage(second.url ?? '', PAY);
    expect(late.status).toBe(400);
    expect(late.html).toMatch(/maximum number of times/);
    expect((await h.stripe.checkout.sessions.retrieve(second.id)).status).toBe('open');
  });

  it('a code for one customer is refused for anyone else; its customer must exist', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 20 });
    const owner = await h.stripe.customers.create({ email: 'owner@example.test' });
    const promo = await promoFor(coupon, { code: 'JUSTYOU', customer: owner.id });
    expectRefusal(await refusal(withCode(promo.id)), {
      param: PARAM,
      message: 'This promotion code cannot be redeemed because it is restricted to a different customer.',
    });
    const own = await h.stripe.checkout.sessions.create({
      ...oneItem('usd', 5000),
      customer: owner.id,
      discounts: [{ promotion_code: promo.id }],
    });
    expect(own.amount_total).toBe(4000);
    const missing = await refusal(promoFor(coupon, { customer: 'cus_nobody' }));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('resource_missing');
  });

  it('first_time_transaction: a customer with a successful payment is refused, a new one is not', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 20 });
    const promo = await promoFor(coupon, { code: 'WELCOME', restrictions: { first_time_transaction: true } });
    const customer = await h.stripe.customers.create({ email: 'repeat@example.test' });
    const asCustomer = () =>
      h.stripe.checkout.sessions.create({
        ...oneItem('usd', 5000),
        customer: customer.id,
        discounts: [{ promotion_code: promo.id }],
      });
    expect((await asCustomer()).amount_total).toBe(4000);
    const paid = await h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), customer: customer.id });
    expect((await payViaPage(paid.url ?? '', PAY)).status).toBe(303);
    expectRefusal(await refusal(asCustomer()), {
      param: PARAM,
      message:
        'This promotion code cannot be redeemed because the associated customer has prior transactions.',
    });
  });

  it('restrictions.minimum_amount in minimum_amount_currency: below it, or in another currency, is refused', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 20 });
    const promo = await promoFor(coupon, {
      code: 'BIGSPEND',
      restrictions: { minimum_amount: 10_000, minimum_amount_currency: 'usd' },
    });
    expectRefusal(await refusal(withCode(promo.id, 'usd', 9_999)), {
      param: PARAM,
      message:
        'This promotion code cannot be redeemed because the associated purchase does not meet the minimum amount requirement.',
    });
    expect((await withCode(promo.id, 'usd', 10_000)).amount_total).toBe(8000);
    expectRefusal(await refusal(withCode(promo.id, 'eur', 12_000)), {
      param: PARAM,
      message: /minimum amount is in usd, not eur/,
    });
  });

  it.runIf(supportOf('POST /v1/promotion_codes', 'restrictions[currency_options]') !== 'none')(
    'restrictions.currency_options sets the minimum in other currencies',
    async () => {
      const coupon = await h.stripe.coupons.create({ percent_off: 20 });
      const promo = await promoFor(coupon, {
        restrictions: {
          minimum_amount: 10_000,
          minimum_amount_currency: 'usd',
          currency_options: { eur: { minimum_amount: 9_000 } },
        },
      });
      expect((await withCode(promo.id, 'eur', 9_000)).amount_total).toBe(7200);
      expect((await refusal(withCode(promo.id, 'eur', 8_999))).message).toMatch(/minimum amount/);
    },
  );

  it('a coupon past redeem_by or used up is coupon_expired ("Coupon expired: <id>"), for codes too', async () => {
    const late = await h.stripe.coupons.create({ percent_off: 5, redeem_by: nowS() + 2 });
    const withCoupon = (id: string) =>
      h.stripe.checkout.sessions.create({ ...oneItem('usd', 5000), discounts: [{ coupon: id }] });
    expect((await withCoupon(late.id)).amount_total).toBe(4750);
    const promo = await promoFor(late);
    h.emu.clock.advance(5_000);
    expectRefusal(await refusal(withCoupon(late.id)), {
      code: 'coupon_expired',
      param: 'discounts[0][coupon]',
      message: `Coupon expired: ${late.id}`,
    });
    expectRefusal(await refusal(withCode(promo.id)), {
      code: 'coupon_expired',
      param: PARAM,
      message: `Coupon expired: ${late.id}`,
    });

    const once = await h.stripe.coupons.create({ percent_off: 5, max_redemptions: 1 });
    const s = await withCoupon(once.id);
    expect((await payViaPage(s.url ?? '', PAY)).status).toBe(303);
    expect((await h.stripe.coupons.retrieve(once.id)).times_redeemed).toBe(1);
    expectRefusal(await refusal(withCoupon(once.id)), {
      code: 'coupon_expired',
      param: 'discounts[0][coupon]',
    });
  });

  it('an amount-off coupon in another currency does not apply', async () => {
    const usd = await h.stripe.coupons.create({ amount_off: 500, currency: 'usd' });
    expectRefusal(
      await refusal(
        h.stripe.checkout.sessions.create({ ...oneItem('eur', 5000), discounts: [{ coupon: usd.id }] }),
      ),
      { param: 'discounts[0][coupon]', message: /currency \(usd\) does not match .* \(eur\)/ },
    );
  });

  it.runIf(supportOf('POST /v1/coupons', 'currency_options') !== 'none')(
    'coupon currency_options: the amount off in another currency',
    async () => {
      const coupon = await h.stripe.coupons.create({
        amount_off: 500,
        currency: 'usd',
        currency_options: { eur: { amount_off: 450 } },
      });
      const s = await h.stripe.checkout.sessions.create({
        ...oneItem('eur', 5000),
        discounts: [{ coupon: coupon.id }],
      });
      expect(s.amount_total).toBe(4550);
    },
  );

  it.runIf(supportOf('POST /v1/coupons', 'applies_to') !== 'none')(
    'a coupon applies_to products none of the line items has is refused',
    async () => {
      const coupon = await h.stripe.coupons.create({
        percent_off: 10,
        applies_to: { products: ['prod_other'] },
      });
      expect(
        (
          await refusal(
            h.stripe.checkout.sessions.create({
              ...oneItem('usd', 5000),
              discounts: [{ coupon: coupon.id }],
            }),
          )
        ).message,
      ).toMatch(/not valid for any of the items/);
    },
  );
});

describe('promotion codes typed on the hosted page', () => {
  const page = async (code: string, amount = 5000) => {
    const s = await h.stripe.checkout.sessions.create({
      ...oneItem('usd', amount),
      allow_promotion_codes: true,
    });
    const r = await payViaPage(s.url ?? '', { promotion_code: code, ...PAY });
    return { ...r, session: s };
  };

  it('a restricted, expired or used-up code is refused with the reason, and the session stays open', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 50 });
    await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'HIGHROLLER',
      restrictions: { minimum_amount: 50_000, minimum_amount_currency: 'usd' },
    });
    const min = await page('HIGHROLLER');
    expect(min.status).toBe(400);
    expect(min.html).toMatch(/minimum amount requirement/);
    expect((await h.stripe.checkout.sessions.retrieve(min.session.id)).status).toBe('open');

    await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'SOONGONE',
      expires_at: nowS() + 2,
    });
    h.emu.clock.advance(5_000);
    const expired = await page('SOONGONE');
    expect(expired.status).toBe(400);
    expect(expired.html).toMatch(/has expired/);

    await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'SINGLE',
      max_redemptions: 1,
    });
    expect((await page('SINGLE')).status).toBe(303);
    const again = await page('SINGLE');
    expect(again.status).toBe(400);
    expect(again.html).toMatch(/maximum number of times/);
  });

  it('a code leaving less than the currency minimum to pay is refused', async () => {
    const coupon = await h.stripe.coupons.create({ amount_off: 4_990, currency: 'usd' });
    await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'NEARLYALL',
    });
    const r = await page('NEARLYALL');
    expect(r.status).toBe(400);
    expect(r.html).toMatch(/at least \$0\.50 usd/);
    const s = await h.stripe.checkout.sessions.retrieve(r.session.id);
    expect([s.status, s.amount_total, s.discounts]).toEqual(['open', 5000, []]);
  });
});

describe('refunds', () => {
  it("more than the charge, or than what remains of it: param amount, no code, Stripe's amounts", async () => {
    const charge = await paidCharge(); // EUR 100.00
    expectRefusal(await refusal(h.stripe.refunds.create({ charge: charge.id, amount: 10_001 })), {
      code: undefined,
      param: 'amount',
      message: 'Refund amount (€100.01) is greater than charge amount (€100.00)',
    });
    await h.stripe.refunds.create({ charge: charge.id, amount: 4000 });
    expectRefusal(await refusal(h.stripe.refunds.create({ charge: charge.id, amount: 7000 })), {
      code: undefined,
      param: 'amount',
      message: 'Refund amount (€70.00) is greater than unrefunded amount on charge (€60.00)',
    });
  });

  it('a fully refunded charge is charge_already_refunded', async () => {
    const charge = await paidCharge();
    await h.stripe.refunds.create({ charge: charge.id });
    expectRefusal(await refusal(h.stripe.refunds.create({ charge: charge.id, amount: 1 })), {
      code: 'charge_already_refunded',
      param: 'charge',
      message: `Charge ${charge.id} has already been refunded.`,
    });
    expectRefusal(await refusal(h.stripe.refunds.create({ payment_intent: String(charge.payment_intent) })), {
      code: 'charge_already_refunded',
    });
  });

  it('a charge under an open or lost dispute is charge_disputed; a won dispute leaves it refundable', async () => {
    const disputed = async () => {
      const charge = await paidCharge('4000000000000259');
      await h.emu.idle();
      const [dispute] = (await h.stripe.disputes.list({ charge: charge.id })).data;
      expect(dispute?.is_charge_refundable).toBe(false);
      return { charge, dispute: dispute as Stripe.Dispute };
    };
    const open = await disputed();
    expectRefusal(await refusal(h.stripe.refunds.create({ charge: open.charge.id, amount: 100 })), {
      code: 'charge_disputed',
      param: 'charge',
    });
    await h.emu.closeDispute(open.dispute.id, 'won');
    expect((await h.stripe.refunds.create({ charge: open.charge.id, amount: 100 })).status).toBe('succeeded');

    const lost = await disputed();
    await h.emu.closeDispute(lost.dispute.id, 'lost');
    expectRefusal(await refusal(h.stripe.refunds.create({ charge: lost.charge.id })), {
      code: 'charge_disputed',
    });
  });
});

describe('metadata', () => {
  it("50 keys, 40-character keys and 500-character values; more is refused in Stripe's words", async () => {
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys((await h.stripe.customers.create({ metadata: fifty })).metadata)).toHaveLength(50);
    expectRefusal(await refusal(h.stripe.customers.create({ metadata: { ...fifty, k50: 'v' } })), {
      param: 'metadata',
      message:
        "Metadata can have up to 50 keys, but you've set 51. Email us at support+metadata@stripe.com for more information.",
    });
    const key40 = 'k'.repeat(40);
    expect((await h.stripe.customers.create({ metadata: { [key40]: 'v' } })).metadata[key40]).toBe('v');
    const key41 = 'k'.repeat(41);
    expectRefusal(await refusal(h.stripe.customers.create({ metadata: { [key41]: 'v' } })), {
      param: `metadata[${key41}]`,
      message: `Metadata keys can have up to 40 characters, but you passed in a key that is 41 characters. Invalid key: ${key41}`,
    });
    const v500 = 'x'.repeat(500);
    expect((await h.stripe.customers.create({ metadata: { note: v500 } })).metadata.note).toBe(v500);
    expectRefusal(await refusal(h.stripe.customers.create({ metadata: { note: `${v500}y` } })), {
      param: 'metadata[note]',
      message: `Metadata values can have up to 500 characters, but you passed in a value that is 501 characters. Invalid value: ${v500}y`,
    });
  });

  it('every create that takes metadata checks it: sessions, payment_intent_data, refunds, coupons, codes, accounts, endpoints', async () => {
    const long = { note: 'x'.repeat(501) };
    const coupon = await h.stripe.coupons.create({ percent_off: 1 });
    const charge = await paidCharge();
    const cases: [Promise<unknown>, string][] = [
      [h.stripe.checkout.sessions.create({ ...sessionParams(), metadata: long }), 'metadata[note]'],
      [
        h.stripe.checkout.sessions.create({ ...sessionParams(), payment_intent_data: { metadata: long } }),
        'payment_intent_data[metadata][note]',
      ],
      [h.stripe.refunds.create({ charge: charge.id, amount: 100, metadata: long }), 'metadata[note]'],
      [h.stripe.coupons.create({ percent_off: 1, metadata: long }), 'metadata[note]'],
      [
        h.stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: coupon.id }, metadata: long }),
        'metadata[note]',
      ],
      [h.stripe.accounts.create({ type: 'express', metadata: long }), 'metadata[note]'],
      [
        h.stripe.webhookEndpoints.create({
          url: 'http://shop.test/x',
          enabled_events: ['*'],
          metadata: long,
        }),
        'metadata[note]',
      ],
    ];
    for (const [call, param] of cases)
      expectRefusal(await refusal(call), { param, message: /up to 500 characters/ });
    // A nested value is no string (params.ts).
    const nested = await refusal(
      h.stripe.customers.create({ metadata: { a: { b: 'c' } } as unknown as Stripe.MetadataParam }),
    );
    expect(nested.statusCode).toBe(400);
    expect(nested.message).toMatch(/^Invalid string/);
  });

  it("an update with metadata[k]='' removes that key and keeps the others; metadata='' clears all", async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 1 });
    const promo = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      metadata: { campaign: 'spring', channel: 'mail' },
    });
    const updated = await h.stripe.promotionCodes.update(promo.id, {
      metadata: { campaign: '', owner: 'ops' },
    });
    expect(updated.metadata).toEqual({ channel: 'mail', owner: 'ops' });
    const cleared = await h.stripe.promotionCodes.update(promo.id, { metadata: '' });
    expect(cleared.metadata).toEqual({});

    const acct = await h.stripe.accounts.update(seller.id, { metadata: { tier: 'gold', region: 'eu' } });
    expect(acct.metadata).toMatchObject({ tier: 'gold', region: 'eu' });
    const less = await h.stripe.accounts.update(seller.id, { metadata: { tier: '' } });
    expect(less.metadata).not.toHaveProperty('tier');
    expect(less.metadata).toMatchObject({ region: 'eu' });
    // A create with an empty value stores nothing for that key.
    expect((await h.stripe.customers.create({ metadata: { a: '', b: '1' } })).metadata).toEqual({ b: '1' });
  });
});

describe('Checkout expires_at', () => {
  it("30 minutes to 24 hours after creation (60 s slack for clocks); outside, Stripe's message and no param", async () => {
    const at = (s: number) => h.stripe.checkout.sessions.create(sessionParams({ expires_at: nowS() + s }));
    expect((await at(30 * 60)).expires_at).toBeGreaterThan(0);
    expect((await at(24 * 3600)).expires_at).toBeGreaterThan(0);
    expectRefusal(await refusal(at(28 * 60)), {
      code: undefined,
      param: undefined,
      message: 'The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.',
    });
    expectRefusal(await refusal(at(24 * 3600 + 120)), {
      code: undefined,
      param: undefined,
      message: 'The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.',
    });
    const byDefault = await h.stripe.checkout.sessions.create(sessionParams());
    expect(byDefault.expires_at - byDefault.created).toBe(24 * 3600);
  });
});

describe('Connect', () => {
  const destination = (pid: Stripe.Checkout.SessionCreateParams.PaymentIntentData, amount = 5000) =>
    h.stripe.checkout.sessions.create({ ...sessionParams({}, amount), payment_intent_data: pid });
  const FEE = 'payment_intent_data[application_fee_amount]';

  it('an application fee above what the buyer pays is refused (after discounts); up to the total is allowed', async () => {
    // sessionParams: 2 × EUR 50.00 = EUR 100.00.
    expectRefusal(
      await refusal(
        destination({ application_fee_amount: 10_001, transfer_data: { destination: seller.id } }),
      ),
      { param: FEE },
    );
    const ok = await destination({
      application_fee_amount: 10_000,
      transfer_data: { destination: seller.id },
    });
    expect(ok.amount_total).toBe(10_000);
    const half = await h.stripe.coupons.create({ percent_off: 50 });
    expectRefusal(
      await refusal(
        h.stripe.checkout.sessions.create({
          ...sessionParams(),
          discounts: [{ coupon: half.id }],
          payment_intent_data: { application_fee_amount: 6_000, transfer_data: { destination: seller.id } },
        }),
      ),
      { param: FEE },
    );
  });

  it('a negative application fee is refused', async () => {
    const err = await refusal(
      destination({ application_fee_amount: -5, transfer_data: { destination: seller.id } }),
    );
    expect(err.statusCode).toBe(400);
    expect(err.param).toBe(FEE);
  });

  it("an application fee on a charge that is neither direct nor destination is refused in Stripe's words", async () => {
    expectRefusal(await refusal(destination({ application_fee_amount: 100 })), {
      param: FEE,
      message:
        'Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment (using an OAuth key or Stripe-Account header) or destination payment (using `transfer_data[destination]`).',
    });
    // Direct: with Stripe-Account, allowed.
    const direct = await h.stripe.checkout.sessions.create(
      { ...sessionParams(), payment_intent_data: { application_fee_amount: 100 } },
      { stripeAccount: seller.id },
    );
    expect(direct.id).toMatch(/^cs_test_/);
  });

  it('transfer_data[amount] above the total, or with an application fee, is refused', async () => {
    expectRefusal(await refusal(destination({ transfer_data: { destination: seller.id, amount: 10_001 } })), {
      param: 'payment_intent_data[transfer_data][amount]',
    });
    expectRefusal(
      await refusal(
        destination({ application_fee_amount: 100, transfer_data: { destination: seller.id, amount: 5000 } }),
      ),
      {
        param: FEE,
        message:
          'You may only specify one of these parameters: application_fee_amount, transfer_data[amount].',
      },
    );
    const ok = await destination({ transfer_data: { destination: seller.id, amount: 9_000 } });
    expect(ok.amount_total).toBe(10_000);
  });

  it('an Express account cannot request card_payments without transfers', async () => {
    expectRefusal(
      await refusal(
        h.stripe.accounts.create({ type: 'express', capabilities: { card_payments: { requested: true } } }),
      ),
      {
        param: 'capabilities',
        message: /^Accounts do not currently support `card_payments` without `transfers`/,
      },
    );
  });

  it('a transfers-only account can receive destination transfers but not be charged directly or on behalf of', async () => {
    const recipient = await h.stripe.accounts.create({
      type: 'express',
      capabilities: { transfers: { requested: true } },
    });
    await h.emu.completeOnboarding(recipient.id);
    expect((await h.stripe.accounts.retrieve(recipient.id)).capabilities).toEqual({ transfers: 'active' });
    expect(
      (await destination({ application_fee_amount: 100, transfer_data: { destination: recipient.id } })).id,
    ).toMatch(/^cs_test_/);
    const message =
      'You cannot create a charge on a connected account without the `card_payments` capability enabled.';
    expectRefusal(
      await refusal(h.stripe.checkout.sessions.create(sessionParams(), { stripeAccount: recipient.id })),
      { message },
    );
    expectRefusal(
      await refusal(
        destination({
          application_fee_amount: 100,
          on_behalf_of: recipient.id,
          transfer_data: { destination: recipient.id },
        }),
      ),
      { param: 'payment_intent_data[on_behalf_of]', message },
    );
    // Settle's destination flow: on_behalf_of and the destination are the same fully onboarded seller.
    expect(
      (
        await destination({
          application_fee_amount: 100,
          on_behalf_of: seller.id,
          transfer_data: { destination: seller.id },
        })
      ).id,
    ).toMatch(/^cs_test_/);
    expectRefusal(await refusal(destination({ on_behalf_of: 'acct_nobody' })), {
      code: 'resource_missing',
      param: 'payment_intent_data[on_behalf_of]',
    });
  });

  it('a destination without the transfers capability active is insufficient_capabilities_for_transfer', async () => {
    // Charges are not required to be enabled here, so the capability is what decides.
    const relaxed = await startHarness({ requireChargesEnabled: false });
    try {
      const acct = await relaxed.stripe.accounts.create({
        type: 'express',
        capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
      });
      expectRefusal(
        await refusal(
          relaxed.stripe.checkout.sessions.create({
            ...sessionParams(),
            payment_intent_data: { application_fee_amount: 100, transfer_data: { destination: acct.id } },
          }),
        ),
        {
          code: 'insufficient_capabilities_for_transfer',
          param: 'payment_intent_data[transfer_data][destination]',
          message:
            'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        },
      );
    } finally {
      await relaxed.close();
    }
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
