import { ApiError, invalid } from './errors.js';
import { arr, type FormObject } from './form.js';
import { OBJECT_FIELDS, OBJECT_FIELD_TYPES } from './spec/objects.generated.js';
import type { ApiHandler, Router } from './router.js';
import type { Scope, Store } from './store.js';

/**
 * `expand[]`, as Stripe answers it (docs.stripe.com/expand), in one place for every route:
 *
 * - A path names an expandable field (an id that can become its object: the SDK types it `string | Object`, which
 *   `spec/objects.generated.ts` records as `string|object`), then, optionally, expandable fields of the expanded
 *   object or of a hash inside it (`payment_intent.latest_charge`, `promotion.coupon`, `transfer_data.destination`).
 *   A list answer expands its items with the `data.` prefix (`data.payment_intent`).
 * - At most four levels, `data` included: Stripe refuses `data.items.data.price.product` with
 *   `property_expansion_max_depth`, "You cannot expand more than 4 levels of a property. Property: <path>" (answers
 *   quoted in public projects, e.g. one with the full wire body: code, message, type `invalid_request_error`).
 * - A field the object does not have: "This property cannot be expanded because it doesn't exist: <path>."; a field
 *   that is not expandable: "This property cannot be expanded (<path>)." (stripe-java's test suite against the API:
 *   "This property cannot be expanded (payment_intent.b)."); a list path without `data.`: "This property cannot be
 *   expanded (product). You may want to try expanding 'data.product' instead." (stripe-dotnet#1351). Stripe sends
 *   these as 400 `invalid_request_error` with neither `code` nor `param` (gitpod-io/gitpod#13035 quotes one body).
 * - A field holding `null` stays `null`.
 * - A field Stripe can expand but whose object the emulator does not keep (balance transactions, payment methods,
 *   products, Connect applications, …) is refused with the emulator's own `parameter_unsupported`, as documented but
 *   not emulated parameters are (params.ts): never silently left as an id.
 * - `line_items` on a Checkout Session, `payments` on an invoice and `refunds` on a charge (a list only when expanded since API version
 *   2022-11-15) are built from the store.
 */

/** What an expandable id names: a table the emulator keeps, or (string) what Stripe has that the emulator does not. */
type Kind =
  | 'account'
  | 'application_fee'
  | 'charge'
  | 'coupon'
  | 'customer'
  | 'dispute'
  | 'payment_intent'
  | 'promotion_code'
  | 'refund'
  | 'transfer'
  | 'transfer_reversal'
  | 'product'
  | 'price'
  | 'payment_method'
  | 'test_clock'
  | 'invoice'
  | 'subscription'
  | { notEmulated: string };

const NOT = (what: string): Kind => ({ notEmulated: what });

/**
 * Expandable fields per object type. Top-level fields must be `string|object` in the generated field types (checked
 * when the module loads); dotted keys are expandable fields inside a hash or array of the object. Fields the SDK types
 * expandable but that are missing here are refused as not emulated.
 */
const EXPANDABLE: Readonly<Record<string, Readonly<Record<string, Kind>>>> = {
  'checkout.session': {
    customer: 'customer',
    payment_intent: 'payment_intent',
    'discounts.coupon': 'coupon',
    'discounts.promotion_code': 'promotion_code',
    subscription: 'subscription',
    invoice: 'invoice',
  },
  payment_intent: {
    customer: 'customer',
    latest_charge: 'charge',
    on_behalf_of: 'account',
    payment_method: NOT('PaymentMethods'),
    'transfer_data.destination': 'account',
  },
  charge: {
    application_fee: 'application_fee',
    balance_transaction: NOT('balance transactions'),
    customer: 'customer',
    on_behalf_of: 'account',
    payment_intent: 'payment_intent',
    transfer: 'transfer',
    'transfer_data.destination': 'account',
  },
  refund: {
    balance_transaction: NOT('balance transactions'),
    charge: 'charge',
    customer: 'customer',
    payment_intent: 'payment_intent',
    payment_method: NOT('PaymentMethods'),
    transfer_reversal: 'transfer_reversal',
  },
  application_fee: {
    account: 'account',
    application: NOT('Connect applications'),
    balance_transaction: NOT('balance transactions'),
    charge: 'charge',
    originating_transaction: 'charge',
  },
  transfer: {
    balance_transaction: NOT('balance transactions'),
    destination: 'account',
    destination_payment: NOT("the connected account's payments (py_…)"),
    source_transaction: 'charge',
  },
  dispute: { charge: 'charge', payment_intent: 'payment_intent' },
  customer: {
    test_clock: 'test_clock',
    'invoice_settings.default_payment_method': 'payment_method',
    default_source: NOT('sources'),
  },
  coupon: {},
  product: { default_price: 'price', tax_code: NOT('tax codes') },
  price: { product: 'product' },
  payment_method: { customer: 'customer' },
  'test_helpers.test_clock': {},
  subscription: {
    customer: 'customer',
    default_payment_method: 'payment_method',
    latest_invoice: 'invoice',
    on_behalf_of: 'account',
    test_clock: 'test_clock',
    'transfer_data.destination': 'account',
    application: NOT('Connect applications'),
    default_source: NOT('sources'),
    pending_setup_intent: NOT('SetupIntents'),
    schedule: NOT('subscription schedules'),
  },
  subscription_item: {},
  invoice: {
    customer: 'customer',
    default_payment_method: 'payment_method',
    on_behalf_of: 'account',
    test_clock: 'test_clock',
    application: NOT('Connect applications'),
    default_source: NOT('sources'),
    latest_revision: NOT('invoice revisions'),
  },
  line_item: {},
  'billing_portal.session': { configuration: NOT('portal configurations') },
  invoice_payment: {
    invoice: 'invoice',
    'payment.payment_intent': 'payment_intent',
    'payment.charge': 'charge',
  },
  promotion_code: { customer: 'customer', 'promotion.coupon': 'coupon' },
  account: {},
  webhook_endpoint: {},
  event: {},
  // Checkout's `price_data` products are not stored: expanding them stays refused.
  item: { 'price.product': NOT('the products of price_data') },
  transfer_reversal: {
    balance_transaction: NOT('balance transactions'),
    destination_payment_refund: NOT("the connected account's payment refunds (pyr_…)"),
    source_refund: 'refund',
    transfer: 'transfer',
  },
};

/** Lists the expansion builds from the store rather than from an id. */
const BUILT_LISTS: Readonly<Record<string, string>> = {
  'checkout.session': 'line_items',
  charge: 'refunds',
  invoice: 'payments',
};

/** Stripe: "You cannot expand more than 4 levels of a property". */
export const MAX_EXPAND_DEPTH = 4;

/** `expand[]` as sent by the SDK (`expand[0]=a&expand[1]=b.c`). */
export function expandPaths(params: FormObject): string[] {
  return arr(params.expand).filter((x): x is string => typeof x === 'string');
}

type Node = Record<string, unknown>;

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cannotExpand(path: string): ApiError {
  return new ApiError(400, 'invalid_request_error', `This property cannot be expanded (${path}).`);
}

function doesNotExist(path: string): ApiError {
  return new ApiError(
    400,
    'invalid_request_error',
    `This property cannot be expanded because it doesn't exist: ${path}.`,
  );
}

/** Where expanded objects are looked up: the request's account first, then (for the platform) every account. */
class Finder {
  constructor(
    private readonly scope: Scope,
    private readonly store: Store,
  ) {}

  private scopes(): Scope[] {
    const platform = this.store.scope('');
    if (this.scope.key !== '') return [this.scope, platform];
    return [this.scope, ...this.store.allScopes().filter((s) => s !== this.scope)];
  }

  find(kind: Exclude<Kind, { notEmulated: string }>, id: string): object | undefined {
    if (kind === 'account') return this.store.accounts.get(id);
    for (const s of this.scopes()) {
      const found = this.inScope(s, kind, id);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  private inScope(
    s: Scope,
    kind: Exclude<Kind, { notEmulated: string } | 'account'>,
    id: string,
  ): object | undefined {
    switch (kind) {
      case 'application_fee':
        return s.applicationFees.get(id);
      case 'charge':
        return s.charges.get(id);
      case 'coupon':
        return s.coupons.get(id);
      case 'customer':
        return s.customers.get(id);
      case 'dispute':
        return s.disputes.get(id);
      case 'payment_intent':
        return s.paymentIntents.get(id);
      case 'promotion_code':
        return s.promotionCodes.get(id);
      case 'refund':
        return s.refunds.get(id);
      case 'transfer':
        return s.transfers.get(id);
      case 'product':
        return s.products.get(id);
      case 'price':
        return s.prices.get(id);
      case 'payment_method':
        return s.paymentMethods.get(id);
      case 'test_clock':
        return s.testClocks.get(id);
      case 'invoice':
        return s.invoices.get(id);
      case 'subscription':
        return s.subscriptions.get(id);
      case 'transfer_reversal':
        for (const tr of s.transfers.values()) {
          const rev = tr.reversals.data.find((r) => r.id === id);
          if (rev) return rev;
        }
        return undefined;
    }
  }

  /** The list a Checkout Session's `line_items`, an invoice's `payments` or a charge's `refunds` is when expanded. */
  builtList(type: string, node: Node): object | undefined {
    const id = String(node.id);
    if (type === 'checkout.session') {
      const rec = this.scope.sessions.get(id) ?? this.sessionAnywhere(id);
      if (!rec) return undefined;
      return {
        object: 'list',
        data: structuredClone(rec.lineItems),
        has_more: false,
        url: `/v1/checkout/sessions/${id}/line_items`,
      };
    }
    if (type === 'invoice') {
      const payments = this.scopes()
        .flatMap((s) => [...s.invoicePayments.values()])
        .filter((p) => p.invoice === id)
        .reverse();
      return {
        object: 'list',
        data: structuredClone(payments),
        has_more: false,
        url: `/v1/invoice_payments?invoice=${id}`,
      };
    }
    const refunds = this.scopes()
      .flatMap((s) => [...s.refunds.values()])
      .filter((r) => r.charge === id)
      .reverse();
    return {
      object: 'list',
      data: structuredClone(refunds),
      has_more: false,
      url: `/v1/charges/${id}/refunds`,
    };
  }

  private sessionAnywhere(id: string): { lineItems: unknown[] } | undefined {
    const key = this.store.sessionScope.get(id);
    return key === undefined ? undefined : this.store.scope(key).sessions.get(id);
  }
}

/** The path's segments, or Stripe's refusal of a path deeper than four levels (or with an empty segment). */
function checkDepth(path: string): string[] {
  const parts = path.split('.');
  if (parts.length > MAX_EXPAND_DEPTH)
    throw invalid(
      `You cannot expand more than ${MAX_EXPAND_DEPTH} levels of a property. Property: ${path}`,
      undefined,
      'property_expansion_max_depth',
    );
  if (parts.some((p) => p === '')) throw doesNotExist(path);
  return parts;
}

/**
 * Expands `paths` in a copy of `value` (an API object or a list of them), refusing paths Stripe refuses. Objects
 * that are already expanded are walked, not looked up again, so expanding twice is harmless.
 */
export function expand<T extends object>(value: T, paths: readonly string[], scope: Scope, store: Store): T {
  if (paths.length === 0) return value;
  const copy = structuredClone(value) as Node;
  const finder = new Finder(scope, store);
  for (const path of paths) {
    const parts = checkDepth(path);
    if (copy.object === 'list' && parts[0] !== 'data')
      throw new ApiError(
        400,
        'invalid_request_error',
        `This property cannot be expanded (${path}). You may want to try expanding 'data.${path}' instead.`,
      );
    walk(copy, parts, path, finder, true);
  }
  return copy as T;
}

/**
 * Expands `parts` under an API object (`node.object` names its type) or a list. `top`: the object is the answer (or
 * an item of the answer's list), where an unknown field gets Stripe's "doesn't exist" message; deeper, Stripe names
 * the whole path ("This property cannot be expanded (payment_intent.b).").
 */
function walk(node: Node, parts: readonly string[], full: string, finder: Finder, top: boolean): void {
  const [head, ...rest] = parts;
  if (head === undefined) return;
  const type = typeof node.object === 'string' ? node.object : '';
  if (type === 'list') {
    if (head !== 'data' || rest.length === 0) throw cannotExpand(full);
    for (const item of Array.isArray(node.data) ? node.data : [])
      if (isNode(item)) walk(item, rest, full, finder, top);
    return;
  }
  const fields = EXPANDABLE[type];
  if (fields === undefined) throw cannotExpand(full);
  const known = OBJECT_FIELDS[type] ?? Object.keys(node);
  if (!known.includes(head) && !(head in node)) throw top ? doesNotExist(full) : cannotExpand(full);

  if (BUILT_LISTS[type] === head) {
    if (!isNode(node[head])) {
      const list = finder.builtList(type, node);
      if (list === undefined) throw cannotExpand(full);
      node[head] = list;
    }
    const list = node[head];
    if (rest.length > 0 && isNode(list)) walk(list, rest, full, finder, false);
    return;
  }

  const kind = fields[head];
  if (kind !== undefined) {
    expandField(node, head, kind, rest, full, finder);
    return;
  }
  // A hash (or list of hashes) holding expandable fields: `promotion.coupon`, `transfer_data.destination`.
  const nested = rest[0];
  const nestedKind = nested === undefined ? undefined : fields[`${head}.${nested}`];
  if (nested !== undefined && nestedKind !== undefined) {
    const holder = node[head];
    const holders = Array.isArray(holder) ? holder : [holder];
    for (const h of holders) if (isNode(h)) expandField(h, nested, nestedKind, rest.slice(1), full, finder);
    return;
  }
  if ((OBJECT_FIELD_TYPES[type]?.[head] ?? '').includes('string|object')) {
    if (node[head] === null || node[head] === undefined) return;
    throw new ApiError(
      400,
      'invalid_request_error',
      `This property cannot be expanded (${full}): the Settle emulator does not emulate the objects it names.`,
      { code: 'parameter_unsupported', param: 'expand' },
    );
  }
  throw cannotExpand(full);
}

function expandField(
  holder: Node,
  field: string,
  kind: Kind,
  rest: readonly string[],
  full: string,
  finder: Finder,
): void {
  const v = holder[field];
  if (v === null || v === undefined) return; // nothing to expand: Stripe answers null
  if (isNode(v)) {
    if (rest.length > 0) walk(v, rest, full, finder, false); // already expanded (by an earlier path)
    return;
  }
  if (typeof kind === 'object')
    throw new ApiError(
      400,
      'invalid_request_error',
      `This property cannot be expanded (${full}): the Settle emulator does not emulate ${kind.notEmulated}.`,
      { code: 'parameter_unsupported', param: 'expand' },
    );
  if (typeof v !== 'string') throw cannotExpand(full);
  const found = finder.find(kind, v);
  if (found === undefined) return; // an id the emulator does not hold (cannot happen for ids it issued)
  const obj = structuredClone(found) as Node;
  holder[field] = obj;
  if (rest.length > 0) walk(obj, rest, full, finder, false);
}

/**
 * A router whose handlers' answers are expanded here. It takes `expand` out of the request's params once it has read
 * them, so the server's own generic pass after the handler (engine.expand, in server.ts) has nothing left to do.
 */
export function expandingRouter(router: Router, store: Store): Router {
  const wrap =
    (handler: ApiHandler): ApiHandler =>
    async (req) => {
      // What can be refused without the answer is refused before the handler runs (nothing created for nothing).
      for (const path of expandPaths(req.params)) checkDepth(path);
      const out = await handler(req);
      const paths = expandPaths(req.params);
      delete req.params.expand;
      return expand(out, paths, req.scope, store);
    };
  return {
    get: (path, handler) => router.get(path, wrap(handler)),
    post: (path, handler) => router.post(path, wrap(handler)),
    delete: (path, handler) => router.delete(path, wrap(handler)),
  };
}

// Every top-level field listed above must be one the SDK types expandable.
for (const [type, fields] of Object.entries(EXPANDABLE)) {
  for (const field of Object.keys(fields)) {
    if (field.includes('.')) continue;
    const t = OBJECT_FIELD_TYPES[type]?.[field];
    if (t !== undefined && !t.includes('string|object'))
      throw new Error(`expand.ts: ${type}.${field} is not expandable in the SDK's types (${t})`);
  }
}
