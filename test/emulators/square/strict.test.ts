import { SquareClient } from 'square';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { squareClientFor } from '../../../src/emulators/square/index.js';
import { createLink, rawApi, refused, startHarness, type Harness, type Seller } from './helpers.js';

describe('Square emulator: strict requests', () => {
  let h: Harness;
  let seller: Seller;
  beforeEach(async () => {
    h = await startHarness();
    seller = await h.connect();
  });
  afterEach(async () => {
    await h.close();
  });

  const linkBody = (
    extra: Record<string, unknown> = {},
    order: Record<string, unknown> = {},
  ): Record<string, unknown> => ({
    idempotency_key: `k-${Math.random()}`,
    order: {
      location_id: seller.locationId,
      line_items: [{ name: 'Class', quantity: '1', base_price_money: { amount: 1000, currency: 'USD' } }],
      ...order,
    },
    ...extra,
  });

  it('a field Square does not document is refused (UNKNOWN_BODY_PARAMETER), at any depth', async () => {
    const top = await rawApi(
      h.emu,
      seller.accessToken,
      'POST',
      '/v2/online-checkout/payment-links',
      linkBody({ colour: 'red' }),
    );
    expect(top.status).toBe(400);
    expect(top.json.errors?.[0]).toMatchObject({
      category: 'INVALID_REQUEST_ERROR',
      code: 'UNKNOWN_BODY_PARAMETER',
      field: 'colour',
    });
    const deep = await rawApi(
      h.emu,
      seller.accessToken,
      'POST',
      '/v2/online-checkout/payment-links',
      linkBody(
        {},
        {
          line_items: [
            { name: 'x', quantity: '1', base_price_money: { amount: 1, currency: 'USD', cents: 1 } },
          ],
        },
      ),
    );
    expect(deep.json.errors?.[0]).toMatchObject({
      code: 'UNKNOWN_BODY_PARAMETER',
      field: 'order.line_items[0].base_price_money.cents',
    });
    expect((await seller.client.checkout.paymentLinks.list()).data).toEqual([]);
  });

  it('a documented field the emulator does not implement is refused (NOT_IMPLEMENTED), through the SDK too', async () => {
    const taxes = await refused(
      seller.client.checkout.paymentLinks.create({
        idempotencyKey: 'taxes',
        order: {
          locationId: seller.locationId,
          lineItems: [{ name: 'Class', quantity: '1', basePriceMoney: { amount: 1000n, currency: 'USD' } }],
          taxes: [{ name: 'VAT', percentage: '20' }],
        },
      }),
    );
    expect(taxes).toMatchObject({ status: 400, code: 'NOT_IMPLEMENTED', field: 'order.taxes' });
    const tipping = await refused(
      seller.client.checkout.paymentLinks.create({
        idempotencyKey: 'tip',
        quickPay: {
          name: 'Class',
          priceMoney: { amount: 1000n, currency: 'USD' },
          locationId: seller.locationId,
        },
        checkoutOptions: { allowTipping: true },
      }),
    );
    expect(tipping).toMatchObject({ code: 'NOT_IMPLEMENTED', field: 'checkout_options.allow_tipping' });
    await seller.client.checkout.paymentLinks.create({
      idempotencyKey: 'notip',
      quickPay: {
        name: 'Class',
        priceMoney: { amount: 1000n, currency: 'USD' },
        locationId: seller.locationId,
      },
      checkoutOptions: { allowTipping: false },
    });
    const readOnly = await rawApi(
      h.emu,
      seller.accessToken,
      'POST',
      '/v2/online-checkout/payment-links',
      linkBody({}, { total_money: { amount: 1, currency: 'USD' } }),
    );
    expect(readOnly.json.errors?.[0]).toMatchObject({ code: 'BAD_REQUEST', field: 'order.total_money' });
    const unlinked = await refused(
      seller.client.refunds.refundPayment({
        idempotencyKey: 'u',
        amountMoney: { amount: 1n, currency: 'USD' },
        unlinked: true,
      }),
    );
    expect(unlinked).toMatchObject({ code: 'NOT_IMPLEMENTED', field: 'unlinked' });
  });

  it('unknown and not-emulated query parameters are refused', async () => {
    const unknown = await refused(seller.client.payments.list({}, { queryParams: { colour: 'red' } }));
    expect(unknown).toMatchObject({ status: 400, code: 'UNKNOWN_QUERY_PARAMETER', field: 'colour' });
    const offline = await refused(seller.client.payments.list({ isOfflinePayment: true }));
    expect(offline).toMatchObject({ status: 400, code: 'NOT_IMPLEMENTED', field: 'is_offline_payment' });
  });

  it('types, lengths, enums and required fields are checked with Square’s codes; all problems are reported', async () => {
    const res = await rawApi(h.emu, seller.accessToken, 'POST', '/v2/refunds', {
      payment_id: 7,
      amount_money: { amount: '100', currency: 'DOLLARS' },
      reason: 'x'.repeat(193),
      idempotency_key: '',
    });
    expect(res.status).toBe(400);
    expect(res.json.errors).toEqual([
      {
        category: 'INVALID_REQUEST_ERROR',
        code: 'EXPECTED_STRING',
        detail: 'Expected a string value',
        field: 'payment_id',
      },
      {
        category: 'INVALID_REQUEST_ERROR',
        code: 'EXPECTED_INTEGER',
        detail: 'Expected an integer value',
        field: 'amount_money.amount',
      },
      {
        category: 'INVALID_REQUEST_ERROR',
        code: 'INVALID_ENUM_VALUE',
        detail: '`DOLLARS` is not a valid enum value for `Currency`.',
        field: 'amount_money.currency',
      },
      {
        category: 'INVALID_REQUEST_ERROR',
        code: 'VALUE_TOO_LONG',
        detail: 'Field must not be greater than 192 length',
        field: 'reason',
      },
      {
        category: 'INVALID_REQUEST_ERROR',
        code: 'VALUE_EMPTY',
        detail: 'Field must not be blank',
        field: 'idempotency_key',
      },
    ]);
    const missing = await rawApi(h.emu, seller.accessToken, 'POST', '/v2/refunds', { payment_id: 'p' });
    expect(missing.json.errors).toEqual([
      {
        category: 'INVALID_REQUEST_ERROR',
        code: 'MISSING_REQUIRED_PARAMETER',
        detail: 'Field must be set',
        field: 'idempotency_key',
      },
      {
        category: 'INVALID_REQUEST_ERROR',
        code: 'MISSING_REQUIRED_PARAMETER',
        detail: 'Field must be set',
        field: 'amount_money',
      },
    ]);
    const notJson = await rawApi(h.emu, seller.accessToken, 'POST', '/v2/refunds', '{"payment_id":');
    expect(notJson.json.errors?.[0]).toMatchObject({ code: 'BAD_REQUEST' });
    const notObject = await rawApi(h.emu, seller.accessToken, 'POST', '/v2/refunds', '[1]');
    expect(notObject.json.errors?.[0]).toMatchObject({ code: 'EXPECTED_JSON_BODY' });
    const quantity = await refused(
      seller.client.checkout.paymentLinks.create({
        idempotencyKey: 'q',
        order: {
          locationId: seller.locationId,
          lineItems: [{ name: 'x', quantity: 'two', basePriceMoney: { amount: 1n, currency: 'USD' } }],
        },
      }),
    );
    expect(quantity).toMatchObject({ code: 'INVALID_VALUE', field: 'order.line_items[0].quantity' });
    const both = await refused(
      seller.client.checkout.paymentLinks.create({
        idempotencyKey: 'b',
        quickPay: { name: 'x', priceMoney: { amount: 100n, currency: 'USD' }, locationId: seller.locationId },
        order: { locationId: seller.locationId },
      }),
    );
    expect(both).toMatchObject({ code: 'CONFLICTING_PARAMETERS' });
  });

  it('authentication: no token, a malformed header, an unknown token: 401 UNAUTHORIZED; missing scopes: 403', async () => {
    const none = await rawApi(h.emu, null, 'GET', '/v2/locations');
    expect(none.status).toBe(401);
    expect(none.json.errors?.[0]).toMatchObject({ category: 'AUTHENTICATION_ERROR', code: 'UNAUTHORIZED' });
    expect(none.json.errors?.[0]?.detail).toContain('"Bearer TOKEN"');
    const basic = await rawApi(h.emu, null, 'GET', '/v2/locations', undefined, {
      authorization: 'Basic abc',
    });
    expect(basic.status).toBe(401);
    expect(await refused(squareClientFor(h.emu, 'EAAAunknown').locations.list())).toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
      detail: 'This request could not be authorized.',
    });
    const readOnly = await h.connect({ scopes: ['MERCHANT_PROFILE_READ'] });
    expect(await refused(readOnly.client.payments.list({}))).toMatchObject({
      status: 403,
      code: 'INSUFFICIENT_SCOPES',
    });
  });

  it('the Square-Version header is recorded per request, and refused when it is not a date', async () => {
    await seller.client.locations.list();
    // square@46.0.0 types `version` as its pinned date only; a client's own headers are overridden by it, a call's are not.
    const pinned = new SquareClient({
      token: seller.accessToken,
      baseUrl: h.emu.url,
      maxRetries: 0,
      headers: { 'Square-Version': '2025-01-23' },
    });
    await pinned.locations.list();
    await seller.client.locations.list({ headers: { 'Square-Version': '2025-01-23' } });
    const calls = h.emu.apiCalls.filter((c) => c.path === '/v2/locations');
    expect(calls.map((c) => c.squareVersion)).toEqual(['2026-09-16', '2026-09-16', '2025-01-23']);
    const bad = await rawApi(h.emu, seller.accessToken, 'GET', '/v2/locations', undefined, {
      'square-version': 'latest',
    });
    expect(bad.status).toBe(400);
    expect(bad.json.errors?.[0]).toMatchObject({ code: 'INVALID_SQUARE_VERSION_FORMAT' });
  });

  it('unknown URLs answer Square’s 404; documented operations the emulator does not serve answer NOT_IMPLEMENTED', async () => {
    const nope = await rawApi(h.emu, seller.accessToken, 'GET', '/v2/teapots');
    expect(nope.status).toBe(404);
    expect(nope.json.errors?.[0]).toMatchObject({
      code: 'NOT_FOUND',
      detail: 'API endpoint for URL path `/v2/teapots` and HTTP method `GET` is not found.',
    });
    const create = await refused(
      seller.client.payments.create({
        sourceId: 'cnon:card-nonce-ok',
        idempotencyKey: 'p',
        amountMoney: { amount: 100n, currency: 'USD' },
      }),
    );
    expect(create).toMatchObject({ status: 400, code: 'NOT_IMPLEMENTED' });
    expect(create.detail).toContain('CreatePayment');
  });

  it('API faults answer Square’s error shape before anything is done: 5xx, 429, timeout, latency', async () => {
    h.emu.faults.set({ api5xx: { next: 1, path: '/v2/online-checkout' } });
    expect(await refused(createLink(seller, { key: 'f1' }))).toMatchObject({
      status: 500,
      category: 'API_ERROR',
      code: 'INTERNAL_SERVER_ERROR',
    });
    expect((await seller.client.checkout.paymentLinks.list()).data).toEqual([]);
    await createLink(seller, { key: 'f1' });

    h.emu.faults.set({ api5xx: { next: 1, status: 503 } });
    expect(await refused(seller.client.locations.list())).toMatchObject({
      status: 503,
      code: 'SERVICE_UNAVAILABLE',
    });

    h.emu.faults.set({ apiRateLimit: { next: 1 } });
    expect(await refused(seller.client.locations.list())).toMatchObject({
      status: 429,
      category: 'RATE_LIMIT_ERROR',
      code: 'RATE_LIMITED',
    });

    // The SDK's own retries (maxRetries 2 by default) recover from one 429.
    h.emu.faults.set({ apiRateLimit: { next: 1 } });
    const retrying = squareClientFor(h.emu, seller.accessToken, { maxRetries: 2 });
    await retrying.locations.list();

    h.emu.faults.set({ apiTimeout: { next: 1, ms: 50 } });
    const timedOut = await seller.client.locations.list().then(
      () => 'answered',
      (err: unknown) => (err instanceof Error ? err.constructor.name : 'error'),
    );
    expect(timedOut).not.toBe('answered');
    expect(h.emu.requests.some((r) => r.fault === 'timeout')).toBe(true);

    h.emu.faults.set({ apiLatencyMs: 80, apiLatencyPath: '/v2/locations' });
    const t0 = Date.now();
    await seller.client.locations.list();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75);
    h.emu.faults.reset();
    expect(h.emu.faults.get().apiLatencyMs).toBe(0);
    expect(h.emu.requests.filter((r) => r.fault === '5xx')).toHaveLength(2);
  });

  it('faults through the control routes', async () => {
    const set = await fetch(`${h.emu.url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api5xx: { next: 1, status: 502 } }),
    });
    expect(set.status).toBe(200);
    expect(await refused(seller.client.locations.list())).toMatchObject({ status: 502, code: 'BAD_GATEWAY' });
    await fetch(`${h.emu.url}/_emulator/faults`, { method: 'DELETE' });
    await seller.client.locations.list();
  });
});
