import type Stripe from 'stripe';
import { boolParam, createdMatches, intParam, paginate, type Engine, type EventCause } from '../engine.js';
import { checkAmount, checkCurrency } from '../currencies.js';
import { invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { arr, get, obj, str, type FormObject, type FormValue } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import { applyMetadata } from '../rules.js';
import type { Scope } from '../store.js';
import {
  attachPaymentMethod,
  customerPaymentMethod,
  resolvePaymentMethod,
  TEST_PAYMENT_METHODS,
} from './payment-methods.js';
import { emitUpdated, snapshot } from '../updates.js';

/** Customers, coupons and promotion codes. All live on the scope selected by Stripe-Account. */
export function registerCatalog(apiRouter: Router, engine: Engine): void {
  const router = expandingRouter(apiRouter, engine.store);
  router.post('/v1/customers', (req) => createCustomer(engine, req.scope, req.params, req.cause));

  router.post('/v1/customers/:id', (req) => {
    const c = req.scope.customers.get(req.path.id ?? '');
    if (!c) throw missing('customer', req.path.id ?? '');
    const p = req.params;
    const before = snapshot(c);
    if (p.email !== undefined) c.email = str(p.email) || null;
    if (p.name !== undefined) c.name = str(p.name) || null;
    if (p.description !== undefined) c.description = str(p.description) || null;
    if (p.metadata !== undefined) c.metadata = applyMetadata(c.metadata, p.metadata);
    const dpm = get(p, 'invoice_settings', 'default_payment_method');
    if (dpm !== undefined) {
      const id = str(dpm) ?? '';
      c.invoice_settings.default_payment_method =
        id === ''
          ? null
          : customerPaymentMethod(req.scope, id, c.id, 'invoice_settings[default_payment_method]').id;
    }
    emitUpdated(engine, req.scope, 'customer.updated', c, before, req.cause);
    return c;
  });

  router.get('/v1/customers/:id', (req) => {
    const c = req.scope.customers.get(req.path.id ?? '');
    if (!c) throw missing('customer', req.path.id ?? '');
    return c;
  });

  router.get('/v1/customers', (req) => {
    const email = str(req.params.email);
    const items = [...req.scope.customers.values()]
      .reverse()
      .filter((c) => (!email || c.email === email) && createdMatches(c.created, req.params.created));
    return paginate(items, req.params, req.url);
  });

  router.post('/v1/coupons', (req) => {
    const p = req.params;
    const id = str(p.id) ?? newId('x', 8).slice(2);
    if (req.scope.coupons.has(id)) throw invalid('Coupon already exists.', 'id', 'resource_already_exists');
    const percentRaw = str(p.percent_off);
    const amountOff = intParam(p.amount_off, 'amount_off');
    if (percentRaw === undefined && amountOff === undefined)
      throw invalid('You must pass either `percent_off` or `amount_off`.', 'percent_off');
    if (percentRaw !== undefined && amountOff !== undefined)
      throw invalid('You may only specify one of these parameters: amount_off, percent_off.', 'amount_off');
    const percent = percentRaw === undefined ? null : Number(percentRaw);
    if (percent !== null && (!Number.isFinite(percent) || percent <= 0 || percent > 100))
      throw invalid('Invalid percent_off: must be greater than 0 and at most 100', 'percent_off');
    const currencyRaw = str(p.currency);
    const currency = currencyRaw === undefined ? null : checkCurrency(currencyRaw, 'currency');
    if (amountOff !== undefined && !currency) throw requiredParam('currency');
    if (amountOff !== undefined && currency) checkAmount(amountOff, currency, 'amount_off');
    const currencyOptions = couponCurrencyOptions(p.currency_options, amountOff !== undefined);
    const appliesTo = obj(p.applies_to);
    const duration = (str(p.duration) ?? 'once') as Stripe.Coupon.Duration;
    const coupon: Stripe.Coupon = {
      id,
      object: 'coupon',
      amount_off: amountOff ?? null,
      created: nowSeconds(),
      currency: amountOff !== undefined ? currency : null,
      duration,
      duration_in_months: intParam(p.duration_in_months, 'duration_in_months') ?? null,
      livemode: false,
      max_redemptions: intParam(p.max_redemptions, 'max_redemptions') ?? null,
      metadata: applyMetadata({}, p.metadata),
      name: str(p.name) ?? null,
      percent_off: percent,
      redeem_by: intParam(p.redeem_by, 'redeem_by') ?? null,
      times_redeemed: 0,
      valid: true,
      ...(currencyOptions !== undefined ? { currency_options: currencyOptions } : {}),
      ...(appliesTo !== undefined
        ? {
            applies_to: {
              products: arr(appliesTo.products).filter((x): x is string => typeof x === 'string'),
            },
          }
        : {}),
    };
    req.scope.coupons.set(id, coupon);
    return coupon;
  });

  router.get('/v1/coupons/:id', (req) => {
    const c = req.scope.coupons.get(req.path.id ?? '');
    if (!c) throw missing('coupon', req.path.id ?? '');
    return c;
  });

  router.get('/v1/coupons', (req) =>
    paginate(
      [...req.scope.coupons.values()].reverse().filter((c) => createdMatches(c.created, req.params.created)),
      req.params,
      req.url,
    ),
  );

  router.post('/v1/promotion_codes', (req) => {
    const p = req.params;
    // stripe@23.1.0 sends `promotion[type]=coupon&promotion[coupon]=…`; the older top-level `coupon` is accepted too.
    const couponId = str(get(p, 'promotion', 'coupon')) ?? str(p.coupon);
    if (!couponId) throw requiredParam('promotion[coupon]');
    const ptype = str(get(p, 'promotion', 'type')) ?? 'coupon';
    if (ptype !== 'coupon') throw invalid(`Invalid promotion[type]: ${ptype}`, 'promotion[type]');
    const coupon = req.scope.coupons.get(couponId);
    if (!coupon) throw missing('coupon', couponId, 'promotion[coupon]');
    const customer = str(p.customer) ?? null;
    if (customer !== null && !req.scope.customers.has(customer))
      throw missing('customer', customer, 'customer');
    const code = str(p.code) ?? newId('x', 8).slice(2).toUpperCase();
    if (!/^[a-zA-Z0-9_-]{1,500}$/.test(code)) throw invalid('Invalid code.', 'code');
    for (const other of req.scope.promotionCodes.values()) {
      if (other.active && other.code.toLowerCase() === code.toLowerCase())
        throw invalid(
          `A promotion code with code '${code}' already exists.`,
          'code',
          'resource_already_exists',
        );
    }
    const promo: Stripe.PromotionCode = {
      id: newId('promo', 24),
      object: 'promotion_code',
      active: boolParam(p.active, 'active') ?? true,
      code,
      created: nowSeconds(),
      customer,
      customer_account: null,
      expires_at: intParam(p.expires_at, 'expires_at') ?? null,
      livemode: false,
      max_redemptions: intParam(p.max_redemptions, 'max_redemptions') ?? null,
      metadata: applyMetadata({}, p.metadata),
      promotion: { coupon: coupon.id, type: 'coupon' },
      restrictions: restrictionsOf(p.restrictions),
      times_redeemed: 0,
    };
    req.scope.promotionCodes.set(promo.id, promo);
    engine.emit(req.scope, 'promotion_code.created', promo, req.cause);
    return promo;
  });

  router.get('/v1/promotion_codes/:id', (req) => {
    const promo = req.scope.promotionCodes.get(req.path.id ?? '');
    if (!promo) throw missing('promotion_code', req.path.id ?? '');
    return promo;
  });

  router.post('/v1/promotion_codes/:id', (req) => {
    const promo = req.scope.promotionCodes.get(req.path.id ?? '');
    if (!promo) throw missing('promotion_code', req.path.id ?? '');
    const before = snapshot(promo);
    const active = boolParam(req.params.active, 'active');
    if (active !== undefined) promo.active = active;
    if (req.params.metadata !== undefined)
      promo.metadata = applyMetadata(promo.metadata ?? {}, req.params.metadata);
    emitUpdated(engine, req.scope, 'promotion_code.updated', promo, before, req.cause);
    return promo;
  });

  router.get('/v1/promotion_codes', (req) => {
    const code = str(req.params.code);
    const active = boolParam(req.params.active, 'active');
    const coupon = str(req.params.coupon);
    const customer = str(req.params.customer);
    const items = [...req.scope.promotionCodes.values()]
      .reverse()
      .filter(
        (x) =>
          (code === undefined || x.code.toLowerCase() === code.toLowerCase()) &&
          (active === undefined || x.active === active) &&
          (coupon === undefined || x.promotion.coupon === coupon) &&
          (customer === undefined || x.customer === customer) &&
          createdMatches(x.created, req.params.created),
      );
    return paginate(items, req.params, req.url);
  });
}

/** Most customers one test clock holds (Stripe's documented limit: three customers per test clock). */
export const CUSTOMERS_PER_TEST_CLOCK = 3;

/**
 * A new customer: `test_clock` attaches it to a clock (its `created` is the clock's frozen time), `payment_method`
 * attaches a PaymentMethod (a `pm_card_*` test token makes one), `invoice_settings[default_payment_method]` names the
 * one subscriptions and invoices charge (the same token as `payment_method` names the PaymentMethod it made).
 */
export function createCustomer(
  engine: Engine,
  scope: Scope,
  p: FormObject,
  cause: EventCause,
): Stripe.Customer {
  const clockId = str(p.test_clock);
  const clock = clockId === undefined ? undefined : scope.testClocks.get(clockId);
  if (clockId !== undefined && !clock) throw missing('test_helpers.test_clock', clockId, 'test_clock');
  if (
    clock &&
    [...scope.customers.values()].filter((c) => c.test_clock === clock.id).length >= CUSTOMERS_PER_TEST_CLOCK
  )
    throw invalid(
      `The test clock ${clock.id} already has ${CUSTOMERS_PER_TEST_CLOCK} customers, the most a test clock can hold.`,
      'test_clock',
    );
  const pmParam = str(p.payment_method);
  const dpmParam = str(get(p, 'invoice_settings', 'default_payment_method'));
  const pm = pmParam === undefined ? undefined : resolvePaymentMethod(scope, pmParam, 'payment_method');
  const customer: Stripe.Customer = {
    id: newId('cus', 14),
    object: 'customer',
    balance: 0,
    created: clock ? clock.frozen_time : nowSeconds(),
    default_source: null,
    description: str(p.description) ?? null,
    email: str(p.email) ?? null,
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: applyMetadata({}, p.metadata),
    name: str(p.name) ?? null,
    shipping: null,
    test_clock: clock ? clock.id : null,
  };
  const dpm =
    dpmParam === undefined
      ? undefined
      : pm && dpmParam === pmParam
        ? pm
        : TEST_PAYMENT_METHODS[dpmParam]
          ? resolvePaymentMethod(scope, dpmParam, 'invoice_settings[default_payment_method]')
          : customerPaymentMethod(scope, dpmParam, customer.id, 'invoice_settings[default_payment_method]');
  if (dpm) customer.invoice_settings.default_payment_method = dpm.id;
  scope.customers.set(customer.id, customer);
  engine.emit(scope, 'customer.created', customer, cause);
  for (const attached of new Set([pm, dpm]))
    if (attached) attachPaymentMethod(engine, scope, attached, customer.id, cause);
  return customer;
}

/** `restrictions[first_time_transaction|minimum_amount|minimum_amount_currency]` of a new promotion code. */
function restrictionsOf(v: FormValue | undefined): Stripe.PromotionCode.Restrictions {
  const r = obj(v) ?? {};
  const minimum = intParam(r.minimum_amount, 'restrictions[minimum_amount]') ?? null;
  const currencyRaw = str(r.minimum_amount_currency);
  const currency =
    currencyRaw === undefined ? null : checkCurrency(currencyRaw, 'restrictions[minimum_amount_currency]');
  if (minimum !== null && currency === null) throw requiredParam('restrictions[minimum_amount_currency]');
  if (minimum === null && currency !== null) throw requiredParam('restrictions[minimum_amount]');
  if (minimum !== null && minimum < 1)
    throw invalid('restrictions[minimum_amount] must be positive.', 'restrictions[minimum_amount]');
  if (minimum !== null && currency !== null) checkAmount(minimum, currency, 'restrictions[minimum_amount]');
  // "Each currency must be different from the `minimum_amount_currency` set on the promotion code" (SDK docs).
  const options: Record<string, Stripe.PromotionCode.Restrictions.CurrencyOptions> = {};
  for (const [key, value] of Object.entries(obj(r.currency_options) ?? {})) {
    const param = `restrictions[currency_options][${key}]`;
    const c = checkCurrency(key, param);
    if (c === currency)
      throw invalid(
        `restrictions[currency_options] cannot include the minimum_amount_currency (${c}).`,
        param,
      );
    const min = intParam(get(value, 'minimum_amount'), `${param}[minimum_amount]`);
    if (min === undefined) throw requiredParam(`${param}[minimum_amount]`);
    checkAmount(min, c, `${param}[minimum_amount]`);
    options[c] = { minimum_amount: min };
  }
  return {
    ...(Object.keys(options).length > 0 ? { currency_options: options } : {}),
    first_time_transaction:
      boolParam(r.first_time_transaction, 'restrictions[first_time_transaction]') ?? false,
    minimum_amount: minimum,
    minimum_amount_currency: currency,
  };
}

/** `currency_options[<cur>][amount_off]` of a new amount-off coupon: the amount off in other currencies. */
function couponCurrencyOptions(
  v: FormValue | undefined,
  amountOff: boolean,
): Record<string, Stripe.Coupon.CurrencyOptions> | undefined {
  const o = obj(v);
  if (o === undefined) return undefined;
  if (!amountOff)
    throw invalid('currency_options can only be set on a coupon with amount_off.', 'currency_options');
  const out: Record<string, Stripe.Coupon.CurrencyOptions> = {};
  for (const [key, value] of Object.entries(o)) {
    const param = `currency_options[${key}]`;
    const c = checkCurrency(key, param);
    const off = intParam(get(value, 'amount_off'), `${param}[amount_off]`);
    if (off === undefined) throw requiredParam(`${param}[amount_off]`);
    checkAmount(off, c, `${param}[amount_off]`);
    out[c] = { amount_off: off };
  }
  return out;
}
