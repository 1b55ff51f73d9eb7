import { ApiError, CustomError, type CaptureStatus } from '@paypal/paypal-server-sdk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import {
  assertProviderAmount,
  providerAmountRule,
  providerAmountRules,
  providerRulesSource,
  toProviderAmount,
} from '../../../src/core/currency-rules.js';
import { SettleError } from '../../../src/core/errors.js';
import { currency, money, supportedCurrencies } from '../../../src/core/money.js';
import { formatUnits, fromPayPalMoney, toPayPalMoney } from '../../../src/providers/paypal/amounts.js';
import { apiBaseHttpClientOptions } from '../../../src/providers/paypal/client.js';
import {
  PayPalHttpError,
  failureOf,
  isRetryable,
  paypalIssue,
  toSettleError,
} from '../../../src/providers/paypal/errors.js';
import {
  normalizePayPalEvent,
  orderOutcome,
  toCheckoutState,
} from '../../../src/providers/paypal/normalize.js';
import { neutralReturnUrl } from '../../../src/core/hosted-checkout.js';
import { authAssertion } from '../../../src/providers/paypal/provider.js';
import type { Order } from '@paypal/paypal-server-sdk';

describe('PayPal currency rules (developer.paypal.com currency codes)', () => {
  it('JPY, HUF and TWD take no decimals; HUF and TWD must be whole units in Settle minor units', () => {
    expect(providerRulesSource('paypal')).toBe(
      'https://developer.paypal.com/docs/api/reference/currency-codes/',
    );
    expect(providerAmountRule('paypal', currency('jpy'))).toMatchObject({
      providerExponent: 0,
      factor: 1,
      step: 1,
    });
    for (const c of ['huf', 'twd'])
      expect(providerAmountRule('paypal', currency(c))).toMatchObject({
        providerExponent: 0,
        divisor: 100,
        step: 100,
      });
    expect(providerAmountRule('paypal', currency('usd'))).toMatchObject({ providerExponent: 2, step: 1 });
    expect(() => assertProviderAmount('paypal', money(104_550, 'huf'), 'The unit price')).toThrow(
      /cannot be charged through paypal.*whole units only/,
    );
    expect(toProviderAmount('paypal', money(104_500, 'huf'))).toBe(1045);
  });

  it('currencies PayPal does not take are refused by name (400 currency_unsupported), not guessed', () => {
    for (const c of ['kwd', 'isk', 'inr', 'zar', 'krw']) {
      const err = (() => {
        try {
          providerAmountRule('paypal', currency(c));
          return null;
        } catch (e) {
          return e as SettleError;
        }
      })();
      expect(err?.code, c).toBe('currency_unsupported');
      expect(err?.message, c).toContain(`paypal does not accept ${c.toUpperCase()}`);
    }
    const listed = providerAmountRules('paypal').map((r) => r.currency);
    expect(listed).toContain('usd');
    expect(listed).not.toContain('kwd');
    // Stripe's table is unchanged: every Settle currency.
    expect(providerAmountRules('stripe').map((r) => r.currency)).toEqual(supportedCurrencies());
  });
});

describe('PayPal amounts: minor units ↔ decimal strings, exactly', () => {
  it('formats and parses the documented examples', () => {
    expect(toPayPalMoney(1999, 'usd', 'x')).toEqual({ currencyCode: 'USD', value: '19.99' });
    expect(toPayPalMoney(5, 'eur', 'x')).toEqual({ currencyCode: 'EUR', value: '0.05' });
    expect(toPayPalMoney(8000, 'jpy', 'x')).toEqual({ currencyCode: 'JPY', value: '8000' });
    expect(toPayPalMoney(250_000, 'huf', 'x')).toEqual({ currencyCode: 'HUF', value: '2500' });
    expect(fromPayPalMoney({ currencyCode: 'USD', value: '19.99' })).toEqual({
      amount: 1999,
      currency: 'usd',
    });
    expect(fromPayPalMoney({ currencyCode: 'USD', value: '20' })).toEqual({ amount: 2000, currency: 'usd' });
    expect(fromPayPalMoney({ currencyCode: 'USD', value: '0.5' })).toEqual({ amount: 50, currency: 'usd' });
    expect(fromPayPalMoney({ currencyCode: 'JPY', value: '8000.00' })).toEqual({
      amount: 8000,
      currency: 'jpy',
    });
    expect(fromPayPalMoney({ currencyCode: 'TWD', value: '120' })).toEqual({
      amount: 12_000,
      currency: 'twd',
    });
    expect(formatUnits(7, 2)).toBe('0.07');
    expect(formatUnits(0, 2)).toBe('0.00');
  });

  it('refuses what is not exact: extra decimals, negatives, exponents, unchargeable amounts', () => {
    expect(() => fromPayPalMoney({ currencyCode: 'USD', value: '1.005' })).toThrow(/more decimals/);
    expect(() => fromPayPalMoney({ currencyCode: 'JPY', value: '10.5' })).toThrow(/more decimals/);
    expect(() => fromPayPalMoney({ currencyCode: 'USD', value: '-1.00' })).toThrow(/not a decimal/);
    expect(() => fromPayPalMoney({ currencyCode: 'USD', value: '1e3' })).toThrow(/not a decimal/);
    expect(() => toPayPalMoney(1050, 'twd', 'The unit price')).toThrow(SettleError);
    expect(() => toPayPalMoney(100, 'kwd', 'The unit price')).toThrow(/does not accept KWD/);
  });

  it('property: every chargeable amount round-trips through the decimal string unchanged', () => {
    const codes = providerAmountRules('paypal').map((r) => r.currency);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000_000_000 }), fc.constantFrom(...codes), (n, c) => {
        const step = providerAmountRule('paypal', c).step;
        const amount = n - (n % step);
        const sent = toPayPalMoney(amount, c, 'x');
        expect(sent.value).toMatch(/^\d+(\.\d{2})?$/);
        expect(fromPayPalMoney(sent)).toEqual({ amount, currency: c });
      }),
    );
  });
});

function apiError(status: number, body: object): ApiError {
  const err = new CustomError(
    {
      request: {
        method: 'POST',
        url: 'https://api-m.sandbox.paypal.com/v2/checkout/orders',
        headers: { authorization: 'Bearer A21AAsecret' },
      },
      response: { statusCode: status, headers: {}, body: JSON.stringify(body) },
    },
    'The error response.',
  );
  Object.assign(err, { result: body });
  return err;
}

describe('PayPal error mapping', () => {
  it('5xx, 409, 429 and no answer are outages (retry with the same request id); the debug_id is kept', () => {
    for (const status of [500, 503, 429, 409]) {
      const err = toSettleError(
        apiError(status, { name: 'INTERNAL_SERVER_ERROR', debug_id: 'abc123' }),
        'orders.create',
      );
      expect(err.code, String(status)).toBe('provider_unavailable');
      expect(err.message).toContain('debug_id abc123');
      expect(isRetryable(apiError(status, {}))).toBe(true);
    }
    const net = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { isAxiosError: true });
    expect(toSettleError(net, 'orders.get').code).toBe('provider_unavailable');
  });

  it('4xx: provider_error with PayPal name, issue and debug_id, caller-side amount issues as validation', () => {
    const captured = apiError(422, {
      name: 'UNPROCESSABLE_ENTITY',
      message: 'The requested action could not be performed.',
      debug_id: 'f00d',
      details: [{ issue: 'ORDER_ALREADY_CAPTURED', description: 'Order already captured.' }],
    });
    expect(paypalIssue(captured)).toBe('ORDER_ALREADY_CAPTURED');
    const mapped = toSettleError(captured, 'orders.capture');
    expect(mapped).toMatchObject({ code: 'provider_error', httpStatus: 502 });
    expect(mapped.message).toBe(
      'PayPal rejected orders.capture (HTTP 422 ORDER_ALREADY_CAPTURED, debug_id f00d): Order already captured.',
    );
    expect(failureOf(mapped)).toEqual({ status: 422, issues: ['ORDER_ALREADY_CAPTURED'] });
    const precision = apiError(422, {
      name: 'UNPROCESSABLE_ENTITY',
      details: [{ issue: 'DECIMAL_PRECISION' }],
    });
    expect(toSettleError(precision, 'orders.create').code).toBe('validation_failed');
    // A refund's refusal is final (recorded as failed), never a validation error the queue would retry.
    expect(toSettleError(precision, 'captures.refund').code).toBe('provider_error');
    const auth = toSettleError(
      apiError(401, { error: 'invalid_client', error_description: 'Client Authentication failed' }),
      'oauth',
    );
    expect(auth.message).toMatch(/Check PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_MODE/);
    const rest = toSettleError(
      new PayPalHttpError(404, { name: 'RESOURCE_NOT_FOUND' }, 'x'),
      'merchant-integrations.find',
    );
    expect(rest).toMatchObject({ code: 'provider_error', details: { statusCode: 404 } });
  });

  it('never carries the request (Authorization header, body) or a bearer token into the message', () => {
    const err = apiError(400, {
      name: 'INVALID_REQUEST',
      message: 'Bad token Bearer A21AAsecret in request',
      details: [],
    });
    const mapped = toSettleError(err, 'orders.create');
    expect(mapped.message).not.toContain('A21AAsecret');
    expect(JSON.stringify(mapped.details)).not.toContain('A21AAsecret');
    expect(mapped.cause).toBeUndefined();
  });
});

function order(over: Partial<Order>): Order {
  return {
    id: '5O190127TN364715T',
    status: 'CREATED' as Order['status'],
    createTime: new Date().toISOString(),
    purchaseUnits: [
      {
        referenceId: 'ord_1',
        customId: 'ord_1',
        amount: { currencyCode: 'USD', value: '45.00' },
        payee: { merchantId: 'SELLER123' },
        paymentInstruction: { platformFees: [{ amount: { currencyCode: 'USD', value: '4.50' } }] },
      },
    ],
    ...over,
  };
}

describe('PayPal orders → CheckoutState', () => {
  const withCapture = (status: string) =>
    order({
      status: 'COMPLETED' as Order['status'],
      purchaseUnits: [
        {
          ...(order({}).purchaseUnits?.[0] ?? {}),
          payments: {
            captures: [
              {
                id: '3C679366HH908993F',
                status: status as CaptureStatus,
                amount: { currencyCode: 'USD', value: '45.00' },
                sellerReceivableBreakdown: {
                  grossAmount: { currencyCode: 'USD', value: '45.00' },
                  platformFees: [{ amount: { currencyCode: 'USD', value: '4.50' } }],
                },
              },
            ],
          },
        },
      ],
    });

  it('maps statuses: COMPLETED → succeeded, PENDING → processing, DECLINED/FAILED → failed, VOIDED → expired', () => {
    expect(orderOutcome(withCapture('COMPLETED'))).toBe('succeeded');
    expect(orderOutcome(withCapture('PARTIALLY_REFUNDED'))).toBe('succeeded');
    expect(orderOutcome(withCapture('PENDING'))).toBe('processing');
    expect(orderOutcome(withCapture('DECLINED'))).toBe('failed');
    expect(orderOutcome(withCapture('FAILED'))).toBe('failed');
    for (const s of ['CREATED', 'PAYER_ACTION_REQUIRED', 'APPROVED', 'SAVED'])
      expect(orderOutcome(order({ status: s as Order['status'] })), s).toBe('open');
    expect(orderOutcome(order({ status: 'VOIDED' as Order['status'] }))).toBe('expired');
  });

  it('amount, currency, fee, payee and payment id come from PayPal', () => {
    expect(toCheckoutState(withCapture('COMPLETED'))).toEqual({
      provider: 'paypal',
      sessionId: '5O190127TN364715T',
      orderId: 'ord_1',
      accountId: 'SELLER123',
      outcome: 'succeeded',
      amountTotal: 4500,
      currency: 'usd',
      paymentId: '3C679366HH908993F',
      applicationFee: 450,
      promotionCode: null,
    });
    // A paid order without a payee is never taken as the seller's.
    const noPayee = withCapture('COMPLETED');
    const unit = noPayee.purchaseUnits?.[0];
    if (unit) delete unit.payee;
    expect(toCheckoutState(noPayee).accountId).toBe('');
  });

  it('the return URL drops the Stripe template; the auth assertion names the seller', () => {
    expect(
      neutralReturnUrl('https://m.example/checkout/return?order=ord_1&session_id={CHECKOUT_SESSION_ID}'),
    ).toBe('https://m.example/checkout/return?order=ord_1');
    const [h, p, sig] = authAssertion('client-1', 'SELLER123').split('.');
    expect(JSON.parse(Buffer.from(h ?? '', 'base64url').toString())).toEqual({ alg: 'none' });
    expect(JSON.parse(Buffer.from(p ?? '', 'base64url').toString())).toEqual({
      iss: 'client-1',
      payer_id: 'SELLER123',
    });
    expect(sig).toBe('');
  });
});

const event = (event_type: string, resource: Record<string, unknown>) => ({
  id: 'WH-1',
  event_type,
  create_time: '2026-11-28T10:00:00Z',
  resource,
});

describe('PayPal events → normalized kinds', () => {
  const capture = {
    id: 'CAP1',
    status: 'COMPLETED',
    custom_id: 'ord_1',
    amount: { currency_code: 'USD', value: '45.00' },
    supplementary_data: { related_ids: { order_id: 'PPORDER1' } },
  };

  it('order and capture events: re-read kinds with the PayPal order as the session', () => {
    const approved = normalizePayPalEvent(
      event('CHECKOUT.ORDER.APPROVED', {
        id: 'PPORDER1',
        status: 'APPROVED',
        purchase_units: [{ custom_id: 'ord_1', amount: { currency_code: 'USD', value: '45.00' } }],
      }),
    );
    expect(approved).toMatchObject({
      kind: 'checkout.completed',
      checkout: { sessionId: 'PPORDER1', orderId: 'ord_1' },
    });
    expect(normalizePayPalEvent(event('PAYMENT.CAPTURE.COMPLETED', capture))).toMatchObject({
      kind: 'checkout.async_succeeded',
      checkout: { sessionId: 'PPORDER1', orderId: 'ord_1', paymentId: 'CAP1', amountTotal: 4500 },
    });
    expect(normalizePayPalEvent(event('PAYMENT.CAPTURE.PENDING', capture))).toMatchObject({
      kind: 'checkout.completed',
    });
    for (const t of ['PAYMENT.CAPTURE.DENIED', 'PAYMENT.CAPTURE.DECLINED'])
      expect(normalizePayPalEvent(event(t, capture))).toMatchObject({
        kind: 'checkout.async_failed',
        checkout: { outcome: 'failed', sessionId: 'PPORDER1' },
      });
    // Without the related order id there is nothing to re-read: acknowledged, ignored.
    expect(normalizePayPalEvent(event('PAYMENT.CAPTURE.COMPLETED', { id: 'CAP2' }))).toEqual({
      kind: 'ignored',
    });
  });

  it('refunds, reversals, disputes and onboarding', () => {
    const refund = {
      id: 'REF1',
      status: 'COMPLETED',
      custom_id: 'ref_abc123',
      amount: { currency_code: 'USD', value: '10.00' },
      links: [{ rel: 'up', href: 'https://api-m.paypal.com/v2/payments/captures/CAP1' }],
    };
    expect(normalizePayPalEvent(event('PAYMENT.CAPTURE.REFUNDED', refund))).toEqual({
      kind: 'refund.updated',
      refund: {
        providerRefundId: 'REF1',
        paymentId: 'CAP1',
        amount: 1000,
        status: 'succeeded',
        refundId: 'ref_abc123',
      },
    });
    // A reversal is no refund of Settle's, whatever its custom_id says: core finds none and ignores it.
    expect(normalizePayPalEvent(event('PAYMENT.CAPTURE.REVERSED', refund))).toMatchObject({
      kind: 'refund.updated',
      refund: { providerRefundId: 'REF1', paymentId: 'CAP1', refundId: null },
    });
    const dispute = {
      dispute_id: 'PP-D-1',
      status: 'OPEN',
      reason: 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
      dispute_amount: { currency_code: 'USD', value: '45.00' },
      disputed_transactions: [{ seller_transaction_id: 'CAP1' }],
    };
    expect(normalizePayPalEvent(event('CUSTOMER.DISPUTE.CREATED', dispute))).toEqual({
      kind: 'dispute.created',
      dispute: {
        providerDisputeId: 'PP-D-1',
        paymentId: 'CAP1',
        amount: 4500,
        currency: 'usd',
        reason: 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
        status: 'OPEN',
        outcome: null,
      },
    });
    const resolved = {
      ...dispute,
      status: 'RESOLVED',
      dispute_outcome: { outcome_code: 'RESOLVED_SELLER_FAVOUR' },
    };
    expect(normalizePayPalEvent(event('CUSTOMER.DISPUTE.RESOLVED', resolved))).toMatchObject({
      kind: 'dispute.closed',
      dispute: { outcome: 'won' },
    });
    const lost = { ...resolved, dispute_outcome: { outcome_code: 'RESOLVED_BUYER_FAVOUR' } };
    expect(normalizePayPalEvent(event('CUSTOMER.DISPUTE.RESOLVED', lost))).toMatchObject({
      dispute: { outcome: 'lost' },
    });
    expect(
      normalizePayPalEvent(
        event('MERCHANT.ONBOARDING.COMPLETED', { merchant_id: 'SELLER123', tracking_id: 'sel_1' }),
      ),
    ).toEqual({
      kind: 'account.updated',
      account: {
        accountId: 'SELLER123',
        sellerId: 'sel_1',
        detailsSubmitted: true,
        chargesEnabled: false,
        payoutsEnabled: false,
      },
      readBack: true,
    });
    expect(
      normalizePayPalEvent(event('MERCHANT.PARTNER-CONSENT.REVOKED', { merchant_id: 'SELLER123' })),
    ).toMatchObject({ kind: 'account.updated', account: { chargesEnabled: false } });
    expect(normalizePayPalEvent(event('BILLING.SUBSCRIPTION.CREATED', {}))).toEqual({ kind: 'ignored' });
  });
});

describe('PayPal configuration', () => {
  const BASE = {
    PAYPAL_CLIENT_ID: 'AcLientId-123',
    PAYPAL_CLIENT_SECRET: 'EsEcret_456',
    PAYPAL_WEBHOOK_ID: '8PT597110X687430LKGECATA',
    PAYPAL_PARTNER_MERCHANT_ID: 'PARTNER0000001',
    SETTLE_ADMIN_TOKEN: 'Zq8vR2mK7xWp4sNc9Lb3Tf6H',
  };
  const refusal = (env: Record<string, string>): string | null => {
    try {
      loadConfig(env);
      return null;
    } catch (err) {
      return (err as SettleError).message;
    }
  };

  it('on with both credentials; the rest defaults to sandbox, no emulator', () => {
    const c = loadConfig(BASE);
    expect(c.paypal).toEqual({
      clientId: 'AcLientId-123',
      clientSecret: 'EsEcret_456',
      mode: 'sandbox',
      webhookId: '8PT597110X687430LKGECATA',
      partnerAttributionId: null,
      partnerMerchantId: 'PARTNER0000001',
      apiBase: null,
      maxNetworkRetries: 2,
    });
    expect(loadConfig({}).paypal.clientId).toBeNull();
  });

  it('names every problem', () => {
    expect(refusal({ PAYPAL_CLIENT_ID: 'abc' })).toContain(
      'PAYPAL_CLIENT_SECRET: required when PAYPAL_CLIENT_ID is set',
    );
    expect(refusal({ PAYPAL_CLIENT_SECRET: 'abc' })).toContain(
      'PAYPAL_CLIENT_ID: required when PAYPAL_CLIENT_SECRET',
    );
    const missing = refusal({ PAYPAL_CLIENT_ID: 'a', PAYPAL_CLIENT_SECRET: 'b' }) ?? '';
    expect(missing).toContain('PAYPAL_WEBHOOK_ID: required');
    expect(missing).toContain('PAYPAL_PARTNER_MERCHANT_ID: required');
    expect(missing).toContain('SETTLE_ADMIN_TOKEN: required when PayPal is configured');
    expect(refusal({ PAYPAL_WEBHOOK_ID: 'X1' })).toContain('PAYPAL_WEBHOOK_ID: set, but PayPal is off');
    expect(refusal({ ...BASE, PAYPAL_MODE: 'production' })).toContain('PAYPAL_MODE');
    expect(refusal({ ...BASE, PAYPAL_API_BASE: 'http://127.0.0.1:1/x' })).toContain(
      'PAYPAL_API_BASE: must be an origin only',
    );
    const live =
      refusal({
        ...BASE,
        PAYPAL_MODE: 'live',
        PAYPAL_API_BASE: 'http://127.0.0.1:1',
        PAYPAL_WEBHOOK_ID: 'WEBHOOK_ID',
      }) ?? '';
    expect(live).toContain('PUBLIC_URL: must be https:// with PAYPAL_MODE=live');
    expect(live).toContain('PAYPAL_API_BASE: must not be set with PAYPAL_MODE=live');
    expect(live).toContain('PAYPAL_PARTNER_ATTRIBUTION_ID: required with PAYPAL_MODE=live');
    expect(live).toContain("PAYPAL_WEBHOOK_ID: 'WEBHOOK_ID' is the webhook simulator's placeholder");
    expect(refusal({ ...BASE, PAYPAL_CLIENT_SECRET: 'has space' })).toContain('PAYPAL_CLIENT_SECRET');
    expect(
      refusal({
        ...BASE,
        PAYPAL_MODE: 'live',
        PUBLIC_URL: 'https://m.example',
        PAYPAL_PARTNER_ATTRIBUTION_ID: 'FLAVORsb_MP',
      }),
    ).toBeNull();
  });

  it('the emulator adapter rewrites the SDK absolute URL to PAYPAL_API_BASE, keeping path and query', async () => {
    expect(apiBaseHttpClientOptions(null)).toBeUndefined();
    const opts = apiBaseHttpClientOptions('http://127.0.0.1:1');
    expect(typeof opts?.adapter).toBe('function');
  });
});
