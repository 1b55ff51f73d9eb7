import { SquareError, SquareTimeoutError, WebhooksHelper, type Square } from 'square';
import { describe, expect, it } from 'vitest';
import { SettleError } from '../../../src/core/errors.js';
import {
  assertSquareCharge,
  checkoutState,
  fromSquareMoney,
  neutralReturnUrl,
  parseSquareEvent,
  paymentLinkRequest,
  paymentOutcome,
  refundStatus,
  safeUnits,
  scrubSquareMessage,
  squareIdempotencyKey,
  squareSignature,
  toSettleError,
  toSquareMoney,
  verifySquareSignature,
  type SquareWireEvent,
} from '../../../src/providers/square/index.js';
import { checkoutInput } from './harness.js';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return err instanceof SettleError ? err.code : `not a SettleError: ${String(err)}`;
  }
  return 'returned';
};

describe('Square amounts', () => {
  it('toSquareMoney: bigint minor units, upper-case currency; JPY in yen', () => {
    expect(toSquareMoney(1234, 'usd')).toEqual({ amount: 1234n, currency: 'USD' });
    expect(toSquareMoney(3000, 'JPY')).toEqual({ amount: 3000n, currency: 'JPY' });
    expect(toSquareMoney(0, 'eur')).toEqual({ amount: 0n, currency: 'EUR' });
    expect(toSquareMoney(Number.MAX_SAFE_INTEGER, 'usd').amount).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('toSquareMoney refuses what Square cannot take: other currencies, fractions, negatives, unsafe numbers', () => {
    expect(codeOf(() => toSquareMoney(100, 'chf'))).toBe('currency_unsupported');
    expect(codeOf(() => toSquareMoney(100, 'xyz'))).toBe('currency_unsupported');
    expect(codeOf(() => toSquareMoney(1.5, 'usd'))).toBe('money_invalid');
    expect(codeOf(() => toSquareMoney(-1, 'usd'))).toBe('money_invalid');
    expect(codeOf(() => toSquareMoney(Number.MAX_SAFE_INTEGER + 1, 'usd'))).toBe('money_invalid');
  });

  it('fromSquareMoney: bigint or wire number to a safe number; lower-case currency; the bigint boundary', () => {
    expect(fromSquareMoney({ amount: 2500n, currency: 'USD' })).toEqual({ amount: 2500, currency: 'usd' });
    expect(fromSquareMoney({ amount: 8000, currency: 'JPY' })).toEqual({ amount: 8000, currency: 'jpy' });
    expect(fromSquareMoney({ amount: BigInt(Number.MAX_SAFE_INTEGER), currency: 'USD' }).amount).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expect(
      codeOf(() => fromSquareMoney({ amount: BigInt(Number.MAX_SAFE_INTEGER) + 1n, currency: 'USD' })),
    ).toBe('provider_error');
    expect(codeOf(() => fromSquareMoney({ amount: -1n, currency: 'USD' }))).toBe('provider_error');
    expect(codeOf(() => fromSquareMoney({ amount: 1.5, currency: 'USD' }))).toBe('provider_error');
    expect(codeOf(() => fromSquareMoney({ amount: null, currency: 'USD' }))).toBe('provider_error');
    expect(codeOf(() => fromSquareMoney({ amount: 1n }))).toBe('provider_error');
    expect(codeOf(() => fromSquareMoney(undefined))).toBe('provider_error');
    // A currency Settle does not know is reported as is (the order comparison names the mismatch).
    expect(fromSquareMoney({ amount: 5n, currency: 'XTS' })).toEqual({ amount: 5, currency: 'xts' });
    expect(safeUnits(0n)).toBe(0);
  });
});

describe('Square checkout request', () => {
  it('90 % fee cap in integers; zero refused', () => {
    expect(() => assertSquareCharge(1000, 900, 'usd')).not.toThrow();
    expect(codeOf(() => assertSquareCharge(1000, 901, 'usd'))).toBe('fee_not_supported');
    expect(codeOf(() => assertSquareCharge(1, 1, 'usd'))).toBe('fee_not_supported');
    expect(() => assertSquareCharge(10, 9, 'usd')).not.toThrow();
    expect(codeOf(() => assertSquareCharge(0, 0, 'usd'))).toBe('amount_not_supported');
  });

  it('the return URL drops the {CHECKOUT_SESSION_ID} template and keeps the rest', () => {
    expect(neutralReturnUrl('https://s.example/r?order=o1&session_id={CHECKOUT_SESSION_ID}')).toBe(
      'https://s.example/r?order=o1',
    );
    expect(neutralReturnUrl('https://s.example/r?order=o1')).toBe('https://s.example/r?order=o1');
  });

  it('idempotency keys longer than Square’s 192 characters become their SHA-256, deterministically', () => {
    expect(squareIdempotencyKey('checkout:ord_1')).toBe('checkout:ord_1');
    const long = 'k'.repeat(300);
    expect(squareIdempotencyKey(long)).toMatch(/^[0-9a-f]{64}$/);
    expect(squareIdempotencyKey(long)).toBe(squareIdempotencyKey(long));
  });

  it('the request: reference id, line item, fee only when positive, e-mail only when given; long names clipped', () => {
    const input = checkoutInput('ML1', { orderId: 'ord_1', applicationFee: 0, customerEmail: null });
    const req = paymentLinkRequest(input, 'L1');
    expect(req).toEqual({
      idempotencyKey: 'checkout:ord_1',
      order: {
        locationId: 'L1',
        referenceId: 'ord_1',
        lineItems: [
          { name: 'Yoga class', quantity: '1', basePriceMoney: { amount: 2500n, currency: 'USD' } },
        ],
      },
      checkoutOptions: {
        redirectUrl: 'https://settle.example/return?order=ord_1',
        askForShippingAddress: false,
      },
    });
    const long = paymentLinkRequest(
      { ...input, lineItem: { name: 'x'.repeat(600), unitAmount: 100, quantity: 1 } },
      'L1',
    );
    expect(long.order?.lineItems?.[0]?.name).toHaveLength(512);
    const discounted = paymentLinkRequest({ ...input, discount: 500, promotionCodeProviderId: null }, 'L1');
    expect(discounted.order?.lineItems?.[0]).toEqual({
      name: 'Yoga class (discounted)',
      quantity: '1',
      basePriceMoney: { amount: 2000n, currency: 'USD' },
    });
  });
});

describe('Square checkout state', () => {
  const link: Square.PaymentLink = { id: 'LINK', version: 1, orderId: 'O1', checkoutOptions: {} };
  const order = (o: Partial<Square.Order> = {}): Square.Order => ({
    id: 'O1',
    locationId: 'L1',
    referenceId: 'ord_1',
    state: 'DRAFT',
    createdAt: new Date(1_000_000).toISOString(),
    totalMoney: { amount: 2500n, currency: 'USD' },
    ...o,
  });
  const read = (o: Partial<Parameters<typeof checkoutState>[0]>) =>
    checkoutState({
      sessionId: 'LINK',
      accountId: 'ML1',
      link,
      order: order(),
      payments: [],
      nowMs: 1_000_000 + 60_000,
      lifetimeMs: 15 * 60_000,
      ...o,
    });

  it('open, stale → expired, canceled → expired, link gone → expired', () => {
    expect(read({}).outcome).toBe('open');
    expect(read({ nowMs: 1_000_000 + 16 * 60_000 }).outcome).toBe('expired');
    expect(read({ order: order({ state: 'CANCELED' }) }).outcome).toBe('expired');
    expect(read({ link: null })).toMatchObject({ outcome: 'expired', sessionId: 'LINK', accountId: 'ML1' });
  });

  it('a completed payment wins over a failed one; a pending one is processing even when the hold is over', () => {
    const failed: Square.Payment = {
      id: 'P0',
      status: 'FAILED',
      amountMoney: { amount: 2500n, currency: 'USD' },
    };
    const done: Square.Payment = {
      id: 'P1',
      status: 'COMPLETED',
      amountMoney: { amount: 2500n, currency: 'USD' },
      appFeeMoney: { amount: 250n, currency: 'USD' },
    };
    expect(read({ payments: [failed, done] })).toMatchObject({
      outcome: 'succeeded',
      paymentId: 'P1',
      amountTotal: 2500,
      applicationFee: 250,
    });
    expect(read({ payments: [failed] })).toMatchObject({ outcome: 'open', paymentId: null });
    expect(read({ payments: [{ ...done, status: 'PENDING' }], nowMs: 1_000_000 + 60 * 60_000 }).outcome).toBe(
      'processing',
    );
  });

  it('status maps', () => {
    expect(paymentOutcome('COMPLETED')).toBe('succeeded');
    expect(paymentOutcome('APPROVED')).toBe('processing');
    expect(paymentOutcome('PENDING')).toBe('processing');
    expect(paymentOutcome('FAILED')).toBe('open');
    expect(paymentOutcome('CANCELED')).toBe('open');
    expect(refundStatus('PENDING')).toBe('pending');
    expect(refundStatus('COMPLETED')).toBe('succeeded');
    expect(refundStatus('REJECTED')).toBe('failed');
    expect(refundStatus('FAILED')).toBe('failed');
  });
});

describe('Square webhook signature', () => {
  const key = 'sig-key-123';
  const url = 'https://pay.example.com/webhooks/square';
  const body = Buffer.from('{"event_id":"e","type":"payment.updated","note":"café"}');

  it('matches the SDK’s WebhooksHelper (URL + raw body, HMAC-SHA256, base64)', async () => {
    const signature = squareSignature(key, url, body);
    expect(
      await WebhooksHelper.verifySignature({
        requestBody: body.toString('utf8'),
        signatureHeader: signature,
        signatureKey: key,
        notificationUrl: url,
      }),
    ).toBe(true);
    expect(() =>
      verifySquareSignature({
        rawBody: body,
        headers: { 'X-Square-HmacSha256-Signature': signature },
        signatureKey: key,
        notificationUrl: url,
      }),
    ).not.toThrow();
  });

  it('refuses a trailing slash, another key, two header values', () => {
    const signature = squareSignature(key, url, body);
    const verify =
      (headers: Record<string, string | string[]>, k = key, u = url) =>
      () =>
        verifySquareSignature({ rawBody: body, headers, signatureKey: k, notificationUrl: u });
    expect(codeOf(verify({ 'x-square-hmacsha256-signature': signature }, key, `${url}/`))).toBe(
      'webhook_signature_invalid',
    );
    expect(codeOf(verify({ 'x-square-hmacsha256-signature': signature }, 'other'))).toBe(
      'webhook_signature_invalid',
    );
    expect(codeOf(verify({ 'x-square-hmacsha256-signature': [signature, signature] }))).toBe(
      'webhook_signature_invalid',
    );
  });
});

describe('Square event parsing', () => {
  const envelope = (type: string, object: Record<string, unknown>): SquareWireEvent => ({
    merchant_id: 'ML1',
    type,
    event_id: 'e1',
    created_at: '2026-01-01T00:00:00Z',
    data: { type: 'x', id: 'x', object },
  });

  it('disputes: `object` or `dispute`, `id` or `dispute_id`; closed states; dispute.state.changed', () => {
    const d = {
      dispute_id: 'D1',
      amount_money: { amount: 700, currency: 'USD' },
      reason: 'NOT_AS_DESCRIBED',
      state: 'ACCEPTED',
      disputed_payment: { payment_id: 'P1' },
    };
    expect(parseSquareEvent(envelope('dispute.state.changed', { dispute: d }))).toEqual({
      kind: 'event',
      event: {
        kind: 'dispute.closed',
        dispute: {
          providerDisputeId: 'D1',
          paymentId: 'P1',
          amount: 700,
          currency: 'usd',
          reason: 'NOT_AS_DESCRIBED',
          status: 'accepted',
          outcome: 'lost',
        },
      },
    });
    expect(
      parseSquareEvent(envelope('dispute.state.updated', { object: { ...d, id: 'D1', state: 'WON' } })),
    ).toMatchObject({ event: { kind: 'dispute.closed', dispute: { outcome: 'won' } } });
    expect(
      parseSquareEvent(envelope('dispute.state.updated', { object: { ...d, state: 'PROCESSING' } })),
    ).toMatchObject({ event: { kind: 'dispute.created', dispute: { status: 'processing', outcome: null } } });
  });

  it('payments are returned for the order lookup; malformed payloads are refused', () => {
    expect(
      parseSquareEvent(
        envelope('payment.updated', {
          payment: {
            id: 'P1',
            status: 'COMPLETED',
            order_id: 'O1',
            amount_money: { amount: 2500, currency: 'USD' },
          },
        }),
      ),
    ).toEqual({
      kind: 'payment',
      merchantId: 'ML1',
      payment: {
        id: 'P1',
        status: 'COMPLETED',
        orderId: 'O1',
        amount: 2500,
        currency: 'usd',
        applicationFee: 0,
      },
    });
    const bad = (type: string, object: Record<string, unknown>) => () =>
      parseSquareEvent(envelope(type, object));
    expect(codeOf(bad('payment.updated', {}))).toBe('webhook_payload_invalid');
    expect(codeOf(bad('payment.updated', { payment: { id: 'P1', status: 'COMPLETED' } }))).toBe(
      'webhook_payload_invalid',
    );
    expect(
      codeOf(
        bad('refund.updated', {
          refund: { id: 'R', status: 'COMPLETED', amount_money: { amount: '5', currency: 'USD' } },
        }),
      ),
    ).toBe('webhook_payload_invalid');
    expect(codeOf(bad('dispute.created', { object: { id: 'D' } }))).toBe('webhook_payload_invalid');
    expect(parseSquareEvent(envelope('order.updated', {}))).toEqual({
      kind: 'event',
      event: { kind: 'ignored' },
    });
  });
});

describe('Square errors', () => {
  const err = (statusCode: number | undefined, code: string, detail = 'd') =>
    new SquareError({
      ...(statusCode !== undefined ? { statusCode } : {}),
      body: { errors: [{ category: 'INVALID_REQUEST_ERROR', code, detail }] },
    });

  it('maps statuses and codes', () => {
    expect(toSettleError(err(401, 'UNAUTHORIZED'), 'x').code).toBe('provider_account_revoked');
    expect(toSettleError(err(401, 'UNAUTHORIZED'), 'x', 'application').code).toBe('provider_error');
    expect(toSettleError(err(403, 'INSUFFICIENT_SCOPES'), 'x').code).toBe('provider_scopes_missing');
    expect(toSettleError(err(429, 'RATE_LIMITED'), 'x').code).toBe('provider_unavailable');
    expect(toSettleError(err(503, 'SERVICE_UNAVAILABLE'), 'x').code).toBe('provider_unavailable');
    expect(toSettleError(err(400, 'REFUND_AMOUNT_INVALID'), 'x').code).toBe('refund_exceeds_payment');
    expect(toSettleError(err(400, 'INVALID_FEES'), 'x').code).toBe('fee_not_supported');
    expect(toSettleError(err(400, 'IDEMPOTENCY_KEY_REUSED'), 'x').code).toBe('provider_error');
    expect(toSettleError(err(409, 'CONFLICT'), 'x').code).toBe('provider_unavailable');
    expect(toSettleError(new SquareTimeoutError('Timeout exceeded'), 'x').code).toBe('provider_unavailable');
    expect(toSettleError(new SquareError({ message: 'fetch failed' }), 'x').code).toBe(
      'provider_unavailable',
    );
    const mapped = toSettleError(err(400, 'VALUE_TOO_LOW', 'too low'), 'checkout.create');
    expect(mapped).toMatchObject({
      code: 'provider_error',
      details: { statusCode: 400, squareCodes: ['VALUE_TOO_LOW'] },
    });
    expect(mapped.message).toContain('VALUE_TOO_LOW');
    expect(() => toSettleError(new TypeError('a bug'), 'x')).toThrow(TypeError);
  });

  it('scrubs credentials from messages', () => {
    const text = scrubSquareMessage(
      'Bearer EAAAl0ngT0kenValue123 and EQAAr3fresh_token456 and sandbox-sq0csb-S3cret_value and Client sq0csp-abc',
    );
    expect(text).not.toMatch(/EAAAl0ng|EQAAr3|S3cret|sq0csp-abc/);
    const detail = toSettleError(err(400, 'BAD_REQUEST', 'token EAAAabcdefghijklmnop was refused'), 'x');
    expect(detail.message).not.toContain('EAAAabcdefghijklmnop');
  });
});
