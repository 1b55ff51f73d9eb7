import type Stripe from 'stripe';
import type { EventCause, Engine } from '../engine.js';
import { ApiError } from '../errors.js';
import type { FormObject } from '../form.js';
import { createCustomer } from '../resources/catalog.js';
import { attachPaymentMethod, resolvePaymentMethod } from '../resources/payment-methods.js';
import { completeSession, DECLINES, type PayForm, type PayResult } from '../resources/payments.js';
import { createSubscription } from '../resources/subscriptions.js';
import type { Scope, SessionRecord } from '../store.js';

/** The card typed on the hosted page as a test PaymentMethod: 4000000000000341 attaches but fails when charged. */
export function paymentMethodOf(scope: Scope, number: string): Stripe.PaymentMethod {
  if (number === '4000000000000341') return resolvePaymentMethod(scope, 'pm_card_chargeCustomerFail', 'card');
  const pm = resolvePaymentMethod(scope, 'pm_card_visa', 'card');
  if (pm.card) pm.card.last4 = number.slice(-4);
  return pm;
}

/**
 * The hosted page of a session in subscription mode: the card becomes a PaymentMethod of the session's customer
 * (created now when the session named none), the subscription is created with `subscription_data` and that card as
 * its default (`payment_behavior: error_if_incomplete`: a declined first payment leaves the page open with the
 * error), then the session completes with `subscription` and `customer` (`payment_status` `no_payment_required`
 * during a trial, else `paid`) and `checkout.session.completed`.
 */
export function paySubscriptionSession(
  engine: Engine,
  scope: Scope,
  rec: SessionRecord,
  form: PayForm,
  cause: EventCause,
): PayResult {
  const data = rec.subscriptionData;
  if (!data) return { status: 400, error: 'This Checkout Session is not in subscription mode.' };
  if (form.payment_method === 'delayed')
    return { status: 400, error: 'Delayed payment methods are not accepted for subscriptions.' };
  const number = (form.card_number ?? '').replace(/[\s-]/g, '');
  if (number === '') return { status: 400, error: 'Your card number is incomplete.' };
  if (!/^\d{12,19}$/.test(number)) return { status: 402, error: 'Your card number is invalid.' };
  const decline = DECLINES[number];
  if (decline) return { status: 402, error: decline.message };

  const s = rec.session;
  const email = s.customer_details?.email ?? s.customer_email ?? `buyer+${s.id.slice(-8)}@example.com`;
  const existing = typeof s.customer === 'string' ? scope.customers.get(s.customer) : undefined;
  const customer = existing ?? createCustomer(engine, scope, { email }, cause);
  const pm = paymentMethodOf(scope, number);
  attachPaymentMethod(engine, scope, pm, customer.id, cause);

  const params: FormObject = {
    customer: customer.id,
    items: rec.lineItems.map((li) => ({ price: String(li.price?.id), quantity: String(li.quantity ?? 1) })),
    default_payment_method: pm.id,
    payment_behavior: 'error_if_incomplete',
    metadata: { ...data.metadata },
  };
  if (data.trial_period_days !== null) params.trial_period_days = data.trial_period_days;
  if (data.application_fee_percent !== null) params.application_fee_percent = data.application_fee_percent;
  if (data.transfer_destination !== null) params.transfer_data = { destination: data.transfer_destination };
  if (data.on_behalf_of !== null) params.on_behalf_of = data.on_behalf_of;
  let sub: Stripe.Subscription;
  try {
    sub = createSubscription(engine, scope, params, cause);
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, error: err.message };
    throw err;
  }
  const invoice = typeof sub.latest_invoice === 'string' ? scope.invoices.get(sub.latest_invoice) : undefined;
  s.customer = customer.id;
  completeSession(scope, rec, (invoice?.amount_paid ?? 0) > 0 ? 'paid' : 'no_payment_required', null);
  s.subscription = sub.id;
  s.invoice = invoice?.id ?? null;
  engine.emit(scope, 'checkout.session.completed', s, cause);
  return s.success_url ? { status: 303, location: s.success_url } : { status: 200 };
}
