import { afterEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/core/reconcile.js';
import { createPayPalProvider } from '../../src/providers/paypal/index.js';
import { BACKENDS } from '../helpers/db.js';
import { checkout, fulfilments, lapseHold, order, setupMarket } from '../helpers/settle.js';
import {
  captureIdOf,
  captures,
  paypalCheckout,
  setupBoth,
  startPayPalHarness,
  type PayPalHarness,
} from '../providers/paypal/harness.js';

/**
 * PayPal end to end (official SDK, real HTTP, the PayPal emulator signing and delivering webhooks): the buyer
 * approves on PayPal, Settle captures (the return page's verify, the CHECKOUT.ORDER.APPROVED webhook or
 * reconciliation, whichever comes first: one capture), and the one confirmPayment() confirms.
 */
describe.each(BACKENDS)('PayPal checkout (%s PostgreSQL)', (backend) => {
  let h: PayPalHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const start = async () => {
    h = await startPayPalHarness(backend);
    return h;
  };

  it('approve and return: the return page captures and confirms; amount, fee and payee come from PayPal', async () => {
    const h = await start();
    const m = await setupBoth(h, { unitAmount: 4500 });
    // The webhook would race the return page here: hold it back so the frontend path is the one that captures.
    h.paypal.faults.set({
      endpointFailures: [{ endpoint: `${h.settle.url}/webhooks/paypal`, mode: 'skip' }],
    });
    const c = await paypalCheckout(h, m.slotId);
    expect(c.checkoutUrl.startsWith(h.paypal.url)).toBe(true);
    const created = (await h.pp.orders.getOrder({ id: c.paypalOrderId })).result;
    const unit = created.purchaseUnits?.[0];
    expect(unit).toMatchObject({
      customId: c.orderId,
      referenceId: c.orderId,
      amount: { currencyCode: 'USD', value: '45.00' },
      payee: { merchantId: m.merchantId },
      paymentInstruction: { platformFees: [{ amount: { currencyCode: 'USD', value: '4.50' } }] },
    });
    const { redirectUrl } = await h.paypal.approveOrder(c.paypalOrderId);
    // PayPal sends the buyer to Settle's return page for the order (its token and PayerID are never trusted).
    const back = new URL(redirectUrl ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(`${h.settle.url}/checkout/return`);
    expect(back.searchParams.get('order')).toBe(c.orderId);
    expect(back.searchParams.get('session_id')).toBeNull();
    const v = await h.api('POST', '/api/checkout/verify', { orderId: c.orderId });
    expect(v.body).toEqual({ orderId: c.orderId, status: 'paid' });
    h.paypal.faults.reset();
    await h.settleDown();
    const o = await order(h, c.orderId);
    expect(o).toMatchObject({ status: 'paid', confirmedVia: 'frontend', provider: 'paypal', total: 4500 });
    const captureId = await captureIdOf(h, c.paypalOrderId);
    expect(o['providerPaymentId']).toBe(captureId);
    const payment = await h.settle.ctx.db
      .selectFrom('payments')
      .selectAll()
      .where('order_id', '=', c.orderId)
      .executeTakeFirstOrThrow();
    expect(payment).toMatchObject({
      provider: 'paypal',
      amount: 4500,
      currency: 'usd',
      application_fee: 450,
    });
    expect(captures(h, c.paypalOrderId)).toBe(1);
    expect(await fulfilments(h, c.orderId)).toBe(1);
  });

  it('a token PayPal revoked before its expiry is replaced once, and the call goes through', async () => {
    const h = await start();
    const m = await setupBoth(h, { unitAmount: 3000 });
    const c = await paypalCheckout(h, m.slotId);
    expect(h.paypal.revokeAccessTokens()).toBeGreaterThan(0);
    await h.paypal.approveOrder(c.paypalOrderId);
    const tokenCalls = () => h.paypal.requests.filter((r) => r.path === '/v1/oauth2/token').length;
    const before = tokenCalls();
    const v = await h.api('POST', '/api/checkout/verify', { orderId: c.orderId });
    expect(v.body).toEqual({ orderId: c.orderId, status: 'paid' });
    expect(tokenCalls()).toBeGreaterThan(before);
    expect(h.paypal.requests.some((r) => r.status === 401)).toBe(true);
  });

  it('approve and never return: the CHECKOUT.ORDER.APPROVED webhook captures and confirms', async () => {
    const h = await start();
    const m = await setupBoth(h);
    const c = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(c.paypalOrderId);
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', confirmedVia: 'webhook' });
    expect(captures(h, c.paypalOrderId)).toBe(1);
    expect(await fulfilments(h, c.orderId)).toBe(1);
    const inbox = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select(['type', 'status'])
      .where('provider', '=', 'paypal')
      .execute();
    expect(inbox.filter((e) => e.type === 'CHECKOUT.ORDER.APPROVED')).toEqual([
      { type: 'CHECKOUT.ORDER.APPROVED', status: 'processed' },
    ]);
    expect(inbox.some((e) => e.type === 'PAYMENT.CAPTURE.COMPLETED')).toBe(true);
  });

  it('return and webhook at once: one capture at PayPal, one fulfilment', async () => {
    const h = await start();
    const m = await setupBoth(h);
    const c = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(c.paypalOrderId);
    // The webhook is on its way; the buyer's tab (and a second tab) verify at the same moment.
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        h.api<{ status: string }>('POST', '/api/checkout/verify', { orderId: c.orderId }),
      ),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    expect(captures(h, c.paypalOrderId)).toBe(1);
    const captured = (await h.pp.orders.getOrder({ id: c.paypalOrderId })).result;
    expect(captured.purchaseUnits?.[0]?.payments?.captures).toHaveLength(1);
    expect(await fulfilments(h, c.orderId)).toBe(1);
    const bookings = await h.settle.ctx.db
      .selectFrom('jobs')
      .select('id')
      .where('dedupe_key', 'like', `%${c.orderId}%`)
      .where('kind', '=', 'fulfil.booking')
      .execute();
    expect(bookings).toHaveLength(1);
  });

  it('duplicate and reordered webhooks: each event applied once, the order paid once', async () => {
    const h = await start();
    const m = await setupBoth(h, { capacity: 2 });
    h.paypal.faults.set({ webhookDuplicates: 3 });
    const a = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(a.paypalOrderId);
    await h.settleDown();
    expect(await order(h, a.orderId)).toMatchObject({ status: 'paid' });
    // Reversed: the capture's events arrive before the approval that led to them.
    h.paypal.faults.set({ webhookDuplicates: 2, webhookReorder: { windowMs: 400, mode: 'reverse' } });
    const b = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(b.paypalOrderId);
    await h.api('POST', '/api/checkout/verify', { orderId: b.orderId });
    await h.settleDown();
    for (const c of [a, b]) {
      expect((await order(h, c.orderId)).status).toBe('paid');
      expect(captures(h, c.paypalOrderId)).toBe(1);
      expect(await fulfilments(h, c.orderId)).toBe(1);
    }
    const inbox = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select(['event_id', 'status'])
      .where('provider', '=', 'paypal')
      .execute();
    expect(new Set(inbox.map((e) => e.event_id)).size).toBe(inbox.length);
    expect(inbox.every((e) => e.status === 'processed' || e.status === 'ignored')).toBe(true);
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 2 });
  });

  it('pending (e-check) → completed, and pending → denied (the place is released)', async () => {
    const h = await start();
    const m = await setupBoth(h, { capacity: 2 });
    const ok = await paypalCheckout(h, m.slotId);
    const bad = await paypalCheckout(h, m.slotId);
    for (const c of [ok, bad]) {
      await h.paypal.approveOrder(c.paypalOrderId, 'pending');
      const v = await h.api('POST', '/api/checkout/verify', { orderId: c.orderId });
      expect(v.body).toEqual({ orderId: c.orderId, status: 'processing' });
    }
    await h.settleDown();
    expect((await order(h, ok.orderId)).status).toBe('processing');
    await h.paypal.completePendingCapture(await captureIdOf(h, ok.paypalOrderId), 'COMPLETED');
    await h.paypal.completePendingCapture(await captureIdOf(h, bad.paypalOrderId), 'DENIED');
    await h.settleDown();
    expect(await order(h, ok.orderId)).toMatchObject({ status: 'paid' });
    expect(await fulfilments(h, ok.orderId)).toBe(1);
    expect((await order(h, bad.orderId)).status).toBe('failed');
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 1, available: 1 });
  });

  it('a declined capture fails the order, nothing sold; so does an instrument declined at capture', async () => {
    const h = await start();
    const m = await setupBoth(h, { capacity: 1 });
    const c = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(c.paypalOrderId, 'declined');
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('failed');
    const d = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(d.paypalOrderId, 'instrument_declined');
    // PayPal refuses the instrument at capture (422) and puts the order back to awaiting the buyer: whoever
    // captured (this verify or the approval webhook) fails the order; a reader that comes after sees it open.
    const v = await h.api<{ status: string }>('POST', '/api/checkout/verify', { orderId: d.orderId });
    expect(['failed', 'pending']).toContain(v.body.status);
    await h.settleDown();
    expect((await order(h, d.orderId)).status).toBe('failed');
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 0, available: 1 });
  });

  it('partial and concurrent refunds: never above the capture, the platform fee returned in proportion', async () => {
    const h = await start();
    const m = await setupBoth(h, { unitAmount: 10_000 });
    const c = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(c.paypalOrderId);
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    const captureId = await captureIdOf(h, c.paypalOrderId);
    const part = await h.admin<{ refundId: string; status: string; amount: number }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      { amount: 3000 },
      { 'idempotency-key': 'pp-r1' },
    );
    expect(part.status).toBe(201);
    expect(part.body).toMatchObject({ amount: 3000, status: 'succeeded' });
    // 10 concurrent refunds of 10 %: 7 fit in what is left.
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        h.admin<{ status: string; error?: { code: string } }>(
          'POST',
          `/api/admin/orders/${c.orderId}/refunds`,
          { amount: 1000 },
          { 'idempotency-key': `pp-conc-${i}` },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(7);
    expect(
      results.filter((r) => r.status === 409).every((r) => r.body.error?.code === 'refund_exceeds_payment'),
    ).toBe(true);
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 10_000 });
    const capture = (await h.pp.payments.getCapturedPayment({ captureId })).result;
    expect(capture.status).toBe('REFUNDED');
    // Each refund carried Settle's refund id and its share of the 10.00 fee: 3.00 and 7 × 1.00, all of it back.
    const refunds = await h.settle.ctx.db
      .selectFrom('refunds')
      .select(['id', 'provider_refund_id', 'status'])
      .where('order_id', '=', c.orderId)
      .execute();
    expect(refunds).toHaveLength(8);
    let feeBack = 0;
    for (const r of refunds) {
      expect(r.status).toBe('succeeded');
      const at = (await h.pp.payments.getRefund({ refundId: r.provider_refund_id ?? '' })).result;
      expect(at.customId).toBe(r.id);
      feeBack += Math.round(Number(at.sellerPayableBreakdown?.platformFees?.[0]?.amount.value ?? '0') * 100);
    }
    expect(feeBack).toBe(1000);
    const over = await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, { amount: 1 });
    expect(over.status).toBe(409);
  });

  it('a dispute opens on the order and closes lost; the reversal is not taken for a refund of Settle’s', async () => {
    const h = await start();
    const m = await setupBoth(h);
    const c = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(c.paypalOrderId);
    await h.settleDown();
    const captureId = await captureIdOf(h, c.paypalOrderId);
    const { disputeId } = await h.paypal.openDispute(captureId, {
      reason: 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
    });
    await h.settleDown();
    expect((await order(h, c.orderId))['disputeStatus']).toBe('open');
    await h.paypal.resolveDispute(disputeId, 'lost');
    await h.settleDown();
    const o = await order(h, c.orderId);
    expect(o).toMatchObject({ disputeStatus: 'lost', status: 'paid', refundedAmount: 0 });
    const disputes = await h.settle.ctx.db
      .selectFrom('disputes')
      .selectAll()
      .where('order_id', '=', c.orderId)
      .execute();
    expect(disputes).toHaveLength(1);
    expect(disputes[0]).toMatchObject({
      provider: 'paypal',
      provider_dispute_id: disputeId,
      outcome: 'lost',
    });
    const notices = await h.admin<{ notifications: { kind: string }[] }>(
      'GET',
      `/api/admin/notifications?orderId=${c.orderId}`,
    );
    expect(notices.body.notifications.filter((n) => n.kind === 'seller_dispute')).toHaveLength(2); // opened, lost
  });

  it('the last place: a Stripe buyer and a PayPal buyer both pay; one gets it, the other is refunded by its provider', async () => {
    const h = await start();
    const m = await setupBoth(h, { capacity: 1 });
    const stripeBuyer = await checkout(h, m.slotId);
    await lapseHold(h, stripeBuyer.orderId);
    const paypalBuyer = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(paypalBuyer.paypalOrderId);
    await Promise.all([
      h.settle.emulator!.paySession(stripeBuyer.sessionId, { card_number: '4242424242424242' }),
      h.api('POST', '/api/checkout/verify', { orderId: paypalBuyer.orderId }),
    ]);
    await h.settleDown();
    const a = await order(h, stripeBuyer.orderId);
    const b = await order(h, paypalBuyer.orderId);
    expect([a.status, b.status].sort()).toEqual(['paid', 'refunded']);
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 1 });
    // The loser was charged and refunded in full, through its own provider.
    if (b.status === 'refunded') {
      const capture = (await h.pp.payments.getCapturedPayment({ captureId: String(b['providerPaymentId']) }))
        .result;
      expect(capture.status).toBe('REFUNDED');
    } else {
      const refunds = await h.stripe.refunds.list({ payment_intent: String(a['providerPaymentId']) });
      expect(refunds.data.reduce((s, r) => s + r.amount, 0)).toBe(a['total']);
    }
  });

  it('a seller ready on Stripe only cannot be sold through PayPal (409 provider_not_available)', async () => {
    const h = await start();
    const m = await setupMarket(h, { chargeType: 'direct' });
    const r = await h.api<{ error: { code: string; message: string } }>('POST', '/api/checkout', {
      slotId: m.slotId,
      quantity: 1,
      provider: 'paypal',
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('provider_not_available');
    expect(r.body.error.message).toMatch(/paypal/);
    // Connected but not finished onboarding: still refused, with the reason.
    await h.admin('POST', `/api/sellers/${m.sellerId}/providers/paypal`, {});
    const pending = await h.api<{ error: { code: string } }>('POST', '/api/checkout', {
      slotId: m.slotId,
      quantity: 1,
      provider: 'paypal',
    });
    expect(pending.status).toBe(409);
    expect(pending.body.error.code).toBe('seller_not_ready');
    // The default is still Stripe.
    expect((await checkout(h, m.slotId)).orderId).toMatch(/^ord_/);
  });

  it('a price only Stripe can charge (KWD) is listed, sold through Stripe by default and refused through PayPal', async () => {
    const h = await start();
    const m = await setupBoth(h, { unitAmount: 5000 });
    const kwd = await h.admin<{ id: string }>('POST', '/api/listings', {
      sellerId: m.sellerId,
      title: 'Dinar class',
      currency: 'kwd',
      unitAmount: 5000,
    });
    expect(kwd.status).toBe(201);
    const slot = await h.admin<{ id: string }>('POST', `/api/listings/${kwd.body.id}/slots`, {
      startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
      capacity: 5,
    });
    const listings = await h.api<{ listings: { id: string; seller: { providers: string[] } }[] }>(
      'GET',
      '/api/listings',
    );
    expect(listings.body.listings.find((l) => l.id === kwd.body.id)?.seller.providers).toEqual(['stripe']);
    expect(listings.body.listings.find((l) => l.id === m.listingId)?.seller.providers).toEqual([
      'stripe',
      'paypal',
    ]);
    const viaPayPal = await h.api<{ error: { code: string; message: string } }>('POST', '/api/checkout', {
      slotId: slot.body.id,
      quantity: 1,
      provider: 'paypal',
    });
    expect(viaPayPal.status).toBe(400);
    expect(viaPayPal.body.error.message).toMatch(/KWD|kwd/);
    const byDefault = await checkout(h, slot.body.id);
    expect((await order(h, byDefault.orderId)).provider).toBe('stripe');
    // A price none of the seller's providers can charge (KWD 1.005: Stripe needs a last digit of 0) is refused.
    const none = await h.admin<{ error: { code: string } }>('POST', '/api/listings', {
      sellerId: m.sellerId,
      title: 'Odd dinar class',
      currency: 'kwd',
      unitAmount: 1005,
    });
    expect(none.status).toBe(400);
    expect(none.body.error.code).toBe('amount_not_supported');
  });

  it('promotion codes: Settle prices the discount and PayPal is asked for the discounted amount; 100 % off is refused', async () => {
    const h = await start();
    const m = await setupBoth(h, { unitAmount: 5000 });
    const c = await paypalCheckout(h, m.slotId, { promotionCode: 'TENOFF' });
    const at = (await h.pp.orders.getOrder({ id: c.paypalOrderId })).result.purchaseUnits?.[0];
    expect(at?.amount).toMatchObject({ currencyCode: 'USD', value: '45.00' });
    expect(at?.paymentInstruction?.platformFees?.[0]?.amount.value).toBe('4.50');
    await h.paypal.approveOrder(c.paypalOrderId);
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', total: 4500, promotionCode: 'TENOFF' });
    const free = await h.api<{ error: { code: string } }>('POST', '/api/checkout', {
      slotId: m.slotId,
      quantity: 1,
      provider: 'paypal',
      promotionCode: 'FREE100',
    });
    expect(free.status).toBe(400);
    expect(free.body.error.code).toBe('amount_not_supported');
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ held: 0 });
  });

  it('reconciliation: an approved order nobody captured (webhooks lost, buyer gone) is captured and confirmed', async () => {
    const h = await start();
    const m = await setupBoth(h);
    h.paypal.faults.set({
      webhookDrop: {
        types: ['CHECKOUT.ORDER.APPROVED', 'PAYMENT.CAPTURE.COMPLETED', 'CHECKOUT.ORDER.COMPLETED'],
      },
    });
    const c = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(c.paypalOrderId);
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('pending');
    const summary = await reconcile(h.settle.ctx);
    expect(summary.errors).toEqual([]);
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', confirmedVia: 'reconcile' });
    expect(captures(h, c.paypalOrderId)).toBe(1);
    const again = await reconcile(h.settle.ctx);
    expect(again.errors).toEqual([]);
    expect(await fulfilments(h, c.orderId)).toBe(1);
  });

  it('onboarding: consent revoked stops PayPal checkouts for the seller; the buyer cancels on PayPal', async () => {
    const h = await start();
    const m = await setupBoth(h, { capacity: 1 });
    const c = await paypalCheckout(h, m.slotId);
    const { redirectUrl } = await h.paypal.cancelOrder(c.paypalOrderId);
    expect(redirectUrl).toContain(`/checkout/cancel?order=${c.orderId}`);
    const canceled = await h.api('POST', '/api/checkout/cancel', { orderId: c.orderId });
    expect(canceled.body).toMatchObject({ status: 'canceled' });
    await h.paypal.revokeConsent(m.merchantId);
    await h.settleDown();
    const pub = await h.api<{ providers: { provider: string; ready: boolean }[] }>(
      'GET',
      `/api/sellers/${m.sellerId}`,
    );
    expect(pub.body.providers.find((p) => p.provider === 'paypal')?.ready).toBe(false);
    const r = await h.api<{ error: { code: string } }>('POST', '/api/checkout', {
      slotId: m.slotId,
      quantity: 1,
      provider: 'paypal',
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('seller_not_ready');
  });

  it('an order never approved reads as expired once Settle’s hold is over; approved later, it is still captured', async () => {
    const h = await start();
    const m = await setupBoth(h);
    const c = await paypalCheckout(h, m.slotId);
    const account = { accountId: m.merchantId, chargeType: 'destination' as const };
    const later = new Date(Date.now() + (h.settle.ctx.config.holdMinutes + 1) * 60_000);
    const { provider } = createPayPalProvider(h.settle.ctx.config, { now: () => later });
    // PayPal cannot void it: nothing is sent, and the order reads as expired past the hold.
    await provider.expireCheckout(c.paypalOrderId, account);
    expect((await provider.retrieveCheckout(c.paypalOrderId, account)).outcome).toBe('expired');
    expect(captures(h, c.paypalOrderId)).toBe(0);
    // A buyer who approves anyway is captured: money that arrives is confirmed (or refunded if the place is gone).
    await h.paypal.approveOrder(c.paypalOrderId);
    const state = await provider.retrieveCheckout(c.paypalOrderId, account);
    expect(state).toMatchObject({ outcome: 'succeeded', orderId: c.orderId, accountId: m.merchantId });
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    expect(captures(h, c.paypalOrderId)).toBe(1);
  });

  it('PayPal faults: safe calls are retried with the same PayPal-Request-Id, others are not', async () => {
    const h = await start();
    const m = await setupBoth(h);
    h.paypal.faults.set({ api5xx: { next: 1, path: '/v2/checkout/orders', method: 'POST', status: 503 } });
    const c = await paypalCheckout(h, m.slotId);
    const creates = h.paypal.requests.filter((r) => r.method === 'POST' && r.path === '/v2/checkout/orders');
    expect(creates.map((r) => [r.status, r.idempotencyKey])).toEqual([
      [503, `checkout:${c.orderId}`],
      [201, `checkout:${c.orderId}`],
    ]);
    await h.paypal.approveOrder(c.paypalOrderId);
    h.paypal.faults.set({
      api5xx: { next: 1, path: `/v2/checkout/orders/${c.paypalOrderId}/capture`, status: 500 },
    });
    const v = await h.api('POST', '/api/checkout/verify', { orderId: c.orderId });
    expect(v.body).toEqual({ orderId: c.orderId, status: 'paid' });
    const keys = h.paypal.requests
      .filter((r) => r.path === `/v2/checkout/orders/${c.paypalOrderId}/capture`)
      .map((r) => r.idempotencyKey);
    expect(new Set(keys)).toEqual(new Set([`capture:${c.orderId}`]));
    expect(captures(h, c.paypalOrderId)).toBe(1);
    // A partner referral carries no request id: one attempt, and the operator sees PayPal was unavailable.
    h.paypal.faults.set({ api5xx: { next: 1, path: '/v2/customer/partner-referrals', status: 503 } });
    const before = h.paypal.requests.filter((r) => r.path === '/v2/customer/partner-referrals').length;
    const link = await h.admin<{ error: { code: string } }>(
      'POST',
      `/api/sellers/${m.sellerId}/providers/paypal`,
      {},
    );
    expect(link.status).toBe(503);
    expect(link.body.error.code).toBe('provider_unavailable');
    expect(h.paypal.requests.filter((r) => r.path === '/v2/customer/partner-referrals').length).toBe(
      before + 1,
    );
    await h.settleDown();
    expect(await fulfilments(h, c.orderId)).toBe(1);
  });
});
