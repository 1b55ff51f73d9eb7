import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardedAccount, payViaPage, refusal, startHarness, type Harness } from './helpers.js';
import { advanceClock, DAY, expectShape, T0 } from './subscriptions-helpers.js';

/** Checkout Sessions in `mode: 'subscription'`: the hosted page creates the customer and the subscription. */
let h: Harness;
let seller: Stripe.Account;

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

const monthly = (opts: Stripe.RequestOptions = {}): Promise<Stripe.Price> =>
  h.stripe.prices.create(
    {
      product_data: { name: 'Membership' },
      currency: 'eur',
      unit_amount: 2500,
      recurring: { interval: 'month' },
    },
    opts,
  );

const urls = {
  success_url: 'http://shop.test/success?session_id={CHECKOUT_SESSION_ID}',
  cancel_url: 'http://shop.test/cancel',
};

describe('Checkout in subscription mode', () => {
  it('destination: pays the first period with the fee, the completed session carries subscription and customer', async () => {
    const price = await monthly();
    const session = await h.stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: price.id, quantity: 1 }],
      customer_email: 'member@example.test',
      subscription_data: {
        application_fee_percent: 10,
        transfer_data: { destination: seller.id },
        metadata: { plan: 'm' },
      },
      ...urls,
    });
    expectShape(session);
    expect(session).toMatchObject({ mode: 'subscription', amount_total: 2500, subscription: null });
    const paid = await payViaPage(session.url ?? '', { card_number: '4242424242424242' });
    expect(paid.status).toBe(303);
    const done = await h.stripe.checkout.sessions.retrieve(session.id, {
      expand: ['subscription', 'line_items'],
    });
    expectShape(done);
    expect(done).toMatchObject({ status: 'complete', payment_status: 'paid', payment_intent: null });
    const sub = done.subscription as Stripe.Subscription;
    expect(sub).toMatchObject({
      status: 'active',
      application_fee_percent: 10,
      transfer_data: { destination: seller.id },
      metadata: { plan: 'm' },
      customer: done.customer,
    });
    expect(done.line_items?.data[0]?.price?.id).toBe(price.id);
    const customer = await h.stripe.customers.retrieve(String(done.customer));
    expect((customer as Stripe.Customer).email).toBe('member@example.test');
    const invoice = await h.stripe.invoices.retrieve(String(sub.latest_invoice));
    expect(invoice).toMatchObject({ status: 'paid', amount_paid: 2500 });
    expect(done.invoice).toBe(invoice.id);
    const [payment] = (await h.stripe.invoicePayments.list({ invoice: invoice.id })).data;
    const pi = await h.stripe.paymentIntents.retrieve(String(payment?.payment.payment_intent));
    expect(pi.application_fee_amount).toBe(250);

    await h.emu.idle();
    const completed = h.platform.received.find(
      (r) =>
        r.event.type === 'checkout.session.completed' &&
        (r.event.data.object as { id: string }).id === session.id,
    );
    expect((completed?.event.data.object as Stripe.Checkout.Session).subscription).toBe(sub.id);
  });

  it('direct with a trial on a customer with a test clock: no payment required, renewals on the clock', async () => {
    const opts = { stripeAccount: seller.id };
    const price = await monthly(opts);
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 }, opts);
    const customer = await h.stripe.customers.create(
      { email: 'trial@example.test', test_clock: clock.id },
      opts,
    );
    const session = await h.stripe.checkout.sessions.create(
      {
        mode: 'subscription',
        customer: customer.id,
        line_items: [{ price: price.id, quantity: 1 }],
        subscription_data: { application_fee_percent: 20, trial_period_days: 14 },
        ...urls,
      },
      opts,
    );
    expect(session.amount_total).toBe(0);
    expect((await payViaPage(session.url ?? '', { card_number: '4242 4242 4242 4242' })).status).toBe(303);
    const done = await h.stripe.checkout.sessions.retrieve(session.id, {}, opts);
    expect(done).toMatchObject({ payment_status: 'no_payment_required', customer: customer.id });
    const sub = await h.stripe.subscriptions.retrieve(String(done.subscription), {}, opts);
    expect(sub).toMatchObject({ status: 'trialing', trial_end: T0 + 14 * DAY, test_clock: clock.id });
    await advanceClock(h.stripe, clock.id, T0 + 15 * DAY, opts);
    const renewed = await h.stripe.invoices.list({ subscription: sub.id }, opts);
    expect(renewed.data[0]).toMatchObject({ status: 'paid', amount_paid: 2500 });
    await h.emu.idle();
    const completed = h.connect.received.find(
      (r) =>
        r.event.type === 'checkout.session.completed' &&
        (r.event.data.object as { id: string }).id === session.id,
    );
    expect(completed?.event.account).toBe(seller.id);
  });

  it('a card that fails keeps the page open; refusals of what subscription mode does not take', async () => {
    const price = await monthly();
    const session = await h.stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: price.id, quantity: 1 }],
      ...urls,
    });
    const failed = await payViaPage(session.url ?? '', { card_number: '4000000000000341' });
    expect(failed.status).toBe(402);
    expect((await h.stripe.checkout.sessions.retrieve(session.id)).status).toBe('open');

    const oneTime = await h.stripe.prices.create({
      product: String(price.product),
      currency: 'eur',
      unit_amount: 100,
    });
    const err = await refusal(
      h.stripe.checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ price: oneTime.id, quantity: 1 }],
        ...urls,
      }),
    );
    expect(err.param).toBe('line_items[0][price]');
    const recurringInPayment = await refusal(
      h.stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [{ price: price.id, quantity: 1 }],
        ...urls,
      }),
    );
    expect(recurringInPayment.param).toBe('line_items[0][price]');
    const pid = await refusal(
      h.stripe.checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ price: price.id, quantity: 1 }],
        payment_intent_data: { description: 'x' },
        ...urls,
      }),
    );
    expect(pid.param).toBe('payment_intent_data');
    const fee = await refusal(
      h.stripe.checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ price: price.id, quantity: 1 }],
        subscription_data: { application_fee_percent: 5 },
        ...urls,
      }),
    );
    expect(fee.param).toBe('subscription_data[application_fee_percent]');
  });
});
