import type Stripe from 'stripe';
import { boolParam, createdMatches, intParam, paginate, type Engine } from '../engine.js';
import { checkAmount, checkCurrency, roundToMultiple } from '../currencies.js';
import { ApiError, invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { arr, get, obj, str, type FormObject } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import type { PaymentIntentData, Scope, SessionRecord, SubscriptionSessionData } from '../store.js';
import { expireSession } from './payments.js';
import {
  applyMetadata,
  checkChargeAmount,
  couponAmountOff,
  couponProblem,
  promotionCodeProblem,
  redemptionError,
  type RedemptionContext,
} from '../rules.js';

const MIN_EXPIRY_S = 30 * 60;
const MAX_EXPIRY_S = 24 * 60 * 60;
/** Slack for clocks/latency when a client computes `now + 30 min` itself. */
const EXPIRY_SLACK_S = 60;

/** The line items a coupon applies to: those whose product its `applies_to.products` names, or all. */
function eligible(coupon: Stripe.Coupon, items: readonly Stripe.LineItem[]): boolean[] {
  const products = coupon.applies_to?.products;
  return items.map((li) => products === undefined || products.includes(String(li.price?.product)));
}

/**
 * Amount a coupon takes off `subtotal` (the eligible items' amount): percent rounded half-up, then half-up to the
 * currency's multiple so the total stays chargeable (ISK/UGX whole units, three-decimal last digit 0); a fixed amount
 * (in the session's currency, or its `currency_options` entry) capped at the subtotal.
 */
export function discountFor(coupon: Stripe.Coupon, subtotal: number, currency: string): number {
  if (coupon.percent_off !== null)
    return Math.min(subtotal, roundToMultiple(Math.round((subtotal * coupon.percent_off) / 100), currency));
  const off = couponAmountOff(coupon, currency);
  return off === null ? 0 : Math.min(subtotal, off);
}

/** Applies a discount to the session's totals and its (eligible) line items. */
export function applyDiscount(
  rec: SessionRecord,
  coupon: Stripe.Coupon,
  promo: Stripe.PromotionCode | null,
): void {
  const s = rec.session;
  const subtotal = s.amount_subtotal ?? 0;
  const applies = eligible(coupon, rec.lineItems);
  const base = rec.lineItems.reduce((sum, li, i) => sum + (applies[i] ? li.amount_subtotal : 0), 0);
  const discount = discountFor(coupon, base, s.currency ?? '');
  s.discounts = [{ coupon: coupon.id, promotion_code: promo?.id ?? null }];
  s.amount_total = subtotal - discount;
  s.total_details = { amount_discount: discount, amount_shipping: 0, amount_tax: 0 };
  // Spread the discount over the eligible line items proportionally (remainder on the last one).
  const last = applies.lastIndexOf(true);
  let left = discount;
  rec.lineItems.forEach((li, i) => {
    const share = !applies[i]
      ? 0
      : i === last
        ? left
        : base === 0
          ? 0
          : Math.floor((discount * li.amount_subtotal) / base);
    left -= share;
    li.amount_discount = share;
    li.amount_total = li.amount_subtotal - share;
  });
}

/** A line item of an existing price (`line_items[i][price]`): active; recurring exactly in subscription mode. */
function priceLineItem(scope: Scope, li: FormObject, i: number, mode: string): Stripe.LineItem {
  const id = str(li.price) ?? '';
  const param = `line_items[${i}][price]`;
  const price = scope.prices.get(id);
  if (!price)
    throw new ApiError(404, 'invalid_request_error', `No such price: '${id}'`, {
      code: 'resource_missing',
      param,
    });
  if (!price.active) throw invalid(`The price \`${id}\` is not active.`, param);
  if (mode === 'payment' && price.recurring)
    throw invalid(
      'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.',
      param,
    );
  if (mode === 'subscription' && !price.recurring)
    throw invalid(
      'The Settle emulator only accepts recurring prices in `subscription` mode (one-time items on the first invoice are not emulated).',
      param,
    );
  const quantity = intParam(li.quantity, `line_items[${i}][quantity]`);
  if (quantity === undefined) throw requiredParam(`line_items[${i}][quantity]`);
  if (quantity < 1) throw invalid('Quantity must be at least 1.', `line_items[${i}][quantity]`);
  const unit = price.unit_amount ?? 0;
  const product = scope.products.get(String(price.product));
  return {
    id: newId('li', 24),
    object: 'item',
    adjustable_quantity: null,
    amount_discount: 0,
    amount_subtotal: unit * quantity,
    amount_tax: 0,
    amount_total: unit * quantity,
    currency: price.currency,
    description: product?.name ?? null,
    metadata: {},
    price: structuredClone(price),
    quantity,
  };
}

function buildLineItems(
  params: FormObject,
  created: number,
  scope: Scope,
  mode: string,
): { items: Stripe.LineItem[]; currency: string } {
  const raw = arr(params.line_items);
  if (raw.length === 0) throw requiredParam('line_items');
  let currency: string | null = null;
  const items = raw.map((entry, i): Stripe.LineItem => {
    const li = obj(entry);
    if (!li) throw invalid(`Invalid line_items[${i}]`, `line_items[${i}]`);
    if (li.price !== undefined) {
      const item = priceLineItem(scope, li, i, mode);
      if (currency !== null && item.currency !== currency)
        throw invalid('All line items must use the same currency.', `line_items[${i}][price]`);
      currency = item.currency;
      return item;
    }
    if (mode === 'subscription')
      throw invalid(
        'You must provide at least one recurring price in `subscription` mode when using prices.',
        `line_items[${i}][price]`,
      );
    const pd = obj(li.price_data);
    if (!pd) throw requiredParam(`line_items[${i}][price_data]`);
    const curRaw = str(pd.currency);
    if (!curRaw) throw requiredParam(`line_items[${i}][price_data][currency]`);
    const cur = checkCurrency(curRaw, `line_items[${i}][price_data][currency]`);
    if (currency !== null && cur !== currency)
      throw invalid('All line items must use the same currency.', `line_items[${i}][price_data][currency]`);
    currency = cur;
    const unit = intParam(pd.unit_amount, `line_items[${i}][price_data][unit_amount]`);
    if (unit === undefined) throw requiredParam(`line_items[${i}][price_data][unit_amount]`);
    checkAmount(unit, cur, `line_items[${i}][price_data][unit_amount]`);
    const name = str(get(pd, 'product_data', 'name'));
    if (pd.product === undefined && !name)
      throw requiredParam(`line_items[${i}][price_data][product_data][name]`);
    const quantity = intParam(li.quantity, `line_items[${i}][quantity]`);
    if (quantity === undefined) throw requiredParam(`line_items[${i}][quantity]`);
    if (quantity < 1) throw invalid('Quantity must be at least 1.', `line_items[${i}][quantity]`);
    const price: Stripe.Price = {
      id: newId('price', 24),
      object: 'price',
      active: false,
      billing_scheme: 'per_unit',
      created,
      currency: cur,
      custom_unit_amount: null,
      livemode: false,
      lookup_key: null,
      metadata: {},
      nickname: null,
      product: str(pd.product) ?? newId('prod', 14),
      recurring: null,
      tax_behavior: 'unspecified',
      tiers_mode: null,
      transform_quantity: null,
      type: 'one_time',
      unit_amount: unit,
      unit_amount_decimal: null,
    };
    return {
      id: newId('li', 24),
      object: 'item',
      adjustable_quantity: null,
      amount_discount: 0,
      amount_subtotal: unit * quantity,
      amount_tax: 0,
      amount_total: unit * quantity,
      currency: cur,
      description: name ?? null,
      metadata: {},
      price,
      quantity,
    };
  });
  return { items, currency: currency ?? 'usd' };
}

export function requireChargeable(engine: Engine, accountId: string, param?: string): Stripe.Account {
  const acct = engine.store.accounts.get(accountId);
  if (!acct) throw invalid(`No such destination: '${accountId}'`, param, 'resource_missing');
  if (engine.settings.requireChargesEnabled && !acct.charges_enabled)
    throw invalid(
      `The account ${accountId} has not completed onboarding (charges_enabled is false). Complete its account link first.`,
      param,
      'account_invalid',
    );
  return acct;
}

/** A destination account: onboarded, with the transfers capability. */
export function requireDestination(engine: Engine, destination: string, param: string): void {
  const dest = requireChargeable(engine, destination, param);
  // A destination needs the transfers capability: Stripe answers 400 `insufficient_capabilities_for_transfer`,
  // "Your destination account needs to have at least one of the following capabilities enabled: transfers,
  // crypto_transfers, legacy_payments" (a recorded answer with its request_log_url in gitcoinco's test suite).
  if (dest.capabilities?.transfers !== 'active')
    throw invalid(
      'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
      param,
      'insufficient_capabilities_for_transfer',
    );
}

/**
 * The account that takes the card payment (a direct charge's account, or `on_behalf_of`) needs `card_payments`
 * active: "Direct charges are supported only for connected accounts with the card_payments capability"
 * (docs.stripe.com/connect/direct-charges), "A capability must be active for a connected account to perform actions
 * associated with that capability" (docs.stripe.com/connect/account-capabilities). Stripe's answer, as quoted in
 * Subscribie/subscribie#408: "You cannot create a charge on a connected account without the `card_payments`
 * capability enabled." (its code was not found: none is sent). Skipped with `requireChargesEnabled: false`, like the
 * onboarding check.
 */
export function requireCardPayments(engine: Engine, acct: Stripe.Account, param?: string): void {
  if (!engine.settings.requireChargesEnabled || acct.capabilities?.card_payments === 'active') return;
  throw invalid(
    'You cannot create a charge on a connected account without the `card_payments` capability enabled.',
    param,
  );
}

function createSession(
  engine: Engine,
  scope: Scope,
  params: FormObject,
  account: string | null,
): SessionRecord {
  const mode = str(params.mode);
  if (!mode) throw requiredParam('mode');
  if (mode !== 'payment' && mode !== 'subscription')
    throw invalid(`The emulator only supports mode=payment and mode=subscription (got '${mode}').`, 'mode');
  const created = nowSeconds();
  const { items, currency } = buildLineItems(params, created, scope, mode);
  const subscriptionData = mode === 'subscription' ? subscriptionDataOf(engine, params, account) : undefined;
  if (
    subscriptionData &&
    items.some((li) => li.price?.recurring?.interval !== items[0]?.price?.recurring?.interval)
  )
    throw invalid('All prices on a subscription must have the same `recurring.interval`.', 'line_items');
  // During a trial nothing is due today.
  const subtotal = subscriptionData?.trial_period_days
    ? 0
    : items.reduce((s, li) => s + li.amount_subtotal, 0);

  // "It can be anywhere from 30 minutes to 24 hours after Checkout Session creation. By default, this value is 24
  // hours from creation." (the SDK's `expires_at` documentation). Stripe's refusals, quoted by many projects: "The
  // `expires_at` timestamp must be at least 30 minutes from Checkout Session creation." and "... must be less than 24
  // hours from Checkout Session creation.", with no `param` ("API 2024-10-28.acacia omits param for this specific
  // Session error", a WooCommerce gateway's code matching on it).
  const expiresAt = intParam(params.expires_at, 'expires_at') ?? created + MAX_EXPIRY_S;
  if (expiresAt < created + MIN_EXPIRY_S - EXPIRY_SLACK_S)
    throw invalid('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.');
  if (expiresAt > created + MAX_EXPIRY_S + EXPIRY_SLACK_S)
    throw invalid('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.');

  const allowPromo = boolParam(params.allow_promotion_codes, 'allow_promotion_codes') ?? null;
  const discountsRaw = arr(params.discounts);
  if (allowPromo !== null && params.discounts !== undefined)
    throw invalid(
      'You may only specify one of these parameters: allow_promotion_codes, discounts.',
      'allow_promotion_codes',
    );
  if (discountsRaw.length > 1) throw invalid('You may only specify one discount.', 'discounts');

  const customer = str(params.customer) ?? null;
  const customerEmail = str(params.customer_email) ?? null;
  if (customer && customerEmail)
    throw invalid(
      'You may only specify one of these parameters: customer, customer_email.',
      'customer_email',
    );
  if (customer && !scope.customers.has(customer)) throw missing('customer', customer, 'customer');

  const pid = obj(params.payment_intent_data) ?? {};
  const fee = intParam(pid.application_fee_amount, 'payment_intent_data[application_fee_amount]') ?? null;
  const destination = str(get(pid, 'transfer_data', 'destination')) ?? null;
  const transferAmount =
    intParam(get(pid, 'transfer_data', 'amount'), 'payment_intent_data[transfer_data][amount]') ?? null;
  const onBehalfOf = str(pid.on_behalf_of) ?? null;
  if (destination !== null) {
    if (account !== null)
      throw invalid(
        'transfer_data[destination] cannot be used on a direct charge (request made with Stripe-Account).',
        'payment_intent_data[transfer_data][destination]',
      );
    requireDestination(engine, destination, 'payment_intent_data[transfer_data][destination]');
  }
  if (account !== null) {
    const acct = engine.store.accounts.get(account);
    if (acct && engine.settings.requireChargesEnabled) {
      requireChargeable(engine, account);
      requireCardPayments(engine, acct);
    }
  }
  if (onBehalfOf !== null) {
    const obo = engine.store.accounts.get(onBehalfOf);
    if (!obo)
      throw invalid(
        `No such account: '${onBehalfOf}'`,
        'payment_intent_data[on_behalf_of]',
        'resource_missing',
      );
    // The settlement merchant processes the card payment: the same capability as a direct charge's account
    // (docs.stripe.com/connect/destination-charges#settlement-merchant).
    requireCardPayments(engine, obo, 'payment_intent_data[on_behalf_of]');
  }
  if (fee !== null) checkAmount(fee, currency, 'payment_intent_data[application_fee_amount]');
  if (transferAmount !== null)
    checkAmount(transferAmount, currency, 'payment_intent_data[transfer_data][amount]');
  if (fee !== null) {
    // Stripe's wording, quoted in Stripe's own Connect guides for PaymentIntents: an application fee needs a direct
    // (Stripe-Account) or destination (`transfer_data[destination]`) payment.
    if (account === null && destination === null)
      throw invalid(
        'Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment (using an OAuth key or Stripe-Account header) or destination payment (using `transfer_data[destination]`).',
        'payment_intent_data[application_fee_amount]',
      );
    if (transferAmount !== null)
      throw invalid(
        'You may only specify one of these parameters: application_fee_amount, transfer_data[amount].',
        'payment_intent_data[application_fee_amount]',
      );
  }

  const piData: PaymentIntentData = {
    application_fee_amount: fee,
    transfer_destination: destination,
    transfer_amount: transferAmount,
    on_behalf_of: onBehalfOf,
    transfer_group: str(pid.transfer_group) ?? null,
    description: str(pid.description) ?? null,
    metadata: applyMetadata({}, pid.metadata, 'payment_intent_data[metadata]'),
  };

  for (const param of ['success_url', 'cancel_url'] as const) {
    const u = str(params[param]);
    if (u === undefined) continue;
    const protocol = URL.canParse(u) ? new URL(u).protocol : '';
    if (protocol !== 'http:' && protocol !== 'https:') throw invalid('Not a valid URL', param, 'url_invalid');
  }

  const id = newId('cs_test', 58);
  const successUrl = str(params.success_url)?.replaceAll('{CHECKOUT_SESSION_ID}', id) ?? null;
  const session: Stripe.Checkout.Session = {
    id,
    object: 'checkout.session',
    adaptive_pricing: null,
    after_expiration: null,
    allow_promotion_codes: allowPromo,
    allowed_payment_method_types: null,
    amount_subtotal: subtotal,
    amount_total: subtotal,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: str(params.cancel_url) ?? null,
    client_reference_id: str(params.client_reference_id) ?? null,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created,
    currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: {
      after_submit: null,
      shipping_address: null,
      submit: null,
      terms_of_service_acceptance: null,
    },
    customer,
    customer_account: null,
    customer_creation: customer || mode === 'subscription' ? null : 'if_required',
    customer_details: customerEmail
      ? {
          address: null,
          business_name: null,
          email: customerEmail,
          individual_name: null,
          name: null,
          phone: null,
          tax_exempt: 'none',
          tax_ids: null,
        }
      : null,
    customer_email: customerEmail,
    discounts: [],
    expires_at: expiresAt,
    integration_identifier: null,
    invoice: null,
    invoice_creation: null,
    livemode: false,
    locale: null,
    managed_payments: null,
    metadata: applyMetadata({}, params.metadata),
    mode: mode === 'subscription' ? 'subscription' : 'payment',
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: mode === 'subscription' ? 'always' : 'if_required',
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: ['card'],
    payment_status: 'unpaid',
    permissions: null,
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: 'open',
    submit_type: null,
    subscription: null,
    success_url: successUrl,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted_page',
    url: `${engine.settings.publicUrl}/c/pay/${id}`,
    wallet_options: null,
  };
  const rec: SessionRecord = {
    session,
    lineItems: items,
    piData,
    expireAtMs: Date.now() + engine.scaled((expiresAt - created) * 1000),
    ...(subscriptionData ? { subscriptionData } : {}),
  };

  const d = obj(discountsRaw[0]);
  if (d) {
    const promoId = str(d.promotion_code);
    const couponId = str(d.coupon);
    if (promoId) {
      const promo = scope.promotionCodes.get(promoId);
      if (!promo)
        throw invalid(
          `No such promotion code: '${promoId}'`,
          'discounts[0][promotion_code]',
          'resource_missing',
        );
      const coupon = scope.coupons.get(String(promo.promotion.coupon));
      if (!coupon) throw missing('coupon', String(promo.promotion.coupon), 'discounts[0][promotion_code]');
      const problem = promotionCodeProblem(promo, coupon, redemption(scope, rec, customer));
      if (problem !== null) throw redemptionError(problem, 'discounts[0][promotion_code]');
      applyDiscount(rec, coupon, promo);
    } else if (couponId) {
      const coupon = scope.coupons.get(couponId);
      if (!coupon) throw missing('coupon', couponId, 'discounts[0][coupon]');
      const problem = couponProblem(coupon, redemption(scope, rec, customer));
      if (problem !== null) throw redemptionError(problem, 'discounts[0][coupon]');
      applyDiscount(rec, coupon, null);
    } else {
      throw requiredParam('discounts[0][coupon]');
    }
  }
  // The total due after discounts within Stripe's charge limits (0, a 100 %-off session, is no payment).
  const total = rec.session.amount_total ?? 0;
  checkChargeAmount(total, currency);
  // Neither the fee nor the transfer may exceed what the buyer pays (the emulator's wording; Stripe's was not
  // found). A code typed on the hosted page later lowers the total: the fee is then capped, as Stripe documents it
  // ("The amount of the application fee collected will be capped at the total amount captured").
  if (fee !== null && fee > total)
    throw invalid(
      `The application_fee_amount (${fee}) must be less than or equal to the total amount of the Checkout Session (${total}).`,
      'payment_intent_data[application_fee_amount]',
    );
  if (transferAmount !== null && transferAmount > total)
    throw invalid(
      `The transfer_data[amount] (${transferAmount}) must be less than or equal to the total amount of the Checkout Session (${total}).`,
      'payment_intent_data[transfer_data][amount]',
    );
  return rec;
}

/**
 * `subscription_data[application_fee_percent|trial_period_days|transfer_data][destination]|on_behalf_of|metadata]` of
 * a session in subscription mode, checked as the subscription will be (the values are re-read by createSubscription
 * when the session completes). `payment_intent_data` and discounts belong to payment mode here.
 */
function subscriptionDataOf(
  engine: Engine,
  params: FormObject,
  account: string | null,
): SubscriptionSessionData {
  if (params.payment_intent_data !== undefined)
    throw invalid('You can not pass `payment_intent_data` in `subscription` mode.', 'payment_intent_data');
  if (params.discounts !== undefined || params.allow_promotion_codes !== undefined)
    throw invalid(
      'The Settle emulator does not apply discounts to subscriptions (discounts, allow_promotion_codes).',
      params.discounts !== undefined ? 'discounts' : 'allow_promotion_codes',
    );
  const sd = obj(params.subscription_data) ?? {};
  const percentRaw = str(sd.application_fee_percent) ?? null;
  const destination = str(get(sd, 'transfer_data', 'destination')) ?? null;
  const onBehalfOf = str(sd.on_behalf_of) ?? null;
  if (percentRaw !== null) {
    const pct = Number(percentRaw);
    if (!Number.isFinite(pct) || pct < 0 || pct > 100)
      throw invalid(
        'Invalid subscription_data[application_fee_percent]: must be between 0 and 100.',
        'subscription_data[application_fee_percent]',
      );
    if (account === null && destination === null)
      throw invalid(
        'Can only apply an application_fee_percent when the request is made on behalf of another account (using an OAuth key, the Stripe-Account header, or the transfer_data parameter).',
        'subscription_data[application_fee_percent]',
      );
  }
  if (destination !== null) {
    if (account !== null)
      throw invalid(
        'transfer_data[destination] cannot be used on a direct charge (request made with Stripe-Account).',
        'subscription_data[transfer_data][destination]',
      );
    requireDestination(engine, destination, 'subscription_data[transfer_data][destination]');
  }
  if (onBehalfOf !== null) {
    const obo = engine.store.accounts.get(onBehalfOf);
    if (!obo)
      throw invalid(
        `No such account: '${onBehalfOf}'`,
        'subscription_data[on_behalf_of]',
        'resource_missing',
      );
    requireCardPayments(engine, obo, 'subscription_data[on_behalf_of]');
  }
  const trial = intParam(sd.trial_period_days, 'subscription_data[trial_period_days]');
  return {
    application_fee_percent: percentRaw,
    trial_period_days: trial !== undefined && trial > 0 ? String(trial) : null,
    transfer_destination: destination,
    on_behalf_of: onBehalfOf,
    metadata: applyMetadata({}, sd.metadata, 'subscription_data[metadata]'),
  };
}

/** What a discount on this session is checked against (rules.ts). */
export function redemption(scope: Scope, rec: SessionRecord, customer: string | null): RedemptionContext {
  const s = rec.session;
  const customerHasPaid =
    customer !== null &&
    [...scope.paymentIntents.values()].some((pi) => pi.customer === customer && pi.status === 'succeeded');
  return {
    amount: s.amount_subtotal ?? 0,
    currency: s.currency ?? '',
    products: rec.lineItems.map((li) => String(li.price?.product)),
    customerHasPaid,
    customer,
    nowSeconds: nowSeconds(),
  };
}

export function registerCheckout(apiRouter: Router, engine: Engine): void {
  const { store } = engine;
  const router = expandingRouter(apiRouter, store);
  const find = (scope: Scope, id: string): SessionRecord => {
    const rec = scope.sessions.get(id);
    if (!rec) throw missing('checkout.session', id, 'session');
    return rec;
  };

  router.post('/v1/checkout/sessions', (req) => {
    const rec = createSession(engine, req.scope, req.params, req.account);
    req.scope.sessions.set(rec.session.id, rec);
    // An inline (price_data) price is a Price object of its own, inactive, that Stripe serves by id like any other
    // (GET /v1/prices/:id); it exists once the session does.
    for (const li of rec.lineItems)
      if (li.price !== null && !req.scope.prices.has(li.price.id))
        req.scope.prices.set(li.price.id, li.price);
    store.sessionScope.set(rec.session.id, req.scope.key);
    return rec.session;
  });

  router.get('/v1/checkout/sessions/:id', (req) => find(req.scope, req.path.id ?? '').session);

  router.get('/v1/checkout/sessions/:id/line_items', (req) => {
    const rec = find(req.scope, req.path.id ?? '');
    return paginate([...rec.lineItems], req.params, req.url);
  });

  router.get('/v1/checkout/sessions', (req) => {
    const pi = str(req.params.payment_intent);
    const status = str(req.params.status);
    const customer = str(req.params.customer);
    const email = str(get(req.params, 'customer_details', 'email'));
    const items = [...req.scope.sessions.values()]
      .reverse()
      .map((r) => r.session)
      .filter(
        (s) =>
          (pi === undefined || s.payment_intent === pi) &&
          (status === undefined || s.status === status) &&
          (customer === undefined || s.customer === customer) &&
          (email === undefined || s.customer_details?.email === email) &&
          createdMatches(s.created, req.params.created),
      );
    return paginate(items, req.params, req.url);
  });

  router.post('/v1/checkout/sessions/:id/expire', (req) => {
    const rec = find(req.scope, req.path.id ?? '');
    if (rec.session.status !== 'open')
      throw invalid(
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${String(rec.session.status)}".`,
        'session',
      );
    expireSession(engine, req.scope, rec, req.cause);
    return rec.session;
  });
}
