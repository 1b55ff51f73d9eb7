import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  onboardedAccount,
  payViaPage,
  refusal,
  startHarness,
  type Harness,
  type Receiver,
} from './helpers.js';
import { advanceClock, DAY, expectShape, T0 } from './subscriptions-helpers.js';

/**
 * Subscriptions on test clocks, through the official SDK: trials, first and renewal invoices, payments with the
 * platform's fee on both charge types, failed renewals and their retries, cancellation, and the events each step
 * sends to the platform or the Connect endpoint.
 */
let h: Harness;
let seller: Stripe.Account;
const HOUR = 3600;
/** 2026-02-15T12:00:00Z: one month after T0. */
const M1 = Date.UTC(2026, 1, 15, 12) / 1000;
/** 2026-03-15T12:00:00Z. */
const M2 = Date.UTC(2026, 2, 15, 12) / 1000;

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

const objectOf = (e: Stripe.Event): { id?: string; object?: string; subscription?: string } =>
  e.data.object as { id?: string };

/** Types of the events (as received by `r`) about objects of one subscription (the subscription and its invoices). */
function eventsFor(r: Receiver, sub: Stripe.Subscription, invoices: string[]): string[] {
  return r.received
    .map((x) => x.event)
    .filter((e) => objectOf(e).id === sub.id || invoices.includes(String(objectOf(e).id)))
    .map((e) => e.type);
}

async function world(
  payment = 'pm_card_visa',
  opts: Stripe.RequestOptions = {},
): Promise<{ clock: Stripe.TestHelpers.TestClock; customer: Stripe.Customer; price: Stripe.Price }> {
  const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 }, opts);
  const customer = await h.stripe.customers.create(
    {
      email: 'member@example.test',
      test_clock: clock.id,
      payment_method: payment,
      invoice_settings: { default_payment_method: payment },
    },
    opts,
  );
  const price = await h.stripe.prices.create(
    {
      product_data: { name: 'Monthly membership' },
      currency: 'eur',
      unit_amount: 2000,
      recurring: { interval: 'month' },
    },
    opts,
  );
  return { clock, customer, price };
}

describe('test clocks', () => {
  it('create, advance (advancing → ready), refuse going back, delete with their customers', async () => {
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0, name: 'Renewals' });
    expectShape(clock);
    expect(clock).toMatchObject({ status: 'ready', frozen_time: T0, name: 'Renewals' });
    const customer = await h.stripe.customers.create({ test_clock: clock.id });
    const ready = await advanceClock(h.stripe, clock.id, T0 + DAY);
    expect(ready.frozen_time).toBe(T0 + DAY);
    const back = await refusal(h.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: T0 }));
    expect(back.param).toBe('frozen_time');
    const types = (await h.stripe.events.list({ limit: 30 })).data
      .filter((e) => objectOf(e).id === clock.id)
      .map((e) => e.type);
    expect(types).toEqual([
      'test_helpers.test_clock.ready',
      'test_helpers.test_clock.advancing',
      'test_helpers.test_clock.created',
    ]);
    const deleted = await h.stripe.testHelpers.testClocks.del(clock.id);
    expect(deleted).toMatchObject({ id: clock.id, deleted: true });
    expect((await refusal(h.stripe.customers.retrieve(customer.id))).statusCode).toBe(404);
    expect((await refusal(h.stripe.testHelpers.testClocks.retrieve(clock.id))).statusCode).toBe(404);
  });

  it('cannot jump more than two billing intervals of its subscriptions at once', async () => {
    const { clock, customer, price } = await world();
    await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const err = await refusal(
      h.stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: T0 + 70 * DAY }),
    );
    expect(err.param).toBe('frozen_time');
    await advanceClock(h.stripe, clock.id, M2);
  });
});

describe('subscriptions', () => {
  it('trial, then a paid renewal each period: destination charge with the platform fee on every invoice', async () => {
    const { clock, customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      trial_period_days: 7,
      application_fee_percent: 10,
      transfer_data: { destination: seller.id },
      on_behalf_of: seller.id,
      metadata: { plan: 'monthly' },
      expand: ['latest_invoice'],
    });
    expectShape(sub);
    const first = sub.latest_invoice as Stripe.Invoice;
    expectShape(first);
    expect(sub).toMatchObject({
      status: 'trialing',
      trial_start: T0,
      trial_end: T0 + 7 * DAY,
      application_fee_percent: 10,
      transfer_data: { destination: seller.id },
      test_clock: clock.id,
      currency: 'eur',
    });
    const item = sub.items.data[0];
    if (!item) throw new Error('no item');
    expectShape(item);
    expect(item).toMatchObject({ current_period_start: T0, current_period_end: T0 + 7 * DAY, quantity: 1 });
    expect(first).toMatchObject({
      status: 'paid',
      amount_due: 0,
      amount_paid: 0,
      billing_reason: 'subscription_create',
    });
    for (const line of first.lines.data) expectShape(line);

    // Three days before the trial ends.
    await advanceClock(h.stripe, clock.id, T0 + 5 * DAY);
    const willEnd = (await h.stripe.events.list({ type: 'customer.subscription.trial_will_end' })).data.find(
      (e) => objectOf(e).id === sub.id,
    );
    expect(willEnd?.created).toBe(T0 + 4 * DAY);

    // The trial ends: a renewal invoice in draft for an hour, then finalized and paid.
    await advanceClock(h.stripe, clock.id, T0 + 7 * DAY);
    const atEnd = await h.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
    expect(atEnd.status).toBe('active');
    expect((atEnd.latest_invoice as Stripe.Invoice).status).toBe('draft');
    await advanceClock(h.stripe, clock.id, T0 + 7 * DAY + 2 * HOUR);
    const renewed = await h.stripe.invoices.retrieve(
      String(atEnd.latest_invoice && (atEnd.latest_invoice as Stripe.Invoice).id),
    );
    expect(renewed).toMatchObject({
      status: 'paid',
      amount_due: 2000,
      amount_paid: 2000,
      amount_remaining: 0,
      billing_reason: 'subscription_cycle',
      attempt_count: 1,
      parent: { subscription_details: { subscription: sub.id } },
    });
    expect(renewed.status_transitions.paid_at).toBe(T0 + 7 * DAY + HOUR);
    const [payment] = (await h.stripe.invoicePayments.list({ invoice: renewed.id })).data;
    if (!payment) throw new Error('no invoice payment');
    expectShape(payment);
    expect(payment).toMatchObject({ status: 'paid', amount_paid: 2000 });
    const pi = await h.stripe.paymentIntents.retrieve(String(payment.payment.payment_intent), {
      expand: ['latest_charge'],
    });
    expect(pi).toMatchObject({
      status: 'succeeded',
      amount: 2000,
      application_fee_amount: 200,
      on_behalf_of: seller.id,
      transfer_data: { destination: seller.id },
    });
    const charge = pi.latest_charge as Stripe.Charge;
    expect(charge.status).toBe('succeeded');
    const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
    expect(fee).toMatchObject({ amount: 200, account: seller.id, charge: charge.id });
    expect(charge.transfer).toMatch(/^tr_/);

    // The next period: the same once more, with its fee.
    const periodEnd = T0 + 7 * DAY + 31 * DAY; // 2026-01-22 → 2026-02-22
    const s2 = await h.stripe.subscriptions.retrieve(sub.id);
    expect(s2.items.data[0]).toMatchObject({
      current_period_start: T0 + 7 * DAY,
      current_period_end: periodEnd,
    });
    await advanceClock(h.stripe, clock.id, periodEnd + 2 * HOUR);
    const invoices = await h.stripe.invoices.list({ subscription: sub.id });
    expect(invoices.data.map((i) => [i.billing_reason, i.status, i.amount_paid])).toEqual([
      ['subscription_cycle', 'paid', 2000],
      ['subscription_cycle', 'paid', 2000],
      ['subscription_create', 'paid', 0],
    ]);
    const fees = await h.stripe.applicationFees.list({ limit: 5 });
    expect(
      fees.data.filter((f) => f.account === seller.id && f.amount === 200).length,
    ).toBeGreaterThanOrEqual(2);

    // Destination subscriptions live on the platform: their events go to the platform endpoint.
    await h.emu.idle();
    const ids = invoices.data.map((i) => i.id);
    const types = eventsFor(h.platform, sub, ids);
    expect(types.slice(0, 7)).toEqual([
      'customer.subscription.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.trial_will_end',
      'invoice.created',
    ]);
    expect(types).toContain('customer.subscription.updated');
    expect(types.filter((t) => t === 'invoice.paid')).toHaveLength(3);
    expect(eventsFor(h.connect, sub, ids)).toEqual([]);
  });

  it('direct charge on the connected account: active at once, fee = round(total × percent / 100), events to Connect', async () => {
    const opts = { stripeAccount: seller.id };
    const { customer, price } = await world('pm_card_visa', opts);
    const sub = await h.stripe.subscriptions.create(
      {
        customer: customer.id,
        items: [{ price: price.id, quantity: 3 }],
        application_fee_percent: 12.5,
        expand: ['latest_invoice'],
      },
      opts,
    );
    expect(sub.status).toBe('active');
    const invoice = sub.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({
      status: 'paid',
      amount_paid: 6000,
      billing_reason: 'subscription_create',
    });
    const [payment] = (await h.stripe.invoicePayments.list({ invoice: invoice.id }, opts)).data;
    const pi = await h.stripe.paymentIntents.retrieve(String(payment?.payment.payment_intent), {}, opts);
    expect(pi.application_fee_amount).toBe(750);
    const charge = await h.stripe.charges.retrieve(String(pi.latest_charge), {}, opts);
    const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
    expect(fee).toMatchObject({ amount: 750, account: seller.id });
    await h.emu.idle();
    const types = eventsFor(h.connect, sub, [invoice.id]);
    expect(types).toEqual([
      'customer.subscription.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
    ]);
    const created = h.connect.received.find(
      (r) => r.event.type === 'customer.subscription.created' && objectOf(r.event).id === sub.id,
    );
    expect(created?.event.account).toBe(seller.id);
    expect((created?.event.data.object as Stripe.Subscription).status).toBe('incomplete');
    expect(eventsFor(h.platform, sub, [invoice.id])).toEqual([]);
    const refusedFee = await refusal(
      h.stripe.subscriptions.create({
        customer: (await h.stripe.customers.create({ payment_method: 'pm_card_visa' })).id,
        items: [
          {
            price: (
              await h.stripe.prices.create({
                product_data: { name: 'x' },
                currency: 'eur',
                unit_amount: 500,
                recurring: { interval: 'month' },
              })
            ).id,
          },
        ],
        application_fee_percent: 5,
      }),
    );
    expect(refusedFee.param).toBe('application_fee_percent');
  });

  it('a card that fails: incomplete then incomplete_expired after 23 hours; error_if_incomplete refuses with 402', async () => {
    const { clock, customer, price } = await world('pm_card_chargeCustomerFail');
    const err = await refusal(
      h.stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: price.id }],
        payment_behavior: 'error_if_incomplete',
      }),
    );
    expect(err.statusCode).toBe(402);
    expect(err.type).toBe('StripeCardError');
    expect(err.code).toBe('card_declined');
    expect((await h.stripe.subscriptions.list({ customer: customer.id })).data).toEqual([]);

    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      expand: ['latest_invoice'],
    });
    expect(sub.status).toBe('incomplete');
    const invoice = sub.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({
      status: 'open',
      attempt_count: 1,
      attempted: true,
      next_payment_attempt: null,
    });
    const [payment] = (await h.stripe.invoicePayments.list({ invoice: invoice.id })).data;
    const pi = await h.stripe.paymentIntents.retrieve(String(payment?.payment.payment_intent));
    expect(pi.status).toBe('requires_payment_method');
    expect(pi.last_payment_error).toMatchObject({ code: 'card_declined', decline_code: 'generic_decline' });

    await advanceClock(h.stripe, clock.id, T0 + 24 * HOUR);
    const expired = await h.stripe.subscriptions.retrieve(sub.id);
    expect(expired).toMatchObject({ status: 'incomplete_expired', ended_at: T0 + 23 * HOUR });
    expect((await h.stripe.invoices.retrieve(invoice.id)).status).toBe('void');
  });

  it('a failed renewal: past_due, retried on the clock, recovered with a new card', async () => {
    const { clock, customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    expect(sub.status).toBe('active');
    const failing = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', {
      customer: customer.id,
    });
    await h.stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: failing.id },
    });

    await advanceClock(h.stripe, clock.id, M1 + 2 * HOUR);
    const pastDue = await h.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
    expect(pastDue.status).toBe('past_due');
    const invoice = pastDue.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({
      status: 'open',
      attempt_count: 1,
      next_payment_attempt: M1 + HOUR + 3 * DAY,
    });
    const failed = (await h.stripe.events.list({ type: 'invoice.payment_failed' })).data.find(
      (e) => objectOf(e).id === invoice.id,
    );
    expect(failed?.created).toBe(M1 + HOUR);
    expect(failed?.request).toEqual({ id: null, idempotency_key: null });

    const card = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });
    await advanceClock(h.stripe, clock.id, M1 + 4 * DAY);
    const recovered = await h.stripe.subscriptions.retrieve(sub.id);
    expect(recovered.status).toBe('active');
    expect(await h.stripe.invoices.retrieve(invoice.id)).toMatchObject({
      status: 'paid',
      attempt_count: 2,
      amount_paid: 2000,
    });
  });

  it('paying an open invoice now (invoices.pay): a decline answers 402, a good card recovers it', async () => {
    const { clock, customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const failing = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', {
      customer: customer.id,
    });
    await h.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    await advanceClock(h.stripe, clock.id, M1 + 2 * HOUR);
    const invoice = await h.stripe.invoices.retrieve(
      String((await h.stripe.subscriptions.retrieve(sub.id)).latest_invoice),
    );
    expect(invoice).toMatchObject({
      status: 'open',
      period_start: T0,
      period_end: M1,
      lines: {
        data: [
          { period: { start: M1, end: M2 }, description: '1 × Monthly membership (at EUR 20.00 / month)' },
        ],
      },
    });
    const declined = await refusal(h.stripe.invoices.pay(invoice.id));
    expect(declined.statusCode).toBe(402);
    expect(declined.code).toBe('card_declined');
    expect((await h.stripe.invoices.retrieve(invoice.id)).next_payment_attempt).toBe(M1 + HOUR + 3 * DAY);
    const card = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await h.stripe.subscriptions.update(sub.id, { default_payment_method: card.id });
    const paid = await h.stripe.invoices.pay(invoice.id);
    expect(paid).toMatchObject({ status: 'paid', attempt_count: 3, next_payment_attempt: null });
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
    expect((await refusal(h.stripe.invoices.pay(invoice.id))).statusCode).toBe(400);
  });

  it('the hosted invoice page pays a past_due invoice with another card, leaving the default as it was', async () => {
    const { clock, customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const failing = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', {
      customer: customer.id,
    });
    await h.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    await advanceClock(h.stripe, clock.id, M1 + 2 * HOUR);
    const invoice = await h.stripe.invoices.retrieve(
      String((await h.stripe.subscriptions.retrieve(sub.id)).latest_invoice),
    );
    expect(invoice.status).toBe('open');
    const url = String(invoice.hosted_invoice_url);
    expect(await (await fetch(url)).text()).toContain('Status: open');
    expect((await payViaPage(url, { card_number: '4000000000000341' })).status).toBe(402);
    const ok = await payViaPage(url, { card_number: '4242424242424242' });
    expect(ok.status).toBe(200);
    expect(ok.html).toContain('Status: paid');
    expect((await h.stripe.invoices.retrieve(invoice.id)).status).toBe('paid');
    const after = await h.stripe.subscriptions.retrieve(sub.id);
    expect(after).toMatchObject({ status: 'active', default_payment_method: failing.id });
  });

  it('without a test clock, renewals follow the emulator clock', async () => {
    const customer = await h.stripe.customers.create({
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    const price = await h.stripe.prices.create({
      product_data: { name: 'Daily' },
      currency: 'eur',
      unit_amount: 300,
      recurring: { interval: 'day' },
    });
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    expect(sub.test_clock).toBeNull();
    h.emu.clock.advance((DAY + 2 * HOUR) * 1000);
    const invoices = await h.stripe.invoices.list({ subscription: sub.id });
    expect(invoices.data.map((i) => [i.billing_reason, i.status])).toEqual([
      ['subscription_cycle', 'paid'],
      ['subscription_create', 'paid'],
    ]);
  });

  it('a renewal that keeps failing is canceled after the last retry', async () => {
    const { clock, customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const failing = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', {
      customer: customer.id,
    });
    await h.stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    await advanceClock(h.stripe, clock.id, M1 + 2 * HOUR);
    await advanceClock(h.stripe, clock.id, M1 + 20 * DAY);
    const canceled = await h.stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] });
    expect(canceled).toMatchObject({
      status: 'canceled',
      ended_at: M1 + HOUR + 15 * DAY,
      cancellation_details: { reason: 'payment_failed' },
    });
    expect(canceled.latest_invoice).toMatchObject({
      status: 'open',
      attempt_count: 4,
      next_payment_attempt: null,
    });
    const deleted = (await h.stripe.events.list({ type: 'customer.subscription.deleted' })).data.find(
      (e) => objectOf(e).id === sub.id,
    );
    expect(deleted).toBeDefined();
  });

  it('cancel at period end keeps it until the end; DELETE cancels now', async () => {
    const { clock, customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const updated = await h.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    expect(updated).toMatchObject({ status: 'active', cancel_at_period_end: true, cancel_at: M1 });
    const ev = (await h.stripe.events.list({ type: 'customer.subscription.updated' })).data.find(
      (e) => objectOf(e).id === sub.id,
    );
    expect(ev?.data.previous_attributes).toMatchObject({ cancel_at_period_end: false });
    await advanceClock(h.stripe, clock.id, M1 + DAY);
    const ended = await h.stripe.subscriptions.retrieve(sub.id);
    expect(ended).toMatchObject({ status: 'canceled', ended_at: M1 });
    expect((await h.stripe.invoices.list({ subscription: sub.id })).data).toHaveLength(1);
    const late = await refusal(h.stripe.subscriptions.update(sub.id, { cancel_at_period_end: false }));
    expect(late.code).toBe('invalid_canceled_subscription_fields');

    const other = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
    });
    const now = await h.stripe.subscriptions.cancel(other.id);
    expect(now).toMatchObject({ status: 'canceled', canceled_at: M1 + DAY, ended_at: M1 + DAY });
    expect((await refusal(h.stripe.subscriptions.cancel(other.id))).statusCode).toBe(400);
  });

  it("an invoice's payments expand to its PaymentIntent, refunded through the refunds API with the fee", async () => {
    const { customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      application_fee_percent: 15,
      transfer_data: { destination: seller.id },
    });
    const invoice = await h.stripe.invoices.retrieve(String(sub.latest_invoice), {
      expand: ['payments.data.payment.payment_intent'],
    });
    const pi = invoice.payments?.data[0]?.payment.payment_intent as Stripe.PaymentIntent;
    expect(pi).toMatchObject({ object: 'payment_intent', status: 'succeeded', application_fee_amount: 300 });
    const refund = await h.stripe.refunds.create({
      payment_intent: pi.id,
      refund_application_fee: true,
      reverse_transfer: true,
    });
    expect(refund).toMatchObject({ status: 'succeeded', amount: 2000 });
    const charge = await h.stripe.charges.retrieve(String(pi.latest_charge));
    const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
    expect(fee).toMatchObject({ amount: 300, amount_refunded: 300, refunded: true });
    expect('payments' in (await h.stripe.invoices.retrieve(invoice.id))).toBe(false);
  });

  it('inline price_data makes an inactive price; a detached card is no longer charged', async () => {
    const { clock, customer, price } = await world();
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [
        {
          price_data: {
            currency: 'eur',
            product: String(price.product),
            unit_amount: 1200,
            recurring: { interval: 'month' },
          },
        },
      ],
      expand: ['latest_invoice'],
    });
    const inline = sub.items.data[0]?.price;
    expect(inline).toMatchObject({
      active: false,
      unit_amount: 1200,
      product: price.product,
      type: 'recurring',
    });
    expect(sub.status).toBe('active');
    expect((sub.latest_invoice as Stripe.Invoice).amount_paid).toBe(1200);
    const bad = await refusal(
      h.stripe.subscriptions.create({
        customer: customer.id,
        items: [
          {
            price_data: {
              currency: 'eur',
              product: 'prod_nope',
              unit_amount: 1,
              recurring: { interval: 'month' },
            },
          },
        ],
      }),
    );
    expect(bad.param).toBe('items[0][price_data][product]');

    await h.stripe.paymentMethods.detach(String(customer.invoice_settings.default_payment_method));
    await advanceClock(h.stripe, clock.id, M1 + 2 * HOUR);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('past_due');
  });

  it('a trial ending without a payment method: an invoice that fails, a pause (then resume), or a cancel', async () => {
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 });
    const price = await h.stripe.prices.create({
      product_data: { name: 'Trial' },
      currency: 'eur',
      unit_amount: 1000,
      recurring: { interval: 'month' },
    });
    const start = async (
      behavior?: 'cancel' | 'pause' | 'create_invoice',
    ): Promise<{ customer: Stripe.Customer; sub: Stripe.Subscription }> => {
      const customer = await h.stripe.customers.create({ test_clock: clock.id });
      const sub = await h.stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: price.id }],
        trial_period_days: 5,
        ...(behavior ? { trial_settings: { end_behavior: { missing_payment_method: behavior } } } : {}),
      });
      expect(sub.status).toBe('trialing');
      return { customer, sub };
    };
    const invoiced = await start();
    const paused = await start('pause');
    const canceled = await start('cancel');
    await advanceClock(h.stripe, clock.id, T0 + 6 * DAY);
    expect((await h.stripe.subscriptions.retrieve(invoiced.sub.id)).status).toBe('past_due');
    expect((await h.stripe.subscriptions.retrieve(canceled.sub.id)).status).toBe('canceled');
    const p = await h.stripe.subscriptions.retrieve(paused.sub.id);
    expect(p.status).toBe('paused');
    const pausedEvent = (await h.stripe.events.list({ type: 'customer.subscription.paused' })).data.find(
      (e) => objectOf(e).id === p.id,
    );
    expect(pausedEvent?.created).toBe(T0 + 5 * DAY);

    const card = (await h.stripe.paymentMethods.attach('pm_card_visa', { customer: paused.customer.id })).id;
    await h.stripe.customers.update(paused.customer.id, {
      invoice_settings: { default_payment_method: card },
    });
    const resumed = await h.stripe.subscriptions.resume(p.id, { expand: ['latest_invoice'] });
    expect(resumed).toMatchObject({ status: 'active', billing_cycle_anchor: T0 + 6 * DAY });
    expect(resumed.items.data[0]).toMatchObject({
      current_period_start: T0 + 6 * DAY,
      current_period_end: T0 + 6 * DAY + 31 * DAY,
    });
    expect(resumed.latest_invoice).toMatchObject({ status: 'paid', amount_paid: 1000 });
    const types = (await h.stripe.events.list({ limit: 40 })).data
      .filter((e) => objectOf(e).id === p.id)
      .map((e) => e.type);
    expect(types).toContain('customer.subscription.resumed');
    expect((await refusal(h.stripe.subscriptions.resume(p.id))).code).toBe('status_transition_invalid');
  });

  it('refuses what Stripe refuses', async () => {
    const { customer, price } = await world();
    const noItems = await refusal(h.stripe.subscriptions.create({ customer: customer.id }));
    expect(noItems.param).toBe('items');
    const oneTime = await h.stripe.prices.create({
      product: String(price.product),
      currency: 'eur',
      unit_amount: 100,
    });
    expect(
      (
        await refusal(
          h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: oneTime.id }] }),
        )
      ).param,
    ).toBe('items[0][price]');
    const stranger = await h.stripe.paymentMethods.attach('pm_card_visa', {
      customer: (await h.stripe.customers.create({})).id,
    });
    expect(
      (
        await refusal(
          h.stripe.subscriptions.create({
            customer: customer.id,
            items: [{ price: price.id }],
            default_payment_method: stranger.id,
          }),
        )
      ).param,
    ).toBe('default_payment_method');
    const unsupported = await refusal(
      h.stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: price.id }],
        trial_end: 'now',
      }),
    );
    expect(unsupported.code).toBe('parameter_unsupported');
    const noCard = await h.stripe.customers.create({});
    const none = await refusal(
      h.stripe.subscriptions.create({
        customer: noCard.id,
        items: [{ price: price.id }],
        payment_behavior: 'error_if_incomplete',
      }),
    );
    expect(none.message).toContain('no attached payment source or default payment method');
  });
});

describe('unpaid after the last retry (billingRetry option)', () => {
  it('leaves the subscription unpaid and its next invoices in draft', async () => {
    const h2 = await startHarness({ billingRetry: { retryDays: [1], afterFinalFailure: 'unpaid' } });
    try {
      const s = h2.stripe;
      const clock = await s.testHelpers.testClocks.create({ frozen_time: T0 });
      const customer = await s.customers.create({
        test_clock: clock.id,
        payment_method: 'pm_card_visa',
        invoice_settings: { default_payment_method: 'pm_card_visa' },
      });
      const price = await s.prices.create({
        product_data: { name: 'm' },
        currency: 'eur',
        unit_amount: 900,
        recurring: { interval: 'month' },
      });
      const sub = await s.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
      const failing = await s.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
      await s.subscriptions.update(sub.id, { default_payment_method: failing.id });
      await advanceClock(s, clock.id, M1 + 3 * DAY);
      expect((await s.subscriptions.retrieve(sub.id)).status).toBe('unpaid');
      await advanceClock(s, clock.id, M2 + 3 * DAY);
      const invoices = await s.invoices.list({ subscription: sub.id });
      expect(invoices.data.map((i) => i.status)).toEqual(['draft', 'open', 'paid']);
      // Recovery by hand: a new card, then paying the open invoice and the draft (finalized first).
      const card = await s.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      await s.subscriptions.update(sub.id, { default_payment_method: card.id });
      const [draft, open] = invoices.data;
      expect((await s.invoices.pay(String(open?.id))).status).toBe('paid');
      expect(await s.invoices.pay(String(draft?.id))).toMatchObject({ status: 'paid', amount_paid: 900 });
      expect((await s.subscriptions.retrieve(sub.id)).status).toBe('active');
    } finally {
      await h2.close();
    }
  });
});
