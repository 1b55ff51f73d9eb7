import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  issueOf,
  onboardSeller,
  paidOrder,
  raw,
  sdkError,
  startHarness,
  startReceiver,
  subscribe,
  type Harness,
  type Receiver,
} from './helpers.js';

let h: Harness;
let receiver: Receiver;
let seller: string;
beforeAll(async () => {
  h = await startHarness();
  receiver = await startReceiver();
  await subscribe(h, receiver.url);
  seller = await onboardSeller(h, 'seller-refunds');
});
afterAll(async () => {
  await h.close();
  await receiver.close();
});

describe('refundCapturedPayment', () => {
  it('refunds partially, then the rest without an amount; never above what remains', async () => {
    const { captureId } = await paidOrder(h, { payee: seller, value: '100.00', fee: '10.00' });
    const first = await h.payments.refundCapturedPayment({
      captureId,
      paypalRequestId: `refund-1-${captureId}`,
      prefer: 'return=representation',
      body: { amount: { currencyCode: 'USD', value: '30.00' }, noteToPayer: 'Class cancelled' },
    });
    expect(first.statusCode).toBe(201);
    expect(first.result.status).toBe('COMPLETED');
    expect(first.result.amount).toEqual({ currencyCode: 'USD', value: '30.00' });
    expect(first.result.sellerPayableBreakdown?.totalRefundedAmount?.value).toBe('30.00');
    expect((await h.payments.getCapturedPayment({ captureId })).result.status).toBe('PARTIALLY_REFUNDED');

    const tooMuch = await sdkError(
      h.payments.refundCapturedPayment({
        captureId,
        body: { amount: { currencyCode: 'USD', value: '70.01' } },
      }),
    );
    expect(tooMuch.status).toBe(422);
    expect(issueOf(tooMuch.body)).toBe('REFUND_AMOUNT_EXCEEDED');

    const rest = await h.payments.refundCapturedPayment({
      captureId,
      paypalRequestId: `refund-2-${captureId}`,
      prefer: 'return=representation',
    });
    expect(rest.result.amount?.value).toBe('70.00');
    expect(rest.result.sellerPayableBreakdown?.totalRefundedAmount?.value).toBe('100.00');
    expect((await h.payments.getCapturedPayment({ captureId })).result.status).toBe('REFUNDED');

    const again = await sdkError(h.payments.refundCapturedPayment({ captureId }));
    expect(issueOf(again.body)).toBe('CAPTURE_FULLY_REFUNDED');

    const got = await h.payments.getRefund({ refundId: first.result.id ?? '' });
    expect(got.result.noteToPayer).toBe('Class cancelled');
    expect(got.result.links?.find((l) => l.rel === 'up')?.href).toContain(
      `/v2/payments/captures/${captureId}`,
    );
  });

  it('replays a refund with the same PayPal-Request-Id (one refund)', async () => {
    const { captureId } = await paidOrder(h, { value: '20.00' });
    const body = { amount: { currencyCode: 'USD', value: '5.00' } };
    const a = await h.payments.refundCapturedPayment({
      captureId,
      paypalRequestId: `same-${captureId}`,
      body,
    });
    const b = await h.payments.refundCapturedPayment({
      captureId,
      paypalRequestId: `same-${captureId}`,
      body,
    });
    expect(b.result.id).toBe(a.result.id);
    const cap = await h.payments.getCapturedPayment({ captureId });
    expect(cap.result.status).toBe('PARTIALLY_REFUNDED');
  });

  it('refunds the platform fee only as asked (payment_instruction), up to what remains of it', async () => {
    const { captureId } = await paidOrder(h, { payee: seller, value: '100.00', fee: '10.00' });
    const half = await h.payments.refundCapturedPayment({
      captureId,
      prefer: 'return=representation',
      body: {
        amount: { currencyCode: 'USD', value: '50.00' },
        paymentInstruction: { platformFees: [{ amount: { currencyCode: 'USD', value: '5.00' } }] },
      },
    });
    expect(half.result.sellerPayableBreakdown?.platformFees?.[0]?.amount?.value).toBe('5.00');
    const over = await sdkError(
      h.payments.refundCapturedPayment({
        captureId,
        body: {
          amount: { currencyCode: 'USD', value: '50.00' },
          paymentInstruction: { platformFees: [{ amount: { currencyCode: 'USD', value: '5.01' } }] },
        },
      }),
    );
    expect(issueOf(over.body)).toBe('PLATFORM_FEE_EXCEEDED');
    const noFee = await paidOrder(h, { value: '10.00' });
    const none = await sdkError(
      h.payments.refundCapturedPayment({
        captureId: noFee.captureId,
        body: { paymentInstruction: { platformFees: [{ amount: { currencyCode: 'USD', value: '1.00' } }] } },
      }),
    );
    expect(issueOf(none.body)).toBe('PLATFORM_FEE_EXCEEDED');
  });

  it('refuses refunds of pending and declined captures, other currencies and decimals in JPY', async () => {
    const pending = await paidOrder(h, { buyer: 'pending' });
    expect(
      issueOf((await sdkError(h.payments.refundCapturedPayment({ captureId: pending.captureId }))).body),
    ).toBe('PENDING_CAPTURE');
    const declined = await paidOrder(h, { buyer: 'declined' });
    expect(
      issueOf((await sdkError(h.payments.refundCapturedPayment({ captureId: declined.captureId }))).body),
    ).toBe('REFUND_NOT_ALLOWED');
    const ok = await paidOrder(h);
    const eur = await sdkError(
      h.payments.refundCapturedPayment({
        captureId: ok.captureId,
        body: { amount: { currencyCode: 'EUR', value: '1.00' } },
      }),
    );
    expect(issueOf(eur.body)).toBe('REFUND_CAPTURE_CURRENCY_MISMATCH');
    const yen = await paidOrder(h, { currency: 'JPY', value: '1500' });
    const frac = await sdkError(
      h.payments.refundCapturedPayment({
        captureId: yen.captureId,
        body: { amount: { currencyCode: 'JPY', value: '100.5' } },
      }),
    );
    expect(issueOf(frac.body)).toBe('DECIMALS_NOT_SUPPORTED');
    const unknown = await sdkError(h.payments.refundCapturedPayment({ captureId: 'NOSUCHCAPTURE0000' }));
    expect(unknown.status).toBe(404);
  });

  it('makes PENDING refunds (held from the remainder) that later complete or fail, and FAILED ones', async () => {
    const { captureId } = await paidOrder(h, { value: '30.00' });
    h.emu.setNextRefundStatus('PENDING');
    const pending = await h.payments.refundCapturedPayment({
      captureId,
      prefer: 'return=representation',
      body: { amount: { currencyCode: 'USD', value: '10.00' } },
    });
    expect(pending.result.status).toBe('PENDING');
    expect(pending.result.statusDetails?.reason).toBe('ECHECK');
    const over = await sdkError(
      h.payments.refundCapturedPayment({
        captureId,
        body: { amount: { currencyCode: 'USD', value: '20.01' } },
      }),
    );
    expect(issueOf(over.body)).toBe('REFUND_AMOUNT_EXCEEDED');
    await h.emu.completePendingRefund(pending.result.id ?? '', 'COMPLETED');
    expect((await h.payments.getRefund({ refundId: pending.result.id ?? '' })).result.status).toBe(
      'COMPLETED',
    );
    expect((await h.payments.getCapturedPayment({ captureId })).result.status).toBe('PARTIALLY_REFUNDED');

    h.emu.setNextRefundStatus('PENDING');
    const second = await h.payments.refundCapturedPayment({
      captureId,
      body: { amount: { currencyCode: 'USD', value: '20.00' } },
    });
    const failed = await raw(h.emu.url, 'POST', `/_emulator/refunds/${second.result.id ?? ''}/complete`, {
      body: { outcome: 'FAILED' },
    });
    expect(failed.json['status']).toBe('FAILED');
    await raw(h.emu.url, 'POST', '/_emulator/refunds/next', { body: { status: 'FAILED' } });
    const third = await h.payments.refundCapturedPayment({ captureId });
    expect(third.result.status).toBe('FAILED');
    const fourth = await h.payments.refundCapturedPayment({ captureId, prefer: 'return=representation' });
    expect(fourth.result.amount?.value).toBe('20.00');
    expect(fourth.result.status).toBe('COMPLETED');
    await h.emu.idle();
    const types = receiver.received
      .filter((r) => JSON.stringify(r.event.resource).includes(captureId))
      .map((r) => r.event.event_type)
      .filter((t) => t.startsWith('PAYMENT.REFUND') || t === 'PAYMENT.CAPTURE.REFUNDED');
    expect(types).toEqual([
      'PAYMENT.REFUND.PENDING',
      'PAYMENT.CAPTURE.REFUNDED',
      'PAYMENT.REFUND.PENDING',
      'PAYMENT.REFUND.FAILED',
      'PAYMENT.REFUND.FAILED',
      'PAYMENT.CAPTURE.REFUNDED',
    ]);
  });

  it('sends PAYMENT.CAPTURE.REFUNDED with the refund as resource', async () => {
    const { captureId } = await paidOrder(h, { value: '8.00' });
    const r = await h.payments.refundCapturedPayment({ captureId });
    await h.emu.idle();
    const ev = receiver.received.find(
      (x) => x.event.event_type === 'PAYMENT.CAPTURE.REFUNDED' && x.event.resource['id'] === r.result.id,
    );
    expect(ev?.event['resource_type']).toBe('refund');
    expect(ev?.event.resource['amount']).toEqual({ currency_code: 'USD', value: '8.00' });
  });

  it('refunds with PayPal-Auth-Assertion only for the seller the capture was paid to', async () => {
    const { captureId } = await paidOrder(h, { payee: seller, fee: '1.00' });
    const jwt = (payerId: string): string =>
      `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(
        JSON.stringify({ iss: 'emulator-client-id', payer_id: payerId }),
      ).toString('base64url')}.`;
    const other = await onboardSeller(h, 'seller-other');
    const denied = await sdkError(
      h.payments.refundCapturedPayment({ captureId, paypalAuthAssertion: jwt(other) }),
    );
    expect(denied.status).toBe(403);
    const ok = await h.payments.refundCapturedPayment({ captureId, paypalAuthAssertion: jwt(seller) });
    expect(ok.result.status).toBe('COMPLETED');
    expect(h.emu.requests.at(-1)?.account).toBe(seller);
  });
});

describe('disputes', () => {
  it('opens a dispute (CUSTOMER.DISPUTE.CREATED), refuses partial refunds meanwhile, reverses a lost one', async () => {
    const { captureId, orderId } = await paidOrder(h, { value: '40.00' });
    const { disputeId } = await h.emu.openDispute(captureId);
    const d = await h.http('GET', `/v1/customer/disputes/${disputeId}`);
    expect(d.status).toBe(200);
    expect(d.json['status']).toBe('WAITING_FOR_SELLER_RESPONSE');
    expect(d.json['dispute_amount']).toEqual({ currency_code: 'USD', value: '40.00' });
    const txns = d.json['disputed_transactions'] as Array<Record<string, unknown>>;
    expect(txns[0]?.['seller_transaction_id']).toBe(captureId);

    const partial = await sdkError(
      h.payments.refundCapturedPayment({
        captureId,
        body: { amount: { currencyCode: 'USD', value: '1.00' } },
      }),
    );
    expect(issueOf(partial.body)).toBe('TRANSACTION_DISPUTED');

    await h.emu.escalateDispute(disputeId);
    await h.emu.resolveDispute(disputeId, 'lost');
    await h.emu.idle();
    const cap = await h.payments.getCapturedPayment({ captureId });
    expect(cap.result.status).toBe('REFUNDED');
    const mine = receiver.received
      .filter((r) => JSON.stringify(r.event.resource).includes(captureId))
      .map((r) => r.event.event_type);
    expect(mine).toEqual([
      'PAYMENT.CAPTURE.COMPLETED',
      'CHECKOUT.ORDER.COMPLETED',
      'CUSTOMER.DISPUTE.CREATED',
      'CUSTOMER.DISPUTE.UPDATED',
      'PAYMENT.CAPTURE.REVERSED',
      'CUSTOMER.DISPUTE.RESOLVED',
    ]);
    const resolved = receiver.received.find(
      (r) =>
        r.event.event_type === 'CUSTOMER.DISPUTE.RESOLVED' && r.event.resource['dispute_id'] === disputeId,
    );
    expect(resolved?.event.resource['dispute_outcome']).toMatchObject({
      outcome_code: 'RESOLVED_BUYER_FAVOUR',
    });
    const list = await h.http('GET', `/v1/customer/disputes?disputed_transaction_id=${captureId}`);
    expect((list.json['items'] as unknown[]).length).toBe(1);
    expect(orderId).toBeTruthy();
  });

  it('resolves a won dispute without moving money, over the control route', async () => {
    const { captureId } = await paidOrder(h);
    const opened = await fetch(`${h.emu.url}/_emulator/captures/${captureId}/dispute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'UNAUTHORISED' }),
    });
    const dispute = (await opened.json()) as Record<string, unknown>;
    const res = await fetch(`${h.emu.url}/_emulator/disputes/${String(dispute['dispute_id'])}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'won' }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['dispute_outcome']).toEqual({ outcome_code: 'RESOLVED_SELLER_FAVOUR' });
    expect((await h.payments.getCapturedPayment({ captureId })).result.status).toBe('COMPLETED');
  });
});
