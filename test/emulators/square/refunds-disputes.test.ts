import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLink,
  refused,
  startHarness,
  startReceiver,
  type Harness,
  type Receiver,
  type Seller,
} from './helpers.js';

describe('Square emulator: refunds and disputes', () => {
  let h: Harness;
  let seller: Seller;
  let hook: Receiver;
  let paymentId: string;
  let orderId: string;
  beforeEach(async () => {
    // refundDelayMs 60 000 at timeScale 0.001 = 60 ms of real time; tests also move the clock.
    h = await startHarness({ refundDelayMs: 60_000, clockMode: 'manual' });
    seller = await h.connect();
    hook = await startReceiver();
    await h.app.webhooks.subscriptions.create({
      subscription: {
        notificationUrl: hook.url,
        eventTypes: [
          'refund.created',
          'refund.updated',
          'payment.updated',
          'dispute.created',
          'dispute.state.updated',
        ],
      },
    });
    const link = await createLink(seller, { amount: 10_000, fee: 1_000 });
    orderId = link.orderId;
    paymentId = (await h.emu.payLink(link.linkId)).paymentId;
    await h.emu.idle();
    hook.ok.length = 0;
  });
  afterEach(async () => {
    await h.close();
    await hook.close();
  });

  const refund = (
    key: string,
    amount: number,
    fee?: number,
  ): ReturnType<Seller['client']['refunds']['refundPayment']> =>
    seller.client.refunds.refundPayment({
      idempotencyKey: key,
      paymentId,
      amountMoney: { amount: BigInt(amount), currency: 'USD' },
      ...(fee !== undefined ? { appFeeMoney: { amount: BigInt(fee), currency: 'USD' } } : {}),
      reason: 'Class canceled',
    });

  it('a partial refund is PENDING, then COMPLETED on the clock; the payment shows refund_ids and refunded_money', async () => {
    const r = (await refund('rf-1', 4_000, 400)).refund;
    expect(r).toMatchObject({
      status: 'PENDING',
      paymentId,
      orderId,
      locationId: seller.locationId,
      amountMoney: { amount: 4000n, currency: 'USD' },
      appFeeMoney: { amount: 400n, currency: 'USD' },
      reason: 'Class canceled',
    });
    expect(r?.id?.startsWith(`${paymentId}_`)).toBe(true);
    let p = (await seller.client.payments.get({ paymentId })).payment;
    expect(p?.refundIds).toEqual([r?.id]);
    expect(p?.refundedMoney).toBeUndefined();
    h.emu.clock.advance(60_000);
    expect((await seller.client.refunds.get({ refundId: r?.id ?? '' })).refund?.status).toBe('COMPLETED');
    p = (await seller.client.payments.get({ paymentId })).payment;
    expect(p?.refundedMoney).toEqual({ amount: 4000n, currency: 'USD' });
    expect(p?.status).toBe('COMPLETED');
    await h.emu.idle();
    expect(hook.types()).toEqual(['refund.created', 'payment.updated', 'refund.updated', 'payment.updated']);
    expect(hook.ok[2]?.event.data).toMatchObject({
      type: 'refund',
      id: r?.id,
      object: { refund: { status: 'COMPLETED' } },
    });
    const listed = await seller.client.refunds.list({});
    expect(listed.data.map((x) => x.id)).toEqual([r?.id]);
  });

  it('refunds above what remains (pending ones count) are refused with REFUND_AMOUNT_INVALID', async () => {
    await refund('a', 6_000);
    expect(await refused(refund('b', 4_001))).toMatchObject({
      status: 400,
      category: 'INVALID_REQUEST_ERROR',
      code: 'REFUND_AMOUNT_INVALID',
      field: 'amount_money.amount',
    });
    await refund('c', 4_000);
    expect(await refused(refund('d', 1))).toMatchObject({ code: 'REFUND_AMOUNT_INVALID' });
  });

  it('the app fee refunded: at most the refund and what remains of the payment’s fee', async () => {
    expect(await refused(refund('a', 500, 600))).toMatchObject({
      status: 400,
      code: 'VALUE_TOO_HIGH',
      field: 'app_fee_money.amount',
    });
    await refund('b', 8_000, 800);
    expect(await refused(refund('c', 2_000, 201))).toMatchObject({ status: 400, code: 'VALUE_TOO_HIGH' });
    await refund('d', 2_000, 200);
  });

  it('an app fee refund needs PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS and a payment that took a fee', async () => {
    const noFee = await createLink(seller, { amount: 3_000 });
    const p2 = (await h.emu.payLink(noFee.linkId)).paymentId;
    const err = await refused(
      seller.client.refunds.refundPayment({
        idempotencyKey: 'x',
        paymentId: p2,
        amountMoney: { amount: 100n, currency: 'USD' },
        appFeeMoney: { amount: 10n, currency: 'USD' },
      }),
    );
    expect(err).toMatchObject({ status: 400, code: 'INVALID_FEES' });
  });

  it('refund idempotency: replayed for the same request, IDEMPOTENCY_KEY_REUSED for another', async () => {
    const a = (await refund('same', 1_000)).refund;
    const b = (await refund('same', 1_000)).refund;
    expect(b?.id).toBe(a?.id);
    expect((await seller.client.refunds.list({})).data).toHaveLength(1);
    expect(await refused(refund('same', 1_001))).toMatchObject({
      status: 400,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
  });

  it('refunds are refused for pending and failed payments, in another currency, and with a stale version token', async () => {
    const link = await createLink(seller, { amount: 3_000 });
    const pending = (await h.emu.payLink(link.linkId, 'pending')).paymentId;
    const tryRefund = (id: string, currency = 'USD', version?: string): Promise<unknown> =>
      seller.client.refunds.refundPayment({
        idempotencyKey: `k-${Math.random()}`,
        paymentId: id,
        amountMoney: { amount: 100n, currency: currency as 'USD' },
        ...(version !== undefined ? { paymentVersionToken: version } : {}),
      });
    expect(await refused(tryRefund(pending))).toMatchObject({ status: 400, code: 'PAYMENT_NOT_REFUNDABLE' });
    expect(await refused(tryRefund(paymentId, 'EUR'))).toMatchObject({ code: 'CURRENCY_MISMATCH' });
    const token = (await seller.client.payments.get({ paymentId })).payment?.versionToken ?? '';
    await tryRefund(paymentId, 'USD', token);
    expect(await refused(tryRefund(paymentId, 'USD', token))).toMatchObject({ code: 'VERSION_MISMATCH' });
    expect(await refused(tryRefund('nope'))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('a pending refund can be completed (or fail) by the control route before the clock does it', async () => {
    const r = (await refund('x', 1_000)).refund;
    await h.emu.completePendingRefund(r?.id ?? '', 'FAILED');
    expect((await seller.client.refunds.get({ refundId: r?.id ?? '' })).refund?.status).toBe('FAILED');
    // A failed refund gives its amount back.
    await refund('y', 10_000);
  });

  it('a dispute opens (dispute.created), blocks refunds, and is resolved WON or LOST (dispute.state.updated)', async () => {
    const { disputeId } = await h.emu.openDispute(paymentId);
    const d = (await seller.client.disputes.get({ disputeId })).dispute;
    expect(d).toMatchObject({
      id: disputeId,
      state: 'EVIDENCE_REQUIRED',
      reason: 'NO_KNOWLEDGE',
      amountMoney: { amount: 10_000n, currency: 'USD' },
      disputedPayment: { paymentId },
      locationId: seller.locationId,
      version: 1,
    });
    expect(await refused(refund('during', 100))).toMatchObject({
      status: 400,
      code: 'PAYMENT_NOT_REFUNDABLE_DUE_TO_DISPUTE',
    });
    const listed = await seller.client.disputes.list({ states: 'EVIDENCE_REQUIRED' });
    expect(listed.data.map((x) => x.id)).toEqual([disputeId]);
    await h.emu.resolveDispute(disputeId, 'LOST');
    const after = (await seller.client.disputes.get({ disputeId })).dispute;
    expect(after).toMatchObject({ state: 'LOST', version: 2 });
    expect((await seller.client.disputes.list({ states: 'EVIDENCE_REQUIRED' })).data).toEqual([]);
    await h.emu.idle();
    expect(hook.types()).toEqual(['dispute.created', 'dispute.state.updated']);
    const created = hook.ok[0]?.event as unknown as Record<string, unknown>;
    expect(created['location_id']).toBe(seller.locationId);
    expect(hook.ok[0]?.event.data).toMatchObject({
      type: 'dispute',
      id: disputeId,
      object: { object: { state: 'EVIDENCE_REQUIRED' } },
    });
    expect(hook.ok[1]?.event.data).toMatchObject({ object: { object: { state: 'LOST' } } });
    const second = await h.emu.openDispute(paymentId, { amount: 500 });
    await h.emu.resolveDispute(second.disputeId, 'WON');
    expect((await seller.client.disputes.get({ disputeId: second.disputeId })).dispute?.state).toBe('WON');
  });

  it('disputes through the control routes', async () => {
    const res = await fetch(`${h.emu.url}/_emulator/payments/${paymentId}/dispute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'NOT_RECEIVED' }),
    });
    const body = (await res.json()) as { dispute: { id: string; reason: string } };
    expect(body.dispute.reason).toBe('NOT_RECEIVED');
    const resolve = await fetch(`${h.emu.url}/_emulator/disputes/${body.dispute.id}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'WON' }),
    });
    expect(((await resolve.json()) as { dispute: { state: string } }).dispute.state).toBe('WON');
    const again = await fetch(`${h.emu.url}/_emulator/disputes/${body.dispute.id}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'LOST' }),
    });
    expect(again.status).toBe(400);
  });
});
