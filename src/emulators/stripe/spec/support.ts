/**
 * What the emulator implements, per endpoint: the parameter paths its handler (src/emulators/stripe/resources/*.ts)
 * reads and acts on. Every other parameter Stripe documents for the endpoint (the generated tables in
 * `params.generated.ts`) is refused with 400 `parameter_unsupported`, never silently ignored (issue 10).
 *
 * Paths use bracket notation with `[]` for "any array element": `line_items[][price_data][currency]`. Listing a path
 * implements it and everything under it (`metadata`, `payment_intent_data[metadata]`); its ancestors are then only
 * containers: `payment_intent_data[transfer_data][destination]` does not implement `payment_intent_data[foo]`.
 *
 * `expand` is implemented wherever Stripe documents it: its values are validated by the handlers.
 *
 * Edit this table when a handler starts (or stops) honouring a parameter, then run `npm run emulator:spec`, which
 * renders it into docs/emulator.md; the spec test fails until both agree.
 */
import type { EndpointSpec } from './types.js';

/** `limit`, `starting_after` and `ending_before`: every list goes through `paginate()` (engine.ts). */
const PAGE = ['limit', 'starting_after', 'ending_before'] as const;
/** `created` and its `gt`/`gte`/`lt`/`lte` range, filtered by `createdMatches()` (engine.ts). */
const CREATED = 'created';

export const SUPPORTED: Readonly<Record<string, readonly string[]>> = {
  // accounts.ts
  // Requesting card_payments and transfers (Settle does, as Stripe's Connect docs have Express platforms do) is what
  // the emulated onboarding activates; no other capability is emulated.
  'POST /v1/accounts': [
    'type',
    'country',
    'email',
    'metadata',
    'capabilities[card_payments][requested]',
    'capabilities[transfers][requested]',
  ],
  'GET /v1/accounts/:id': [],
  'POST /v1/accounts/:id': ['email', 'metadata'],
  'GET /v1/accounts': [CREATED, ...PAGE],
  'POST /v1/account_links': ['account', 'type', 'refresh_url', 'return_url'],

  // checkout.ts
  'POST /v1/checkout/sessions': [
    'mode',
    'line_items[][price]',
    'line_items[][price_data][currency]',
    'line_items[][price_data][unit_amount]',
    'line_items[][price_data][product_data][name]',
    'line_items[][quantity]',
    'success_url',
    'cancel_url',
    'expires_at',
    'metadata',
    'client_reference_id',
    'customer',
    'customer_email',
    'allow_promotion_codes',
    'discounts[][coupon]',
    'discounts[][promotion_code]',
    'payment_intent_data[application_fee_amount]',
    'payment_intent_data[transfer_data][destination]',
    'payment_intent_data[transfer_data][amount]',
    'payment_intent_data[on_behalf_of]',
    'payment_intent_data[transfer_group]',
    'payment_intent_data[description]',
    'payment_intent_data[metadata]',
    'subscription_data[application_fee_percent]',
    'subscription_data[trial_period_days]',
    'subscription_data[transfer_data][destination]',
    'subscription_data[on_behalf_of]',
    'subscription_data[metadata]',
  ],
  'GET /v1/checkout/sessions/:id': [],
  'GET /v1/checkout/sessions/:id/line_items': [...PAGE],
  'GET /v1/checkout/sessions': [
    'payment_intent',
    'status',
    'customer',
    'customer_details[email]',
    CREATED,
    ...PAGE,
  ],
  'POST /v1/checkout/sessions/:id/expire': [],

  // payments.ts
  'GET /v1/payment_intents/:id': [],
  'GET /v1/payment_intents': ['customer', CREATED, ...PAGE],
  'GET /v1/charges/:id': [],
  'GET /v1/charges': ['payment_intent', 'customer', 'transfer_group', CREATED, ...PAGE],
  'POST /v1/refunds': [
    'payment_intent',
    'charge',
    'amount',
    'reason',
    'refund_application_fee',
    'reverse_transfer',
    'metadata',
  ],
  'GET /v1/refunds/:id': [],
  'GET /v1/refunds': ['payment_intent', 'charge', CREATED, ...PAGE],
  'GET /v1/application_fees/:id': [],
  'GET /v1/application_fees': ['charge', CREATED, ...PAGE],
  'GET /v1/transfers/:id': [],
  'GET /v1/transfers': ['destination', 'transfer_group', CREATED, ...PAGE],
  'GET /v1/disputes/:id': [],
  'GET /v1/disputes': ['charge', 'payment_intent', CREATED, ...PAGE],

  // catalog.ts
  'POST /v1/customers': [
    'email',
    'name',
    'description',
    'metadata',
    'test_clock',
    'payment_method',
    'invoice_settings[default_payment_method]',
  ],
  'GET /v1/customers/:id': [],
  'POST /v1/customers/:id': [
    'email',
    'name',
    'description',
    'metadata',
    'invoice_settings[default_payment_method]',
  ],
  'GET /v1/customers': ['email', CREATED, ...PAGE],
  'POST /v1/coupons': [
    'id',
    'percent_off',
    'amount_off',
    'currency',
    'duration',
    'duration_in_months',
    'max_redemptions',
    'redeem_by',
    'name',
    'metadata',
    'currency_options',
    'applies_to[products]',
  ],
  'GET /v1/coupons/:id': [],
  'GET /v1/coupons': [CREATED, ...PAGE],
  'POST /v1/promotion_codes': [
    'promotion[type]',
    'promotion[coupon]',
    'code',
    'active',
    'customer',
    'expires_at',
    'max_redemptions',
    'metadata',
    'restrictions[first_time_transaction]',
    'restrictions[minimum_amount]',
    'restrictions[minimum_amount_currency]',
    'restrictions[currency_options]',
  ],
  'GET /v1/promotion_codes/:id': [],
  'POST /v1/promotion_codes/:id': ['active', 'metadata'],
  'GET /v1/promotion_codes': ['code', 'active', 'coupon', 'customer', CREATED, ...PAGE],

  // prices.ts
  'POST /v1/products': ['id', 'name', 'description', 'active', 'metadata'],
  'GET /v1/products/:id': [],
  'POST /v1/prices': [
    'currency',
    'unit_amount',
    'product',
    'product_data[name]',
    'product_data[active]',
    'product_data[metadata]',
    'recurring[interval]',
    'recurring[interval_count]',
    'active',
    'nickname',
    'metadata',
  ],
  'GET /v1/prices/:id': [],
  'POST /v1/prices/:id': ['active', 'metadata', 'nickname'],
  'GET /v1/prices': ['active', 'product', 'currency', 'type', CREATED, ...PAGE],

  // payment-methods.ts
  'GET /v1/payment_methods/:id': [],
  'POST /v1/payment_methods/:id/attach': ['customer'],
  'POST /v1/payment_methods/:id/detach': [],

  // test-clocks.ts
  'POST /v1/test_helpers/test_clocks': ['frozen_time', 'name'],
  'GET /v1/test_helpers/test_clocks/:id': [],
  'GET /v1/test_helpers/test_clocks': [...PAGE],
  'POST /v1/test_helpers/test_clocks/:id/advance': ['frozen_time'],
  'DELETE /v1/test_helpers/test_clocks/:id': [],

  // subscriptions.ts
  'POST /v1/subscriptions': [
    'customer',
    'items[][price]',
    'items[][price_data][currency]',
    'items[][price_data][product]',
    'items[][price_data][unit_amount]',
    'items[][price_data][recurring][interval]',
    'items[][price_data][recurring][interval_count]',
    'items[][quantity]',
    'default_payment_method',
    'trial_period_days',
    'application_fee_percent',
    'transfer_data[destination]',
    'on_behalf_of',
    'payment_behavior',
    'cancel_at_period_end',
    'description',
    'metadata',
    'trial_settings[end_behavior][missing_payment_method]',
  ],
  'GET /v1/subscriptions/:id': [],
  'POST /v1/subscriptions/:id/resume': ['billing_cycle_anchor'],
  'POST /v1/subscriptions/:id': ['cancel_at_period_end', 'default_payment_method', 'metadata'],
  'DELETE /v1/subscriptions/:id': ['cancellation_details[comment]', 'cancellation_details[feedback]'],
  'GET /v1/subscriptions': ['customer', 'status', 'price', 'test_clock', CREATED, ...PAGE],
  'GET /v1/invoices/:id': [],
  'GET /v1/invoices': ['customer', 'subscription', 'status', CREATED, ...PAGE],
  'POST /v1/invoices/:id/pay': [],
  'GET /v1/invoice_payments/:id': [],
  'GET /v1/invoice_payments': ['invoice', 'status', ...PAGE],

  // portal.ts
  'POST /v1/billing_portal/sessions': ['customer', 'return_url'],

  // webhook-endpoints.ts
  'POST /v1/webhook_endpoints': [
    'url',
    'enabled_events',
    'connect',
    'api_version',
    'description',
    'metadata',
  ],
  'GET /v1/webhook_endpoints/:id': [],
  'POST /v1/webhook_endpoints/:id': ['url', 'enabled_events', 'disabled'],
  'DELETE /v1/webhook_endpoints/:id': [],
  'GET /v1/webhook_endpoints': [...PAGE],

  // events.ts
  'GET /v1/events': ['type', 'types', 'delivery_success', CREATED, ...PAGE],
  'GET /v1/events/:id': [],
};

/** Parameters implemented on every endpoint that documents them. */
export const ALWAYS_SUPPORTED: readonly string[] = ['expand'];

export type Support = 'full' | 'partial' | 'none';

/**
 * Whether `pattern` (a bracket path with `[]` for array elements) is implemented on `endpoint`: `full` (it or an
 * ancestor is listed), `partial` (a container of listed paths: look at its children) or `none`.
 */
export function supportOf(endpoint: string, pattern: string): Support {
  const listed = [...(SUPPORTED[endpoint] ?? []), ...ALWAYS_SUPPORTED];
  let partial = false;
  for (const p of listed) {
    if (p === pattern || pattern.startsWith(`${p}[`)) return 'full';
    if (p.startsWith(`${pattern}[`)) partial = true;
  }
  return partial ? 'partial' : 'none';
}

export const SUPPORT_DOC_BEGIN =
  '<!-- BEGIN emulator:spec parameters (generated by npm run emulator:spec) -->';
export const SUPPORT_DOC_END = '<!-- END emulator:spec parameters -->';

/** Counts the documented parameter paths (leaves) of a parameter tree. */
function countLeaves(params: Readonly<Record<string, unknown>>): number {
  let n = 0;
  const visit = (s: unknown): void => {
    if (typeof s !== 'object' || s === null) return;
    const spec = s as {
      kind: string;
      fields?: Record<string, unknown>;
      items?: unknown;
      values?: unknown;
      anyOf?: unknown[];
    };
    if (spec.kind === 'object' && spec.fields) Object.values(spec.fields).forEach(visit);
    else if (spec.kind === 'array') visit(spec.items);
    else if (spec.kind === 'map') visit(spec.values);
    else if (spec.kind === 'union' && spec.anyOf) {
      const obj = spec.anyOf.find((a) => (a as { kind: string }).kind === 'object');
      if (obj) visit(obj);
      else n++;
    } else n++;
  };
  Object.values(params).forEach(visit);
  return n;
}

/** The markdown list of docs/emulator.md's "Parameters" section: one line per endpoint. */
export function renderSupportMarkdown(
  endpoints: Readonly<Record<string, Pick<EndpointSpec, 'params'>>>,
): string {
  const lines = Object.keys(endpoints)
    .sort((a, b) => {
      const [ma = '', pa = ''] = a.split(' ');
      const [mb = '', pb = ''] = b.split(' ');
      return pa === pb ? ma.localeCompare(mb) : pa.localeCompare(pb);
    })
    .map((endpoint) => {
      const spec = endpoints[endpoint];
      const documented = spec ? countLeaves(spec.params) : 0;
      const own = SUPPORTED[endpoint] ?? [];
      const always = ALWAYS_SUPPORTED.filter((p) => spec && p in spec.params);
      const list = [...own, ...always].map((p) => `\`${p}\``).join(', ') || 'none';
      return `- \`${endpoint}\` (${documented} documented): ${list}`;
    });
  return `${lines.join('\n')}\n`;
}
