import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DOCS_FILE,
  emulatorRoutes,
  generate,
  OBJECTS_FILE,
  PARAMS_FILE,
  REPO_ROOT,
  type Generated,
} from '../../../src/emulators/stripe/spec/generate.js';
import {
  OBJECT_FIELDS,
  OBJECT_FIELD_TYPES,
  OBJECT_OPTIONAL_FIELDS,
} from '../../../src/emulators/stripe/spec/objects.generated.js';
import {
  ENDPOINTS,
  STRIPE_API_VERSION,
  STRIPE_SDK_VERSION,
} from '../../../src/emulators/stripe/spec/params.generated.js';
import {
  ALWAYS_SUPPORTED,
  SUPPORT_DOC_BEGIN,
  SUPPORT_DOC_END,
  SUPPORTED,
} from '../../../src/emulators/stripe/spec/support.js';
import type { ParamSpec } from '../../../src/emulators/stripe/spec/types.js';
import { API_VERSION } from '../../../src/emulators/stripe/store.js';

/** The parameter at a bracket path (`line_items[][price_data][unit_amount]`), `[]` entering arrays. */
function at(endpoint: string, pattern: string): ParamSpec | undefined {
  const parts = pattern.replace(/\]/g, '').split('[');
  let node: ParamSpec | undefined = ENDPOINTS[endpoint]?.params[parts[0] ?? ''];
  for (const part of parts.slice(1)) {
    if (!node) return undefined;
    if (node.kind === 'union') node = node.anyOf.find((a) => a.kind === 'object' || a.kind === 'array');
    if (!node) return undefined;
    if (part === '') node = node.kind === 'array' ? node.items : undefined;
    else if (node.kind === 'object') node = node.fields[part];
    else if (node.kind === 'map') node = node.values;
    else return undefined;
  }
  return node;
}

const section = (doc: string): string =>
  doc.slice(doc.indexOf(SUPPORT_DOC_BEGIN), doc.indexOf(SUPPORT_DOC_END) + SUPPORT_DOC_END.length);

describe('parameter and object tables derived from the stripe SDK', () => {
  let generated: Generated;
  beforeAll(async () => {
    generated = await generate();
  }, 120_000);

  it('are up to date with the pinned SDK (run `npm run emulator:spec` after bumping stripe)', () => {
    expect(generated.unmatched).toEqual([]);
    expect(readFileSync(PARAMS_FILE, 'utf8')).toBe(generated.params);
    expect(readFileSync(OBJECTS_FILE, 'utf8')).toBe(generated.objects);
  });

  it('docs/emulator.md shows the support table as it is (run `npm run emulator:spec` after editing it)', () => {
    expect(generated.docs).not.toBeNull();
    const committed = readFileSync(DOCS_FILE, 'utf8');
    expect(committed).toContain(SUPPORT_DOC_BEGIN);
    expect(section(committed)).toBe(section(generated.docs ?? ''));
  });

  it('come from the pinned SDK and API version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/stripe/package.json'), 'utf8')) as {
      version: string;
    };
    expect(STRIPE_SDK_VERSION).toBe(pkg.version);
    expect(STRIPE_API_VERSION).toBe(API_VERSION);
  });

  it('cover every route the emulator serves, and the support table names exactly those routes', () => {
    const routes = emulatorRoutes();
    expect(routes.length).toBeGreaterThan(30);
    expect(Object.keys(ENDPOINTS).sort()).toEqual(routes);
    expect(Object.keys(SUPPORTED).sort()).toEqual(routes);
  });

  it('the support table only names documented parameters', () => {
    const bad: string[] = [];
    for (const [endpoint, paths] of Object.entries(SUPPORTED))
      for (const p of paths) if (!at(endpoint, p)) bad.push(`${endpoint} ${p}`);
    expect(bad).toEqual([]);
    expect(ALWAYS_SUPPORTED).toEqual(['expand']);
  });

  it('know the facts the SDK states', () => {
    const create = 'POST /v1/checkout/sessions';
    expect(ENDPOINTS[create]?.sdk).toBe('checkout.sessions.create');
    expect(ENDPOINTS[create]?.type).toBe('Checkout.SessionCreateParams');
    const mode = at(create, 'mode');
    expect(mode?.kind).toBe('enum');
    if (mode?.kind === 'enum') expect(mode.values).toEqual(['payment', 'setup', 'subscription']);
    expect(at(create, 'line_items')?.kind).toBe('array');
    expect(at(create, 'line_items[][price_data][unit_amount]')).toEqual({ kind: 'integer' });
    expect(at(create, 'line_items[][price_data][unit_amount_decimal]')).toEqual({ kind: 'decimal' });
    expect(at(create, 'line_items[][price_data][currency]')).toEqual({ kind: 'string', required: true });
    expect(at(create, 'line_items[][price_data][product_data][name]')).toEqual({
      kind: 'string',
      required: true,
    });
    expect(at(create, 'metadata')).toEqual({ kind: 'metadata' });
    expect(at(create, 'payment_intent_data[application_fee_amount]')).toEqual({ kind: 'integer' });
    expect(at(create, 'payment_intent_data[transfer_data][destination]')).toEqual({
      kind: 'string',
      required: true,
    });
    expect(at(create, 'allow_promotion_codes')).toEqual({ kind: 'boolean' });
    expect(at(create, 'expand')).toEqual({ kind: 'array', items: { kind: 'string' } });

    const reason = at('POST /v1/refunds', 'reason');
    expect(reason).toEqual({ kind: 'enum', values: ['duplicate', 'fraudulent', 'requested_by_customer'] });
    // Emptyable<MetadataParam>: `metadata=''` unsets it.
    expect(at('POST /v1/refunds', 'metadata')).toEqual({ kind: 'metadata', emptyable: true });
    expect(at('POST /v1/coupons', 'percent_off')).toEqual({ kind: 'number' });
    expect(at('POST /v1/coupons', 'amount_off')).toEqual({ kind: 'integer' });
    const links = ENDPOINTS['POST /v1/account_links']?.params;
    expect(links?.account?.required).toBe(true);
    expect(links?.type?.required).toBe(true);

    // List parameters: PaginationParams and `created: number | RangeQueryParam`.
    const list = ENDPOINTS['GET /v1/events']?.params ?? {};
    expect(list.limit).toEqual({ kind: 'integer' });
    expect(list.starting_after).toEqual({ kind: 'string' });
    expect(list.ending_before).toEqual({ kind: 'string' });
    expect(list.created?.kind).toBe('union');
    expect(at('GET /v1/events', 'created[gte]')).toEqual({ kind: 'integer' });
    expect(ENDPOINTS['DELETE /v1/webhook_endpoints/:id']?.params).toEqual({});
  });

  it("list every returned object's top-level fields, keyed by its `object` value", () => {
    expect(Object.keys(OBJECT_FIELDS).sort()).toEqual(
      [
        'account',
        'application_fee',
        'charge',
        'checkout.session',
        'coupon',
        'customer',
        'dispute',
        'event',
        'item',
        'payment_intent',
        'promotion_code',
        'refund',
        'transfer',
        'webhook_endpoint',
        'product',
        'price',
        'payment_method',
        'test_helpers.test_clock',
        'subscription',
        'subscription_item',
        'invoice',
        'line_item',
        'invoice_payment',
        'billing_portal.session',
      ].sort(),
    );
    expect(OBJECT_FIELDS['checkout.session']).toEqual(
      expect.arrayContaining(['id', 'object', 'payment_intent', 'payment_status', 'customer_details', 'url']),
    );
    expect(OBJECT_OPTIONAL_FIELDS['checkout.session']).toContain('line_items');
    expect(OBJECT_FIELDS.event).toEqual(
      expect.arrayContaining(['id', 'type', 'data', 'api_version', 'request', 'pending_webhooks']),
    );
    expect(OBJECT_FIELDS.customer).not.toContain('deleted');
    expect(OBJECT_FIELD_TYPES.payment_intent?.amount).toBe('number');
    expect(OBJECT_FIELD_TYPES.payment_intent?.latest_charge).toBe('string|object|null');
    expect(OBJECT_FIELD_TYPES.charge?.paid).toBe('boolean');
    expect(OBJECT_FIELD_TYPES.refund?.metadata).toBe('object|null');
  });
});
