import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardedAccount, sessionParams, startHarness, stripeClientFor, type Harness } from './helpers.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('authentication and headers', () => {
  it('refuses sk_live_ keys and missing keys with 401', async () => {
    const live = stripeClientFor(h.emu, 'sk_live_0123456789abcdef');
    await expect(live.customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    const res = await fetch(`${h.emu.url}/v1/customers`);
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/API key/);
  });

  it('echoes request-id, idempotency-key and stripe-account', async () => {
    const c = await h.stripe.customers.create({ email: 'a@example.com' }, { idempotencyKey: 'cust-1' });
    expect(c.id).toMatch(/^cus_/);
    expect(c.lastResponse.requestId).toMatch(/^req_/);
    expect(c.lastResponse.idempotencyKey).toBe('cust-1');
    const acct = await onboardedAccount(h.stripe);
    const c2 = await h.stripe.customers.create({}, { stripeAccount: acct.id });
    expect(c2.lastResponse.stripeAccount).toBe(acct.id);
    expect(c2.lastResponse.idempotencyKey).toMatch(/^stripe-node-retry-/);
  });

  it('parses bracket notation and answers Stripe-shaped errors', async () => {
    await expect(
      h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [] }),
    ).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 400,
      param: 'line_items',
    });
    await expect(h.stripe.paymentIntents.retrieve('pi_nope')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    const s = await h.stripe.checkout.sessions.create(
      sessionParams({ metadata: { 'a b': 'x&y=z', emoji: 'é' }, client_reference_id: 'ref[0]' }),
    );
    expect(s.metadata).toEqual({ 'a b': 'x&y=z', emoji: 'é' });
    expect(s.client_reference_id).toBe('ref[0]');
    const items = await h.stripe.checkout.sessions.listLineItems(s.id);
    expect(items.data[0]?.quantity).toBe(2);
    expect(items.data[0]?.description).toBe('Ticket <b>VIP</b>');
  });
});

describe('idempotency', () => {
  it('replays the first response for the same key and body, errors on mismatch or other endpoint', async () => {
    const a = await h.stripe.customers.create({ email: 'x@example.com' }, { idempotencyKey: 'k-1' });
    const b = await h.stripe.customers.create({ email: 'x@example.com' }, { idempotencyKey: 'k-1' });
    expect(b.id).toBe(a.id);
    await expect(
      h.stripe.customers.create({ email: 'y@example.com' }, { idempotencyKey: 'k-1' }),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    await expect(
      h.stripe.coupons.create({ percent_off: 5 }, { idempotencyKey: 'k-1' }),
    ).rejects.toMatchObject({
      type: 'StripeIdempotencyError',
      statusCode: 400,
    });
    // Errors are replayed too.
    const e1 = await h.stripe.refunds
      .create({ charge: 'ch_missing' }, { idempotencyKey: 'k-err' })
      .catch((e: unknown) => e);
    const e2 = await h.stripe.refunds
      .create({ charge: 'ch_missing' }, { idempotencyKey: 'k-err' })
      .catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((e2 as Stripe.errors.StripeError).requestId).not.toBe((e1 as Stripe.errors.StripeError).requestId);
    expect((e2 as Stripe.errors.StripeError).message).toBe((e1 as Stripe.errors.StripeError).message);
    // Keys are scoped per Stripe-Account.
    const acct = await onboardedAccount(h.stripe);
    const c = await h.stripe.customers.create(
      { email: 'x@example.com' },
      { idempotencyKey: 'k-1', stripeAccount: acct.id },
    );
    expect(c.id).not.toBe(a.id);
  });
});

describe('events API', () => {
  it('filters by type wildcard, types[], created, delivery_success; paginates; is scoped by Stripe-Account', async () => {
    const acct = await onboardedAccount(h.stripe);
    const platformSession = await h.stripe.checkout.sessions.create(sessionParams());
    await h.emu.paySession(platformSession.id, { card_number: '4242424242424242' });
    const direct = await h.stripe.checkout.sessions.create(sessionParams(), { stripeAccount: acct.id });
    await h.emu.paySession(direct.id, { card_number: '4242424242424242' });
    await h.emu.idle();

    const cs = await h.stripe.events.list({ type: 'checkout.session.*' });
    expect(cs.data.length).toBeGreaterThan(0);
    expect(cs.data.every((e) => e.type.startsWith('checkout.session.'))).toBe(true);
    expect(cs.data.some((e) => (e.data.object as Stripe.Checkout.Session).id === direct.id)).toBe(false);
    expect(cs.data.every((e) => e.account === undefined)).toBe(true);

    const connected = await h.stripe.events.list(
      { type: 'checkout.session.completed' },
      { stripeAccount: acct.id },
    );
    expect(connected.data.map((e) => (e.data.object as Stripe.Checkout.Session).id)).toEqual([direct.id]);
    expect(connected.data[0]?.account).toBe(acct.id);
    await expect(h.stripe.events.retrieve(String(connected.data[0]?.id))).rejects.toMatchObject({
      statusCode: 404,
    });
    const byId = await h.stripe.events.retrieve(
      String(connected.data[0]?.id),
      {},
      { stripeAccount: acct.id },
    );
    expect(byId.request?.id).toBeNull();

    const multi = await h.stripe.events.list({ types: ['charge.succeeded', 'payment_intent.succeeded'] });
    expect(new Set(multi.data.map((e) => e.type))).toEqual(
      new Set(['charge.succeeded', 'payment_intent.succeeded']),
    );

    const all = await h.stripe.events.list({ limit: 100 });
    for (let i = 1; i < all.data.length; i++)
      expect(all.data[i - 1]!.created).toBeGreaterThanOrEqual(all.data[i]!.created);
    const page1 = await h.stripe.events.list({ limit: 2 });
    expect(page1.has_more).toBe(true);
    const page2 = await h.stripe.events.list({ limit: 2, starting_after: page1.data[1]!.id });
    expect(page2.data[0]!.id).toBe(all.data[2]!.id);
    const back = await h.stripe.events.list({ limit: 2, ending_before: page2.data[0]!.id });
    expect(back.data.map((e) => e.id)).toEqual(page1.data.map((e) => e.id));

    const future = await h.stripe.events.list({ created: { gt: Math.floor(Date.now() / 1000) + 60 } });
    expect(future.data).toEqual([]);
    const recent = await h.stripe.events.list({
      created: { gte: Math.floor(Date.now() / 1000) - 60 },
      limit: 100,
    });
    expect(recent.data.length).toBe(all.data.length);

    const ok = await h.stripe.events.list({ delivery_success: true, limit: 100 });
    expect(ok.data.length).toBe(all.data.length);
    const failed = await h.stripe.events.list({ delivery_success: false });
    expect(failed.data).toEqual([]);

    let n = 0;
    for await (const e of h.stripe.events.list({ limit: 3 })) {
      expect(e.object).toBe('event');
      n++;
    }
    expect(n).toBe(all.data.length);
    // Created by an API request: the event carries its request id and idempotency key.
    const promoEvt = await h.stripe.events.list({ type: 'checkout.session.completed', limit: 1 });
    expect(promoEvt.data[0]?.request).toEqual({ id: null, idempotency_key: null });
  });

  it('webhook endpoints: secret only on create, list and delete', async () => {
    const ep = await h.stripe.webhookEndpoints.create({
      url: 'http://127.0.0.1:9/x',
      enabled_events: ['charge.succeeded'],
    });
    expect(ep.id).toMatch(/^we_/);
    expect(ep.secret).toMatch(/^whsec_/);
    const got = await h.stripe.webhookEndpoints.retrieve(ep.id);
    expect(got.secret).toBeUndefined();
    const list = await h.stripe.webhookEndpoints.list();
    expect(list.data.map((e) => e.id)).toContain(ep.id);
    const del = await h.stripe.webhookEndpoints.del(ep.id);
    expect(del.deleted).toBe(true);
    await expect(h.stripe.webhookEndpoints.retrieve(ep.id)).rejects.toMatchObject({ statusCode: 404 });
  });
});
