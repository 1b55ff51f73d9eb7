import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { squareClientFor } from '../../../src/emulators/square/index.js';
import type { SquareProvider } from '../../../src/providers/square/index.js';
import { HOLD_MS, checkoutInput, codeOf, startTestbed, type Testbed } from './harness.js';

describe('Square provider: payment-link checkout, outcomes, expiry and refunds (emulator, official SDK)', () => {
  let t: Testbed;
  let merchantId = '';
  let locationId = '';
  beforeAll(async () => {
    t = await startTestbed({ subscribe: false });
    ({ merchantId, locationId } = await t.connect());
  });
  afterAll(async () => {
    await t.close();
  });

  const account = (): { accountId: string; chargeType: 'direct' } => ({
    accountId: merchantId,
    chargeType: 'direct',
  });
  const seller = async (): Promise<ReturnType<typeof squareClientFor>> =>
    squareClientFor(t.emu, (await t.grants.load(merchantId))?.accessToken ?? '');

  it('creates a payment link at the seller’s location with Settle’s order id, app fee and a neutral return URL', async () => {
    const input = checkoutInput(merchantId, {
      unitAmount: 2500,
      quantity: 2,
      customerEmail: 'buyer@example.com',
    });
    const c = await t.provider.createCheckout(input);
    expect(c.url).toMatch(new RegExp(`^${t.emu.url}/u/`));
    expect(c.expiresAt).toEqual(input.expiresAt);
    const client = await seller();
    const link = (await client.checkout.paymentLinks.get({ id: c.sessionId })).paymentLink;
    expect(link?.checkoutOptions?.appFeeMoney).toEqual({ amount: 250n, currency: 'USD' });
    expect(link?.checkoutOptions?.redirectUrl).toBe(`https://settle.example/return?order=${input.orderId}`);
    expect(link?.prePopulatedData?.buyerEmail).toBe('buyer@example.com');
    const order = (await client.orders.get({ orderId: link?.orderId ?? '' })).order;
    expect(order).toMatchObject({ locationId, referenceId: input.orderId, state: 'DRAFT' });
    expect(order?.lineItems?.[0]).toMatchObject({
      name: 'Yoga class',
      quantity: '2',
      basePriceMoney: { amount: 2500n, currency: 'USD' },
    });
    expect(order?.totalMoney).toEqual({ amount: 5000n, currency: 'USD' });
  });

  it('the same idempotency key replays the same link; no fee sends no app_fee_money', async () => {
    const input = checkoutInput(merchantId, { applicationFee: 0 });
    const a = await t.provider.createCheckout(input);
    const b = await t.provider.createCheckout(input);
    expect(b.sessionId).toBe(a.sessionId);
    expect(b.url).toBe(a.url);
    const link = (await (await seller()).checkout.paymentLinks.get({ id: a.sessionId })).paymentLink;
    expect(link?.checkoutOptions?.appFeeMoney).toBeUndefined();
  });

  it('a discounted checkout is one line of the discounted total named with the code', async () => {
    const input = checkoutInput(merchantId, {
      unitAmount: 2000,
      quantity: 3,
      discount: 600,
      promotionCodeProviderId: 'settle:TENOFF',
    });
    const c = await t.provider.createCheckout(input);
    const state = await t.provider.retrieveCheckout(c.sessionId, account());
    expect(state).toMatchObject({ outcome: 'open', amountTotal: 5400, currency: 'usd', applicationFee: 250 });
    const client = await seller();
    const link = (await client.checkout.paymentLinks.get({ id: c.sessionId })).paymentLink;
    const order = (await client.orders.get({ orderId: link?.orderId ?? '' })).order;
    expect(order?.lineItems?.[0]).toMatchObject({ name: 'Yoga class × 3 (TENOFF)', quantity: '1' });
  });

  it('Square 503: unavailable without retries; with the SDK’s retries the same key makes one link', async () => {
    const input = checkoutInput(merchantId);
    t.emu.faults.set({
      api5xx: { path: '/v2/online-checkout/payment-links', method: 'POST', next: 1, status: 503 },
    });
    expect(await codeOf(t.provider.createCheckout(input))).toBe('provider_unavailable');
    const retrying = t.providerWith({ config: { ...t.config, maxNetworkRetries: 2 } });
    t.emu.faults.set({
      api5xx: { path: '/v2/online-checkout/payment-links', method: 'POST', next: 1, status: 503 },
    });
    const a = await retrying.createCheckout(input);
    const b = await t.provider.createCheckout(input);
    expect(b.sessionId).toBe(a.sessionId);
    t.emu.faults.reset();
  });

  it('refuses a fee above 90 % of the payment and a payment of 0 before calling Square', async () => {
    const calls = t.emu.apiCalls.length;
    const fee = checkoutInput(merchantId, { unitAmount: 1000, applicationFee: 901 });
    let error: unknown;
    try {
      await t.provider.createCheckout(fee);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'fee_not_supported', httpStatus: 409 });
    expect((error as Error).message).toMatch(/90%.*901.*1000/);
    // Exactly 90 % is allowed.
    await t.provider.createCheckout(checkoutInput(merchantId, { unitAmount: 1000, applicationFee: 900 }));
    const zero = checkoutInput(merchantId, { unitAmount: 1000, discount: 1000, applicationFee: 0 });
    expect(await codeOf(t.provider.createCheckout(zero))).toBe('amount_not_supported');
    expect(t.emu.apiCalls.length).toBe(calls + 1);
  });

  it('open → paid by card → succeeded with the payment, amount and app fee', async () => {
    const input = checkoutInput(merchantId, { unitAmount: 4200, applicationFee: 420 });
    const c = await t.provider.createCheckout(input);
    expect(await t.provider.retrieveCheckout(c.sessionId, account())).toMatchObject({
      provider: 'square',
      sessionId: c.sessionId,
      orderId: input.orderId,
      accountId: merchantId,
      outcome: 'open',
      paymentId: null,
      amountTotal: 4200,
      applicationFee: 420,
    });
    const paid = await t.emu.payLink(c.sessionId, 'ok');
    expect(await t.provider.retrieveCheckout(c.sessionId, account())).toEqual({
      provider: 'square',
      sessionId: c.sessionId,
      orderId: input.orderId,
      accountId: merchantId,
      outcome: 'succeeded',
      amountTotal: 4200,
      currency: 'usd',
      paymentId: paid.paymentId,
      applicationFee: 420,
      promotionCode: null,
    });
    // A paid link is left alone by expireCheckout.
    await t.provider.expireCheckout(c.sessionId, account());
    expect((await t.provider.retrieveCheckout(c.sessionId, account())).outcome).toBe('succeeded');
  });

  it('bank transfer: pending → processing → completed → succeeded', async () => {
    const c = await t.provider.createCheckout(checkoutInput(merchantId));
    const paid = await t.emu.payLink(c.sessionId, 'pending');
    expect(paid.status).toBe('PENDING');
    expect(await t.provider.retrieveCheckout(c.sessionId, account())).toMatchObject({
      outcome: 'processing',
      paymentId: paid.paymentId,
    });
    await t.emu.completePendingPayment(paid.paymentId, 'COMPLETED');
    expect(await t.provider.retrieveCheckout(c.sessionId, account())).toMatchObject({
      outcome: 'succeeded',
      paymentId: paid.paymentId,
      amountTotal: 2500,
      applicationFee: 250,
    });
  });

  it('a declined card leaves the link open (payable again); paying again succeeds', async () => {
    const c = await t.provider.createCheckout(checkoutInput(merchantId));
    const declined = await t.emu.payLink(c.sessionId, 'declined');
    expect(declined.status).toBe('FAILED');
    expect(await t.provider.retrieveCheckout(c.sessionId, account())).toMatchObject({
      outcome: 'open',
      paymentId: null,
    });
    const ok = await t.emu.payLink(c.sessionId, 'ok');
    expect(await t.provider.retrieveCheckout(c.sessionId, account())).toMatchObject({
      outcome: 'succeeded',
      paymentId: ok.paymentId,
    });
  });

  it('expireCheckout deletes the link (its order canceled) → expired; again: no error', async () => {
    const c = await t.provider.createCheckout(checkoutInput(merchantId));
    await t.provider.expireCheckout(c.sessionId, account());
    expect((await t.provider.retrieveCheckout(c.sessionId, account())).outcome).toBe('expired');
    await t.provider.expireCheckout(c.sessionId, account());
    expect((await t.provider.retrieveCheckout('UNKNOWNLINK00000', account())).outcome).toBe('expired');
  });

  it('an unpaid link older than the hold reads expired, and is deleted so it takes no payment afterwards', async () => {
    const c = await t.provider.createCheckout(checkoutInput(merchantId));
    expect((await t.provider.retrieveCheckout(c.sessionId, account())).outcome).toBe('open');
    const later: SquareProvider = t.providerWith({ now: () => new Date(Date.now() + HOLD_MS + 60_000) });
    expect((await later.retrieveCheckout(c.sessionId, account())).outcome).toBe('expired');
    // Expired for everyone from now on, whatever their clock: the link is gone at Square.
    expect((await t.provider.retrieveCheckout(c.sessionId, account())).outcome).toBe('expired');
    await expect(t.emu.payLink(c.sessionId, 'ok')).rejects.toThrow(/does not exist or was deactivated/);
  });

  it('refunds: partial and the rest with the app fee in proportion; over-refund refused', async () => {
    const input = checkoutInput(merchantId, { unitAmount: 10_000, applicationFee: 1000 });
    const c = await t.provider.createCheckout(input);
    const { paymentId } = await t.emu.payLink(c.sessionId, 'ok');
    const base = {
      account: account(),
      paymentId,
      currency: 'usd',
      orderId: input.orderId,
    };
    const first = await t.provider.refund({
      ...base,
      amount: 3333,
      idempotencyKey: 'refund:r1',
      refundId: 'r1',
    });
    expect(first.status).toBe('pending');
    // Replay (same key, same body): the same refund.
    const replay = await t.provider.refund({
      ...base,
      amount: 3333,
      idempotencyKey: 'refund:r1',
      refundId: 'r1',
    });
    expect(replay.providerRefundId).toBe(first.providerRefundId);
    const client = await seller();
    const r1 = (await client.refunds.get({ refundId: first.providerRefundId })).refund;
    expect(r1?.amountMoney).toEqual({ amount: 3333n, currency: 'USD' });
    expect(r1?.appFeeMoney).toEqual({ amount: 333n, currency: 'USD' });
    expect(r1?.reason).toBe('Refund r1');
    expect(
      await codeOf(
        t.provider.refund({ ...base, amount: 6668, idempotencyKey: 'refund:r2x', refundId: 'r2x' }),
      ),
    ).toBe('refund_exceeds_payment');
    const rest = await t.provider.refund({
      ...base,
      amount: 6667,
      idempotencyKey: 'refund:r2',
      refundId: 'r2',
    });
    const r2 = (await client.refunds.get({ refundId: rest.providerRefundId })).refund;
    expect(r2?.appFeeMoney).toEqual({ amount: 666n, currency: 'USD' });
    await t.emu.completePendingRefund(rest.providerRefundId);
    const again = await t.provider.refund({
      ...base,
      amount: 6667,
      idempotencyKey: 'refund:r2',
      refundId: 'r2',
    });
    expect(again.providerRefundId).toBe(rest.providerRefundId);
  });

  it('a refund of a payment without an app fee sends none; a full refund', async () => {
    const c = await t.provider.createCheckout(checkoutInput(merchantId, { applicationFee: 0 }));
    const { paymentId } = await t.emu.payLink(c.sessionId, 'ok');
    const r = await t.provider.refund({
      account: account(),
      paymentId,
      amount: 2500,
      currency: 'usd',
      idempotencyKey: 'refund:full',
      orderId: 'o',
      refundId: 'full',
    });
    const refund = (await (await seller()).refunds.get({ refundId: r.providerRefundId })).refund;
    expect(refund?.amountMoney).toEqual({ amount: 2500n, currency: 'USD' });
    expect(refund?.appFeeMoney).toBeUndefined();
  });

  it('JPY (zero-decimal) for a Japanese seller: amounts are yen both ways', async () => {
    const jp = await t.connect({ country: 'JP' });
    const input = {
      ...checkoutInput(jp.merchantId, { unitAmount: 3000, applicationFee: 300 }),
      currency: 'jpy',
    };
    const c = await t.provider.createCheckout(input);
    await t.emu.payLink(c.sessionId, 'ok');
    expect(
      await t.provider.retrieveCheckout(c.sessionId, { accountId: jp.merchantId, chargeType: 'direct' }),
    ).toMatchObject({ outcome: 'succeeded', amountTotal: 3000, currency: 'jpy', applicationFee: 300 });
    // The seller's location takes JPY only: a USD checkout is refused as a currency problem.
    expect(
      await codeOf(
        t.provider.createCheckout(checkoutInput(jp.merchantId, { unitAmount: 3000, applicationFee: 0 })),
      ),
    ).toBe('currency_unsupported');
  });
});
