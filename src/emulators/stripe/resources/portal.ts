import type Stripe from 'stripe';
import { paymentMethodOf } from '../billing/checkout.js';
import { billingNow } from '../billing/time.js';
import { NO_CAUSE, type Engine, type EventCause } from '../engine.js';
import { invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { str } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import type { Scope } from '../store.js';
import { emitUpdated, snapshot } from '../updates.js';
import { attachPaymentMethod } from './payment-methods.js';
import { DECLINES } from './payments.js';

/** What the portal page posts: a subscription action, or a new card. */
export interface PortalForm {
  action?: string;
  subscription?: string;
  card_number?: string;
}

export interface PortalResult {
  status: number;
  notice: { error: boolean; text: string };
}

/** A portal session anywhere (the page carries no Stripe-Account). */
export function locatePortal(
  engine: Engine,
  id: string,
): { scope: Scope; session: Stripe.BillingPortal.Session } | null {
  const key = engine.store.portalScope.get(id);
  const scope = key === undefined ? undefined : engine.store.scope(key);
  const session = scope?.portalSessions.get(id);
  return scope && session ? { scope, session } : null;
}

/** The customer's subscriptions the portal shows: every one that has not ended. */
export function portalSubscriptions(scope: Scope, customer: string): Stripe.Subscription[] {
  return [...scope.subscriptions.values()].filter(
    (s) => s.customer === customer && s.status !== 'canceled' && s.status !== 'incomplete_expired',
  );
}

function setCancelAtEnd(
  engine: Engine,
  scope: Scope,
  sub: Stripe.Subscription,
  cancel: boolean,
  cause: EventCause,
): void {
  const before = snapshot(sub);
  const item = sub.items.data[0];
  sub.cancel_at_period_end = cancel;
  sub.cancel_at = cancel ? (item?.current_period_end ?? null) : null;
  sub.canceled_at = cancel
    ? billingNow(engine, scope, typeof sub.test_clock === 'string' ? sub.test_clock : null)
    : null;
  sub.cancellation_details = {
    comment: null,
    feedback: null,
    feedback_option: null,
    reason: cancel ? 'cancellation_requested' : null,
  };
  emitUpdated(engine, scope, 'customer.subscription.updated', sub, before, cause);
}

/**
 * A portal page action: `cancel` (at the end of the period, the portal's default) or `resume` a subscription, or
 * `update_card`: the card becomes the customer's default payment method and that of its subscriptions that had one.
 */
export function portalAction(
  engine: Engine,
  id: string,
  form: PortalForm,
  cause: EventCause = NO_CAUSE,
): PortalResult {
  const found = locatePortal(engine, id);
  if (!found) return { status: 404, notice: { error: true, text: 'This portal session does not exist.' } };
  const { scope, session } = found;
  if (form.action === 'cancel' || form.action === 'resume') {
    const sub = portalSubscriptions(scope, session.customer).find((s) => s.id === form.subscription);
    if (!sub) return { status: 404, notice: { error: true, text: 'No such subscription.' } };
    setCancelAtEnd(engine, scope, sub, form.action === 'cancel', cause);
    return {
      status: 200,
      notice: {
        error: false,
        text:
          form.action === 'cancel'
            ? 'Your subscription will end with the period.'
            : 'Your subscription will renew.',
      },
    };
  }
  if (form.action === 'update_card') {
    const number = (form.card_number ?? '').replace(/[\s-]/g, '');
    if (!/^\d{12,19}$/.test(number))
      return { status: 402, notice: { error: true, text: 'Your card number is invalid.' } };
    const decline = DECLINES[number];
    if (decline) return { status: 402, notice: { error: true, text: decline.message } };
    const customer = scope.customers.get(session.customer);
    if (!customer) return { status: 404, notice: { error: true, text: 'No such customer.' } };
    const pm = paymentMethodOf(scope, number);
    attachPaymentMethod(engine, scope, pm, customer.id, cause);
    const before = snapshot(customer);
    customer.invoice_settings.default_payment_method = pm.id;
    emitUpdated(engine, scope, 'customer.updated', customer, before, cause);
    for (const sub of portalSubscriptions(scope, customer.id)) {
      if (sub.default_payment_method === null) continue;
      const was = snapshot(sub);
      sub.default_payment_method = pm.id;
      emitUpdated(engine, scope, 'customer.subscription.updated', sub, was, cause);
    }
    return { status: 200, notice: { error: false, text: `Card ending in ${number.slice(-4)} saved.` } };
  }
  return { status: 400, notice: { error: true, text: 'Unknown action.' } };
}

/** `POST /v1/billing_portal/sessions` (`customer`, `return_url`): a page where the customer manages subscriptions. */
export function registerPortal(apiRouter: Router, engine: Engine): void {
  const router = expandingRouter(apiRouter, engine.store);
  router.post('/v1/billing_portal/sessions', (req) => {
    const customerId = str(req.params.customer);
    if (customerId === undefined) throw requiredParam('customer');
    if (!req.scope.customers.has(customerId)) throw missing('customer', customerId, 'customer');
    const returnUrl = str(req.params.return_url) ?? null;
    if (returnUrl !== null && !/^https?:$/.test(URL.canParse(returnUrl) ? new URL(returnUrl).protocol : ''))
      throw invalid('Not a valid URL', 'return_url', 'url_invalid');
    const id = newId('bps', 24);
    const session: Stripe.BillingPortal.Session = {
      id,
      object: 'billing_portal.session',
      configuration: 'bpc_emulator_default',
      created: nowSeconds(),
      customer: customerId,
      customer_account: null,
      flow: null,
      livemode: false,
      locale: null,
      on_behalf_of: null,
      return_url: returnUrl,
      url: `${engine.settings.publicUrl}/p/session/${id}`,
    };
    req.scope.portalSessions.set(id, session);
    engine.store.portalScope.set(id, req.scope.key);
    return session;
  });
}
