import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/emulators/stripe/errors.js';
import { parseForm, type FormObject, type FormValue } from '../../../src/emulators/stripe/form.js';
import { checkRequest } from '../../../src/emulators/stripe/params.js';
import { ENDPOINTS } from '../../../src/emulators/stripe/spec/params.generated.js';
import { SUPPORTED, supportOf } from '../../../src/emulators/stripe/spec/support.js';
import type { ParamSpec } from '../../../src/emulators/stripe/spec/types.js';
import { onboardedAccount, sessionParams, startHarness, type Harness } from './helpers.js';

/** The Stripe error body `checkRequest` throws for a form string, or null when it accepts it. */
function check(endpoint: string, form: string): Record<string, string> | null {
  const [method = '', route = ''] = endpoint.split(' ');
  try {
    checkRequest(method, route, parseForm(form));
    return null;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { status: String(err.status), ...err.body().error };
  }
}

const VALID_SESSION =
  'mode=payment&line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]=500' +
  '&line_items[0][price_data][product_data][name]=Seat&line_items[0][quantity]=1&success_url=https://shop.test/ok';
const SESSIONS = 'POST /v1/checkout/sessions';
const REFUNDS = 'POST /v1/refunds';

describe('checkRequest: unknown parameters', () => {
  it('refuses an unknown top-level body parameter with parameter_unknown', () => {
    expect(check(REFUNDS, 'payment_intent=pi_1&foo=1')).toEqual({
      status: '400',
      type: 'invalid_request_error',
      code: 'parameter_unknown',
      param: 'foo',
      message: 'Received unknown parameter: foo',
      doc_url: 'https://docs.stripe.com/error-codes/parameter-unknown',
    });
  });

  it('names the full bracket path of a nested unknown parameter, inside arrays too', () => {
    expect(check(SESSIONS, `${VALID_SESSION}&line_items[0][price_data][foo]=1`)).toMatchObject({
      code: 'parameter_unknown',
      param: 'line_items[0][price_data][foo]',
      message: 'Received unknown parameter: line_items[0][price_data][foo]',
    });
    expect(check(SESSIONS, `${VALID_SESSION}&payment_intent_data[transfer_data][nope]=1`)).toMatchObject({
      code: 'parameter_unknown',
      param: 'payment_intent_data[transfer_data][nope]',
    });
  });

  it('refuses unknown query parameters of GET requests, nested ones too', () => {
    expect(check('GET /v1/events', 'limit=3&foo=bar')).toMatchObject({
      code: 'parameter_unknown',
      param: 'foo',
    });
    expect(check('GET /v1/events', 'created[after]=1')).toMatchObject({
      code: 'parameter_unknown',
      param: 'created[after]',
    });
    expect(check('GET /v1/checkout/sessions/:id', 'include=line_items')).toMatchObject({
      code: 'parameter_unknown',
      param: 'include',
    });
  });

  it('refuses a parameter older API versions had but the pinned one does not (top-level promotion code `coupon`)', () => {
    expect(check('POST /v1/promotion_codes', 'coupon=SUMMER&code=SUMMER10')).toMatchObject({
      code: 'parameter_unknown',
      param: 'coupon',
    });
  });
});

describe('checkRequest: invalid values', () => {
  it('refuses a value outside an enum, listing the values as Stripe does', () => {
    expect(check(REFUNDS, 'payment_intent=pi_1&reason=changed_mind')).toEqual({
      status: '400',
      type: 'invalid_request_error',
      param: 'reason',
      message: 'Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer',
    });
    expect(check(SESSIONS, VALID_SESSION.replace('mode=payment', 'mode=pay'))).toMatchObject({
      param: 'mode',
      message: 'Invalid mode: must be one of payment, setup, or subscription',
    });
    expect(check(SESSIONS, `${VALID_SESSION}&payment_intent_data[capture_method]=later`)).toMatchObject({
      param: 'payment_intent_data[capture_method]',
      message:
        'Invalid payment_intent_data[capture_method]: must be one of automatic, automatic_async, or manual',
    });
  });

  it('refuses a non-integer for an integer parameter with parameter_invalid_integer', () => {
    expect(check(REFUNDS, 'payment_intent=pi_1&amount=12.5')).toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'amount',
      message: 'Invalid integer: 12.5',
    });
    expect(check(SESSIONS, VALID_SESSION.replace('[quantity]=1', '[quantity]=two'))).toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'line_items[0][quantity]',
      message: 'Invalid integer: two',
    });
    expect(check('GET /v1/refunds', 'limit=ten')).toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'limit',
    });
    expect(check('GET /v1/events', 'created=yesterday')).toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'created',
    });
    expect(check('GET /v1/events', 'created[gte]=1.5')).toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'created[gte]',
    });
    expect(check('GET /v1/events', 'created=1700000000')).toBeNull();
    expect(check('GET /v1/events', 'created[gte]=1700000000&created[lt]=1800000000')).toBeNull();
  });

  it('accepts floats where Stripe types a float, and refuses non-numbers there', () => {
    expect(check('POST /v1/coupons', 'percent_off=12.5')).toBeNull();
    expect(check('POST /v1/coupons', 'percent_off=lots')).toMatchObject({
      param: 'percent_off',
      message: 'Invalid decimal: lots',
    });
    expect(check('POST /v1/coupons', 'amount_off=2.5&currency=eur')).toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'amount_off',
    });
  });

  it('refuses anything but true or false for a boolean', () => {
    expect(check(REFUNDS, 'payment_intent=pi_1&refund_application_fee=yes')).toEqual({
      status: '400',
      type: 'invalid_request_error',
      param: 'refund_application_fee',
      message: 'Invalid boolean: yes',
    });
    expect(check(REFUNDS, 'payment_intent=pi_1&reverse_transfer=True')).toMatchObject({
      message: 'Invalid boolean: True',
    });
    expect(
      check(REFUNDS, 'payment_intent=pi_1&reverse_transfer=true&refund_application_fee=false'),
    ).toBeNull();
  });

  it('refuses a string where an object is expected, and an object where a string is', () => {
    expect(check(SESSIONS, `${VALID_SESSION}&metadata=order_1`)).toMatchObject({
      param: 'metadata',
      message: 'Invalid object',
    });
    expect(check(SESSIONS, `${VALID_SESSION}&payment_intent_data=x`)).toMatchObject({
      param: 'payment_intent_data',
      message: 'Invalid object',
    });
    expect(check(SESSIONS, `${VALID_SESSION}&customer_email[address]=a@b.c`)).toMatchObject({
      param: 'customer_email',
      message: 'Invalid string: {:address=>"a@b.c"}',
    });
    expect(check(SESSIONS, `${VALID_SESSION}&metadata[order][id]=1`)).toMatchObject({
      param: 'metadata[order]',
      message: 'Invalid string: {:id=>"1"}',
    });
  });

  it('refuses a string or an object where a list is expected', () => {
    expect(check(SESSIONS, 'mode=payment&line_items=ticket')).toMatchObject({
      param: 'line_items',
      message: 'Invalid array',
    });
    expect(check(SESSIONS, 'mode=payment&line_items[first][quantity]=1')).toMatchObject({
      param: 'line_items',
      message: 'Invalid array',
    });
    expect(check('GET /v1/charges/:id', 'expand=latest_charge')).toMatchObject({
      param: 'expand',
      message: 'Invalid array',
    });
  });

  it('refuses an empty string where the parameter cannot be unset, with parameter_invalid_empty', () => {
    expect(check(SESSIONS, `${VALID_SESSION}&customer_email=`)).toMatchObject({
      code: 'parameter_invalid_empty',
      param: 'customer_email',
      message:
        "You passed an empty string for 'customer_email'. We assume empty values are an attempt to unset a parameter; however 'customer_email' cannot be unset. You should remove 'customer_email' from your request or supply a non-empty value.",
    });
    expect(check(SESSIONS, VALID_SESSION.replace('[currency]=eur', '[currency]='))).toMatchObject({
      code: 'parameter_invalid_empty',
      param: 'line_items[0][price_data][currency]',
    });
    // Checkout Session create types `metadata` as MetadataParam, not Emptyable<MetadataParam>.
    expect(check(SESSIONS, `${VALID_SESSION}&metadata=`)).toMatchObject({
      code: 'parameter_invalid_empty',
      param: 'metadata',
    });
  });

  it('accepts an empty string where Stripe allows unsetting: Emptyable parameters and metadata keys', () => {
    expect(check(REFUNDS, 'payment_intent=pi_1&metadata=')).toBeNull();
    expect(check('POST /v1/promotion_codes/:id', 'metadata=')).toBeNull();
    expect(check('POST /v1/promotion_codes/:id', 'metadata[campaign]=')).toBeNull();
    expect(check(SESSIONS, `${VALID_SESSION}&metadata[order]=`)).toBeNull();
  });

  it('reads numeric metadata keys back as keys (form.ts turns metadata[0]=x into a list)', () => {
    expect(check(REFUNDS, 'payment_intent=pi_1&metadata[0]=a&metadata[1]=b')).toBeNull();
  });
});

describe('checkRequest: missing parameters', () => {
  it('refuses a request without a parameter the SDK marks required, with parameter_missing', () => {
    expect(
      check(
        'POST /v1/account_links',
        'account=acct_1&return_url=https://shop.test/r&refresh_url=https://shop.test/f',
      ),
    ).toEqual({
      status: '400',
      type: 'invalid_request_error',
      code: 'parameter_missing',
      param: 'type',
      message: 'Missing required param: type.',
      doc_url: 'https://docs.stripe.com/error-codes/parameter-missing',
    });
  });

  it('names the full path of a missing nested parameter', () => {
    expect(
      check(SESSIONS, VALID_SESSION.replace('line_items[0][price_data][currency]=eur&', '')),
    ).toMatchObject({
      code: 'parameter_missing',
      param: 'line_items[0][price_data][currency]',
      message: 'Missing required param: line_items[0][price_data][currency].',
    });
    expect(check(SESSIONS, `${VALID_SESSION}&payment_intent_data[transfer_data][amount]=100`)).toMatchObject({
      code: 'parameter_missing',
      param: 'payment_intent_data[transfer_data][destination]',
    });
  });
});

describe('checkRequest: documented parameters the emulator does not implement', () => {
  it('refuses them with parameter_unsupported and the full path', () => {
    expect(check(SESSIONS, `${VALID_SESSION}&locale=fr`)).toEqual({
      status: '400',
      type: 'invalid_request_error',
      code: 'parameter_unsupported',
      param: 'locale',
      message:
        "Received parameter 'locale', which Stripe documents but the Settle emulator does not emulate.",
    });
    expect(check(SESSIONS, `${VALID_SESSION}&payment_intent_data[capture_method]=manual`)).toMatchObject({
      code: 'parameter_unsupported',
      param: 'payment_intent_data[capture_method]',
    });
    expect(
      check(
        SESSIONS,
        `${VALID_SESSION}&line_items[1][price]=price_123&line_items[1][quantity]=1&line_items[1][tax_rates][0]=txr_1`,
      ),
    ).toMatchObject({ code: 'parameter_unsupported', param: 'line_items[1][tax_rates]' });
    expect(
      check(SESSIONS, `${VALID_SESSION}&line_items[0][price_data][product_data][description]=Front row`),
    ).toMatchObject({
      code: 'parameter_unsupported',
      param: 'line_items[0][price_data][product_data][description]',
    });
    expect(check('GET /v1/customers', 'test_clock=clock_1')).toMatchObject({
      code: 'parameter_unsupported',
      param: 'test_clock',
    });
    expect(check('GET /v1/payment_intents/:id', 'client_secret=pi_1_secret_x')).toMatchObject({
      code: 'parameter_unsupported',
      param: 'client_secret',
    });
  });

  it('accepts the implemented ones, with `expand` wherever Stripe documents it', () => {
    expect(check(SESSIONS, `${VALID_SESSION}&expand[0]=line_items&expand[1]=payment_intent`)).toBeNull();
    expect(check('GET /v1/charges', 'payment_intent=pi_1&limit=5&expand[0]=data.payment_intent')).toBeNull();
    expect(check('GET /v1/refunds/:id', 'expand[0]=charge')).toBeNull();
    expect(check('DELETE /v1/webhook_endpoints/:id', 'expand[0]=x')).toMatchObject({
      code: 'parameter_unknown',
      param: 'expand',
    });
  });

  it('accepts, on every endpoint, a request with every implemented parameter set to a valid value', () => {
    const sample = (spec: ParamSpec, endpoint: string, pattern: string): FormValue => {
      switch (spec.kind) {
        case 'string':
          return 'x';
        case 'enum':
          return spec.values[0] ?? '';
        case 'integer':
          return '1';
        case 'number':
        case 'decimal':
          return '1.5';
        case 'boolean':
          return 'true';
        case 'metadata':
          return { k: 'v' };
        case 'map':
          return { k: sample(spec.values, endpoint, `${pattern}[k]`) };
        case 'array':
          return [sample(spec.items, endpoint, `${pattern}[]`)];
        case 'union':
          return sample(
            spec.anyOf.find((a) => a.kind !== 'object') ?? spec.anyOf[0] ?? spec,
            endpoint,
            pattern,
          );
        case 'object':
          return sampleFields(spec.fields, endpoint, pattern);
      }
    };
    const sampleFields = (
      fields: Readonly<Record<string, ParamSpec>>,
      endpoint: string,
      prefix: string,
    ): FormObject => {
      const out: FormObject = {};
      for (const [key, spec] of Object.entries(fields)) {
        const pattern = prefix === '' ? key : `${prefix}[${key}]`;
        if (supportOf(endpoint, pattern) !== 'none') out[key] = sample(spec, endpoint, pattern);
      }
      return out;
    };
    for (const [endpoint, spec] of Object.entries(ENDPOINTS)) {
      const [method = '', route = ''] = endpoint.split(' ');
      const params = sampleFields(spec.params, endpoint, '');
      expect(() => checkRequest(method, route, params), endpoint).not.toThrow();
      for (const p of SUPPORTED[endpoint] ?? []) {
        const top = p.split('[')[0] ?? '';
        expect(params, `${endpoint} ${p}`).toHaveProperty([top]);
      }
    }
  });
});

describe('checkRequest: order and routes', () => {
  it('reports an unknown parameter first, then an invalid value, then a missing one, then an unsupported one', () => {
    const base = 'account=acct_1&return_url=https://shop.test/r';
    expect(check('POST /v1/account_links', `${base}&type=x&collect=y&foo=1`)).toMatchObject({
      code: 'parameter_unknown',
    });
    expect(check('POST /v1/account_links', `${base}&type=x&collect=y`)).toMatchObject({
      param: 'type',
      message: 'Invalid type: must be one of account_onboarding or account_update',
    });
    expect(check('POST /v1/account_links', `${base}&collect=currently_due`)).toMatchObject({
      code: 'parameter_missing',
      param: 'type',
    });
    expect(
      check('POST /v1/account_links', `${base}&type=account_onboarding&collect=currently_due`),
    ).toMatchObject({ code: 'parameter_unsupported', param: 'collect' });
  });

  it('answers 500 for a route without a parameter table (regenerate with npm run emulator:spec)', () => {
    expect(check('GET /v1/balance', '')).toMatchObject({ status: '500', type: 'api_error' });
  });

  it('accepts an empty request on every endpoint that has no required parameter', () => {
    for (const [endpoint, spec] of Object.entries(ENDPOINTS)) {
      const required = Object.entries(spec.params).filter(([, s]) => s.required);
      if (required.length === 0) expect(check(endpoint, ''), endpoint).toBeNull();
      else expect(check(endpoint, ''), endpoint).toMatchObject({ code: 'parameter_missing' });
    }
  });
});

// Through the official SDK and the emulator's HTTP server, once server.ts calls checkRequest before each handler.
const wired = readFileSync(
  join(import.meta.dirname, '../../../src/emulators/stripe/server.ts'),
  'utf8',
).includes('checkRequest');

/** The SDK's typings reject unknown parameters at compile time; the emulator must reject them at run time too. */
const loose = <T>(params: object): T => params as T;

interface RawError {
  statusCode?: number;
  type?: string;
  raw?: { code?: string; param?: string; message?: string; type?: string };
}

async function refusal(p: Promise<unknown>): Promise<RawError> {
  try {
    await p;
  } catch (err) {
    return err as RawError;
  }
  throw new Error('expected the emulator to refuse the request');
}

describe.skipIf(!wired)('strict parameters through the SDK', () => {
  let h: Harness;
  let seller: Stripe.Account;
  beforeAll(async () => {
    h = await startHarness();
    seller = await onboardedAccount(h.stripe);
  });
  afterAll(async () => {
    await h.close();
  });

  it('still accepts what Settle and the tests send', async () => {
    const session = await h.stripe.checkout.sessions.create(
      sessionParams({ metadata: { orderId: 'o1' }, payment_intent_data: { application_fee_amount: 100 } }),
      { stripeAccount: seller.id },
    );
    expect(session.status).toBe('open');
    const listed = await h.stripe.checkout.sessions.list(
      { limit: 3, created: { gte: 0 }, expand: ['data.payment_intent'] },
      { stripeAccount: seller.id },
    );
    expect(listed.data[0]?.id).toBe(session.id);
  });

  it('unknown nested parameter: 400 parameter_unknown with the full path', async () => {
    const params = sessionParams();
    const err = await refusal(
      h.stripe.checkout.sessions.create(
        loose<Stripe.Checkout.SessionCreateParams>({
          ...params,
          line_items: [
            { ...params.line_items?.[0], price_data: { currency: 'eur', unit_amount: 5, foo: 1 } },
          ],
        }),
      ),
    );
    expect(err.statusCode).toBe(400);
    expect(err.type).toBe('StripeInvalidRequestError');
    expect(err.raw).toMatchObject({
      code: 'parameter_unknown',
      param: 'line_items[0][price_data][foo]',
      message: 'Received unknown parameter: line_items[0][price_data][foo]',
    });
  });

  it('unknown query parameter on a list', async () => {
    const err = await refusal(h.stripe.events.list(loose<Stripe.EventListParams>({ kind: 'charge' })));
    expect(err.raw).toMatchObject({ code: 'parameter_unknown', param: 'kind' });
  });

  it('bad enum value', async () => {
    const err = await refusal(
      h.stripe.refunds.create(loose<Stripe.RefundCreateParams>({ payment_intent: 'pi_1', reason: 'other' })),
    );
    expect(err.raw).toMatchObject({
      param: 'reason',
      message: 'Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer',
    });
  });

  it('non-integer amount', async () => {
    const err = await refusal(h.stripe.checkout.sessions.create(sessionParams({}, 12.5)));
    expect(err.raw).toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'line_items[0][price_data][unit_amount]',
      message: 'Invalid integer: 12.5',
    });
  });

  it('bad boolean', async () => {
    const err = await refusal(
      h.stripe.checkout.sessions.create(
        loose<Stripe.Checkout.SessionCreateParams>({ ...sessionParams(), allow_promotion_codes: 'yes' }),
      ),
    );
    expect(err.raw).toMatchObject({ param: 'allow_promotion_codes', message: 'Invalid boolean: yes' });
  });

  it('string for an object', async () => {
    const err = await refusal(
      h.stripe.customers.create(loose<Stripe.CustomerCreateParams>({ metadata: 'order_1' })),
    );
    expect(err.raw).toMatchObject({ param: 'metadata', message: 'Invalid object' });
  });

  it('empty string where the parameter cannot be unset', async () => {
    const err = await refusal(h.stripe.checkout.sessions.create(sessionParams({ customer_email: '' })));
    expect(err.raw).toMatchObject({ code: 'parameter_invalid_empty', param: 'customer_email' });
  });

  it('missing required parameter', async () => {
    const err = await refusal(
      h.stripe.accountLinks.create(
        loose<Stripe.AccountLinkCreateParams>({ account: seller.id, return_url: 'https://shop.test/r' }),
      ),
    );
    expect(err.raw).toMatchObject({
      code: 'parameter_missing',
      param: 'type',
      message: 'Missing required param: type.',
    });
  });

  it('documented parameter the emulator does not implement', async () => {
    const err = await refusal(h.stripe.checkout.sessions.create(sessionParams({ locale: 'fr' })));
    expect(err.raw).toMatchObject({ code: 'parameter_unsupported', param: 'locale' });
    const list = await refusal(h.stripe.customers.list({ test_clock: 'clock_1' }));
    expect(list.raw).toMatchObject({ code: 'parameter_unsupported', param: 'test_clock' });
  });

  it('metadata keys can be unset with an empty string', async () => {
    const coupon = await h.stripe.coupons.create({ percent_off: 10, duration: 'once' });
    const promo = await h.stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      metadata: { campaign: 'spring' },
    });
    const updated = await h.stripe.promotionCodes.update(promo.id, { metadata: { campaign: '' } });
    expect(updated.id).toBe(promo.id);
  });
});
