import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardedAccount, refusal, startHarness, waitFor, type Harness } from './helpers.js';
import { expectShape, T0 } from './subscriptions-helpers.js';

/** Customers (with test clocks and payment methods), products and prices, on the platform and on a connected account. */
let h: Harness;

const objectId = (e: Stripe.Event): string => String((e.data.object as { id?: string }).id);

let seller: Stripe.Account;

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

describe('products and prices', () => {
  it('creates a product and recurring prices (product or product_data), retrieves and lists them', async () => {
    const product = await h.stripe.products.create({ name: 'Monthly membership', metadata: { plan: 'm1' } });
    expectShape(product);
    expect(product).toMatchObject({ object: 'product', active: true, name: 'Monthly membership' });
    expect(await h.stripe.products.retrieve(product.id)).toEqual(product);

    const monthly = await h.stripe.prices.create({
      product: product.id,
      currency: 'eur',
      unit_amount: 4900,
      recurring: { interval: 'month' },
    });
    expectShape(monthly);
    expect(monthly).toMatchObject({
      type: 'recurring',
      currency: 'eur',
      unit_amount: 4900,
      product: product.id,
      recurring: { interval: 'month', interval_count: 1, usage_type: 'licensed' },
    });
    const yearly = await h.stripe.prices.create({
      product_data: { name: 'Class pass' },
      currency: 'eur',
      unit_amount: 39000,
      recurring: { interval: 'year' },
    });
    expect(yearly.product).toMatch(/^prod_/);
    const made = await h.stripe.products.retrieve(String(yearly.product));
    expect(made.name).toBe('Class pass');
    const expanded = await h.stripe.prices.retrieve(yearly.id, { expand: ['product'] });
    expect((expanded.product as Stripe.Product).name).toBe('Class pass');

    const list = await h.stripe.prices.list({ product: product.id });
    expect(list.data.map((p) => p.id)).toEqual([monthly.id]);
    const oneTime = await h.stripe.prices.create({ product: product.id, currency: 'eur', unit_amount: 1500 });
    expect(oneTime.type).toBe('one_time');
    expect(oneTime.recurring).toBeNull();
    expect((await h.stripe.prices.list({ type: 'recurring', product: product.id })).data).toHaveLength(1);
  });

  it('prices are immutable except active, metadata and nickname; archived prices are listed apart', async () => {
    const price = await h.stripe.prices.create({
      product_data: { name: 'P' },
      currency: 'usd',
      unit_amount: 1000,
      recurring: { interval: 'week', interval_count: 2 },
    });
    const updated = await h.stripe.prices.update(price.id, { active: false, metadata: { v: '1' } });
    expect(updated).toMatchObject({ active: false, metadata: { v: '1' }, unit_amount: 1000 });
    const err = await refusal(
      h.stripe.prices.update(price.id, { unit_amount: 2000 } as Stripe.PriceUpdateParams),
    );
    expect(err.code).toBe('parameter_unknown');
    expect((await h.stripe.prices.list({ active: false })).data.map((p) => p.id)).toContain(price.id);
    const events = await h.stripe.events.list({ type: 'price.updated' });
    expect(events.data[0]?.data.previous_attributes).toMatchObject({ active: true });
  });

  it('refuses what Stripe refuses', async () => {
    const both = await refusal(
      h.stripe.prices.create({
        currency: 'eur',
        unit_amount: 100,
        product: 'prod_x',
        product_data: { name: 'x' },
      }),
    );
    expect(both.param).toBe('product');
    const neither = await refusal(h.stripe.prices.create({ currency: 'eur', unit_amount: 100 }));
    expect(neither.param).toBe('product');
    const missingProduct = await refusal(
      h.stripe.prices.create({ currency: 'eur', unit_amount: 100, product: 'prod_missing' }),
    );
    expect(missingProduct.statusCode).toBe(404);
    expect(missingProduct.code).toBe('resource_missing');
    const tooLong = await refusal(
      h.stripe.prices.create({
        currency: 'eur',
        unit_amount: 100,
        product_data: { name: 'x' },
        recurring: { interval: 'month', interval_count: 13 },
      }),
    );
    expect(tooLong.param).toBe('recurring[interval_count]');
    const badInterval = await refusal(
      h.stripe.prices.create({
        currency: 'eur',
        unit_amount: 100,
        product_data: { name: 'x' },
        recurring: { interval: 'fortnight' as 'week' },
      }),
    );
    expect(badInterval.param).toBe('recurring[interval]');
    const unsupported = await refusal(
      h.stripe.prices.create({
        currency: 'eur',
        unit_amount: 100,
        product_data: { name: 'x' },
        recurring: { interval: 'month', usage_type: 'metered' },
      }),
    );
    expect(unsupported.code).toBe('parameter_unsupported');
  });

  it('lives on the connected account named by Stripe-Account, with events to the Connect endpoint', async () => {
    const opts = { stripeAccount: seller.id };
    const price = await h.stripe.prices.create(
      {
        product_data: { name: 'Studio membership' },
        currency: 'eur',
        unit_amount: 3000,
        recurring: { interval: 'month' },
      },
      opts,
    );
    expect((await h.stripe.prices.retrieve(price.id, {}, opts)).id).toBe(price.id);
    const err = await refusal(h.stripe.prices.retrieve(price.id));
    expect(err.statusCode).toBe(404);
    await waitFor(() =>
      h.connect.received.some((r) => r.event.type === 'price.created' && objectId(r.event) === price.id),
    );
    const ev = h.connect.received.find((r) => objectId(r.event) === price.id);
    expect(ev?.event.account).toBe(seller.id);
    expect(h.platform.received.some((r) => objectId(r.event) === price.id)).toBe(false);
  });
});

describe('customers', () => {
  it('create with a test clock and a test payment method, update, retrieve', async () => {
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0, name: 'catalog' });
    const c = await h.stripe.customers.create({
      email: 'member@example.test',
      test_clock: clock.id,
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    expectShape(c);
    expect(c.test_clock).toBe(clock.id);
    expect(c.created).toBe(T0);
    const pmId = String(c.invoice_settings.default_payment_method);
    expect(pmId).toMatch(/^pm_/);
    const pm = await h.stripe.paymentMethods.retrieve(pmId);
    expectShape(pm);
    expect(pm).toMatchObject({ customer: c.id, type: 'card', card: { last4: '4242', brand: 'visa' } });

    const updated = await h.stripe.customers.update(c.id, { name: 'Member', metadata: { tier: 'gold' } });
    expect(updated).toMatchObject({ name: 'Member', metadata: { tier: 'gold' } });
    const fresh = await h.stripe.customers.retrieve(c.id, {
      expand: ['test_clock', 'invoice_settings.default_payment_method'],
    });
    expect(((fresh as Stripe.Customer).test_clock as Stripe.TestHelpers.TestClock).name).toBe('catalog');
    expect(
      ((fresh as Stripe.Customer).invoice_settings.default_payment_method as Stripe.PaymentMethod).id,
    ).toBe(pmId);
    const types = (await h.stripe.events.list({ limit: 20 })).data.map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['customer.created', 'customer.updated', 'payment_method.attached']),
    );
  });

  it('a failing card attaches; the default payment method must be attached to the customer', async () => {
    const c = await h.stripe.customers.create({ email: 'x@example.test' });
    const pm = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: c.id });
    expect(pm.card?.last4).toBe('0341');
    const other = await h.stripe.customers.create({ email: 'y@example.test' });
    const err = await refusal(
      h.stripe.customers.update(other.id, { invoice_settings: { default_payment_method: pm.id } }),
    );
    expect(err.param).toBe('invoice_settings[default_payment_method]');
    const ok = await h.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id } });
    expect(ok.invoice_settings.default_payment_method).toBe(pm.id);
    const missingClock = await refusal(h.stripe.customers.create({ test_clock: 'clock_missing' }));
    expect(missingClock.statusCode).toBe(404);
    expect(missingClock.param).toBe('test_clock');
  });

  it('a test clock holds at most three customers', async () => {
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 });
    for (let i = 0; i < 3; i++) await h.stripe.customers.create({ test_clock: clock.id });
    const err = await refusal(h.stripe.customers.create({ test_clock: clock.id }));
    expect(err.param).toBe('test_clock');
  });

  it('customers on a connected account', async () => {
    const opts = { stripeAccount: seller.id };
    const c = await h.stripe.customers.create(
      { email: 'z@example.test', payment_method: 'pm_card_visa' },
      opts,
    );
    expect((await h.stripe.customers.retrieve(c.id, {}, opts)).id).toBe(c.id);
    expect((await refusal(h.stripe.customers.retrieve(c.id))).statusCode).toBe(404);
  });
});
