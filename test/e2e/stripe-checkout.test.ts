import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/core/reconcile.js';
import { BACKENDS } from '../helpers/db.js';
import { checkout, fulfilments, order, setupMarket, startHarness, type Harness } from '../helpers/settle.js';

/**
 * Stripe Connect end to end: Settle's HTTP API, the official SDK against the in-process emulator, signed webhooks
 * over real HTTP, on both databases.
 */
describe.each(BACKENDS)('Stripe Connect checkout end to end (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  for (const chargeType of ['direct', 'destination'] as const) {
    it(`${chargeType}: webhook alone confirms (browser closed); fee lands on the right account`, async () => {
      h = await startHarness(backend);
      const m = await setupMarket(h, { chargeType, unitAmount: 5000, feeBps: 1000 });
      const c = await checkout(h, m.slotId, { quantity: 2 });
      expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({
        capacity: 10,
        sold: 0,
        held: 2,
        available: 8,
      });
      const pay = await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
      expect(pay.status).toBe(303);
      expect(pay.location).toContain(`/checkout/return?order=${c.orderId}`);
      await h.settleDown();
      const o = await order(h, c.orderId);
      expect(o).toMatchObject({
        status: 'paid',
        total: 10000,
        platformFee: 1000,
        confirmedVia: 'webhook',
        chargeType,
      });
      expect(await fulfilments(h, c.orderId)).toBe(1);
      expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({
        sold: 2,
        held: 0,
        available: 8,
      });

      // Where the money is: Direct Charge on the connected account, Destination Charge on the platform.
      const pi = String(o['providerPaymentId']);
      if (chargeType === 'direct') {
        const intent = await h.stripe.paymentIntents.retrieve(pi, {}, { stripeAccount: m.accountId });
        expect(intent.application_fee_amount).toBe(1000);
        await expect(h.stripe.paymentIntents.retrieve(pi)).rejects.toThrow();
      } else {
        const intent = await h.stripe.paymentIntents.retrieve(pi);
        expect(intent.application_fee_amount).toBe(1000);
        expect(intent.transfer_data?.destination).toBe(m.accountId);
      }
      // Which endpoint got the checkout event: Connect for direct, platform for destination.
      const inbox = await h.admin<{ events: { type: string; endpoint: string }[] }>(
        'GET',
        '/api/admin/webhook-events',
      );
      const completed = inbox.body.events.filter((e) => e.type === 'checkout.session.completed');
      expect(completed.map((e) => e.endpoint)).toEqual([chargeType === 'direct' ? 'connect' : 'platform']);
      const mails = await h.admin<{ notifications: { kind: string }[] }>(
        'GET',
        `/api/admin/notifications?orderId=${c.orderId}`,
      );
      expect(mails.body.notifications.map((n) => n.kind).sort()).toEqual([
        'booking_confirmed',
        'buyer_receipt',
        'seller_notice',
      ]);
    });

    it(`${chargeType}: webhook lost → frontend verify confirms; reconciliation catches an order nobody verified`, async () => {
      h = await startHarness(backend);
      const m = await setupMarket(h, { chargeType });
      h.settle.emulator!.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
      const a = await checkout(h, m.slotId);
      const b = await checkout(h, m.slotId);
      await h.settle.emulator!.paySession(a.sessionId, { card_number: '4242424242424242' });
      await h.settle.emulator!.paySession(b.sessionId, { card_number: '4242424242424242' });
      await h.settleDown();
      expect((await order(h, a.orderId)).status).toBe('pending');
      // The return page's call: never trusts the URL, reads the session from Stripe.
      const v = await h.api('POST', '/api/checkout/verify', { orderId: a.orderId });
      expect(v.body).toEqual({ orderId: a.orderId, status: 'paid' });
      expect((await order(h, a.orderId)).confirmedVia).toBe('frontend');
      // b's buyer closed the browser and its webhook was lost: the events API still has it.
      const summary = await reconcile(h.settle.ctx);
      expect(summary.errors).toEqual([]);
      expect(summary.eventsApplied).toBeGreaterThan(0);
      await h.settleDown();
      expect(await order(h, b.orderId)).toMatchObject({ status: 'paid', confirmedVia: 'reconcile' });
      expect(await fulfilments(h, a.orderId)).toBe(1);
      expect(await fulfilments(h, b.orderId)).toBe(1);
      // A second reconciliation changes nothing.
      const again = await reconcile(h.settle.ctx);
      expect(again.eventsApplied).toBe(0);
    });
  }

  it('both paths at once, 100 concurrent duplicate deliveries plus concurrent verifies → one fulfilment', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct' });
    h.settle.emulator!.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    const events = await h.stripe.events.list(
      { type: 'checkout.session.completed' },
      { stripeAccount: m.accountId },
    );
    const event = events.data[0]!;
    const payload = JSON.stringify(event);
    const secret = h.settle.webhookSecrets!.connect[0]!;
    const deliver = () => {
      const header = h.stripe.webhooks.generateTestHeaderString({ payload, secret });
      return fetch(`${h.settle.url}/webhooks/stripe/connect`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': header },
        body: payload,
      });
    };
    const verify = () => h.api('POST', '/api/checkout/verify', { orderId: c.orderId });
    const results = await Promise.all([
      ...Array.from({ length: 100 }, deliver),
      ...Array.from({ length: 20 }, verify),
    ]);
    const statuses = results.map((r) => ('status' in r && typeof r.status === 'number' ? r.status : 0));
    expect(statuses.every((s) => s === 200)).toBe(true);
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    expect(await fulfilments(h, c.orderId)).toBe(1);
    const inbox = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select('id')
      .where('event_id', '=', event.id)
      .execute();
    expect(inbox).toHaveLength(1);
    const paidTransitions = (await order(h, c.orderId)).history.filter((x) => x.to === 'paid');
    expect(paidTransitions).toHaveLength(1);
  });

  it('duplicated and reordered deliveries from Stripe still give one fulfilment', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination' });
    h.settle.emulator!.faults.set({
      webhookDuplicates: 3,
      webhookReorder: { windowMs: 200, mode: 'reverse' },
    });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    expect(await fulfilments(h, c.orderId)).toBe(1);
  });

  it('a Direct Charge checkout is confirmed by the Connect endpoint, never by the platform endpoint', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct' });
    const c = await checkout(h, m.slotId);
    // Connect endpoint down: the platform endpoint receives nothing for a Direct Charge session.
    h.settle.emulator!.faults.set({
      endpointFailures: [{ endpoint: `${h.settle.url}/webhooks/stripe/connect`, mode: 'skip' }],
    });
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('pending');
    const platformDeliveries = h.settle.emulator!.deliveries.filter(
      (d) => d.url.endsWith('/webhooks/stripe') && d.type === 'checkout.session.completed',
    );
    expect(platformDeliveries).toEqual([]);
    // A forged "platform" copy of the event (no account) signed with the platform secret does not confirm it either.
    const [ev] = (
      await h.stripe.events.list({ type: 'checkout.session.completed' }, { stripeAccount: m.accountId })
    ).data;
    const copy = JSON.stringify({ ...ev, account: undefined, id: `${ev!.id}_copy` });
    const header = h.stripe.webhooks.generateTestHeaderString({
      payload: copy,
      secret: h.settle.webhookSecrets!.platform[0]!,
    });
    const r = await fetch(`${h.settle.url}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      body: copy,
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { outcome: string }).outcome).toBe('ignored');
    expect((await order(h, c.orderId)).status).toBe('pending');
    // The Connect endpoint comes back; the event is read from the seller's account (as Stripe's retry would
    // deliver it) and it is the Connect copy that confirms the order.
    h.settle.emulator!.faults.reset();
    const summary = await reconcile(h.settle.ctx);
    expect(summary.errors).toEqual([]);
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    const rows = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select(['endpoint', 'account', 'status'])
      .where('event_id', '=', ev!.id)
      .execute();
    expect(rows).toEqual([{ endpoint: 'connect', account: m.accountId, status: 'processed' }]);
  });

  for (const zeroStatus of ['no_payment_required', 'paid'] as const) {
    it(`100% promotion code entered through Settle, the session reporting payment_status '${zeroStatus}', confirms with no payment and no fee`, async () => {
      h = await startHarness(backend);
      h.settle.emulator!.setZeroAmountPaymentStatus(zeroStatus);
      const m = await setupMarket(h, { chargeType: 'direct' });
      const free = await checkout(h, m.slotId, { promotionCode: 'FREE100' });
      // The same code typed on Stripe's page instead is refused: codes are entered on Settle's page only.
      const plain = await checkout(h, m.slotId);
      expect(
        (await h.settle.emulator!.paySession(plain.sessionId, { promotion_code: 'FREE100' })).status,
      ).toBe(400);
      expect((await h.settle.emulator!.paySession(free.sessionId, {})).status).toBe(303);
      await h.settleDown();
      expect(await order(h, free.orderId)).toMatchObject({
        status: 'paid',
        total: 0,
        platformFee: 0,
        providerPaymentId: null,
        promotionCode: 'FREE100',
      });
      expect(await fulfilments(h, free.orderId)).toBe(1);
      expect(await order(h, plain.orderId)).toMatchObject({ status: 'pending', total: 5000 });
    });
  }

  it('an unpaid (delayed) session is never confirmed until the payment succeeds; failure releases the place', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 2 });
    const ok = await checkout(h, m.slotId);
    const ko = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(ok.sessionId, { payment_method: 'delayed' });
    await h.settle.emulator!.paySession(ko.sessionId, { payment_method: 'delayed' });
    await h.settleDown();
    expect((await order(h, ok.orderId)).status).toBe('processing');
    expect((await h.api('POST', '/api/checkout/verify', { orderId: ok.orderId })).body).toMatchObject({
      status: 'processing',
    });
    expect(await fulfilments(h, ok.orderId)).toBe(0);
    await h.settle.emulator!.completeDelayedPayment(ok.sessionId, 'succeeded');
    await h.settle.emulator!.completeDelayedPayment(ko.sessionId, 'failed');
    await h.settleDown();
    expect((await order(h, ok.orderId)).status).toBe('paid');
    expect((await order(h, ko.orderId)).status).toBe('failed');
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({
      sold: 1,
      held: 0,
      available: 1,
    });
  });

  it('10% promotion code entered through Settle: amounts round half up and the fee is on the discounted price', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', unitAmount: 4999, feeBps: 1000 });
    const a = await checkout(h, m.slotId, { promotionCode: 'tenoff' });
    await h.settle.emulator!.paySession(a.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    // 4999 − round_half_up(499.9) = 4499; fee: 10 % of 4499 = 450.
    expect(await order(h, a.orderId)).toMatchObject({
      status: 'paid',
      subtotal: 4999,
      discount: 500,
      total: 4499,
      platformFee: 450,
      promotionCode: 'TENOFF',
    });
  });

  for (const chargeType of ['direct', 'destination'] as const) {
    it(`${chargeType}: the platform fee follows the discount (10% code, 9 000 order, 10% fee → 810), and the hosted page takes no code`, async () => {
      h = await startHarness(backend);
      const m = await setupMarket(h, { chargeType, unitAmount: 9000, feeBps: 1000 });
      const c = await checkout(h, m.slotId, { promotionCode: 'TENOFF' });
      const stripeOpts = chargeType === 'direct' ? { stripeAccount: m.accountId } : {};
      const session = await h.stripe.checkout.sessions.retrieve(c.sessionId, {}, stripeOpts);
      expect(session).toMatchObject({ amount_total: 8100, allow_promotion_codes: null });
      // Stripe's page offers no code field; a code posted to it anyway is refused and nothing changes.
      expect(await (await fetch(c.checkoutUrl)).text()).not.toContain('name="promotion_code"');
      const typed = await h.settle.emulator!.paySession(c.sessionId, {
        card_number: '4242424242424242',
        promotion_code: 'TENOFF',
      });
      expect(typed.status).toBe(400);
      expect(
        (await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' })).status,
      ).toBe(303);
      await h.settleDown();
      const o = await order(h, c.orderId);
      expect(o).toMatchObject({
        status: 'paid',
        subtotal: 9000,
        discount: 900,
        total: 8100,
        platformFee: 810,
        promotionCode: 'TENOFF',
      });
      const intent = await h.stripe.paymentIntents.retrieve(String(o['providerPaymentId']), {}, stripeOpts);
      expect(intent.amount).toBe(8100);
      expect(intent.application_fee_amount).toBe(810);

      // Without a code at Settle, the buyer cannot reach a discount whose fee Settle did not compute.
      const plain = await checkout(h, m.slotId);
      expect(await (await fetch(plain.checkoutUrl)).text()).not.toContain('name="promotion_code"');
      expect(
        (
          await h.settle.emulator!.paySession(plain.sessionId, {
            card_number: '4242424242424242',
            promotion_code: 'TENOFF',
          })
        ).status,
      ).toBe(400);
      expect(await order(h, plain.orderId)).toMatchObject({
        status: 'pending',
        total: 9000,
        platformFee: 900,
      });
    });
  }

  it('a declined card leaves the order pending and the place held; expiry releases it', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct', capacity: 1 });
    const c = await checkout(h, m.slotId);
    const declined = await h.settle.emulator!.paySession(c.sessionId, { card_number: '4000000000000002' });
    expect(declined.status).toBe(402);
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('pending');
    expect((await h.api('POST', '/api/checkout', { slotId: m.slotId, quantity: 1 })).body).toMatchObject({
      error: { code: 'slot_unavailable' },
    });
    await h.settle.emulator!.expireSession(c.sessionId);
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('expired');
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ held: 0, available: 1 });
  });

  it('cancel on the return path releases the hold; a seller who cannot take charges gets 409', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct', capacity: 1 });
    const c = await checkout(h, m.slotId);
    expect((await h.api('POST', '/api/checkout/cancel', { orderId: c.orderId })).body).toEqual({
      orderId: c.orderId,
      status: 'canceled',
    });
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ available: 1 });
    const pending = await h.admin<{ id: string }>('POST', '/api/sellers', {
      name: 'New',
      email: 'new@example.test',
      chargeType: 'direct',
    });
    const l = await h.admin<{ id: string }>('POST', '/api/listings', {
      sellerId: pending.body.id,
      title: 'x',
      currency: 'usd',
      unitAmount: 100,
    });
    const s = await h.admin<{ id: string }>('POST', `/api/listings/${l.body.id}/slots`, {
      startsAt: new Date(Date.now() + 86_400_000).toISOString(),
      capacity: 3,
    });
    const r = await h.api('POST', '/api/checkout', { slotId: s.body.id, quantity: 1 });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: { code: 'seller_not_ready' } });
  });

  it('checkout honours Idempotency-Key and ignores client prices', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct' });
    const body = { slotId: m.slotId, quantity: 1 };
    // A key with enough entropy to be unguessable, as the embeddable client sends.
    const key = randomUUID();
    const [a, b] = await Promise.all([
      h.api<{ orderId: string }>('POST', '/api/checkout', body, { 'idempotency-key': key }),
      h.api<{ orderId: string }>('POST', '/api/checkout', body, { 'idempotency-key': key }),
    ]);
    const statuses = [a.status, b.status].sort();
    // One order; the twin either waits its turn (409 in flight) or replays the same answer.
    expect(statuses[0]).toBe(201);
    if (statuses[1] === 201) expect(a.body.orderId).toBe(b.body.orderId);
    else expect(statuses[1]).toBe(409);
    const replay = await h.api<{ orderId: string }>('POST', '/api/checkout', body, {
      'idempotency-key': key,
    });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const orders = await h.settle.ctx.db.selectFrom('orders').select('id').execute();
    expect(orders).toHaveLength(1);
    expect(
      (await h.api('POST', '/api/checkout', { ...body, quantity: 2 }, { 'idempotency-key': key })).status,
    ).toBe(422);
    const tampered = await h.api('POST', '/api/checkout', { ...body, amount: 1, currency: 'usd' });
    expect(tampered.status).toBe(400);
    expect(tampered.body).toMatchObject({ error: { code: 'validation_failed' } });
  });

  it('a Stripe outage during checkout: retried with the same key, or 503 with Retry-After and the place released', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 1 });
    const emu = h.settle.emulator!;
    // One 500: the SDK retries with the same Idempotency-Key and the buyer never notices.
    emu.faults.set({ api5xx: { next: 1, path: '/v1/checkout/sessions', method: 'POST', status: 500 } });
    const ok = await h.api<{ orderId: string }>('POST', '/api/checkout', { slotId: m.slotId, quantity: 1 });
    expect(ok.status).toBe(201);
    const creates = emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions');
    expect(creates).toHaveLength(2);
    expect(creates[0]!.idempotencyKey).toBe(`checkout:${ok.body.orderId}`);
    expect(creates[1]!.idempotencyKey).toBe(creates[0]!.idempotencyKey);
    await h.api('POST', '/api/checkout/cancel', { orderId: ok.body.orderId });
    // Stripe down for longer than the retries: a clear 503, nothing half-created, the place free again.
    emu.faults.set({ api5xx: { next: 10, path: '/v1/checkout/sessions', method: 'POST', status: 503 } });
    const down = await h.api('POST', '/api/checkout', { slotId: m.slotId, quantity: 1 });
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ error: { code: 'provider_unavailable' } });
    expect(down.headers.get('retry-after')).toBe('5');
    expect(JSON.stringify(down.body)).not.toContain('sk_test');
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ held: 0, available: 1 });
    emu.faults.reset();
    expect((await h.api('POST', '/api/checkout', { slotId: m.slotId, quantity: 1 })).status).toBe(201);
  });

  it('a promotion code that already exists at Stripe with another discount is refused, and Settle’s copy is unchanged', async () => {
    h = await startHarness(backend);
    await setupMarket(h, { chargeType: 'direct' });
    const r = await h.admin('POST', '/api/admin/promotion-codes', { code: 'TENOFF', percentOff: 20 });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: { code: 'promotion_code_invalid' } });
    const codes = await h.admin<{ promotionCodes: { code: string; percentOff: number }[] }>(
      'GET',
      '/api/admin/promotion-codes',
    );
    expect(codes.body.promotionCodes.find((p) => p.code === 'TENOFF')?.percentOff).toBe(10);
    // Offering the same code again with the same discount is idempotent.
    expect(
      (await h.admin('POST', '/api/admin/promotion-codes', { code: 'tenoff', percentOff: 10 })).status,
    ).toBe(201);
    expect((await h.admin('POST', '/api/admin/promotion-codes', { code: 'X', percentOff: 10 })).status).toBe(
      400,
    );
  });
});
