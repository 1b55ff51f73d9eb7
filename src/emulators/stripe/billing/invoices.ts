import type Stripe from 'stripe';
import { formatAmount } from '../currencies.js';
import type { Engine, EventCause } from '../engine.js';
import { newId } from '../ids.js';
import { buildCharge, cardDetails, settleConnect } from '../resources/payments.js';
import { chargeDecline } from '../resources/payment-methods.js';
import type { Scope } from '../store.js';

/** Where billing runs: the scope owning the subscription, and the request (if any) that set it off. */
export interface BillingCtx {
  engine: Engine;
  scope: Scope;
  cause: EventCause;
}

/** How long Stripe leaves a renewal invoice in draft before finalizing it ("about one hour"). */
export const DRAFT_HOURS = 1;

const idOf = (v: string | { id: string } | null): string | null =>
  v === null || typeof v === 'string' ? v : v.id;

/** The subscription's price for one period: Σ unit_amount × quantity over its items. */
export function periodAmount(sub: Stripe.Subscription): number {
  return sub.items.data.reduce((sum, item) => sum + (item.price.unit_amount ?? 0) * (item.quantity ?? 1), 0);
}

/** "1 × Membership (at €20.00 / month)", "Trial period for Membership", as Stripe words its lines. */
function lineDescription(
  scope: Scope,
  item: Stripe.SubscriptionItem,
  quantity: number,
  trial: boolean,
): string {
  const name = scope.products.get(String(item.price.product))?.name ?? String(item.price.product);
  if (trial) return `Trial period for ${name}`;
  const r = item.price.recurring;
  const every = r ? (r.interval_count === 1 ? r.interval : `${r.interval_count} ${r.interval}s`) : 'once';
  return `${quantity} × ${name} (at ${formatAmount(item.price.unit_amount ?? 0, item.price.currency)} / ${every})`;
}

/** `round(total × application_fee_percent / 100)`, or null without a percent. */
export function applicationFeeAmount(sub: Stripe.Subscription, total: number): number | null {
  return sub.application_fee_percent === null
    ? null
    : Math.round((total * sub.application_fee_percent) / 100);
}

/** The PaymentMethod an invoice of `sub` is charged on: the subscription's default, else the customer's. */
export function paymentMethodFor(scope: Scope, sub: Stripe.Subscription): Stripe.PaymentMethod | null {
  return defaultPaymentMethod(scope, String(sub.customer), idOf(sub.default_payment_method as string | null));
}

/**
 * `preferred` (a subscription's default), else the customer's `invoice_settings.default_payment_method`; a
 * PaymentMethod detached since is no longer the customer's to charge.
 */
export function defaultPaymentMethod(
  scope: Scope,
  customerId: string,
  preferred: string | null,
): Stripe.PaymentMethod | null {
  const customer = scope.customers.get(customerId);
  const id = preferred ?? idOf(customer?.invoice_settings.default_payment_method as string | null);
  const pm = id === null ? undefined : scope.paymentMethods.get(id);
  return pm && pm.customer === customerId ? pm : null;
}

/**
 * A new draft invoice of `sub` for the period [start, end): one line per item (zero during a trial). A renewal
 * (`subscription_cycle`) stays draft until `automatically_finalizes_at`; creation invoices are finalized at once.
 */
export function createInvoice(
  ctx: BillingCtx,
  sub: Stripe.Subscription,
  reason: 'subscription_create' | 'subscription_cycle',
  period: { start: number; end: number },
  opts: {
    trial: boolean;
    now: number;
    autoFinalize: boolean;
    /** A renewal's `period_start`/`period_end`: the period that just ended (Stripe bills in advance). */
    previous?: { start: number; end: number };
  },
): Stripe.Invoice {
  const customer = ctx.scope.customers.get(String(sub.customer));
  const id = newId('in', 24);
  const lines: Stripe.InvoiceLineItem[] = sub.items.data.map((item) => {
    const quantity = item.quantity ?? 1;
    const amount = opts.trial ? 0 : (item.price.unit_amount ?? 0) * quantity;
    return {
      id: newId('il', 24),
      object: 'line_item',
      amount,
      currency: sub.currency,
      description: lineDescription(ctx.scope, item, quantity, opts.trial),
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: id,
      livemode: false,
      metadata: {},
      parent: {
        invoice_item_details: null,
        subscription_item_details: {
          invoice_item: null,
          proration: false,
          proration_details: { credited_items: null },
          subscription: sub.id,
          subscription_item: item.id,
        },
        type: 'subscription_item_details',
      },
      period,
      pretax_credit_amounts: [],
      pricing: {
        price_details: { price: item.price.id, product: String(item.price.product) },
        type: 'price_details',
        unit_amount_decimal: item.price.unit_amount_decimal,
      },
      quantity,
      quantity_decimal: null,
      subscription: sub.id,
      subtotal: amount,
      taxes: [],
    };
  });
  const total = lines.reduce((s, l) => s + l.amount, 0);
  const account = ctx.scope.account ? ctx.engine.store.accounts.get(ctx.scope.account) : undefined;
  const invoice: Stripe.Invoice = {
    id,
    object: 'invoice',
    account_country: account?.country ?? 'US',
    account_name: account?.business_profile?.name ?? null,
    account_tax_ids: null,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: total,
    amount_shipping: 0,
    application: ctx.scope.account !== null || sub.transfer_data !== null ? 'ca_emulator' : null,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: opts.autoFinalize ? opts.now + DRAFT_HOURS * 3600 : null,
    billing_reason: reason,
    collection_method: 'charge_automatically',
    created: opts.now,
    currency: sub.currency,
    custom_fields: null,
    customer: String(sub.customer),
    customer_account: null,
    customer_address: null,
    customer_email: customer?.email ?? null,
    customer_name: customer?.name ?? null,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: idOf(sub.on_behalf_of as string | null),
    parent: {
      quote_details: null,
      subscription_details: { metadata: { ...sub.metadata }, subscription: sub.id },
      type: 'subscription_details',
    },
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: opts.previous?.end ?? opts.now,
    period_start: opts.previous?.start ?? opts.now,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: idOf(sub.test_clock as string | null),
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: opts.now,
  };
  ctx.scope.invoices.set(id, invoice);
  ctx.engine.store.invoiceScope.set(id, ctx.scope.key);
  ctx.engine.emit(ctx.scope, 'invoice.created', invoice, ctx.cause);
  return invoice;
}

/** Draft → open: number, `finalized_at`, `invoice.finalized`; an invoice with nothing to pay is paid at once. */
export function finalizeInvoice(ctx: BillingCtx, invoice: Stripe.Invoice, now: number): void {
  const customer = String(invoice.customer);
  const sequence =
    [...ctx.scope.invoices.values()].filter((i) => i.customer === customer && i.number !== null).length + 1;
  invoice.status = 'open';
  invoice.number = `${customer.slice(-8).toUpperCase()}-${String(sequence).padStart(4, '0')}`;
  invoice.status_transitions.finalized_at = now;
  invoice.effective_at = now;
  invoice.automatically_finalizes_at = null;
  invoice.hosted_invoice_url = `${ctx.engine.settings.publicUrl}/i/${invoice.id}`;
  invoice.next_payment_attempt = invoice.amount_due > 0 ? now : null;
  ctx.engine.emit(ctx.scope, 'invoice.finalized', invoice, ctx.cause);
  if (invoice.amount_due === 0) markPaid(ctx, invoice, now, null);
}

function markPaid(
  ctx: BillingCtx,
  invoice: Stripe.Invoice,
  now: number,
  payment: Stripe.InvoicePayment | null,
): void {
  invoice.status = 'paid';
  invoice.amount_paid = invoice.amount_due;
  invoice.amount_remaining = 0;
  invoice.attempted = true;
  invoice.next_payment_attempt = null;
  invoice.status_transitions.paid_at = now;
  ctx.engine.emit(ctx.scope, 'invoice.paid', invoice, ctx.cause);
  ctx.engine.emit(ctx.scope, 'invoice.payment_succeeded', invoice, ctx.cause);
  if (payment) ctx.engine.emit(ctx.scope, 'invoice_payment.paid', payment, ctx.cause);
}

/** The invoice's payment record and PaymentIntent, made on its first attempt and reused by retries. */
function paymentOf(
  ctx: BillingCtx,
  invoice: Stripe.Invoice,
  sub: Stripe.Subscription,
  now: number,
): { record: Stripe.InvoicePayment; pi: Stripe.PaymentIntent } {
  for (const record of ctx.scope.invoicePayments.values()) {
    if (record.invoice !== invoice.id) continue;
    const pi = ctx.scope.paymentIntents.get(String(record.payment.payment_intent));
    if (pi) return { record, pi };
  }
  const amount = invoice.amount_due;
  const piId = newId('pi', 24);
  const destination = sub.transfer_data ? String(idOf(sub.transfer_data.destination as string)) : null;
  const pi: Stripe.PaymentIntent = {
    id: piId,
    object: 'payment_intent',
    allowed_payment_method_types: null,
    amount,
    amount_capturable: 0,
    amount_received: 0,
    application: null,
    application_fee_amount: applicationFeeAmount(sub, amount),
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic',
    client_secret: `${piId}_secret_${newId('x', 20).slice(2)}`,
    confirmation_method: 'automatic',
    created: now,
    currency: invoice.currency,
    customer: String(invoice.customer),
    customer_account: null,
    description:
      invoice.billing_reason === 'subscription_create' ? 'Subscription creation' : 'Subscription update',
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: {},
    next_action: null,
    on_behalf_of: idOf(sub.on_behalf_of as string | null),
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: ['card'],
    payment_record: null,
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: 'off_session',
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: 'requires_payment_method',
    transfer_data: destination === null ? null : { destination },
    transfer_group: destination === null ? null : `group_${piId}`,
  };
  const record: Stripe.InvoicePayment = {
    id: newId('inpay', 24),
    object: 'invoice_payment',
    amount_paid: null,
    amount_requested: amount,
    created: now,
    currency: invoice.currency,
    invoice: invoice.id,
    is_default: true,
    livemode: false,
    payment: { payment_intent: piId, type: 'payment_intent' },
    status: 'open',
    status_transitions: { canceled_at: null, paid_at: null },
  };
  ctx.scope.paymentIntents.set(piId, pi);
  ctx.scope.invoicePayments.set(record.id, record);
  ctx.engine.emit(ctx.scope, 'payment_intent.created', pi, ctx.cause);
  return { record, pi };
}

/** Why an attempt failed: a declined charge, or no payment method to charge. */
export interface AttemptFailure {
  code: string;
  decline_code: string | null;
  message: string;
}

/**
 * One automatic payment attempt of an open invoice on the subscription's payment method: a charge (succeeded or
 * failed) on the invoice's PaymentIntent, then `invoice.paid` (with the application fee and transfer of a Connect
 * subscription) or `invoice.payment_failed`. Returns the failure, or null when the invoice is paid.
 */
export function attemptPayment(
  ctx: BillingCtx,
  invoice: Stripe.Invoice,
  sub: Stripe.Subscription,
  now: number,
  /** A card given for this payment only (the hosted invoice page), instead of the subscription's default. */
  given?: Stripe.PaymentMethod,
): AttemptFailure | null {
  const { engine, scope, cause } = ctx;
  const { record, pi } = paymentOf(ctx, invoice, sub, now);
  const pm = given ?? paymentMethodFor(scope, sub);
  invoice.attempt_count += 1;
  invoice.attempted = true;
  const decline = pm
    ? chargeDecline(pm)
    : {
        code: 'resource_missing',
        decline_code: null,
        message:
          'This customer has no attached payment source or default payment method. Please consider adding a default payment method.',
      };
  if (pm) pi.payment_method = pm.id;
  if (decline === null && pm) {
    const charge = buildCharge(
      pi,
      'succeeded',
      invoice.customer_email,
      cardDetails(`000000000000${pm.card?.last4 ?? '4242'}`, pi.amount),
    );
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    pi.latest_charge = charge.id;
    pi.last_payment_error = null;
    scope.charges.set(charge.id, charge);
    settleConnect(engine, scope, pi, charge, cause);
    engine.emit(scope, 'charge.succeeded', charge, cause);
    engine.emit(scope, 'payment_intent.succeeded', pi, cause);
    record.status = 'paid';
    record.amount_paid = pi.amount;
    record.status_transitions.paid_at = now;
    markPaid(ctx, invoice, now, record);
    return null;
  }
  const failure: AttemptFailure = {
    code: decline?.code ?? 'card_declined',
    decline_code: decline?.decline_code ?? null,
    message: decline?.message ?? 'Your card was declined.',
  };
  if (pm) {
    const charge = buildCharge(
      pi,
      'failed',
      invoice.customer_email,
      cardDetails(`000000000000${pm.card?.last4 ?? '0000'}`, pi.amount),
    );
    charge.failure_code = failure.code;
    charge.failure_message = failure.message;
    charge.outcome = {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: 'declined_by_network',
      reason: failure.decline_code,
      risk_level: 'normal',
      seller_message: 'The bank did not return any further details with this decline.',
      type: 'issuer_declined',
    };
    charge.balance_transaction = null;
    pi.latest_charge = charge.id;
    scope.charges.set(charge.id, charge);
    engine.emit(scope, 'charge.failed', charge, cause);
  }
  pi.status = 'requires_payment_method';
  pi.last_payment_error = {
    type: pm ? 'card_error' : 'invalid_request_error',
    code: failure.code,
    ...(failure.decline_code !== null ? { decline_code: failure.decline_code } : {}),
    message: failure.message,
  } as Stripe.PaymentIntent.LastPaymentError;
  engine.emit(scope, 'payment_intent.payment_failed', pi, cause);
  engine.emit(scope, 'invoice.payment_failed', invoice, cause);
  return failure;
}

/** Voids an open invoice (an expired first invoice): `invoice.voided`. */
export function voidInvoice(ctx: BillingCtx, invoice: Stripe.Invoice, now: number): void {
  invoice.status = 'void';
  invoice.amount_remaining = 0;
  invoice.next_payment_attempt = null;
  invoice.status_transitions.voided_at = now;
  for (const record of ctx.scope.invoicePayments.values())
    if (record.invoice === invoice.id && record.status === 'open') {
      record.status = 'canceled';
      record.status_transitions.canceled_at = now;
    }
  ctx.engine.emit(ctx.scope, 'invoice.voided', invoice, ctx.cause);
}
