import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OBJECT_FIELDS,
  OBJECT_FIELD_TYPES,
  OBJECT_OPTIONAL_FIELDS,
} from '../../../src/emulators/stripe/spec/objects.generated.js';
import { onboardedAccount, payViaPage, sessionParams, startHarness, type Harness } from './helpers.js';

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

/** The kind of a JSON value as OBJECT_FIELD_TYPES names it. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Every required field present, none unknown, each value of a type the SDK allows for that field. */
function checkShape(obj: object): void {
  const type = (obj as { object: string }).object;
  const known = OBJECT_FIELDS[type];
  if (known === undefined) throw new Error(`no generated fields for ${type}`);
  const optional = new Set(OBJECT_OPTIONAL_FIELDS[type] ?? []);
  const types = OBJECT_FIELD_TYPES[type] ?? {};
  const record = obj as Record<string, unknown>;
  const keys = Object.keys(obj);
  const missing = known.filter((f) => !optional.has(f) && !keys.includes(f));
  const unknown = keys.filter((k) => !known.includes(k));
  const mistyped = keys
    .filter((k) => types[k] !== undefined && !(types[k] ?? '').split('|').includes(kindOf(record[k])))
    .map((k) => `${k}: ${kindOf(record[k])} (SDK: ${types[k]})`);
  expect({ type, missing, unknown, mistyped }).toEqual({ type, missing: [], unknown: [], mistyped: [] });
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

  it('sessions in every state: open, expired, and complete with customer_details (a customer, an email, neither)', async () => {
    const open = await h.stripe.checkout.sessions.create(sessionParams());
    checkShape(open);
    expect(open.customer_details).toBeNull();
    checkShape(await h.stripe.checkout.sessions.expire(open.id));

    const customer = await h.stripe.customers.create({ email: 'known@example.test', name: 'Known Buyer' });
    const withCustomer = await h.stripe.checkout.sessions.create({
      ...sessionParams(),
      customer: customer.id,
    });
    const anonymous = await h.stripe.checkout.sessions.create(sessionParams());
    for (const s of [withCustomer, anonymous])
      expect((await payViaPage(s.url ?? '', { card_number: '4242424242424242' })).status).toBe(303);
    const done = await h.stripe.checkout.sessions.retrieve(withCustomer.id);
    checkShape(done);
    expect(done.customer_details).toMatchObject({
      email: 'known@example.test',
      name: 'Known Buyer',
      tax_ids: [],
    });
    const anon = await h.stripe.checkout.sessions.retrieve(anonymous.id);
    checkShape(anon);
    expect(anon.customer_details?.email).toMatch(/@example\.com$/);

    // A 100 %-off session completes without a payment and still has customer_details.
    const all = await h.stripe.coupons.create({ percent_off: 100 });
    const free = await h.stripe.checkout.sessions.create({
      ...sessionParams({ customer_email: 'free@example.test' }),
      discounts: [{ coupon: all.id }],
    });
    expect((await payViaPage(free.url ?? '', {})).status).toBe(303);
    const freeDone = await h.stripe.checkout.sessions.retrieve(free.id);
    checkShape(freeDone);
    expect(freeDone.customer_details?.email).toBe('free@example.test');
  });

  it('disputes, direct-charge fees, transfer reversals as part of transfers, and every event type emitted', async () => {
    const s = await h.stripe.checkout.sessions.create({
      ...sessionParams(),
      payment_intent_data: { application_fee_amount: 400, transfer_data: { destination: seller.id } },
    });
    expect((await payViaPage(s.url ?? '', { card_number: '4000000000000259' })).status).toBe(303);
    await h.emu.idle();
    const disputes = await h.stripe.disputes.list({ limit: 1 });
    for (const d of disputes.data) checkShape(d);
    await h.emu.closeDispute(disputes.data[0]?.id ?? '', 'won');
    checkShape(await h.stripe.disputes.retrieve(disputes.data[0]?.id ?? ''));

    const direct = await h.stripe.checkout.sessions.create(
      { ...sessionParams(), payment_intent_data: { application_fee_amount: 100 } },
      { stripeAccount: seller.id },
    );
    expect((await payViaPage(direct.url ?? '', { card_number: '4242424242424242' })).status).toBe(303);
    const paid = await h.stripe.checkout.sessions.retrieve(direct.id, {}, { stripeAccount: seller.id });
    const refund = await h.stripe.refunds.create(
      { payment_intent: String(paid.payment_intent), amount: 500, refund_application_fee: true },
      { stripeAccount: seller.id },
    );
    checkShape(refund);
    for (const f of (await h.stripe.applicationFees.list({ limit: 3 })).data) checkShape(f);
    for (const t of (await h.stripe.transfers.list({ limit: 3 })).data) checkShape(t);

    // Every event on both accounts, and the objects they carry.
    const seen = new Set<string>();
    for (const opts of [{}, { stripeAccount: seller.id }]) {
      for await (const e of h.stripe.events.list({ limit: 100 }, opts)) {
        checkShape(e);
        const object = e.data.object as { object?: string };
        if (object.object !== undefined && OBJECT_FIELDS[object.object] !== undefined) checkShape(object);
        seen.add(e.type);
      }
    }
    expect([...seen]).toEqual(
      expect.arrayContaining([
        'checkout.session.completed',
        'payment_intent.succeeded',
        'charge.succeeded',
        'charge.refunded',
        'refund.created',
        'refund.updated',
        'application_fee.created',
        'application_fee.refunded',
        'transfer.created',
        'charge.dispute.created',
        'charge.dispute.closed',
        'account.updated',
      ]),
    );
  });

  it('previous_attributes: hashes carry only their changed keys (null for new ones); an update changing nothing emits nothing', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 4 });
    const promo = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      metadata: { keep: 'k', change: 'old', drop: 'x' },
    });
    await h.stripe.promotionCodes.update(promo.id, { metadata: { change: 'new', drop: '', add: 'a' } });
    await h.stripe.promotionCodes.update(promo.id, { metadata: { keep: 'k' } }); // no change
    const updates = (await h.stripe.events.list({ type: 'promotion_code.updated', limit: 100 })).data.filter(
      (e) => (e.data.object as Stripe.PromotionCode).id === promo.id,
    );
    expect(updates).toHaveLength(1);
    expect(updates[0]?.data.previous_attributes).toEqual({
      metadata: { change: 'old', drop: 'x', add: null },
    });

    // Onboarding: the account's flags, its requirements' changed lists, its capabilities.
    const acct = await h.stripe.accounts.create({
      type: 'express',
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    });
    await h.emu.completeOnboarding(acct.id);
    const [onboarded] = (await h.stripe.events.list({ type: 'account.updated' }, { stripeAccount: acct.id }))
      .data;
    const prev = onboarded?.data.previous_attributes as Record<string, unknown>;
    expect(prev).toMatchObject({
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      capabilities: { card_payments: 'inactive', transfers: 'inactive' },
      tos_acceptance: { date: null, ip: null },
    });
    expect(Object.keys(prev.requirements as object)).toEqual(
      expect.arrayContaining(['currently_due', 'eventually_due', 'past_due', 'disabled_reason']),
    );
    expect(prev).not.toHaveProperty('id');
  });
});
