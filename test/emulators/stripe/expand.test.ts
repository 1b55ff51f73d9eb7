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
 * `expand[]` through the official SDK (src/emulators/stripe/expand.ts): on retrieve, list (`data.*`), create and
 * update, through ids, hashes and lists, to four levels, and Stripe's refusals.
 */
let h: Harness;
let seller: Stripe.Account;
/** A destination charge (fee + transfer) refunded in part with reverse_transfer, and a direct charge with a fee. */
let dest: { session: Stripe.Checkout.Session; charge: Stripe.Charge; refund: Stripe.Refund };
let direct: { session: Stripe.Checkout.Session; charge: Stripe.Charge };

const PAY = { card_number: '4242424242424242' };

async function pay(s: Stripe.Checkout.Session, opts: Stripe.RequestOptions = {}): Promise<Stripe.Charge> {
  expect((await payViaPage(s.url ?? '', PAY)).status).toBe(303);
  const done = await h.stripe.checkout.sessions.retrieve(
    s.id,
    { expand: ['payment_intent.latest_charge'] },
    opts,
  );
  return (done.payment_intent as Stripe.PaymentIntent).latest_charge as Stripe.Charge;
}

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
  const customer = await h.stripe.customers.create({ email: 'buyer@example.test', name: 'Buyer' });
  const coupon = await h.stripe.coupons.create({ id: 'TENOFF', percent_off: 10 });
  const promo = await h.stripe.promotionCodes.create({
    promotion: { type: 'coupon', coupon: coupon.id },
    code: 'TENOFF',
    customer: customer.id,
  });
  const session = await h.stripe.checkout.sessions.create({
    ...sessionParams(),
    customer: customer.id,
    discounts: [{ promotion_code: promo.id }],
    payment_intent_data: {
      application_fee_amount: 900,
      on_behalf_of: seller.id,
      transfer_data: { destination: seller.id },
    },
  });
  const charge = await pay(session);
  const refund = await h.stripe.refunds.create({
    charge: charge.id,
    amount: 1000,
    reverse_transfer: true,
    refund_application_fee: true,
  });
  dest = { session, charge, refund };

  const onSeller = { stripeAccount: seller.id };
  const ds = await h.stripe.checkout.sessions.create(
    { ...sessionParams(), payment_intent_data: { application_fee_amount: 300 } },
    onSeller,
  );
  direct = { session: ds, charge: await pay(ds, onSeller) };
});
afterAll(async () => {
  await h.close();
});

describe('expand[] on retrieve', () => {
  it('a session: customer, payment_intent to the charge and its transfer destination, line_items, discounts', async () => {
    const s = await h.stripe.checkout.sessions.retrieve(dest.session.id, {
      expand: [
        'customer',
        'payment_intent.latest_charge.transfer.destination',
        'line_items',
        'discounts.promotion_code',
        'discounts.coupon',
      ],
    });
    expect((s.customer as Stripe.Customer).email).toBe('buyer@example.test');
    const pi = s.payment_intent as Stripe.PaymentIntent;
    const charge = pi.latest_charge as Stripe.Charge;
    expect(charge.id).toBe(dest.charge.id);
    const transfer = charge.transfer as Stripe.Transfer;
    expect(transfer.object).toBe('transfer');
    expect((transfer.destination as Stripe.Account).id).toBe(seller.id);
    expect(s.line_items?.object).toBe('list');
    expect(s.line_items?.data[0]?.quantity).toBe(2);
    const [discount] = s.discounts ?? [];
    expect((discount?.promotion_code as Stripe.PromotionCode).code).toBe('TENOFF');
    expect((discount?.coupon as Stripe.Coupon).id).toBe('TENOFF');
    // Unexpanded, the same fields stay ids.
    const plain = await h.stripe.checkout.sessions.retrieve(dest.session.id);
    expect(typeof plain.payment_intent).toBe('string');
    expect('line_items' in plain).toBe(false);
  });

  it('a payment intent: latest_charge, customer, on_behalf_of, transfer_data.destination', async () => {
    const pi = await h.stripe.paymentIntents.retrieve(String(dest.charge.payment_intent), {
      expand: ['latest_charge', 'customer', 'on_behalf_of', 'transfer_data.destination'],
    });
    expect((pi.latest_charge as Stripe.Charge).object).toBe('charge');
    expect((pi.customer as Stripe.Customer).object).toBe('customer');
    expect((pi.on_behalf_of as Stripe.Account).id).toBe(seller.id);
    expect((pi.transfer_data?.destination as Stripe.Account).id).toBe(seller.id);
  });

  it('a charge: refunds (a list only when expanded), application_fee.account, payment_intent, transfer', async () => {
    const plain = await h.stripe.charges.retrieve(dest.charge.id);
    expect('refunds' in plain).toBe(false);
    const c = await h.stripe.charges.retrieve(dest.charge.id, {
      expand: [
        'refunds',
        'application_fee.account',
        'payment_intent',
        'transfer',
        'transfer_data.destination',
      ],
    });
    expect(c.refunds?.data.map((r) => r.id)).toEqual([dest.refund.id]);
    expect(c.refunds?.url).toBe(`/v1/charges/${dest.charge.id}/refunds`);
    const fee = c.application_fee as Stripe.ApplicationFee;
    expect(fee.object).toBe('application_fee');
    expect((fee.account as Stripe.Account).id).toBe(seller.id);
    expect((c.payment_intent as Stripe.PaymentIntent).object).toBe('payment_intent');
    expect((c.transfer as Stripe.Transfer).object).toBe('transfer');
    expect((c.transfer_data?.destination as Stripe.Account).id).toBe(seller.id);
  });

  it('a refund: charge, payment_intent, transfer_reversal', async () => {
    const r = await h.stripe.refunds.retrieve(dest.refund.id, {
      expand: ['charge', 'payment_intent', 'transfer_reversal.transfer'],
    });
    expect((r.charge as Stripe.Charge).id).toBe(dest.charge.id);
    expect((r.payment_intent as Stripe.PaymentIntent).object).toBe('payment_intent');
    const reversal = r.transfer_reversal as Stripe.TransferReversal;
    expect(reversal.object).toBe('transfer_reversal');
    expect((reversal.transfer as Stripe.Transfer).object).toBe('transfer');
  });

  it('an application fee of a direct charge: account and the charge on the connected account', async () => {
    const fee = await h.stripe.applicationFees.retrieve(String(direct.charge.application_fee), {
      expand: ['account', 'charge'],
    });
    expect((fee.account as Stripe.Account).id).toBe(seller.id);
    expect((fee.charge as Stripe.Charge).id).toBe(direct.charge.id);
  });

  it('a transfer: destination and source_transaction; a dispute: charge; a promotion code: promotion.coupon and customer', async () => {
    const tr = await h.stripe.transfers.retrieve(String(dest.charge.transfer), {
      expand: ['destination', 'source_transaction'],
    });
    expect((tr.destination as Stripe.Account).id).toBe(seller.id);
    expect((tr.source_transaction as Stripe.Charge).id).toBe(dest.charge.id);

    const s = await h.stripe.checkout.sessions.create(sessionParams());
    expect((await payViaPage(s.url ?? '', { card_number: '4000000000000259' })).status).toBe(303);
    await h.emu.idle();
    const [dispute] = (await h.stripe.disputes.list({ limit: 1 })).data;
    const d = await h.stripe.disputes.retrieve(dispute?.id ?? '', { expand: ['charge', 'payment_intent'] });
    expect((d.charge as Stripe.Charge).disputed).toBe(true);
    expect((d.payment_intent as Stripe.PaymentIntent).object).toBe('payment_intent');

    const [promo] = (
      await h.stripe.promotionCodes.list({ code: 'TENOFF', expand: ['data.promotion.coupon'] })
    ).data;
    expect((promo?.promotion.coupon as Stripe.Coupon).percent_off).toBe(10);
    const again = await h.stripe.promotionCodes.retrieve(promo?.id ?? '', { expand: ['customer'] });
    expect((again.customer as Stripe.Customer).email).toBe('buyer@example.test');
  });

  it('a field holding null stays null', async () => {
    const open = await h.stripe.checkout.sessions.create(sessionParams());
    const s = await h.stripe.checkout.sessions.retrieve(open.id, {
      expand: ['payment_intent', 'customer', 'invoice'],
    });
    expect([s.payment_intent, s.customer, s.invoice]).toEqual([null, null, null]);
  });
});

describe('expand[] on lists, creates and updates', () => {
  it('list items with data.*, to four levels including data', async () => {
    const list = await h.stripe.checkout.sessions.list({
      limit: 5,
      expand: ['data.payment_intent.latest_charge.application_fee'],
    });
    const paid = list.data.find((s) => s.id === dest.session.id);
    const charge = (paid?.payment_intent as Stripe.PaymentIntent).latest_charge as Stripe.Charge;
    expect((charge.application_fee as Stripe.ApplicationFee).object).toBe('application_fee');
    const charges = await h.stripe.charges.list({
      payment_intent: String(dest.charge.payment_intent),
      expand: ['data.refunds'],
    });
    expect(charges.data[0]?.refunds?.data).toHaveLength(1);
    const events = await h.stripe.events.list({ limit: 3 });
    expect(events.data.length).toBe(3);
  });

  it('creates and updates expand their answer', async () => {
    const refund = await h.stripe.refunds.create({
      charge: dest.charge.id,
      amount: 100,
      expand: ['charge', 'payment_intent'],
    });
    expect((refund.charge as Stripe.Charge).object).toBe('charge');
    expect((refund.payment_intent as Stripe.PaymentIntent).object).toBe('payment_intent');
    const s = await h.stripe.checkout.sessions.create({ ...sessionParams(), expand: ['line_items'] });
    expect(s.line_items?.data).toHaveLength(1);
    const coupon = await h.stripe.coupons.create({ percent_off: 7 });
    const promo = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      expand: ['promotion.coupon'],
    });
    expect((promo.promotion.coupon as Stripe.Coupon).percent_off).toBe(7);
    const updated = await h.stripe.promotionCodes.update(promo.id, {
      active: false,
      expand: ['promotion.coupon'],
    });
    expect((updated.promotion.coupon as Stripe.Coupon).id).toBe(coupon.id);
    const expired = await h.stripe.checkout.sessions.expire(s.id, { expand: ['line_items'] });
    expect(expired.line_items?.data).toHaveLength(1);
  });
});

describe("expand[] refusals, in Stripe's words", () => {
  const expectBadExpand = (err: Stripe.errors.StripeError, message: string, code?: string) => {
    expect(err.statusCode).toBe(400);
    expect(err.type).toBe('StripeInvalidRequestError');
    expect(err.message).toBe(message);
    expect(err.code).toBe(code);
    expect(err.param).toBeUndefined();
  };

  it('a field the object does not have, one that is no expandable id, a wrong field deeper down', async () => {
    const id = dest.session.id;
    expectBadExpand(
      await refusal(h.stripe.checkout.sessions.retrieve(id, { expand: ['nonsense'] })),
      "This property cannot be expanded because it doesn't exist: nonsense.",
    );
    expectBadExpand(
      await refusal(h.stripe.checkout.sessions.retrieve(id, { expand: ['currency'] })),
      'This property cannot be expanded (currency).',
    );
    expectBadExpand(
      await refusal(h.stripe.checkout.sessions.retrieve(id, { expand: ['metadata'] })),
      'This property cannot be expanded (metadata).',
    );
    expectBadExpand(
      await refusal(h.stripe.checkout.sessions.retrieve(id, { expand: ['payment_intent.b'] })),
      'This property cannot be expanded (payment_intent.b).',
    );
    expectBadExpand(
      await refusal(h.stripe.events.list({ limit: 1, expand: ['data.data.object'] })),
      'This property cannot be expanded (data.data.object).',
    );
  });

  it('more than four levels is property_expansion_max_depth; data. counts', async () => {
    expectBadExpand(
      await refusal(
        h.stripe.checkout.sessions.retrieve(dest.session.id, {
          expand: ['payment_intent.latest_charge.transfer.destination.x'],
        }),
      ),
      'You cannot expand more than 4 levels of a property. Property: payment_intent.latest_charge.transfer.destination.x',
      'property_expansion_max_depth',
    );
    expectBadExpand(
      await refusal(
        h.stripe.checkout.sessions.list({
          expand: ['data.payment_intent.latest_charge.transfer.destination'],
        }),
      ),
      'You cannot expand more than 4 levels of a property. Property: data.payment_intent.latest_charge.transfer.destination',
      'property_expansion_max_depth',
    );
  });

  it('a list path without data. names the path to try', async () => {
    expectBadExpand(
      await refusal(h.stripe.checkout.sessions.list({ expand: ['payment_intent'] })),
      "This property cannot be expanded (payment_intent). You may want to try expanding 'data.payment_intent' instead.",
    );
    expectBadExpand(
      await refusal(h.stripe.charges.list({ expand: ['data'] })),
      'This property cannot be expanded (data).',
    );
  });

  it('a field Stripe expands into an object the emulator does not keep is refused clearly, never left as an id', async () => {
    for (const [call, path] of [
      [h.stripe.charges.retrieve(dest.charge.id, { expand: ['balance_transaction'] }), 'balance_transaction'],
      [
        h.stripe.paymentIntents.retrieve(String(dest.charge.payment_intent), { expand: ['payment_method'] }),
        'payment_method',
      ],
      [
        h.stripe.checkout.sessions.retrieve(dest.session.id, { expand: ['line_items.data.price.product'] }),
        'line_items.data.price.product',
      ],
      [
        h.stripe.applicationFees.retrieve(String(dest.charge.application_fee), { expand: ['application'] }),
        'application',
      ],
    ] as const) {
      const err = await refusal(call);
      expect(err.statusCode).toBe(400);
      expect(err.code).toBe('parameter_unsupported');
      expect(err.param).toBe('expand');
      expect(err.message).toMatch(
        new RegExp(
          `^This property cannot be expanded \\(${path.replace(/\./g, '\\.')}\\): the Settle emulator does not emulate`,
        ),
      );
    }
  });
});
