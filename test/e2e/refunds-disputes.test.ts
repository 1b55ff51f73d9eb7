import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/db.js';
import { checkout, lapseHold, order, setupMarket, startHarness, type Harness } from '../helpers/settle.js';

describe.each(BACKENDS)('refunds, disputes and oversold orders end to end (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  async function paidOrder(
    chargeType: 'direct' | 'destination',
    unitAmount = 10_000,
    card = '4242424242424242',
  ) {
    const m = await setupMarket(h, { chargeType, unitAmount, feeBps: 1000 });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: card });
    await h.settleDown();
    const o = await order(h, c.orderId);
    expect(o.status).toBe('paid');
    return { m, c, o };
  }

  for (const chargeType of ['direct', 'destination'] as const) {
    it(`${chargeType}: partial then full refund; the fee is returned and (destination) the transfer reversed`, async () => {
      h = await startHarness(backend);
      const { m, c, o } = await paidOrder(chargeType);
      const part = await h.admin<{ refundId: string; status: string; amount: number }>(
        'POST',
        `/api/admin/orders/${c.orderId}/refunds`,
        { amount: 3000 },
        { 'idempotency-key': 'r1' },
      );
      expect(part.status).toBe(201);
      expect(part.body).toMatchObject({ amount: 3000, status: 'succeeded' });
      // Same key again: the same refund, not a second one.
      const again = await h.admin<{ refundId: string }>(
        'POST',
        `/api/admin/orders/${c.orderId}/refunds`,
        { amount: 3000 },
        { 'idempotency-key': 'r1' },
      );
      expect(again.body.refundId).toBe(part.body.refundId);
      const rest = await h.admin<{ amount: number; status: string }>(
        'POST',
        `/api/admin/orders/${c.orderId}/refunds`,
        {},
      );
      expect(rest.body).toMatchObject({ amount: 7000, status: 'succeeded' });
      await h.settleDown();
      const after = await order(h, c.orderId);
      expect(after).toMatchObject({ status: 'refunded', refundedAmount: 10_000 });
      expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 0 });
      const pi = String(o['providerPaymentId']);
      const opts = chargeType === 'direct' ? { stripeAccount: m.accountId } : {};
      const intent = await h.stripe.paymentIntents.retrieve(pi, {}, opts);
      const charge = await h.stripe.charges.retrieve(String(intent.latest_charge), {}, opts);
      expect(charge.amount_refunded).toBe(10_000);
      const fees = await h.stripe.applicationFees.list({ limit: 10 });
      const fee = fees.data.find(
        (f) => (typeof f.charge === 'string' ? f.charge : f.charge.id) === charge.id,
      );
      expect(fee?.amount_refunded).toBe(1000);
      if (chargeType === 'destination') {
        const transfer = await h.stripe.transfers.retrieve(String(charge.transfer));
        expect(transfer.amount).toBe(10_000); // the full amount; the fee is collected back from the seller
        expect(transfer.amount_reversed).toBe(10_000);
      }
      // Nothing left to refund.
      const over = await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, { amount: 1 });
      expect(over.status).toBe(409);
    });
  }

  it('20 concurrent refunds of 10 % each: exactly 10 succeed and the total never exceeds the payment', async () => {
    h = await startHarness(backend);
    const { c } = await paidOrder('destination', 10_000);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.admin<{ status: string; error?: { code: string } }>(
          'POST',
          `/api/admin/orders/${c.orderId}/refunds`,
          { amount: 1000 },
          { 'idempotency-key': `conc-${i}` },
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(10);
    expect(refused.every((r) => r.body.error?.code === 'refund_exceeds_payment')).toBe(true);
    await h.settleDown();
    const o = await order(h, c.orderId);
    expect(o).toMatchObject({ status: 'refunded', refundedAmount: 10_000 });
    const refunds = await h.stripe.refunds.list({ limit: 100 });
    expect(refunds.data.reduce((s, r) => s + r.amount, 0)).toBe(10_000);
  });

  it('refunds need the operator token, and a 100 %-off order has nothing to refund', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct' });
    const c = await checkout(h, m.slotId, { promotionCode: 'FREE100' });
    await h.settle.emulator!.paySession(c.sessionId, {});
    await h.settleDown();
    const anon = await h.api('POST', `/api/admin/orders/${c.orderId}/refunds`, {});
    expect(anon.status).toBe(401);
    const wrong = await h.api(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      {},
      { authorization: 'Bearer not-the-token-at-all!!' },
    );
    expect(wrong.status).toBe(401);
    expect((await h.api('GET', '/api/admin/orders')).status).toBe(401);
    // Bad operator queries are refused with a reason, not answered with an empty list.
    expect((await h.admin('GET', '/api/admin/orders?status=bogus')).body).toMatchObject({
      error: { code: 'validation_failed' },
    });
    expect((await h.admin('GET', '/api/admin/orders?limit=0')).status).toBe(400);
    expect((await h.admin('GET', '/api/admin/orders?status=paid&limit=5')).status).toBe(200);
    const free = await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, {});
    expect(free.status).toBe(409);
    expect(free.body).toMatchObject({ error: { code: 'order_not_refundable' } });
    expect(await h.settle.ctx.db.selectFrom('refunds').select('id').execute()).toEqual([]);
  });

  for (const outcome of ['won', 'lost'] as const) {
    it(`a disputed payment is recorded, the seller notified, and closing it as ${outcome} is recorded`, async () => {
      h = await startHarness(backend);
      const { c, m } = await paidOrder('direct', 4000, '4000000000000259');
      await h.settleDown();
      const disputes = await h.admin<{
        disputes: { providerDisputeId: string; orderId: string; status: string; outcome: string | null }[];
      }>('GET', '/api/admin/disputes');
      expect(disputes.body.disputes).toHaveLength(1);
      const d = disputes.body.disputes[0]!;
      expect(d).toMatchObject({ orderId: c.orderId, outcome: null });
      expect((await order(h, c.orderId)).disputeStatus).toBe('open');
      const mails = await h.admin<{ notifications: { kind: string }[] }>(
        'GET',
        `/api/admin/notifications?orderId=${c.orderId}`,
      );
      expect(mails.body.notifications.map((n) => n.kind)).toContain('seller_dispute');
      await h.settle.emulator!.closeDispute(d.providerDisputeId, outcome);
      await h.settleDown();
      const closed = (
        await h.admin<{ disputes: { outcome: string | null; status: string }[] }>(
          'GET',
          '/api/admin/disputes',
        )
      ).body.disputes[0]!;
      expect(closed).toMatchObject({ outcome, status: outcome });
      expect((await order(h, c.orderId)).disputeStatus).toBe(outcome);
      expect(m.accountId).toMatch(/^acct_/);
    });
  }

  it('oversold: the buyer who loses the last place is refunded automatically and told so', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 1, unitAmount: 3000 });
    const late = await checkout(h, m.slotId);
    // The late buyer's hold runs out while they are still on the hosted page; someone else takes the place.
    await lapseHold(h, late.orderId);
    const winner = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(winner.sessionId, { card_number: '4242424242424242' });
    await h.settle.emulator!.paySession(late.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    expect((await order(h, winner.orderId)).status).toBe('paid');
    const lost = await order(h, late.orderId);
    expect(lost).toMatchObject({ status: 'refunded', refundedAmount: 3000 });
    expect(lost.history.map((x) => x.to)).toEqual(['pending', 'paid_oversold', 'refunded']);
    expect((await h.api('GET', `/api/orders/${late.orderId}`)).body).toMatchObject({
      status: 'refunded',
      oversold: true,
    });
    expect((await h.api('GET', `/api/orders/${winner.orderId}`)).body).toMatchObject({
      status: 'paid',
      oversold: false,
    });
    const kinds = (
      await h.admin<{ notifications: { kind: string }[] }>(
        'GET',
        `/api/admin/notifications?orderId=${late.orderId}`,
      )
    ).body.notifications.map((n) => n.kind);
    expect(kinds).toEqual(expect.arrayContaining(['buyer_oversold', 'buyer_refund']));
    expect(kinds).not.toContain('booking_confirmed');
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ capacity: 1, sold: 1 });
    const refunds = await h.stripe.refunds.list({ limit: 10 });
    expect(refunds.data.map((r) => r.amount)).toEqual([3000]);
  });

  it('a refund during a Stripe outage stays reserved and pending, then the durable job finishes it with the same key', async () => {
    h = await startHarness(backend);
    const { c } = await paidOrder('destination', 5000);
    h.settle.emulator!.faults.set({ api5xx: { next: 100, path: '/v1/refunds', status: 503 } });
    const r = await h.admin<{ refundId: string; status: string; providerRefundId: string | null }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      { amount: 2000 },
    );
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'pending', providerRefundId: null });
    // The amount is reserved: a second refund cannot take more than what is left.
    expect((await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, { amount: 3001 })).status).toBe(
      409,
    );
    h.settle.emulator!.faults.reset();
    // The queued refund.submit job (normally a minute later) retries with the same idempotency key.
    await h.settle.ctx.db
      .updateTable('jobs')
      .set({ run_at: new Date() })
      .where('kind', '=', 'refund.submit')
      .execute();
    await h.settleDown();
    const o = await order(h, c.orderId);
    const refund = (o['refunds'] as { refundId: string; status: string }[]).find(
      (x) => x.refundId === r.body.refundId,
    );
    expect(refund?.status).toBe('succeeded');
    const keys = h.settle
      .emulator!.requests.filter((q) => q.path === '/v1/refunds' && q.status === 200)
      .map((q) => q.idempotencyKey);
    expect(keys).toEqual([`refund:${r.body.refundId}`]);
    expect((await h.stripe.refunds.list({ limit: 10 })).data.map((x) => x.amount)).toEqual([2000]);
  });
});
