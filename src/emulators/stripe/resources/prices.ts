import type Stripe from 'stripe';
import { boolParam, createdMatches, intParam, paginate, type Engine, type EventCause } from '../engine.js';
import { checkAmount, checkCurrency } from '../currencies.js';
import { invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { obj, str, type FormObject } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import { applyMetadata } from '../rules.js';
import type { Scope } from '../store.js';
import { emitUpdated, snapshot } from '../updates.js';

/** Interval lengths a price may recur over: "Maximum interval is one year (1 year, 12 months, or 52 weeks)". */
const MAX_COUNT: Readonly<Record<Stripe.Price.Recurring.Interval, number>> = {
  day: 365,
  week: 52,
  month: 12,
  year: 1,
};

function createProduct(engine: Engine, scope: Scope, p: FormObject, cause: EventCause): Stripe.Product {
  const name = str(p.name);
  if (name === undefined) throw requiredParam('name');
  const id = str(p.id) ?? newId('prod', 14);
  if (scope.products.has(id)) throw invalid(`Product already exists.`, 'id', 'resource_already_exists');
  const now = nowSeconds();
  const product: Stripe.Product = {
    id,
    object: 'product',
    active: boolParam(p.active, 'active') ?? true,
    created: now,
    default_price: null,
    description: str(p.description) ?? null,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: applyMetadata({}, p.metadata),
    name,
    package_dimensions: null,
    shippable: null,
    tax_code: null,
    tax_details: null,
    type: 'service',
    updated: now,
    url: null,
  };
  scope.products.set(id, product);
  engine.emit(scope, 'product.created', product, cause);
  return product;
}

/** `recurring[interval|interval_count]` of a new price; `at` names a parameter (`items[0][price_data][…]`). */
function recurringOf(p: FormObject, at: (name: string) => string): Stripe.Price.Recurring | null {
  const r = obj(p.recurring);
  if (r === undefined) return null;
  const interval = str(r.interval) as Stripe.Price.Recurring.Interval | undefined;
  if (interval === undefined) throw requiredParam(at('recurring[interval]'));
  const count = intParam(r.interval_count, at('recurring[interval_count]')) ?? 1;
  if (count < 1 || count > (MAX_COUNT[interval] ?? 1))
    throw invalid(
      `Invalid ${at('recurring[interval_count]')}: Maximum interval is one year (1 year, 12 months, or 52 weeks).`,
      at('recurring[interval_count]'),
    );
  return { interval, interval_count: count, meter: null, trial_period_days: null, usage_type: 'licensed' };
}

/**
 * A new price. `inline`: made from a subscription item's `price_data` (parameters under `prefix`), as Stripe makes
 * them: not active, no `price.created`, and the `product` must exist.
 */
export function createPrice(
  engine: Engine,
  scope: Scope,
  p: FormObject,
  cause: EventCause,
  inline?: { prefix: string },
): Stripe.Price {
  // `recurring[interval]` → `items[0][price_data][recurring][interval]`.
  const at = (name: string): string => (inline ? inline.prefix + name.replace(/^([^[]+)/, '[$1]') : name);
  const currency = checkCurrency(str(p.currency) ?? '', at('currency'));
  const unitAmount = intParam(p.unit_amount, at('unit_amount'));
  if (unitAmount === undefined) throw requiredParam(at('unit_amount'));
  checkAmount(unitAmount, currency, at('unit_amount'));
  const productId = str(p.product);
  const productData = obj(p.product_data);
  if ((productId === undefined) === (productData === undefined))
    throw invalid(
      'You must specify either `product` or `product_data` when creating a price.',
      at('product'),
    );
  const recurring = recurringOf(p, at);
  let product: Stripe.Product;
  if (productId !== undefined) {
    const found = scope.products.get(productId);
    if (!found) throw missing('product', productId, at('product'));
    product = found;
  } else {
    product = createProduct(engine, scope, productData ?? {}, cause);
  }
  const price: Stripe.Price = {
    id: newId('price', 24),
    object: 'price',
    active: inline ? false : (boolParam(p.active, 'active') ?? true),
    billing_scheme: 'per_unit',
    created: nowSeconds(),
    currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: null,
    metadata: applyMetadata({}, p.metadata),
    nickname: str(p.nickname) ?? null,
    product: product.id,
    recurring,
    tax_behavior: 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: recurring ? 'recurring' : 'one_time',
    unit_amount: unitAmount,
    unit_amount_decimal: String(unitAmount) as unknown as Stripe.Price['unit_amount_decimal'],
  };
  scope.prices.set(price.id, price);
  if (!inline) engine.emit(scope, 'price.created', price, cause);
  return price;
}

/**
 * Products (create, retrieve) and prices (create, retrieve, update of `active`/`metadata`/`nickname`, list), on the
 * scope selected by Stripe-Account. A price's amount, currency and recurrence never change: Stripe's
 * PriceUpdateParams has no such parameters (strict checking answers `parameter_unknown`).
 */
export function registerPrices(apiRouter: Router, engine: Engine): void {
  const router = expandingRouter(apiRouter, engine.store);
  router.post('/v1/products', (req) => createProduct(engine, req.scope, req.params, req.cause));
  router.get('/v1/products/:id', (req) => {
    const product = req.scope.products.get(req.path.id ?? '');
    if (!product) throw missing('product', req.path.id ?? '');
    return product;
  });

  router.post('/v1/prices', (req) => createPrice(engine, req.scope, req.params, req.cause));
  router.get('/v1/prices/:id', (req) => {
    const price = req.scope.prices.get(req.path.id ?? '');
    if (!price) throw missing('price', req.path.id ?? '');
    return price;
  });
  router.post('/v1/prices/:id', (req) => {
    const price = req.scope.prices.get(req.path.id ?? '');
    if (!price) throw missing('price', req.path.id ?? '');
    const before = snapshot(price);
    const active = boolParam(req.params.active, 'active');
    if (active !== undefined) price.active = active;
    if (req.params.metadata !== undefined)
      price.metadata = applyMetadata(price.metadata, req.params.metadata);
    if (req.params.nickname !== undefined) price.nickname = str(req.params.nickname) || null;
    emitUpdated(engine, req.scope, 'price.updated', price, before, req.cause);
    return price;
  });
  router.get('/v1/prices', (req) => {
    const active = boolParam(req.params.active, 'active');
    const product = str(req.params.product);
    const currency = str(req.params.currency)?.toLowerCase();
    const type = str(req.params.type);
    const items = [...req.scope.prices.values()]
      .reverse()
      .filter(
        (x) =>
          (active === undefined || x.active === active) &&
          (product === undefined || x.product === product) &&
          (currency === undefined || x.currency === currency) &&
          (type === undefined || x.type === type) &&
          createdMatches(x.created, req.params.created),
      );
    return paginate(items, req.params, req.url);
  });
}
