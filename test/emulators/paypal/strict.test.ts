import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueOf, orderBody, referralBody, sdkError, startHarness, type Harness } from './helpers.js';

/** Raw snake_case order bodies, as PayPal receives them. */
function rawOrder(
  extraUnit: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    intent: 'CAPTURE',
    purchase_units: [
      { reference_id: 'default', amount: { currency_code: 'USD', value: '10.00' }, ...extraUnit },
    ],
    ...extra,
  };
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

interface Detail {
  field?: string;
  value?: string;
  location?: string;
  issue: string;
  description?: string;
}

function details(body: Record<string, unknown>): Detail[] {
  return (body['details'] as Detail[] | undefined) ?? [];
}

describe('strict request checking (tables generated from PayPal’s OpenAPI files)', () => {
  it('refuses an unknown body field: 400 INVALID_REQUEST, NOT_SUPPORTED, the JSON pointer of the field', async () => {
    const res = await h.http('POST', '/v2/checkout/orders', rawOrder({ colour: 'blue' }));
    expect(res.status).toBe(400);
    expect(res.json['name']).toBe('INVALID_REQUEST');
    expect(res.json['message']).toBe(
      'Request is not well-formed, syntactically incorrect, or violates schema.',
    );
    expect(res.json['debug_id']).toBe(res.headers.get('paypal-debug-id'));
    const [d] = details(res.json);
    expect(d).toMatchObject({
      field: '/purchase_units/0/colour',
      value: 'blue',
      location: 'body',
      issue: 'NOT_SUPPORTED',
    });
    expect(d?.description).toContain("not in PayPal's published schema");
    expect(res.json['links']).toEqual([
      {
        href: 'https://developer.paypal.com/docs/api/orders/v2/#error-NOT_SUPPORTED',
        rel: 'information_link',
        method: 'GET',
      },
    ]);
  });

  it('refuses a field PayPal documents but the emulator does not implement, naming it', async () => {
    const res = await h.http(
      'POST',
      '/v2/checkout/orders',
      rawOrder({
        items: [{ name: 'x', unit_amount: { currency_code: 'USD', value: '10.00' }, quantity: '1' }],
      }),
    );
    expect(res.status).toBe(400);
    const [d] = details(res.json);
    expect(d).toMatchObject({ field: '/purchase_units/0/items', issue: 'NOT_SUPPORTED' });
    expect(d?.description).toContain('does not implement');
    const breakdown = await h.http('POST', '/v2/checkout/orders', {
      intent: 'CAPTURE',
      purchase_units: [{ amount: { currency_code: 'USD', value: '10.00', breakdown: {} } }],
    });
    expect(details(breakdown.json)[0]?.field).toBe('/purchase_units/0/amount/breakdown');
    const card = await h.http('POST', '/v2/checkout/orders', rawOrder({}, { payment_source: { card: {} } }));
    expect(details(card.json)[0]?.field).toBe('/payment_source/card');
    // A field the pinned SDK knows but the published spec lacks is refused the same way (not as unknown).
    const sdkOnly = await h.http(
      'POST',
      '/v2/checkout/orders',
      rawOrder({}, { processing_instruction: 'NO_INSTRUCTION' }),
    );
    expect(details(sdkOnly.json)[0]).toMatchObject({
      field: '/processing_instruction',
      issue: 'NOT_SUPPORTED',
    });
    expect(details(sdkOnly.json)[0]?.description).toContain('does not implement');
  });

  it('answers MISSING_REQUIRED_PARAMETER, INVALID_PARAMETER_SYNTAX, INVALID_PARAMETER_VALUE, INVALID_STRING_LENGTH', async () => {
    const missing = await h.http('POST', '/v2/checkout/orders', {
      intent: 'CAPTURE',
      purchase_units: [{ amount: { currency_code: 'USD' } }],
    });
    expect(details(missing.json)[0]).toMatchObject({
      field: '/purchase_units/0/amount/value',
      issue: 'MISSING_REQUIRED_PARAMETER',
    });
    const syntax = await h.http('POST', '/v2/checkout/orders', {
      intent: 'CAPTURE',
      purchase_units: [{ amount: { currency_code: 'USD', value: 10 } }],
    });
    expect(details(syntax.json)[0]).toMatchObject({
      field: '/purchase_units/0/amount/value',
      value: '10',
      issue: 'INVALID_PARAMETER_SYNTAX',
    });
    const pattern = await h.http('POST', '/v2/checkout/orders', {
      intent: 'CAPTURE',
      purchase_units: [{ amount: { currency_code: 'USD', value: '10,00' } }],
    });
    expect(issueOf(pattern.json)).toBe('INVALID_PARAMETER_SYNTAX');
    const value = await h.http(
      'POST',
      '/v2/checkout/orders',
      rawOrder({}, { payment_source: { paypal: { experience_context: { landing_page: 'BILLING' } } } }),
    );
    expect(details(value.json)[0]).toMatchObject({
      field: '/payment_source/paypal/experience_context/landing_page',
      value: 'BILLING',
      issue: 'INVALID_PARAMETER_VALUE',
    });
    const length = await h.http('POST', '/v2/checkout/orders', rawOrder({ custom_id: 'x'.repeat(128) }));
    expect(issueOf(length.json)).toBe('INVALID_STRING_LENGTH');
    const url = await h.http(
      'POST',
      '/v2/checkout/orders',
      rawOrder({}, { payment_source: { paypal: { experience_context: { return_url: 'not a url' } } } }),
    );
    expect(issueOf(url.json)).toBe('INVALID_PARAMETER_SYNTAX');
  });

  it('answers INVALID_ARRAY_MAX_ITEMS for 11 purchase units and INVALID_ARRAY_MIN_ITEMS for none', async () => {
    const units = Array.from({ length: 11 }, (_, i) => ({
      reference_id: `u${i}`,
      amount: { currency_code: 'USD', value: '1.00' },
    }));
    expect(
      issueOf(
        (await h.http('POST', '/v2/checkout/orders', { intent: 'CAPTURE', purchase_units: units })).json,
      ),
    ).toBe('INVALID_ARRAY_MAX_ITEMS');
    expect(
      issueOf((await h.http('POST', '/v2/checkout/orders', { intent: 'CAPTURE', purchase_units: [] })).json),
    ).toBe('INVALID_ARRAY_MIN_ITEMS');
  });

  it('refuses malformed JSON (MALFORMED_REQUEST_JSON) and a form body (415)', async () => {
    const malformed = await fetch(`${h.emu.url}/v2/checkout/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: '{"intent":',
    });
    const body = (await malformed.json()) as Record<string, unknown>;
    expect(malformed.status).toBe(400);
    expect(issueOf(body)).toBe('MALFORMED_REQUEST_JSON');
    const form = await fetch(`${h.emu.url}/v2/checkout/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'intent=CAPTURE',
    });
    expect(form.status).toBe(415);
  });

  it('checks headers: Prefer values, PayPal-Request-Id length, PayPal-Mock-Response refused', async () => {
    const prefer = await h.http('POST', '/v2/checkout/orders', rawOrder(), { prefer: 'return=everything' });
    expect(details(prefer.json)[0]).toMatchObject({
      field: 'Prefer',
      location: 'header',
      issue: 'INVALID_PARAMETER_VALUE',
    });
    const long = await h.http('POST', '/v2/checkout/orders', rawOrder(), {
      'paypal-request-id': 'r'.repeat(109),
    });
    expect(details(long.json)[0]).toMatchObject({
      field: 'paypal-request-id',
      issue: 'INVALID_STRING_LENGTH',
    });
    const mock = await sdkError(
      h.orders.createOrder({
        body: orderBody(),
        paypalMockResponse: '{"mock_application_codes":"INSTRUMENT_DECLINED"}',
      }),
    );
    expect(mock.status).toBe(400);
    expect(issueOf(mock.body)).toBe('NOT_SUPPORTED');
    const requestIdOnGet = await h.http('GET', '/v2/checkout/orders/ABC', undefined, {
      'paypal-request-id': 'x',
    });
    expect(issueOf(requestIdOnGet.json)).toBe('NOT_SUPPORTED');
  });

  it('refuses an unknown query parameter', async () => {
    const res = await h.http('GET', '/v1/customer/disputes?colour=blue');
    expect(res.status).toBe(400);
    expect(details(res.json)[0]).toMatchObject({
      field: 'colour',
      location: 'query',
      issue: 'NOT_SUPPORTED',
    });
  });

  it('refuses a refund body with unknown fields and a read-only refund field', async () => {
    const res = await h.http('POST', '/v2/payments/captures/ABC/refund', {
      amount: { currency_code: 'USD', value: '1.00' },
      reason: 'x',
    });
    expect(details(res.json)[0]).toMatchObject({ field: '/reason', issue: 'NOT_SUPPORTED' });
  });

  it('checks partner referrals against the spec (return_url at most 127 characters, legal consent required)', async () => {
    const body = referralBody('seller-strict');
    body['partner_config_override'] = { return_url: `https://settle.example/${'r'.repeat(120)}` };
    const long = await h.http('POST', '/v2/customer/partner-referrals', body);
    expect(long.status).toBe(400);
    expect(details(long.json)[0]).toMatchObject({
      field: '/partner_config_override/return_url',
      issue: 'INVALID_STRING_LENGTH',
    });
    const noConsent = referralBody('seller-strict');
    delete noConsent['legal_consents'];
    expect(
      details((await h.http('POST', '/v2/customer/partner-referrals', noConsent)).json)[0],
    ).toMatchObject({
      field: '/legal_consents',
      issue: 'MISSING_REQUIRED_PARAMETER',
    });
  });

  it('answers the v1 shape (VALIDATION_ERROR, information_link) on the webhooks API', async () => {
    const res = await h.http('POST', '/v1/notifications/webhooks', {
      url: 'https://x.example/h',
      event_types: [{ name: '*' }],
      extra: 1,
    });
    expect(res.status).toBe(400);
    expect(res.json['name']).toBe('VALIDATION_ERROR');
    expect(res.json['message']).toBe('Invalid data provided');
    expect(String(res.json['information_link'])).toContain('webhooks');
    expect(details(res.json)[0]?.field).toBe('extra');
    const unknownType = await h.http('POST', '/v1/notifications/webhooks', {
      url: 'https://x.example/h',
      event_types: [{ name: 'PAYMENT.CAPTURE.EXPLODED' }],
    });
    expect(details(unknownType.json)[0]?.field).toBe('event_types[0].name');
  });

  it('refuses documented endpoints that are not emulated, and answers 404 for unknown routes', async () => {
    const patch = await h.http('PATCH', '/v2/checkout/orders/ABC', [
      { op: 'replace', path: '/intent', value: 'CAPTURE' },
    ]);
    expect(patch.status).toBe(400);
    expect(issueOf(patch.json)).toBe('NOT_SUPPORTED');
    const nothing = await h.http('GET', '/v2/nothing/here');
    expect(nothing.status).toBe(404);
    expect(nothing.json['name']).toBe('RESOURCE_NOT_FOUND');
  });
});
