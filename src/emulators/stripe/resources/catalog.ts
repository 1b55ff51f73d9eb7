import type Stripe from 'stripe';
import { boolParam, createdMatches, intParam, paginate, type Engine } from '../engine.js';
import { checkAmount } from '../currencies.js';
import { invalid, missing, requiredParam } from '../errors.js';
import { get, obj, str, type FormValue } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import { applyMetadata } from '../rules.js';
import { previousAttributes, snapshot } from '../updates.js';

/** Customers (minimal), coupons and promotion codes. All live on the scope selected by Stripe-Account. */
export function registerCatalog(router: Router, engine: Engine): void {
  router.post('/v1/customers', (req) => {
    const customer: Stripe.Customer = {
      id: newId('cus', 14),
      object: 'customer',
      balance: 0,
      created: nowSeconds(),
      default_source: null,
      description: str(req.params.description) ?? null,
      email: str(req.params.email) ?? null,
      invoice_settings: {
        custom_fields: null,
        default_payment_method: null,
        footer: null,
        rendering_options: null,
      },
      livemode: false,
      metadata: applyMetadata({}, req.params.metadata),
      name: str(req.params.name) ?? null,
      shipping: null,
    };
    req.scope.customers.set(customer.id, customer);
    return customer;
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
    const currency = str(p.currency)?.toLowerCase() ?? null;
    if (amountOff !== undefined && !currency) throw requiredParam('currency');
    if (amountOff !== undefined && currency) checkAmount(amountOff, currency, 'amount_off');
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
      customer: str(p.customer) ?? null,
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
    const rec = engine.emit(req.scope, 'promotion_code.updated', promo, req.cause);
    rec.event.data.previous_attributes = previousAttributes(before, promo);
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

/** `restrictions[first_time_transaction|minimum_amount|minimum_amount_currency]` of a new promotion code. */
function restrictionsOf(v: FormValue | undefined): Stripe.PromotionCode.Restrictions {
  const r = obj(v) ?? {};
  const minimum = intParam(r.minimum_amount, 'restrictions[minimum_amount]') ?? null;
  const currency = str(r.minimum_amount_currency)?.toLowerCase() ?? null;
  if (minimum !== null && currency === null) throw requiredParam('restrictions[minimum_amount_currency]');
  if (minimum === null && currency !== null) throw requiredParam('restrictions[minimum_amount]');
  if (minimum !== null && minimum < 1)
    throw invalid('restrictions[minimum_amount] must be positive.', 'restrictions[minimum_amount]');
  return {
    first_time_transaction:
      boolParam(r.first_time_transaction, 'restrictions[first_time_transaction]') ?? false,
    minimum_amount: minimum,
    minimum_amount_currency: currency,
  };
}
