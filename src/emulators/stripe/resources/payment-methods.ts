import type Stripe from 'stripe';
import type { Engine, EventCause } from '../engine.js';
import { ApiError, invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { str } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import type { Scope } from '../store.js';

/** A test card behind one of Stripe's `pm_card_*` test payment methods. */
interface TestCard {
  brand: 'visa' | 'mastercard';
  last4: string;
  /** Attaching succeeds but every charge is declined (Stripe's 4000000000000341). */
  failsOnCharge: boolean;
}

/**
 * Stripe's test PaymentMethods (docs.stripe.com/testing): each use of the token creates a new `pm_…` PaymentMethod.
 * `pm_card_chargeCustomerFail` is the card 4000000000000341: "Attaching this card to a Customer object succeeds, but
 * attempts to charge the customer fail."
 */
export const TEST_PAYMENT_METHODS: Readonly<Record<string, TestCard>> = {
  pm_card_visa: { brand: 'visa', last4: '4242', failsOnCharge: false },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', failsOnCharge: false },
  pm_card_chargeCustomerFail: { brand: 'visa', last4: '0341', failsOnCharge: true },
};

/** Last four digits of the cards whose charges are declined. */
const FAILING_LAST4 = new Set(
  Object.values(TEST_PAYMENT_METHODS)
    .filter((c) => c.failsOnCharge)
    .map((c) => c.last4),
);

/** The decline a charge on `pm` meets, or null when it succeeds. */
export function chargeDecline(
  pm: Stripe.PaymentMethod,
): { code: string; decline_code: string; message: string } | null {
  return pm.card && FAILING_LAST4.has(pm.card.last4)
    ? { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' }
    : null;
}

function fromTestCard(card: TestCard): Stripe.PaymentMethod {
  return {
    id: newId('pm', 24),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: { address: null, email: null, name: null, phone: null, tax_id: null },
    card: {
      brand: card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'unchecked' },
      country: 'US',
      display_brand: card.brand,
      exp_month: 12,
      exp_year: new Date().getUTCFullYear() + 3,
      funding: 'credit',
      generated_from: null,
      last4: card.last4,
      networks: { available: [card.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: nowSeconds(),
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: 'card',
  };
}

/**
 * The PaymentMethod a parameter names: a `pm_card_*` test token makes a new one (stored on the scope), a `pm_…` id
 * must exist on the scope.
 */
export function resolvePaymentMethod(scope: Scope, id: string, param: string): Stripe.PaymentMethod {
  const card = TEST_PAYMENT_METHODS[id];
  if (card) {
    const pm = fromTestCard(card);
    scope.paymentMethods.set(pm.id, pm);
    return pm;
  }
  const pm = scope.paymentMethods.get(id);
  if (!pm) throw missing('PaymentMethod', id, param);
  return pm;
}

/** Attaches `pm` to a customer (`payment_method.attached`); a PaymentMethod belongs to one customer only. */
export function attachPaymentMethod(
  engine: Engine,
  scope: Scope,
  pm: Stripe.PaymentMethod,
  customerId: string,
  cause: EventCause,
): void {
  if (pm.customer === customerId) return;
  if (pm.customer !== null)
    throw invalid(
      'The payment method you provided has already been attached to a customer.',
      'payment_method',
      'payment_method_unexpected_state',
    );
  pm.customer = customerId;
  engine.emit(scope, 'payment_method.attached', pm, cause);
}

/** A PaymentMethod attached to `customerId`, or Stripe's refusal naming `param`. */
export function customerPaymentMethod(
  scope: Scope,
  id: string,
  customerId: string,
  param: string,
): Stripe.PaymentMethod {
  const pm = scope.paymentMethods.get(id);
  if (!pm || pm.customer !== customerId)
    throw invalid(
      `The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`,
      param,
      'resource_missing',
    );
  return pm;
}

/** PaymentMethods: retrieve, attach to a customer, detach. */
export function registerPaymentMethods(apiRouter: Router, engine: Engine): void {
  const router = expandingRouter(apiRouter, engine.store);
  const find = (scope: Scope, id: string): Stripe.PaymentMethod => {
    const pm = scope.paymentMethods.get(id);
    if (!pm) throw missing('PaymentMethod', id, 'payment_method');
    return pm;
  };
  router.get('/v1/payment_methods/:id', (req) => find(req.scope, req.path.id ?? ''));
  router.post('/v1/payment_methods/:id/attach', (req) => {
    const customerId = str(req.params.customer);
    if (customerId === undefined) throw requiredParam('customer');
    if (!req.scope.customers.has(customerId)) throw missing('customer', customerId, 'customer');
    const pm = resolvePaymentMethod(req.scope, req.path.id ?? '', 'payment_method');
    attachPaymentMethod(engine, req.scope, pm, customerId, req.cause);
    return pm;
  });
  router.post('/v1/payment_methods/:id/detach', (req) => {
    const pm = find(req.scope, req.path.id ?? '');
    if (pm.customer === null)
      throw new ApiError(
        400,
        'invalid_request_error',
        `The payment method ${pm.id} is not attached to a customer so detachment is impossible.`,
        { code: 'payment_method_unexpected_state' },
      );
    pm.customer = null;
    engine.emit(req.scope, 'payment_method.detached', pm, req.cause);
    return pm;
  });
}
