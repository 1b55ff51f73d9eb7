import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/db.js';
import { checkout, order, setupMarket, startHarness, type Harness } from '../helpers/settle.js';

/**
 * Currencies whose Stripe units are not ISO 4217 minor units, end to end: Settle's API, the Stripe adapter and the
 * emulator read through the official SDK (`h.stripe`), on both databases. Settle holds ISK in krónur (ISO 4217
 * exponent 0); Stripe's API keeps ISK two-decimal (100 = 1 kr), so a 5 000 kr listing must reach Stripe as 500000.
 */
describe.each(BACKENDS)('currencies with provider rules end to end (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  for (const chargeType of ['direct', 'destination'] as const) {
    it(`${chargeType}: an ISK 5 000 listing is charged 500000 at Stripe; order, fee and refunds round-trip in krónur`, async () => {
      h = await startHarness(backend);
      const m = await setupMarket(h, { chargeType, currency: 'isk', unitAmount: 5000, feeBps: 1000 });
      const stripeOpts = chargeType === 'direct' ? { stripeAccount: m.accountId } : {};
      const c = await checkout(h, m.slotId);

      const session = await h.stripe.checkout.sessions.retrieve(
        c.sessionId,
        { expand: ['line_items'] },
        stripeOpts,
      );
      expect(session.currency).toBe('isk');
      expect(session.line_items?.data[0]?.price?.unit_amount).toBe(500_000);
      expect(session.amount_total).toBe(500_000);
      expect(await (await fetch(c.checkoutUrl)).text()).toContain('ISK 5,000');

      expect(
        (await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' })).status,
      ).toBe(303);
      await h.settleDown();
      const o = await order(h, c.orderId);
      expect(o).toMatchObject({ status: 'paid', currency: 'isk', total: 5000, platformFee: 500 });
      const intent = await h.stripe.paymentIntents.retrieve(String(o['providerPaymentId']), {}, stripeOpts);
      expect(intent).toMatchObject({
        amount: 500_000,
        amount_received: 500_000,
        application_fee_amount: 50_000,
      });

      // A partial refund of 2 000 kr: 200000 at Stripe, 2 000 on the order, and the rest after it.
      const part = await h.admin<{ amount: number; status: string }>(
        'POST',
        `/api/admin/orders/${c.orderId}/refunds`,
        { amount: 2000 },
        { 'idempotency-key': randomUUID() },
      );
      expect(part.status).toBe(201);
      expect(part.body).toMatchObject({ amount: 2000, status: 'succeeded' });
      await h.settleDown();
      expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', refundedAmount: 2000 });
      const refunds = await h.stripe.refunds.list({ payment_intent: intent.id }, stripeOpts);
      expect(refunds.data.map((r) => r.amount)).toEqual([200_000]);

      const rest = await h.admin<{ amount: number; status: string }>(
        'POST',
        `/api/admin/orders/${c.orderId}/refunds`,
        {},
        { 'idempotency-key': randomUUID() },
      );
      expect(rest.body).toMatchObject({ amount: 3000, status: 'succeeded' });
      await h.settleDown();
      expect(await order(h, c.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 5000 });
      const charge = await h.stripe.charges.retrieve(String(intent.latest_charge), {}, stripeOpts);
      expect(charge).toMatchObject({ amount_refunded: 500_000, refunded: true });
      const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
      expect(fee).toMatchObject({ amount: 50_000, amount_refunded: 50_000 });
    });
  }

  it('a KWD unit price Stripe cannot charge (1.005: the last digit must be 0) is refused at listing creation', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', currency: 'kwd', unitAmount: 5000 });
    const refused = await h.admin<{ error: { code: string; message: string } }>('POST', '/api/listings', {
      sellerId: m.sellerId,
      title: 'Dhow cruise',
      currency: 'kwd',
      unitAmount: 1005,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('amount_not_supported');
    expect(refused.body.error.message).toContain('KWD 1.005');
    expect(refused.body.error.message).toContain('KWD 1.000 or KWD 1.010');
    const ok = await h.admin('POST', '/api/listings', {
      sellerId: m.sellerId,
      title: 'Dhow cruise',
      currency: 'kwd',
      unitAmount: 1010,
    });
    expect(ok.status).toBe(201);

    // KWD 5.000 with a 10 % fee: 5000 thousandths at Stripe, fee 500; a partial refund of 1.250 flows.
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    const o = await order(h, c.orderId);
    expect(o).toMatchObject({ status: 'paid', currency: 'kwd', total: 5000, platformFee: 500 });
    const intent = await h.stripe.paymentIntents.retrieve(String(o['providerPaymentId']));
    expect(intent).toMatchObject({ amount: 5000, application_fee_amount: 500 });
    const part = await h.admin(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      { amount: 1250 },
      {
        'idempotency-key': randomUUID(),
      },
    );
    expect(part.body).toMatchObject({ amount: 1250, status: 'succeeded' });
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', refundedAmount: 1250 });
  });
});
