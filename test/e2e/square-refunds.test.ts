import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/db.js';
import { order } from '../helpers/settle.js';
import {
  sellerSquare,
  setupSquare,
  squareCheckout,
  squareInbox,
  useSquareHarness,
  type SquareHarness,
  type SquareSetup,
} from '../helpers/square.js';

/**
 * Square refunds and disputes (issue 12): refunds go to Square with the seller's token and a share of the app fee
 * in proportion to the amount; Square answers PENDING and the refund.updated webhook completes them; the refunded
 * total never exceeds the payment, even with concurrent requests, and each refund reaches Square once. Disputes show
 * on the order.
 */
describe.each(BACKENDS)('Square refunds and disputes (%s PostgreSQL)', (backend) => {
  // Refunds stay PENDING at Square until a test completes them (or fails them).
  const harness = useSquareHarness(backend, { square: { refundDelayMs: null } });

  /** A paid Square order of `unitAmount` (10 % app fee). */
  const paidOrder = async (h: SquareHarness, m: SquareSetup) => {
    const c = await squareCheckout(h, m.slotId);
    const paid = await h.square.payLink(c.linkId, 'ok');
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    return { ...c, paymentId: paid.paymentId };
  };
  const refundsOf = (h: SquareHarness, orderId: string) =>
    h.settle.ctx.db
      .selectFrom('refunds')
      .selectAll()
      .where('order_id', '=', orderId)
      .orderBy('created_at')
      .execute();
  /**
   * Refund requests of the order's refunds that Square answered by refunding (not replays, not faults); Settle's
   * idempotency key for a refund is `refund:<refund id>`.
   */
  const refundPosts = async (h: SquareHarness, orderId: string) => {
    const keys = new Set((await refundsOf(h, orderId)).map((r) => `refund:${r.id}`));
    return h.square.requests.filter(
      (r) =>
        r.method === 'POST' &&
        r.path === '/v2/refunds' &&
        r.status < 300 &&
        !r.replayed &&
        r.fault === null &&
        keys.has(r.idempotencyKey ?? ''),
    );
  };
  /** Every refund of the order still PENDING at Square completes there now. */
  const completeAll = async (h: SquareHarness, orderId: string) => {
    for (const r of await refundsOf(h, orderId))
      if (r.status === 'pending' && r.provider_refund_id !== null)
        await h.square.completePendingRefund(r.provider_refund_id, 'COMPLETED');
    await h.settleDown();
  };

  it('partial then full: PENDING at Square, completed by refund.updated; the app fee returned in proportion', async () => {
    const h = harness();
    const m = await setupSquare(h, { unitAmount: 10_000, feeBps: 1000 });
    const c = await paidOrder(h, m);
    const part = await h.admin<{ refundId: string; status: string; amount: number }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      { amount: 3000 },
      { 'idempotency-key': 'sq-r1' },
    );
    expect(part.status).toBe(201);
    expect(part.body).toMatchObject({ amount: 3000, status: 'pending' });
    await h.settleDown();
    const [first] = await refundsOf(h, c.orderId);
    expect(first).toMatchObject({ status: 'pending', amount: 3000 });
    const firstId = first?.provider_refund_id ?? '';
    expect(firstId.startsWith(c.paymentId)).toBe(true);
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', refundedAmount: 3000 });
    // The same request again (same key) is the same refund: nothing new at Square.
    const replay = await h.admin<{ refundId: string }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      { amount: 3000 },
      { 'idempotency-key': 'sq-r1' },
    );
    expect(replay.body.refundId).toBe(part.body.refundId);
    expect(await refundPosts(h, c.orderId)).toHaveLength(1);

    await h.square.completePendingRefund(firstId, 'COMPLETED');
    await h.settleDown();
    expect((await refundsOf(h, c.orderId))[0]).toMatchObject({ status: 'succeeded' });
    expect((await squareInbox(h)).filter((e) => e.type === 'refund.updated').length).toBeGreaterThan(0);

    const rest = await h.admin<{ amount: number; status: string }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      undefined,
      { 'idempotency-key': 'sq-r2' },
    );
    expect(rest.status).toBe(201);
    expect(rest.body).toMatchObject({ amount: 7000, status: 'pending' });
    const second = (await refundsOf(h, c.orderId))[1];
    await h.square.completePendingRefund(second?.provider_refund_id ?? '', 'COMPLETED');
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 10_000 });
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 0 });

    const sq = await sellerSquare(h, m.merchantId);
    const at = await Promise.all(
      (await refundsOf(h, c.orderId)).map(
        async (r) => (await sq.refunds.get({ refundId: r.provider_refund_id ?? '' })).refund,
      ),
    );
    expect(at.map((r) => [r?.status, r?.amountMoney?.amount, r?.appFeeMoney?.amount])).toEqual([
      ['COMPLETED', 3000n, 300n],
      ['COMPLETED', 7000n, 700n],
    ]);
    const payment = (await sq.payments.get({ paymentId: c.paymentId })).payment;
    expect(payment?.refundedMoney).toEqual({ amount: 10_000n, currency: 'USD' });
    // Nothing more to refund.
    const over = await h.admin<{ error: { code: string } }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      {
        amount: 1,
      },
    );
    expect(over.status).toBe(409);
    expect(over.body.error.code).toBe('refund_exceeds_payment');
  });

  it('a refund Square fails releases its amount; a refund above the payment is refused before Square is called', async () => {
    const h = harness();
    const m = await setupSquare(h, { unitAmount: 5000 });
    const c = await paidOrder(h, m);
    const over = await h.admin<{ error: { code: string } }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      {
        amount: 5001,
      },
    );
    expect(over.status).toBe(409);
    expect(over.body.error.code).toBe('refund_exceeds_payment');
    expect(await refundPosts(h, c.orderId)).toHaveLength(0);
    const r = await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, { amount: 2000 });
    expect(r.status).toBe(201);
    const [refund] = await refundsOf(h, c.orderId);
    await h.square.completePendingRefund(refund?.provider_refund_id ?? '', 'FAILED');
    await h.settleDown();
    expect((await refundsOf(h, c.orderId))[0]).toMatchObject({ status: 'failed' });
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', refundedAmount: 0 });
    // The whole amount is refundable again.
    const full = await h.admin<{ amount: number }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      undefined,
    );
    expect(full.status).toBe(201);
    expect(full.body.amount).toBe(5000);
  });

  it('a refund the seller made in the Square dashboard first: Square refuses Settle’s larger one, nothing stays reserved', async () => {
    const h = harness();
    const m = await setupSquare(h, { unitAmount: 5000 });
    const c = await paidOrder(h, m);
    const sq = await sellerSquare(h, m.merchantId);
    await sq.refunds.refundPayment({
      idempotencyKey: `dashboard-${c.orderId}`,
      paymentId: c.paymentId,
      amountMoney: { amount: 2000n, currency: 'USD' },
      reason: 'refunded at the counter',
    });
    await h.settleDown();
    // Settle does not know of it: the whole 50.00 looks refundable; Square has only 30.00 left.
    const full = await h.admin<{ error?: { code: string } }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      undefined,
      { 'idempotency-key': `full-${c.orderId}` },
    );
    expect(full.status).toBe(409);
    expect(full.body.error?.code).toBe('refund_exceeds_payment');
    await h.settleDown();
    expect(await refundsOf(h, c.orderId)).toMatchObject([{ amount: 5000, status: 'failed' }]);
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', refundedAmount: 0 });
    // What Square still holds can be refunded.
    const rest = await h.admin<{ amount: number }>('POST', `/api/admin/orders/${c.orderId}/refunds`, {
      amount: 3000,
    });
    expect(rest.status).toBe(201);
    expect(rest.body.amount).toBe(3000);
  });

  it('ten concurrent refunds: never above the payment, each refund at Square once, the fee back in full', async () => {
    const h = harness();
    const m = await setupSquare(h, { unitAmount: 10_000, feeBps: 1000 });
    const c = await paidOrder(h, m);
    const part = await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, { amount: 3000 });
    expect(part.status).toBe(201);
    // Ten operators refund 10.00 each at once, each with their own key: seven fit in what is left.
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        h.admin<{ refundId?: string; error?: { code: string } }>(
          'POST',
          `/api/admin/orders/${c.orderId}/refunds`,
          { amount: 1000 },
          { 'idempotency-key': `sq-conc-${i}` },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(7);
    const refused = results.filter((r) => r.status !== 201);
    expect(refused.map((r) => [r.status, r.body.error?.code])).toEqual(
      Array.from({ length: 3 }, () => [409, 'refund_exceeds_payment']),
    );
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', refundedAmount: 10_000 });
    await completeAll(h, c.orderId);
    expect(await order(h, c.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 10_000 });
    const rows = await refundsOf(h, c.orderId);
    expect(rows).toHaveLength(8);
    expect(rows.every((r) => r.status === 'succeeded')).toBe(true);
    // Each refund reached Square exactly once (one refunding answer per idempotency key, one key per refund).
    const posts = await refundPosts(h, c.orderId);
    expect(posts).toHaveLength(8);
    expect(new Set(posts.map((p) => p.idempotencyKey)).size).toBe(8);
    const sq = await sellerSquare(h, m.merchantId);
    const payment = (await sq.payments.get({ paymentId: c.paymentId })).payment;
    expect(payment?.refundedMoney).toEqual({ amount: 10_000n, currency: 'USD' });
    let fee = 0n;
    for (const r of rows) {
      const at = (await sq.refunds.get({ refundId: r.provider_refund_id ?? '' })).refund;
      expect(at?.status).toBe('COMPLETED');
      expect(at?.amountMoney?.amount).toBe(BigInt(r.amount));
      fee += at?.appFeeMoney?.amount ?? 0n;
    }
    expect(fee).toBe(1000n);
  });

  it('a dispute opens on the order and closes lost; the chargeback is not taken for a refund of Settle’s', async () => {
    const h = harness();
    const m = await setupSquare(h, { unitAmount: 6000 });
    const c = await paidOrder(h, m);
    const { disputeId } = await h.square.openDispute(c.paymentId, { reason: 'NOT_AS_DESCRIBED' });
    await h.settleDown();
    expect((await order(h, c.orderId))['disputeStatus']).toBe('open');
    // Square refuses refunds of a disputed payment: Settle says so and keeps nothing reserved.
    const blocked = await h.admin<{ error: { code: string; message: string } }>(
      'POST',
      `/api/admin/orders/${c.orderId}/refunds`,
      { amount: 1000 },
    );
    expect(blocked.status).toBe(422);
    expect(blocked.body.error.code).toBe('refund_refused');
    expect(blocked.body.error.message).toMatch(/DISPUTE/);
    await h.settleDown();
    expect((await order(h, c.orderId)).refundedAmount).toBe(0);
    const [failed] = await refundsOf(h, c.orderId);
    expect(failed).toMatchObject({ status: 'failed', amount: 1000 });
    expect(failed?.failure_reason).toMatch(/DISPUTE/);
    await h.square.resolveDispute(disputeId, 'LOST');
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({
      disputeStatus: 'lost',
      status: 'paid',
      refundedAmount: 0,
    });
    const disputes = await h.settle.ctx.db
      .selectFrom('disputes')
      .selectAll()
      .where('order_id', '=', c.orderId)
      .execute();
    expect(disputes).toHaveLength(1);
    expect(disputes[0]).toMatchObject({
      provider: 'square',
      provider_dispute_id: disputeId,
      outcome: 'lost',
      amount: 6000,
    });
    const notices = await h.admin<{ notifications: { kind: string }[] }>(
      'GET',
      `/api/admin/notifications?orderId=${c.orderId}`,
    );
    expect(notices.body.notifications.filter((n) => n.kind === 'seller_dispute')).toHaveLength(2);
    const inbox = await squareInbox(h);
    expect(inbox.filter((e) => e.type.startsWith('dispute.')).every((e) => e.status === 'processed')).toBe(
      true,
    );
  });

  it('a dispute won: the order shows won', async () => {
    const h = harness();
    const m = await setupSquare(h, { unitAmount: 2500 });
    const c = await paidOrder(h, m);
    const { disputeId } = await h.square.openDispute(c.paymentId);
    await h.settleDown();
    expect((await order(h, c.orderId))['disputeStatus']).toBe('open');
    await h.square.resolveDispute(disputeId, 'WON');
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ disputeStatus: 'won', status: 'paid' });
  });
});
