import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardedAccount, payViaPage, refusal, startHarness, type Harness } from './helpers.js';
import { advanceClock, DAY, expectShape, T0 } from './subscriptions-helpers.js';

/** Customer portal sessions: a page where the customer cancels at period end, resumes, or changes the card. */
let h: Harness;
let seller: Stripe.Account;

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

async function member(opts: Stripe.RequestOptions = {}): Promise<{
  clock: Stripe.TestHelpers.TestClock;
  customer: Stripe.Customer;
  sub: Stripe.Subscription;
}> {
  const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 }, opts);
  const customer = await h.stripe.customers.create(
    {
      test_clock: clock.id,
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    },
    opts,
  );
  const price = await h.stripe.prices.create(
    {
      product_data: { name: 'Membership' },
      currency: 'eur',
      unit_amount: 2000,
      recurring: { interval: 'month' },
    },
    opts,
  );
  const sub = await h.stripe.subscriptions.create(
    { customer: customer.id, items: [{ price: price.id }] },
    opts,
  );
  return { clock, customer, sub };
}

describe('customer portal', () => {
  it('the page cancels at period end and resumes; the subscription ends with the period', async () => {
    const { clock, customer, sub } = await member();
    const portal = await h.stripe.billingPortal.sessions.create({
      customer: customer.id,
      return_url: 'http://shop.test/account',
    });
    expectShape(portal);
    expect(portal.url).toMatch(/\/p\/session\/bps_/);
    const page = await (await fetch(portal.url)).text();
    expect(page).toContain(sub.id);
    expect(page).toContain('http://shop.test/account');

    const canceled = await payViaPage(portal.url, { action: 'cancel', subscription: sub.id });
    expect(canceled.status).toBe(200);
    expect(canceled.html).toContain('Keep subscription');
    const pending = await h.stripe.subscriptions.retrieve(sub.id);
    expect(pending).toMatchObject({ status: 'active', cancel_at_period_end: true, canceled_at: T0 });
    expect((await payViaPage(portal.url, { action: 'resume', subscription: sub.id })).status).toBe(200);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).cancel_at_period_end).toBe(false);

    await h.emu.portalAction(portal.id, { action: 'cancel', subscription: sub.id });
    await advanceClock(h.stripe, clock.id, T0 + 32 * DAY);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('canceled');
    expect(await (await fetch(portal.url)).text()).toContain('No active subscriptions.');
  });

  it('a new card becomes the default of the customer and its subscriptions; decline cards are refused', async () => {
    const opts = { stripeAccount: seller.id };
    const { customer, sub } = await member(opts);
    const withDefault = await h.stripe.subscriptions.update(
      sub.id,
      { default_payment_method: String(customer.invoice_settings.default_payment_method) },
      opts,
    );
    const portal = await h.stripe.billingPortal.sessions.create({ customer: customer.id }, opts);
    const declined = await payViaPage(portal.url, { action: 'update_card', card_number: '4000000000000002' });
    expect(declined.status).toBe(402);
    const saved = await payViaPage(portal.url, { action: 'update_card', card_number: '5555 5555 5555 4444' });
    expect(saved.status).toBe(200);
    const fresh = (await h.stripe.customers.retrieve(customer.id, {}, opts)) as Stripe.Customer;
    const pm = await h.stripe.paymentMethods.retrieve(
      String(fresh.invoice_settings.default_payment_method),
      {},
      opts,
    );
    expect(pm.card?.last4).toBe('4444');
    const after = await h.stripe.subscriptions.retrieve(sub.id, {}, opts);
    expect(after.default_payment_method).toBe(pm.id);
    expect(after.default_payment_method).not.toBe(withDefault.default_payment_method);
    await h.emu.idle();
    expect(
      h.connect.received.some(
        (r) =>
          r.event.type === 'customer.updated' && (r.event.data.object as { id: string }).id === customer.id,
      ),
    ).toBe(true);
    const missing = await refusal(h.stripe.billingPortal.sessions.create({ customer: 'cus_missing' }));
    expect(missing.statusCode).toBe(404);
    expect((await fetch(`${h.emu.url}/p/session/bps_nope`)).status).toBe(404);
  });
});
