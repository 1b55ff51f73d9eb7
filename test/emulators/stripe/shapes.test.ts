import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OBJECT_FIELDS,
  OBJECT_OPTIONAL_FIELDS,
} from '../../../src/emulators/stripe/spec/objects.generated.js';
import {
  onboardedAccount,
  payViaPage,
  sessionParams,
  startHarness,
  type Harness,
  refusal,
} from './helpers.js';

/**
 * Object shapes: every object the emulator serves carries every field the pinned SDK's type requires (generated
 * from Stripe's OpenAPI spec into spec/objects.generated.ts) and nothing the type does not know; expandable lists
 * and properties appear only when expanded. Expansion paths are checked as Stripe checks them.
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

function checkShape(obj: object): void {
  const type = (obj as { object: string }).object;
  const known = OBJECT_FIELDS[type];
  if (known === undefined) throw new Error(`no generated fields for ${type}`);
  const optional = new Set(OBJECT_OPTIONAL_FIELDS[type] ?? []);
  const keys = Object.keys(obj);
  const missing = known.filter((f) => !optional.has(f) && !keys.includes(f));
  const unknown = keys.filter((k) => !known.includes(k));
  expect({ type, missing, unknown }).toEqual({ type, missing: [], unknown: [] });
}

describe('object shapes match the pinned API version', () => {
  it('accounts carry requirements, future_requirements, controller, tos_acceptance and capabilities from creation', async () => {
    const fresh = await h.stripe.accounts.create({
      type: 'express',
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    });
    checkShape(fresh);
    expect(fresh.capabilities).toEqual({ card_payments: 'inactive', transfers: 'inactive' });
    for (const f of ['requirements', 'future_requirements', 'controller', 'tos_acceptance'] as const)
      expect(fresh[f], f).toBeTruthy();
    expect(fresh.requirements?.currently_due?.length).toBeGreaterThan(0);
    checkShape(seller);
    expect(seller.requirements?.currently_due).toEqual([]);
  });

  it('sessions, line items, payment intents, charges, refunds, fees, transfers and events', async () => {
    const s = await h.stripe.checkout.sessions.create({
      ...sessionParams({ customer_email: 'buyer@example.test' }),
      payment_intent_data: { application_fee_amount: 500, transfer_data: { destination: seller.id } },
    });
    checkShape(s);
    expect((await payViaPage(s.url ?? '', { card_number: '4242424242424242' })).status).toBe(303);
    const done = await h.stripe.checkout.sessions.retrieve(s.id, {
      expand: ['line_items', 'payment_intent.latest_charge'],
    });
    checkShape(done);
    expect(done.customer_details?.email).toBe('buyer@example.test');
    for (const li of done.line_items?.data ?? []) checkShape(li);
    const pi = done.payment_intent as Stripe.PaymentIntent;
    checkShape(pi);
    const charge = pi.latest_charge as Stripe.Charge;
    checkShape(charge);
    expect(charge.payment_method_details?.type).toBe('card');
    expect(charge.payment_method_details?.card?.last4).toBe('4242');
    expect('refunds' in charge).toBe(false);

    const refund = await h.stripe.refunds.create({
      charge: charge.id,
      amount: 1000,
      refund_application_fee: true,
    });
    checkShape(refund);
    const withRefunds = await h.stripe.charges.retrieve(charge.id, { expand: ['refunds'] });
    expect(withRefunds.refunds?.data.map((r) => r.id)).toEqual([refund.id]);
    const fees = await h.stripe.applicationFees.list({ limit: 1 });
    for (const f of fees.data) checkShape(f);
    const transfers = await h.stripe.transfers.list({ limit: 1 });
    for (const t of transfers.data) checkShape(t);
    const events = await h.stripe.events.list({ limit: 5 });
    for (const e of events.data) checkShape(e);
  });

  it('customers, coupons, promotion codes and webhook endpoints', async () => {
    checkShape(await h.stripe.customers.create({ email: 'c@example.test' }));
    const coupon = await h.stripe.coupons.create({ percent_off: 15 });
    checkShape(coupon);
    checkShape(await h.stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: coupon.id } }));
    checkShape(await h.stripe.webhookEndpoints.retrieve(h.platformEndpointId));
  });

  it('account.updated events carry data.previous_attributes', async () => {
    const acct = await h.stripe.accounts.create({ type: 'express' });
    await h.emu.completeOnboarding(acct.id);
    const events = await h.stripe.events.list({ type: 'account.updated' }, { stripeAccount: acct.id });
    const ev = events.data[0];
    expect(ev?.data.previous_attributes).toMatchObject({ charges_enabled: false });

    // As delivered to the endpoint, for promotion codes and refunds too.
    const coupon = await h.stripe.coupons.create({ percent_off: 3 });
    const promo = await h.stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: coupon.id } });
    await h.stripe.promotionCodes.update(promo.id, { active: false });
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    await payViaPage(s.url ?? '', { card_number: '4242424242424242' });
    const paid = await h.stripe.checkout.sessions.retrieve(s.id);
    const refund = await h.stripe.refunds.create({
      payment_intent: String(paid.payment_intent),
      amount: 100,
    });
    await h.emu.idle();
    const delivered = (type: string, id: string) =>
      h.platform.received.find(
        (r) => r.event.type === type && (r.event.data.object as { id?: string }).id === id,
      )?.event;
    expect(delivered('promotion_code.updated', promo.id)?.data.previous_attributes).toEqual({ active: true });
    expect(delivered('refund.updated', refund.id)?.data.previous_attributes).toMatchObject({
      status: 'pending',
    });
  });
});

describe('expand[]', () => {
  it('expands on retrieve, create and list items (data.*), to four levels', async () => {
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    await payViaPage(s.url ?? '', { card_number: '4242424242424242' });
    const list = await h.stripe.checkout.sessions.list({ limit: 3, expand: ['data.payment_intent'] });
    const paid = list.data.find((x) => x.id === s.id);
    expect(typeof paid?.payment_intent).toBe('object');
    const pis = await h.stripe.paymentIntents.list({ limit: 1, expand: ['data.latest_charge'] });
    expect(typeof pis.data[0]?.latest_charge).toBe('object');
    const created = await h.stripe.refunds.create({
      payment_intent: String(paid?.payment_intent && (paid.payment_intent as Stripe.PaymentIntent).id),
      amount: 100,
      expand: ['charge', 'payment_intent'],
    });
    expect(typeof created.charge).toBe('object');
    expect(typeof created.payment_intent).toBe('object');
  });

  it('a path that is not expandable, or deeper than four levels, or a list path without data., is a 400', async () => {
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    const notAField = await refusal(h.stripe.checkout.sessions.retrieve(s.id, { expand: ['nonsense'] }));
    expect(notAField.message).toBe('This property cannot be expanded (nonsense).');
    expect(notAField.param).toBe('expand');
    const notAnId = await refusal(h.stripe.checkout.sessions.retrieve(s.id, { expand: ['currency'] }));
    expect(notAnId.message).toBe('This property cannot be expanded (currency).');
    const deep = await refusal(
      h.stripe.checkout.sessions.retrieve(s.id, { expand: ['payment_intent.latest_charge.customer.a.b'] }),
    );
    expect(deep.message).toMatch(/more than 4 levels/);
    const listWithoutData = await refusal(h.stripe.checkout.sessions.list({ expand: ['payment_intent'] }));
    expect(listWithoutData.message).toMatch(/data\.payment_intent/);
  });
});
