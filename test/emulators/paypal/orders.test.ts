import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckoutPaymentIntent, OrdersController } from '@paypal/paypal-server-sdk';
import { paypalSdkClientFor, startPayPalEmulator } from '../../../src/emulators/paypal/index.js';
import {
  fetchToken,
  issueOf,
  onboardSeller,
  orderBody,
  paidOrder,
  raw,
  sdkError,
  startHarness,
  type Harness,
} from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('OAuth token and bearer checks', () => {
  it('issues a Bearer token for any non-empty client id and secret (Basic auth, client_credentials)', async () => {
    const res = await raw(h.emu.url, 'POST', '/v1/oauth2/token', {
      rawBody: 'grant_type=client_credentials',
      headers: {
        authorization: `Basic ${Buffer.from('any-id:any-secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expect(res.status).toBe(200);
    expect(res.json['token_type']).toBe('Bearer');
    expect(res.json['expires_in']).toBe(32400);
    expect(String(res.json['access_token'])).toMatch(/^A21AA/);
    expect(res.json['app_id']).toMatch(/^APP-/);
  });

  it('refuses a missing or empty secret (invalid_client) and another grant type', async () => {
    const noSecret = await raw(h.emu.url, 'POST', '/v1/oauth2/token', {
      rawBody: 'grant_type=client_credentials',
      headers: {
        authorization: `Basic ${Buffer.from('id:').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expect(noSecret.status).toBe(401);
    expect(noSecret.json).toEqual({
      error: 'invalid_client',
      error_description: 'Client Authentication failed',
    });
    const grant = await raw(h.emu.url, 'POST', '/v1/oauth2/token', {
      rawBody: 'grant_type=password',
      headers: {
        authorization: `Basic ${Buffer.from('id:secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expect(grant.status).toBe(400);
    expect(grant.json['error']).toBe('unsupported_grant_type');
  });

  it('answers 401 without a token (AUTHENTICATION_FAILURE) and with an unknown one (invalid_token)', async () => {
    const none = await raw(h.emu.url, 'GET', '/v2/checkout/orders/ABC');
    expect(none.status).toBe(401);
    expect(none.json['name']).toBe('AUTHENTICATION_FAILURE');
    expect(none.json['debug_id']).toBe(none.headers.get('paypal-debug-id'));
    const bad = await raw(h.emu.url, 'GET', '/v2/checkout/orders/ABC', { token: 'A21AAnotatoken' });
    expect(bad.status).toBe(401);
    expect(bad.json).toEqual({
      error: 'invalid_token',
      error_description: 'Access Token not found in cache',
    });
  });

  it('expires tokens after tokenTtlSeconds (real time, as the SDK computes expiry)', async () => {
    const emu = await startPayPalEmulator({ tokenTtlSeconds: 1 });
    try {
      const token = await fetchToken(emu.url);
      expect((await raw(emu.url, 'GET', '/v1/notifications/webhooks', { token })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100));
      const res = await raw(emu.url, 'GET', '/v1/notifications/webhooks', { token });
      expect(res.status).toBe(401);
      expect(res.json['error']).toBe('invalid_token');
    } finally {
      await emu.close();
    }
  });
});

describe('Orders v2 through the official SDK', () => {
  it('creates an order (payer-action flow), reads it, refuses an unapproved capture, captures after approval', async () => {
    const created = await h.orders.createOrder({
      body: orderBody({ value: '25.00' }),
      paypalRequestId: 'create-flow-1',
      paypalPartnerAttributionId: 'SETTLE_SP_PPCP',
    });
    expect(created.statusCode).toBe(201);
    expect(created.result.status).toBe('PAYER_ACTION_REQUIRED');
    const id = created.result.id ?? '';
    expect(id).toMatch(/^[A-Z0-9]{17}$/);
    const payerAction = created.result.links?.find((l) => l.rel === 'payer-action');
    expect(payerAction?.href).toBe(`${h.emu.url}/checkoutnow?token=${id}`);
    expect(h.emu.inspectOrder(id).partnerAttributionId).toBe('SETTLE_SP_PPCP');

    const got = await h.orders.getOrder({ id });
    expect(got.result.purchaseUnits?.[0]?.amount?.value).toBe('25.00');
    expect(got.result.purchaseUnits?.[0]?.customId).toBe('settle-order-1');
    expect(got.result.intent).toBe('CAPTURE');

    const refused = await sdkError(h.orders.captureOrder({ id, paypalRequestId: `cap-${id}` }));
    expect(refused.status).toBe(422);
    expect(refused.body['name']).toBe('UNPROCESSABLE_ENTITY');
    expect(issueOf(refused.body)).toBe('ORDER_NOT_APPROVED');

    const { redirectUrl } = await h.emu.approveOrder(id);
    const ret = new URL(redirectUrl ?? '');
    expect(`${ret.origin}${ret.pathname}`).toBe('https://settle.example/paypal/return');
    expect(ret.searchParams.get('token')).toBe(id);
    expect(ret.searchParams.get('PayerID')).toMatch(/^[2-9A-HJ-NP-Z]{13}$/);
    expect((await h.orders.getOrder({ id })).result.status).toBe('APPROVED');

    // The same PayPal-Request-Id as the refused attempt: refusals are not recorded, so it now captures.
    const captured = await h.orders.captureOrder({ id, paypalRequestId: `cap-${id}` });
    expect(captured.statusCode).toBe(201);
    expect(captured.result.status).toBe('COMPLETED');
    const capture = captured.result.purchaseUnits?.[0]?.payments?.captures?.[0];
    expect(capture?.status).toBe('COMPLETED');
    expect(capture?.amount).toEqual({ currencyCode: 'USD', value: '25.00' });
    expect(capture?.finalCapture).toBe(true);
    const viaPayments = await h.payments.getCapturedPayment({ captureId: capture?.id ?? '' });
    expect(viaPayments.result.supplementaryData?.relatedIds?.orderId).toBe(id);
    expect(capture?.customId).toBe('settle-order-1');
    const b = capture?.sellerReceivableBreakdown;
    expect(b?.grossAmount?.value).toBe('25.00');
    expect(Number(b?.grossAmount?.value) - Number(b?.paypalFee?.value)).toBeCloseTo(
      Number(b?.netAmount?.value),
      2,
    );
    expect(captured.result.payer?.payerId).toBe(ret.searchParams.get('PayerID'));
  });

  it('answers ORDER_ALREADY_CAPTURED for a second capture with a new PayPal-Request-Id', async () => {
    const { orderId } = await paidOrder(h);
    const again = await sdkError(h.orders.captureOrder({ id: orderId, paypalRequestId: 'another-id' }));
    expect(again.status).toBe(422);
    expect(issueOf(again.body)).toBe('ORDER_ALREADY_CAPTURED');
  });

  it('replays PayPal-Request-Id: the same order, with 200 instead of 201, within 6 h on the clock', async () => {
    const emu = await startPayPalEmulator({ clockMode: 'manual' });
    try {
      const orders = new OrdersController(paypalSdkClientFor(emu.url));
      const first = await orders.createOrder({ body: orderBody(), paypalRequestId: 'same-id' });
      const second = await orders.createOrder({
        body: orderBody({ value: '99.00' }),
        paypalRequestId: 'same-id',
      });
      expect(first.statusCode).toBe(201);
      expect(second.statusCode).toBe(200);
      expect(second.result.id).toBe(first.result.id);
      expect(emu.requests.filter((r) => r.replayed)).toHaveLength(1);
      emu.clock.advance(6 * 3600_000 + 1);
      const third = await orders.createOrder({ body: orderBody(), paypalRequestId: 'same-id' });
      expect(third.statusCode).toBe(201);
      expect(third.result.id).not.toBe(first.result.id);
      // Captures replay too (one capture for two requests with the same id).
      const id = third.result.id ?? '';
      await emu.approveOrder(id);
      const c1 = await orders.captureOrder({ id, paypalRequestId: 'cap-same' });
      const c2 = await orders.captureOrder({ id, paypalRequestId: 'cap-same' });
      expect(c2.statusCode).toBe(200);
      expect(c2.result.purchaseUnits?.[0]?.payments?.captures?.[0]?.id).toBe(
        c1.result.purchaseUnits?.[0]?.payments?.captures?.[0]?.id,
      );
    } finally {
      await emu.close();
    }
  });

  it('uses rel approve and status CREATED with application_context; minimal response unless Prefer asks', async () => {
    const created = await h.orders.createOrder({ body: orderBody({ experience: 'application_context' }) });
    expect(created.result.status).toBe('CREATED');
    expect(created.result.purchaseUnits).toBeUndefined();
    expect(created.result.links?.map((l) => l.rel)).toEqual(['self', 'approve', 'update', 'capture']);
    const full = await h.orders.createOrder({
      body: orderBody({ experience: 'application_context' }),
      prefer: 'return=representation',
    });
    expect(full.result.purchaseUnits?.[0]?.amount?.value).toBe('10.00');
  });

  it('refuses return URLs in both application_context and experience_context', async () => {
    const body = { ...orderBody(), applicationContext: { returnUrl: 'https://x.example/r' } };
    const err = await sdkError(h.orders.createOrder({ body }));
    expect(err.status).toBe(422);
    expect(issueOf(err.body)).toBe('INCOMPATIBLE_PARAMETER_VALUE');
  });

  it('captures DECLINED for the declined buyer (order COMPLETED, capture DECLINED)', async () => {
    const { orderId, captureStatus, captureId } = await paidOrder(h, { buyer: 'declined' });
    expect(captureStatus).toBe('DECLINED');
    expect((await h.orders.getOrder({ id: orderId })).result.status).toBe('COMPLETED');
    const cap = await h.payments.getCapturedPayment({ captureId });
    expect(cap.result.sellerReceivableBreakdown).toBeUndefined();
  });

  it('keeps an e-check capture PENDING (reason ECHECK) until completed or denied', async () => {
    const a = await paidOrder(h, { buyer: 'pending' });
    expect(a.captureStatus).toBe('PENDING');
    const pending = await h.payments.getCapturedPayment({ captureId: a.captureId });
    expect(pending.result.statusDetails?.reason).toBe('ECHECK');
    await h.emu.completePendingCapture(a.captureId, 'COMPLETED');
    const done = await h.payments.getCapturedPayment({ captureId: a.captureId });
    expect(done.result.status).toBe('COMPLETED');
    expect(done.result.statusDetails).toBeUndefined();
    expect(done.result.sellerReceivableBreakdown?.grossAmount?.value).toBe('10.00');

    const b = await paidOrder(h, { buyer: 'pending' });
    await h.emu.completePendingCapture(b.captureId, 'DENIED');
    expect((await h.payments.getCapturedPayment({ captureId: b.captureId })).result.status).toBe('DECLINED');
    await expect(h.emu.completePendingCapture(b.captureId, 'COMPLETED')).rejects.toThrow(/not PENDING/);
  });

  it('answers INSTRUMENT_DECLINED and puts the order back to awaiting approval for that buyer', async () => {
    const created = await h.orders.createOrder({ body: orderBody() });
    const id = created.result.id ?? '';
    await h.emu.approveOrder(id, 'instrument_declined');
    const err = await sdkError(h.orders.captureOrder({ id, paypalRequestId: `c-${id}` }));
    expect(err.status).toBe(422);
    expect(issueOf(err.body)).toBe('INSTRUMENT_DECLINED');
    expect((await h.orders.getOrder({ id })).result.status).toBe('PAYER_ACTION_REQUIRED');
    await h.emu.approveOrder(id, 'normal');
    const ok = await h.orders.captureOrder({ id, paypalRequestId: `c-${id}` });
    expect(ok.result.status).toBe('COMPLETED');
  });

  it('answers 404 RESOURCE_NOT_FOUND / INVALID_RESOURCE_ID for an unknown order', async () => {
    const err = await sdkError(h.orders.getOrder({ id: 'NOSUCHORDER123456' }));
    expect(err.status).toBe(404);
    expect(err.body['name']).toBe('RESOURCE_NOT_FOUND');
    expect(issueOf(err.body)).toBe('INVALID_RESOURCE_ID');
  });
});

describe('order expiry on the clock', () => {
  it('voids an unapproved order after 3 h, and reverses an approval not captured within 3 h', async () => {
    const emu = await startPayPalEmulator({ clockMode: 'manual' });
    try {
      const orders = new OrdersController(paypalSdkClientFor(emu.url));
      const a = (await orders.createOrder({ body: orderBody() })).result.id ?? '';
      const b = (await orders.createOrder({ body: orderBody() })).result.id ?? '';
      await emu.approveOrder(b);
      emu.clock.advance(3 * 3600_000 + 1);
      expect((await orders.getOrder({ id: a })).result.status).toBe('VOIDED');
      expect((await orders.getOrder({ id: b })).result.status).toBe('VOIDED');
      expect(emu.events.map((e) => e.type)).toContain('CHECKOUT.PAYMENT-APPROVAL.REVERSED');
      const err = await sdkError(orders.captureOrder({ id: b }));
      expect(issueOf(err.body)).toBe('ORDER_EXPIRED');
    } finally {
      await emu.close();
    }
  });
});

describe('business rules on create', () => {
  it('refuses decimals in JPY (DECIMAL_PRECISION) and accepts whole yen', async () => {
    const err = await sdkError(
      h.orders.createOrder({ body: orderBody({ currency: 'JPY', value: '1000.50' }) }),
    );
    expect(err.status).toBe(422);
    expect(issueOf(err.body)).toBe('DECIMAL_PRECISION');
    const details = err.body['details'] as Array<{ field: string }>;
    expect(details[0]?.field).toBe("/purchase_units/@reference_id=='default'/amount/value");
    const ok = await h.orders.createOrder({
      body: orderBody({ currency: 'JPY', value: '1000' }),
      prefer: 'return=representation',
    });
    expect(ok.result.purchaseUnits?.[0]?.amount?.value).toBe('1000');
  });

  it('refuses three decimals in USD, a zero amount, and a currency PayPal does not support', async () => {
    expect(
      issueOf((await sdkError(h.orders.createOrder({ body: orderBody({ value: '10.001' }) }))).body),
    ).toBe('DECIMAL_PRECISION');
    expect(issueOf((await sdkError(h.orders.createOrder({ body: orderBody({ value: '0.00' }) }))).body)).toBe(
      'CANNOT_BE_ZERO_OR_NEGATIVE',
    );
    expect(
      issueOf(
        (await sdkError(h.orders.createOrder({ body: orderBody({ currency: 'KWD', value: '1.000' }) }))).body,
      ),
    ).toBe('INVALID_CURRENCY_CODE');
  });

  it('checks the platform fee: same currency, not above the amount, a payee onboarded with PARTNER_FEE', async () => {
    const seller = await onboardSeller(h, 'seller-fees');
    const tooHigh = await sdkError(
      h.orders.createOrder({ body: orderBody({ payee: seller, value: '10.00', fee: '10.01' }) }),
    );
    expect(issueOf(tooHigh.body)).toBe('INVALID_PLATFORM_FEES_AMOUNT');
    const body = orderBody({ payee: seller, fee: '1.00' });
    const unit = body.purchaseUnits[0];
    if (unit?.paymentInstruction?.platformFees?.[0])
      unit.paymentInstruction.platformFees[0].amount.currencyCode = 'EUR';
    expect(issueOf((await sdkError(h.orders.createOrder({ body }))).body)).toBe('MULTI_CURRENCY_ORDER');
    const ok = await h.orders.createOrder({
      body: orderBody({ payee: seller, fee: '1.50' }),
      prefer: 'return=representation',
    });
    expect(ok.result.purchaseUnits?.[0]?.paymentInstruction?.platformFees?.[0]?.amount?.value).toBe('1.50');
    expect(ok.result.purchaseUnits?.[0]?.payee?.merchantId).toBe(seller);
    // Without a payee the partner would be paid its own fee.
    expect(issueOf((await sdkError(h.orders.createOrder({ body: orderBody({ fee: '1.00' }) }))).body)).toBe(
      'INVALID_PLATFORM_FEES_ACCOUNT',
    );
    const noFeeGrant = await onboardSeller(h, 'seller-no-fee', { features: ['PAYMENT', 'REFUND'] });
    const denied = await sdkError(
      h.orders.createOrder({ body: orderBody({ payee: noFeeGrant, fee: '1.00' }) }),
    );
    expect(denied.status).toBe(403);
    expect(issueOf(denied.body)).toBe('PERMISSION_DENIED');
  });

  it('refuses a payee that is not an onboarded seller, or cannot receive payments', async () => {
    const unknown = await sdkError(h.orders.createOrder({ body: orderBody({ payee: 'ABCDEFGHJKLMN' }) }));
    expect(issueOf(unknown.body)).toBe('PAYEE_ACCOUNT_INVALID');
    const restricted = await onboardSeller(h, 'seller-restricted', { paymentsReceivable: false });
    expect(
      issueOf((await sdkError(h.orders.createOrder({ body: orderBody({ payee: restricted }) }))).body),
    ).toBe('PAYEE_ACCOUNT_RESTRICTED');
  });

  it('refuses intent AUTHORIZE as not emulated', async () => {
    const body = { ...orderBody(), intent: CheckoutPaymentIntent.Authorize };
    const err = await sdkError(h.orders.createOrder({ body }));
    expect(err.status).toBe(400);
    expect(issueOf(err.body)).toBe('NOT_SUPPORTED');
  });
});

describe('approval page', () => {
  it('shows the order and approves with a form POST: 303 to return_url with token and PayerID', async () => {
    const created = await h.orders.createOrder({ body: orderBody({ value: '12.34' }) });
    const id = created.result.id ?? '';
    const href = created.result.links?.find((l) => l.rel === 'payer-action')?.href ?? '';
    const page = await fetch(href);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('USD 12.34');
    expect(html).toContain('data-testid="approve"');
    const post = await fetch(href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'action=approve&buyer=normal',
      redirect: 'manual',
    });
    expect(post.status).toBe(303);
    const loc = new URL(post.headers.get('location') ?? '');
    expect(loc.searchParams.get('token')).toBe(id);
    expect(loc.searchParams.get('PayerID')).toBeTruthy();
    expect((await h.orders.getOrder({ id })).result.status).toBe('APPROVED');
    expect((await fetch(href)).status).toBe(409);
  });

  it('cancels with a form POST: 303 to cancel_url with token; the order stays unapproved', async () => {
    const created = await h.orders.createOrder({ body: orderBody() });
    const id = created.result.id ?? '';
    const post = await fetch(`${h.emu.url}/checkoutnow?token=${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'action=cancel',
      redirect: 'manual',
    });
    expect(post.status).toBe(303);
    expect(post.headers.get('location')).toBe(`https://settle.example/paypal/cancel?token=${id}`);
    expect((await h.orders.getOrder({ id })).result.status).toBe('PAYER_ACTION_REQUIRED');
  });

  it('drives the pending buyer through the control route', async () => {
    const created = await h.orders.createOrder({ body: orderBody() });
    const id = created.result.id ?? '';
    const res = await raw(h.emu.url, 'POST', `/_emulator/orders/${id}/approve`, {
      body: { buyer: 'pending' },
    });
    expect(res.status).toBe(200);
    expect(String(res.json['redirect_url'])).toContain(`token=${id}`);
    const cap = await h.orders.captureOrder({ id });
    const captureId = cap.result.purchaseUnits?.[0]?.payments?.captures?.[0]?.id ?? '';
    const done = await raw(h.emu.url, 'POST', `/_emulator/captures/${captureId}/complete`, {
      body: { outcome: 'DENIED' },
    });
    expect(done.json['status']).toBe('DECLINED');
  });
});
