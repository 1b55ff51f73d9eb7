import type Stripe from 'stripe';
import { afterAttempt, endSubscription, finalizeAndCollect, resumeSubscription } from '../billing/cycle.js';
import {
  attemptPayment,
  createInvoice,
  defaultPaymentMethod,
  finalizeInvoice,
  type BillingCtx,
} from '../billing/invoices.js';
import { billingNow, DAY, nextBoundary } from '../billing/time.js';
import { boolParam, createdMatches, intParam, paginate, type Engine, type EventCause } from '../engine.js';
import { ApiError, invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { arr, get, obj, str, type FormObject } from '../form.js';
import { newId } from '../ids.js';
import type { Router } from '../router.js';
import { applyMetadata } from '../rules.js';
import type { Scope } from '../store.js';
import { emitUpdated, snapshot } from '../updates.js';
import { requireCardPayments, requireChargeable, requireDestination } from './checkout.js';
import { chargeDecline, customerPaymentMethod } from './payment-methods.js';
import { createPrice } from './prices.js';

/** A documented value the emulator does not emulate (as `parameter_unsupported`). */
function unsupportedValue(param: string, value: string): ApiError {
  return new ApiError(
    400,
    'invalid_request_error',
    `${param}=${value} is documented by Stripe but not emulated.`,
    {
      code: 'parameter_unsupported',
      param,
    },
  );
}

/** Stripe's longest trial: 730 days. */
const MAX_TRIAL_DAYS = 730;

const NO_PAYMENT_METHOD =
  'This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://docs.stripe.com/billing/subscriptions/payment-methods-setting#payment-method-priority.';

type PaymentBehavior = 'allow_incomplete' | 'default_incomplete' | 'error_if_incomplete';

function planOf(price: Stripe.Price): Stripe.Plan {
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: 'per_unit',
    created: price.created,
    currency: price.currency,
    interval: price.recurring?.interval ?? 'month',
    interval_count: price.recurring?.interval_count ?? 1,
    livemode: false,
    metadata: { ...price.metadata },
    meter: null,
    nickname: price.nickname,
    product: String(price.product),
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: 'licensed',
  };
}

/** `items[i][price|quantity]`: active recurring prices of one currency and one billing interval. */
function itemsOf(
  engine: Engine,
  scope: Scope,
  p: FormObject,
  cause: EventCause,
): { price: Stripe.Price; quantity: number }[] {
  const raw = arr(p.items);
  if (raw.length === 0) throw requiredParam('items');
  const out = raw.map((item, i) => {
    const quantity = intParam(get(item, 'quantity'), `items[${i}][quantity]`) ?? 1;
    const data = obj(get(item, 'price_data'));
    if (data !== undefined) {
      if (get(item, 'price') !== undefined)
        throw invalid(
          `You may only specify one of these parameters: items[${i}][price], items[${i}][price_data].`,
          `items[${i}][price]`,
        );
      const inline = createPrice(engine, scope, data, cause, { prefix: `items[${i}][price_data]` });
      return { price: inline, quantity };
    }
    const id = str(get(item, 'price'));
    if (id === undefined) throw requiredParam(`items[${i}][price]`);
    const price = scope.prices.get(id);
    if (!price) throw missing('price', id, `items[${i}][price]`);
    if (!price.active)
      throw invalid(
        'The price specified is inactive. This field only accepts active prices.',
        `items[${i}][price]`,
      );
    if (!price.recurring)
      throw invalid(
        `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
        `items[${i}][price]`,
      );
    return { price, quantity };
  });
  const first = out[0]?.price;
  for (const [i, { price }] of out.entries()) {
    if (price.currency !== first?.currency)
      throw invalid('All prices on a subscription must have the same currency.', `items[${i}][price]`);
    if (
      price.recurring?.interval !== first.recurring?.interval ||
      price.recurring?.interval_count !== first.recurring?.interval_count
    )
      throw invalid(
        'All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.',
        `items[${i}][price]`,
      );
  }
  return out;
}

function accountParam(engine: Engine, id: string | undefined, param: string): string | null {
  if (id === undefined || id === '') return null;
  if (!engine.store.accounts.has(id)) throw missing('account', id, param);
  return id;
}

/** The Connect accounts a subscription's payments involve, checked as Checkout Sessions check them. */
function checkConnect(
  engine: Engine,
  scope: Scope,
  destination: string | null,
  onBehalfOf: string | null,
): void {
  if (destination !== null) {
    if (scope.account !== null)
      throw invalid(
        'transfer_data[destination] cannot be used on a direct charge (request made with Stripe-Account).',
        'transfer_data[destination]',
      );
    requireDestination(engine, destination, 'transfer_data[destination]');
  }
  const direct = scope.account === null ? undefined : engine.store.accounts.get(scope.account);
  if (direct && engine.settings.requireChargesEnabled) {
    requireChargeable(engine, direct.id);
    requireCardPayments(engine, direct);
  }
  const obo = onBehalfOf === null ? undefined : engine.store.accounts.get(onBehalfOf);
  if (obo) requireCardPayments(engine, obo, 'on_behalf_of');
}

/** `application_fee_percent`: a decimal 0–100, only on behalf of a connected account. */
function feePercent(p: FormObject, scope: Scope, destination: string | null): number | null {
  const raw = str(p.application_fee_percent);
  if (raw === undefined || raw === '') return null;
  const pct = Number(raw);
  if (!Number.isFinite(pct) || pct < 0 || pct > 100)
    throw invalid('Invalid application_fee_percent: must be between 0 and 100.', 'application_fee_percent');
  if (scope.account === null && destination === null)
    throw invalid(
      'Can only apply an application_fee_percent when the request is made on behalf of another account (using an OAuth key, the Stripe-Account header, or the transfer_data parameter).',
      'application_fee_percent',
    );
  return pct;
}

/**
 * `POST /v1/subscriptions`: the subscription (`trialing`, or `incomplete` until its first invoice is paid), its
 * first invoice (zero during a trial) finalized at once and charged on the subscription's or the customer's default
 * payment method, as `payment_behavior` says: `allow_incomplete` (default) leaves a failed payment `incomplete`,
 * `error_if_incomplete` refuses it (402, nothing created), `default_incomplete` does not charge.
 */
export function createSubscription(
  engine: Engine,
  scope: Scope,
  p: FormObject,
  cause: EventCause,
): Stripe.Subscription {
  const customerId = str(p.customer);
  if (customerId === undefined) throw requiredParam('customer');
  const customer = scope.customers.get(customerId);
  if (!customer) throw missing('customer', customerId, 'customer');
  const items = itemsOf(engine, scope, p, cause);
  const dpmId = str(p.default_payment_method);
  const dpm =
    dpmId === undefined ? null : customerPaymentMethod(scope, dpmId, customer.id, 'default_payment_method');
  const trialDays = intParam(p.trial_period_days, 'trial_period_days');
  if (trialDays !== undefined && trialDays > MAX_TRIAL_DAYS)
    throw invalid(`Invalid trial_period_days: must be at most ${MAX_TRIAL_DAYS}.`, 'trial_period_days');
  const trial = trialDays !== undefined && trialDays > 0;
  const destination = accountParam(
    engine,
    str(get(p, 'transfer_data', 'destination')),
    'transfer_data[destination]',
  );
  const onBehalfOf = accountParam(engine, str(p.on_behalf_of), 'on_behalf_of');
  checkConnect(engine, scope, destination, onBehalfOf);
  const percent = feePercent(p, scope, destination);
  const behavior = (str(p.payment_behavior) ?? 'allow_incomplete') as
    PaymentBehavior | 'pending_if_incomplete';
  if (behavior === 'pending_if_incomplete')
    throw invalid(
      'payment_behavior=pending_if_incomplete is only supported when updating a subscription.',
      'payment_behavior',
    );
  const clockId = typeof customer.test_clock === 'string' ? customer.test_clock : null;
  const now = billingNow(engine, scope, clockId);
  const first = items[0];
  if (!first?.price.recurring) throw requiredParam('items');
  const recurring = first.price.recurring;
  const amount = items.reduce((s, i) => s + (i.price.unit_amount ?? 0) * i.quantity, 0);

  const pm = defaultPaymentMethod(scope, customer.id, dpm?.id ?? null);
  if (behavior === 'error_if_incomplete' && !trial && amount > 0) {
    if (!pm) throw invalid(NO_PAYMENT_METHOD, undefined, 'resource_missing');
    const decline = chargeDecline(pm);
    if (decline)
      throw new ApiError(402, 'card_error', decline.message, {
        code: decline.code,
        decline_code: decline.decline_code,
      });
  }

  const id = newId('sub', 24);
  const trialEnd = trial ? now + trialDays * DAY : null;
  const periodEnd = trialEnd ?? nextBoundary(now, recurring, now);
  const subItems: Stripe.SubscriptionItem[] = items.map(({ price, quantity }) => ({
    id: newId('si', 14),
    object: 'subscription_item',
    billing_thresholds: null,
    created: now,
    current_period_end: periodEnd,
    current_period_start: now,
    current_trial: null,
    discounts: [],
    metadata: {},
    plan: planOf(price),
    price,
    quantity,
    subscription: id,
    tax_rates: [],
  }));
  const sub: Stripe.Subscription = {
    id,
    object: 'subscription',
    application: scope.account !== null || destination !== null ? 'ca_emulator' : null,
    application_fee_percent: percent,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: trialEnd ?? now,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: null, type: 'classic' },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: 'charge_automatically',
    created: now,
    currency: first.price.currency,
    customer: customer.id,
    customer_account: null,
    days_until_due: null,
    default_payment_method: dpm?.id ?? null,
    default_source: null,
    default_tax_rates: [],
    description: str(p.description) ?? null,
    discounts: [],
    ended_at: null,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: 'self' },
    },
    items: {
      object: 'list',
      data: subItems,
      has_more: false,
      url: `/v1/subscription_items?subscription=${id}`,
    },
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: applyMetadata({}, p.metadata),
    next_pending_invoice_item_invoice: null,
    on_behalf_of: onBehalfOf,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: 'off',
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: trial ? 'trialing' : 'incomplete',
    test_clock: clockId,
    transfer_data: destination === null ? null : { amount_percent: null, destination },
    trial_end: trialEnd,
    trial_settings: {
      end_behavior: {
        billing_cycle_anchor: null,
        missing_payment_method:
          (str(get(p, 'trial_settings', 'end_behavior', 'missing_payment_method')) as
            Stripe.Subscription.TrialSettings.EndBehavior.MissingPaymentMethod | undefined) ??
          'create_invoice',
      },
    },
    trial_start: trial ? now : null,
  };
  scope.subscriptions.set(id, sub);
  scope.subscriptionState.set(id, { trialWillEndSent: false });
  if (boolParam(p.cancel_at_period_end, 'cancel_at_period_end')) {
    sub.cancel_at_period_end = true;
    sub.cancel_at = periodEnd;
  }
  const ctx: BillingCtx = { engine, scope, cause };
  engine.emit(scope, 'customer.subscription.created', sub, cause);
  const invoice = createInvoice(
    ctx,
    sub,
    'subscription_create',
    { start: now, end: periodEnd },
    { trial, now, autoFinalize: false },
  );
  sub.latest_invoice = invoice.id;
  finalizeAndCollect(ctx, sub, invoice, now, behavior !== 'default_incomplete');
  return sub;
}

function findSubscription(scope: Scope, id: string): Stripe.Subscription {
  const sub = scope.subscriptions.get(id);
  if (!sub) throw missing('subscription', id);
  return sub;
}

/** Subscriptions, invoices and invoice payments, on the scope selected by Stripe-Account. */
export function registerSubscriptions(apiRouter: Router, engine: Engine): void {
  const router = expandingRouter(apiRouter, engine.store);
  router.post('/v1/subscriptions', (req) => createSubscription(engine, req.scope, req.params, req.cause));
  router.get('/v1/subscriptions/:id', (req) => findSubscription(req.scope, req.path.id ?? ''));

  router.post('/v1/subscriptions/:id', (req) => {
    const sub = findSubscription(req.scope, req.path.id ?? '');
    const p = req.params;
    const ended = sub.status === 'canceled' || sub.status === 'incomplete_expired';
    if (ended && Object.keys(p).some((k) => k !== 'metadata' && k !== 'expand'))
      throw invalid(
        'A canceled subscription can only update its cancellation_details and metadata.',
        undefined,
        'invalid_canceled_subscription_fields',
      );
    const before = snapshot(sub);
    const cancelAtEnd = boolParam(p.cancel_at_period_end, 'cancel_at_period_end');
    if (cancelAtEnd !== undefined) {
      const end = sub.items.data[0]?.current_period_end ?? null;
      sub.cancel_at_period_end = cancelAtEnd;
      sub.cancel_at = cancelAtEnd ? end : null;
      sub.canceled_at = cancelAtEnd
        ? billingNow(engine, req.scope, typeof sub.test_clock === 'string' ? sub.test_clock : null)
        : null;
      sub.cancellation_details = {
        comment: null,
        feedback: null,
        feedback_option: null,
        reason: cancelAtEnd ? 'cancellation_requested' : null,
      };
    }
    const dpm = str(p.default_payment_method);
    if (dpm !== undefined)
      sub.default_payment_method = customerPaymentMethod(
        req.scope,
        dpm,
        String(sub.customer),
        'default_payment_method',
      ).id;
    if (p.metadata !== undefined) sub.metadata = applyMetadata(sub.metadata, p.metadata);
    emitUpdated(engine, req.scope, 'customer.subscription.updated', sub, before, req.cause);
    return sub;
  });

  router.post('/v1/subscriptions/:id/resume', (req) => {
    const sub = findSubscription(req.scope, req.path.id ?? '');
    if (sub.status !== 'paused')
      throw invalid(
        `Only subscriptions with status \`paused\` can be resumed (this one is \`${sub.status}\`).`,
        undefined,
        'status_transition_invalid',
      );
    if (str(req.params.billing_cycle_anchor) === 'unchanged')
      throw unsupportedValue('billing_cycle_anchor', 'unchanged');
    const ctx: BillingCtx = { engine, scope: req.scope, cause: req.cause };
    resumeSubscription(
      ctx,
      sub,
      billingNow(engine, req.scope, typeof sub.test_clock === 'string' ? sub.test_clock : null),
    );
    return sub;
  });

  router.delete('/v1/subscriptions/:id', (req) => {
    const sub = findSubscription(req.scope, req.path.id ?? '');
    if (sub.status === 'canceled' || sub.status === 'incomplete_expired')
      throw invalid(
        `This subscription has already been canceled (${sub.id}).`,
        undefined,
        'resource_missing',
      );
    const ctx: BillingCtx = { engine, scope: req.scope, cause: req.cause };
    const now = billingNow(engine, req.scope, typeof sub.test_clock === 'string' ? sub.test_clock : null);
    sub.canceled_at = now;
    const details = obj(req.params.cancellation_details);
    endSubscription(ctx, sub, now, 'canceled', 'cancellation_requested');
    if (details && sub.cancellation_details) {
      sub.cancellation_details.comment = str(details.comment) ?? null;
      sub.cancellation_details.feedback =
        (str(details.feedback) as Stripe.Subscription.CancellationDetails.Feedback | undefined) ?? null;
    }
    return sub;
  });

  router.get('/v1/subscriptions', (req) => {
    const customer = str(req.params.customer);
    const status = str(req.params.status);
    const price = str(req.params.price);
    const clock = str(req.params.test_clock);
    const items = [...req.scope.subscriptions.values()]
      .reverse()
      .filter(
        (s) =>
          (customer === undefined || s.customer === customer) &&
          (status === undefined
            ? s.status !== 'canceled' && s.status !== 'incomplete_expired'
            : status === 'all' || s.status === status) &&
          (price === undefined || s.items.data.some((i) => i.price.id === price)) &&
          (clock === undefined || s.test_clock === clock) &&
          createdMatches(s.created, req.params.created),
      );
    return paginate(items, req.params, req.url);
  });

  router.get('/v1/invoices/:id', (req) => {
    const invoice = req.scope.invoices.get(req.path.id ?? '');
    if (!invoice) throw missing('invoice', req.path.id ?? '', 'invoice');
    return invoice;
  });
  router.get('/v1/invoices', (req) => {
    const customer = str(req.params.customer);
    const subscription = str(req.params.subscription);
    const status = str(req.params.status);
    const items = [...req.scope.invoices.values()]
      .reverse()
      .filter(
        (i) =>
          (customer === undefined || i.customer === customer) &&
          (subscription === undefined || i.parent?.subscription_details?.subscription === subscription) &&
          (status === undefined || i.status === status) &&
          createdMatches(i.created, req.params.created),
      );
    return paginate(items, req.params, req.url);
  });

  // Paying an open invoice now (as the Dashboard's "retry" and a recovered customer do): a decline answers 402.
  router.post('/v1/invoices/:id/pay', (req) => {
    const invoice = req.scope.invoices.get(req.path.id ?? '');
    if (!invoice) throw missing('invoice', req.path.id ?? '', 'invoice');
    if (invoice.status !== 'open' && invoice.status !== 'draft')
      throw invalid(`Invoice is already ${invoice.status ?? 'closed'}.`, undefined, 'invoice_not_editable');
    const subId = invoice.parent?.subscription_details?.subscription;
    const sub = typeof subId === 'string' ? req.scope.subscriptions.get(subId) : undefined;
    if (!sub) throw invalid('Only subscription invoices can be paid in the emulator.', 'invoice');
    const ctx: BillingCtx = { engine, scope: req.scope, cause: req.cause };
    const now = billingNow(engine, req.scope, typeof sub.test_clock === 'string' ? sub.test_clock : null);
    // Paying a draft (an unpaid subscription's renewal) finalizes it first, as Stripe does.
    if (invoice.status === 'draft') {
      finalizeInvoice(ctx, invoice, now);
      invoice.next_payment_attempt = null;
      if (invoice.status === 'paid') {
        afterAttempt(ctx, sub, invoice, null, now);
        return invoice;
      }
    }
    const retryAt = invoice.next_payment_attempt;
    const failure = attemptPayment(ctx, invoice, sub, now);
    if (failure === null) {
      afterAttempt(ctx, sub, invoice, null, now);
      return invoice;
    }
    // A manual attempt does not move the automatic retry schedule.
    invoice.next_payment_attempt = retryAt;
    throw new ApiError(402, 'card_error', failure.message, {
      code: failure.code,
      ...(failure.decline_code !== null ? { decline_code: failure.decline_code } : {}),
    });
  });

  router.get('/v1/invoice_payments/:id', (req) => {
    const record = req.scope.invoicePayments.get(req.path.id ?? '');
    if (!record) throw missing('invoice_payment', req.path.id ?? '');
    return record;
  });
  router.get('/v1/invoice_payments', (req) => {
    const invoice = str(req.params.invoice);
    const status = str(req.params.status);
    const items = [...req.scope.invoicePayments.values()]
      .reverse()
      .filter(
        (r) =>
          (invoice === undefined || r.invoice === invoice) && (status === undefined || r.status === status),
      );
    return paginate(items, req.params, req.url);
  });
}
