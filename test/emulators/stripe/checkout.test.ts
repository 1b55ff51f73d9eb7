import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardedAccount, payViaPage, sessionParams, startHarness, type Harness } from './helpers.js';

let h: Harness;
let seller: Stripe.Account;

beforeAll(async () => {
  h = await startHarness();
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

describe('Connect onboarding', () => {
  it('starts disabled; the account link page enables charges and emits account.updated to Connect endpoints', async () => {
    const acct = await h.stripe.accounts.create({ type: 'express' });
    expect(acct.id).toMatch(/^acct_/);
    expect(acct.charges_enabled).toBe(false);
    const link = await h.stripe.accountLinks.create({
      account: acct.id,
      refresh_url: 'http://shop.test/refresh',
      return_url: 'http://shop.test/return?x=1',
      type: 'account_onboarding',
    });
    expect(link.url.startsWith(h.emu.url)).toBe(true);
    const page = await fetch(link.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(acct.id);
    const submit = await fetch(link.url, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({ a: 'b' }),
    });
    expect(submit.status).toBe(303);
    expect(submit.headers.get('location')).toBe('http://shop.test/return?x=1');
    const after = await h.stripe.accounts.retrieve(acct.id);
    expect([after.details_submitted, after.charges_enabled, after.payouts_enabled]).toEqual([
      true,
      true,
      true,
    ]);
    await h.emu.idle();
    const upd = h.connect.received.find(
      (r) => r.event.type === 'account.updated' && r.event.account === acct.id,
    );
    expect(upd).toBeDefined();
    expect(h.platform.received.some((r) => r.event.type === 'account.updated')).toBe(false);
  });

  it('refuses a destination session towards an account that has not finished onboarding', async () => {
    const acct = await h.stripe.accounts.create({ type: 'express' });
    await expect(
      h.stripe.checkout.sessions.create(
        sessionParams({
          payment_intent_data: { transfer_data: { destination: acct.id }, application_fee_amount: 100 },
        }),
      ),
    ).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      param: 'payment_intent_data[transfer_data][destination]',
    });
  });
});

describe('checkout sessions', () => {
  it('direct charge: objects and events live on the connected account and go to the Connect endpoint only', async () => {
    const session = await h.stripe.checkout.sessions.create(
      sessionParams({
        client_reference_id: 'order_1',
        customer_email: 'buyer@example.com',
        metadata: { order: 'o1' },
        payment_intent_data: { application_fee_amount: 700 },
      }),
      { stripeAccount: seller.id },
    );
    expect(session.id).toMatch(/^cs_test_/);
    expect(session.payment_intent).toBeNull();
    expect(session.status).toBe('open');
    expect(session.amount_total).toBe(10000);
    expect(session.success_url).toBe(`http://shop.test/success?session_id=${session.id}`);
    expect(session.lastResponse.stripeAccount).toBe(seller.id);
    await expect(h.stripe.checkout.sessions.retrieve(session.id)).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });

    const page = await fetch(session.url ?? '');
    const html = await page.text();
    expect(html).toContain('Ticket &lt;b&gt;VIP&lt;/b&gt;');
    expect(html).not.toContain('<b>VIP</b>');
    expect(html).toContain('http://shop.test/cancel');

    const paid = await payViaPage(session.url ?? '', { card_number: '4242 4242 4242 4242' });
    expect(paid.status).toBe(303);
    expect(paid.location).toBe(`http://shop.test/success?session_id=${session.id}`);
    await h.emu.idle();

    const done = await h.stripe.checkout.sessions.retrieve(
      session.id,
      { expand: ['payment_intent'] },
      { stripeAccount: seller.id },
    );
    expect(done.status).toBe('complete');
    expect(done.payment_status).toBe('paid');
    const pi = done.payment_intent as Stripe.PaymentIntent;
    expect(pi.id).toMatch(/^pi_/);
    expect(pi.status).toBe('succeeded');
    expect(pi.application_fee_amount).toBe(700);
    const charge = await h.stripe.charges.retrieve(
      String(pi.latest_charge),
      {},
      { stripeAccount: seller.id },
    );
    expect(charge.id).toMatch(/^ch_/);
    expect(charge.application_fee).toMatch(/^fee_/);
    const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
    expect(fee.amount).toBe(700);
    expect(fee.account).toBe(seller.id);

    const connectTypes = h.connect.received
      .filter((r) => r.event.account === seller.id)
      .map((r) => r.event.type);
    expect(connectTypes).toEqual(
      expect.arrayContaining(['checkout.session.completed', 'payment_intent.succeeded', 'charge.succeeded']),
    );
    const completed = h.connect.received.find(
      (r) =>
        r.event.type === 'checkout.session.completed' &&
        (r.event.data.object as Stripe.Checkout.Session).id === session.id,
    );
    expect(completed).toBeDefined();
    const verified = Stripe.webhooks.constructEvent(
      completed?.raw ?? '',
      completed?.signature ?? '',
      h.connectSecret,
    );
    expect(verified.account).toBe(seller.id);
    expect(verified.api_version).toBe('2026-10-28.endive');
    expect(verified.livemode).toBe(false);
    expect(verified.request?.id).toBeNull();
    expect(() =>
      Stripe.webhooks.constructEvent(completed?.raw ?? '', completed?.signature ?? '', h.platformSecret),
    ).toThrow();
    // Platform endpoint: only the platform-owned application fee, never the connected account's session events.
    const platformForSession = h.platform.received.filter(
      (r) =>
        r.event.type.startsWith('checkout.') &&
        (r.event.data.object as Stripe.Checkout.Session).id === session.id,
    );
    expect(platformForSession).toHaveLength(0);
    const feeEvt = h.platform.received.find(
      (r) =>
        r.event.type === 'application_fee.created' &&
        (r.event.data.object as Stripe.ApplicationFee).id === fee.id,
    );
    expect(feeEvt?.event.account).toBeUndefined();
    expect(
      Stripe.webhooks.constructEvent(feeEvt?.raw ?? '', feeEvt?.signature ?? '', h.platformSecret).type,
    ).toBe('application_fee.created');
  });

  it('destination charge: full-amount transfer, application fee collected back, events on the platform endpoint', async () => {
    const session = await h.stripe.checkout.sessions.create(
      sessionParams({
        payment_intent_data: {
          application_fee_amount: 1500,
          transfer_data: { destination: seller.id },
          on_behalf_of: seller.id,
        },
      }),
    );
    const r = await h.emu.paySession(session.id, { card_number: '4242424242424242' });
    expect(r.status).toBe(303);
    await h.emu.idle();
    const done = await h.stripe.checkout.sessions.retrieve(session.id);
    const pi = await h.stripe.paymentIntents.retrieve(String(done.payment_intent), {
      expand: ['latest_charge'],
    });
    expect(pi.transfer_data?.destination).toBe(seller.id);
    expect(pi.on_behalf_of).toBe(seller.id);
    const charge = pi.latest_charge as Stripe.Charge;
    const transfer = await h.stripe.transfers.retrieve(String(charge.transfer));
    expect(transfer.id).toMatch(/^tr_/);
    expect(transfer.amount).toBe(10000);
    expect(transfer.destination).toBe(seller.id);
    const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
    expect(fee.amount).toBe(1500);
    const types = h.platform.received
      .filter((x) => {
        const body = JSON.stringify(x.event.data.object);
        return body.includes(pi.id) || body.includes(charge.id);
      })
      .map((x) => x.event.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'checkout.session.completed',
        'payment_intent.succeeded',
        'charge.succeeded',
        'transfer.created',
        'application_fee.created',
      ]),
    );
    for (const rec of h.platform.received) {
      expect(rec.event.account).toBeUndefined();
      expect(Stripe.webhooks.constructEvent(rec.raw, rec.signature, h.platformSecret).id).toBe(rec.event.id);
    }
    const list = await h.stripe.checkout.sessions.list({ payment_intent: pi.id });
    expect(list.data.map((s) => s.id)).toEqual([session.id]);
  });

  it('10% promotion code typed on the page', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 10, duration: 'once' });
    const promo = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'TENOFF',
    });
    expect(promo.id).toMatch(/^promo_/);
    const found = await h.stripe.promotionCodes.list({ code: 'TENOFF' });
    expect(found.data.map((p) => p.id)).toEqual([promo.id]);

    const session = await h.stripe.checkout.sessions.create(
      sessionParams({ allow_promotion_codes: true }, 1999),
    );
    const bad = await payViaPage(session.url ?? '', {
      promotion_code: 'NOPE',
      card_number: '4242424242424242',
    });
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('This code is invalid.');
    const ok = await payViaPage(session.url ?? '', {
      promotion_code: 'tenoff',
      card_number: '4242424242424242',
    });
    expect(ok.status).toBe(303);
    const done = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent'] });
    expect(done.amount_subtotal).toBe(3998);
    expect(done.total_details?.amount_discount).toBe(400);
    expect(done.amount_total).toBe(3598);
    expect(done.discounts).toEqual([{ coupon: coupon.id, promotion_code: promo.id }]);
    expect((done.payment_intent as Stripe.PaymentIntent).amount).toBe(3598);
  });

  it('promotion codes are refused when the session does not allow them; discounts + allow_promotion_codes is a 400', async () => {
    const allowing = await h.stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }));
    expect(await (await fetch(allowing.url ?? '')).text()).toContain('name="promotion_code"');
    const session = await h.stripe.checkout.sessions.create(sessionParams());
    expect(session.allow_promotion_codes).toBeNull();
    // No code field on the page, and a code posted anyway (a crafted form) is refused; nothing is charged.
    expect(await (await fetch(session.url ?? '')).text()).not.toContain('name="promotion_code"');
    const posted = await payViaPage(session.url ?? '', {
      promotion_code: 'TENOFF',
      card_number: '4242424242424242',
    });
    expect(posted.status).toBe(400);
    expect(posted.html).toContain('Promotion codes are not accepted for this payment.');
    const r = await h.emu.paySession(session.id, {
      promotion_code: 'TENOFF',
      card_number: '4242424242424242',
    });
    expect(r.status).toBe(400);
    const still = await h.stripe.checkout.sessions.retrieve(session.id);
    expect(still).toMatchObject({ status: 'open', amount_total: 10000, payment_intent: null, discounts: [] });
    const coupon = await h.stripe.coupons.create({ amount_off: 500, currency: 'eur' });
    await expect(
      h.stripe.checkout.sessions.create(
        sessionParams({ allow_promotion_codes: true, discounts: [{ coupon: coupon.id }] }),
      ),
    ).rejects.toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError' });
    const withDiscount = await h.stripe.checkout.sessions.create(
      sessionParams({ discounts: [{ coupon: coupon.id }] }),
    );
    expect(withDiscount.amount_total).toBe(9500);
  });

  it('100%-off code: no card, no PaymentIntent, payment_status no_payment_required, then paid with the switch', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 100 });
    await h.stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: coupon.id }, code: 'FREE' });
    const s1 = await h.stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }));
    const r1 = await payViaPage(s1.url ?? '', { promotion_code: 'FREE' });
    expect(r1.status).toBe(303);
    const d1 = await h.stripe.checkout.sessions.retrieve(s1.id);
    expect(d1).toMatchObject({
      amount_total: 0,
      status: 'complete',
      payment_intent: null,
      payment_status: 'no_payment_required',
    });
    expect(d1.total_details?.amount_discount).toBe(10000);

    h.emu.setZeroAmountPaymentStatus('paid');
    const s2 = await h.stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }));
    await h.emu.paySession(s2.id, { promotion_code: 'FREE' });
    const d2 = await h.stripe.checkout.sessions.retrieve(s2.id);
    expect(d2).toMatchObject({
      amount_total: 0,
      status: 'complete',
      payment_intent: null,
      payment_status: 'paid',
    });
    h.emu.setZeroAmountPaymentStatus('no_payment_required');
    await h.emu.idle();
    const completed = h.platform.received.filter(
      (r) =>
        r.event.type === 'checkout.session.completed' &&
        [s1.id, s2.id].includes((r.event.data.object as Stripe.Checkout.Session).id),
    );
    expect(completed).toHaveLength(2);
    const piEvents = h.platform.received.filter(
      (r) =>
        r.event.type.startsWith('payment_intent.') &&
        (r.event.data.object as Stripe.PaymentIntent).amount === 0,
    );
    expect(piEvents).toHaveLength(0);
  });

  it('rejects non-http success/cancel URLs; unknown hosted pages are 404', async () => {
    await expect(
      h.stripe.checkout.sessions.create(sessionParams({ cancel_url: 'javascript:alert(1)' })),
    ).rejects.toMatchObject({ statusCode: 400, param: 'cancel_url' });
    expect((await fetch(`${h.emu.url}/c/pay/cs_test_nope`)).status).toBe(404);
  });

  it('declined card: page re-renders with the error (402) and the session stays open', async () => {
    const session = await h.stripe.checkout.sessions.create(sessionParams());
    const r = await payViaPage(session.url ?? '', { card_number: '4000000000000002' });
    expect(r.status).toBe(402);
    expect(r.html).toContain('Your card was declined.');
    const s = await h.stripe.checkout.sessions.retrieve(session.id);
    expect(s.status).toBe('open');
    expect(s.payment_intent).toBeNull();
  });

  it('delayed payment: completed unpaid, then async_payment_succeeded', async () => {
    const session = await h.stripe.checkout.sessions.create(sessionParams());
    const r = await payViaPage(session.url ?? '', { payment_method: 'delayed' });
    expect(r.status).toBe(303);
    const s1 = await h.stripe.checkout.sessions.retrieve(session.id);
    expect(s1).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
    await h.emu.completeDelayedPayment(session.id, 'succeeded');
    await h.emu.idle();
    const s2 = await h.stripe.checkout.sessions.retrieve(session.id);
    expect(s2.payment_status).toBe('paid');
    const seq = h.platform.received
      .filter(
        (x) =>
          x.event.type.startsWith('checkout.session') &&
          (x.event.data.object as Stripe.Checkout.Session).id === session.id,
      )
      .map((x) => [x.event.type, (x.event.data.object as Stripe.Checkout.Session).payment_status]);
    expect(seq).toEqual([
      ['checkout.session.completed', 'unpaid'],
      ['checkout.session.async_payment_succeeded', 'paid'],
    ]);
  });

  it('delayed payment failure (over the HTTP test helper)', async () => {
    const session = await h.stripe.checkout.sessions.create(sessionParams(), { stripeAccount: seller.id });
    const pay = await fetch(`${h.emu.url}/_emulator/checkout/sessions/${session.id}/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payment_method: 'delayed' }),
    });
    expect(await pay.json()).toMatchObject({ status: 303 });
    const res = await fetch(`${h.emu.url}/_emulator/checkout/sessions/${session.id}/delayed_payment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'failed' }),
    });
    expect(res.status).toBe(200);
    await h.emu.idle();
    const s = await h.stripe.checkout.sessions.retrieve(session.id, {}, { stripeAccount: seller.id });
    expect(s.payment_status).toBe('unpaid');
    const pi = await h.stripe.paymentIntents.retrieve(
      String(s.payment_intent),
      {},
      { stripeAccount: seller.id },
    );
    expect(pi.status).toBe('requires_payment_method');
    expect(
      h.connect.received.some(
        (x) =>
          x.event.type === 'checkout.session.async_payment_failed' &&
          (x.event.data.object as Stripe.Checkout.Session).id === session.id,
      ),
    ).toBe(true);
  });

  it('expiry: expire endpoint, only while open; expires_at bounds', async () => {
    const session = await h.stripe.checkout.sessions.create(sessionParams());
    const expired = await h.stripe.checkout.sessions.expire(session.id);
    expect(expired.status).toBe('expired');
    await expect(h.stripe.checkout.sessions.expire(session.id)).rejects.toMatchObject({ statusCode: 400 });
    const page = await payViaPage(session.url ?? '', { card_number: '4242424242424242' });
    expect(page.status).toBe(400);
    await h.emu.idle();
    expect(
      h.platform.received.some(
        (x) =>
          x.event.type === 'checkout.session.expired' &&
          (x.event.data.object as Stripe.Checkout.Session).id === session.id,
      ),
    ).toBe(true);
    const now = Math.floor(Date.now() / 1000);
    await expect(
      h.stripe.checkout.sessions.create(sessionParams({ expires_at: now + 600 })),
    ).rejects.toMatchObject({
      statusCode: 400,
      message: 'The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.',
    });
    await expect(
      h.stripe.checkout.sessions.create(sessionParams({ expires_at: now + 90000 })),
    ).rejects.toMatchObject({
      message: 'The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.',
    });
  });

  it('expires automatically when expires_at passes (scaled by timeScale)', async () => {
    const { startStripeEmulator, stripeClientFor } = await import('../../../src/emulators/stripe/index.js');
    const fast = await startStripeEmulator({ timeScale: 0.0002 }); // 30 min → 360 ms
    try {
      const stripe = stripeClientFor(fast);
      const s = await stripe.checkout.sessions.create(
        sessionParams({ expires_at: Math.floor(Date.now() / 1000) + 1800 }),
      );
      await new Promise((r) => setTimeout(r, 700));
      const after = await stripe.checkout.sessions.retrieve(s.id);
      expect(after.status).toBe('expired');
      const events = await stripe.events.list({ type: 'checkout.session.expired' });
      expect(events.data.map((e) => (e.data.object as Stripe.Checkout.Session).id)).toEqual([s.id]);
    } finally {
      await fast.close();
    }
  });
});
