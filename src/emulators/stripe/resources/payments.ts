import type Stripe from 'stripe';
import {
  boolParam,
  createdMatches,
  intParam,
  NO_CAUSE,
  paginate,
  type Engine,
  type EventCause,
} from '../engine.js';
import { checkAmount } from '../currencies.js';
import { ApiError, invalid, missing } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { str, type FormObject } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import type { Scope, SessionRecord } from '../store.js';
import { paySubscriptionSession } from '../billing/checkout.js';
import { applyDiscount, redemption } from './checkout.js';
import { applyMetadata, checkChargeAmount, moneyText, promotionCodeProblem } from '../rules.js';
import { emitUpdated, snapshot } from '../updates.js';

export interface PayForm {
  card_number?: string;
  payment_method?: 'card' | 'delayed';
  promotion_code?: string;
}

export interface PayResult {
  status: number;
  location?: string;
  error?: string;
}

/** Test cards understood by the hosted page. */
export const TEST_CARDS = {
  success: '4242424242424242',
  declined: '4000000000000002',
  insufficientFunds: '4000000000009995',
  disputed: '4000000000000259',
} as const;

export const DECLINES: Record<string, { decline_code: string; message: string }> = {
  [TEST_CARDS.declined]: { decline_code: 'generic_decline', message: 'Your card was declined.' },
  [TEST_CARDS.insufficientFunds]: {
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
};

export function emptyList<T>(url: string): Stripe.ApiList<T> {
  return { object: 'list', data: [], has_more: false, url };
}

function buildPaymentIntent(
  rec: SessionRecord,
  amount: number,
  status: Stripe.PaymentIntent.Status,
): Stripe.PaymentIntent {
  const s = rec.session;
  const d = rec.piData;
  const id = newId('pi', 24);
  return {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: null,
    amount,
    amount_capturable: 0,
    amount_received: status === 'succeeded' ? amount : 0,
    application: null,
    application_fee_amount:
      d.application_fee_amount === null ? null : Math.min(d.application_fee_amount, amount),
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic_async',
    client_secret: `${id}_secret_${newId('x', 20).slice(2)}`,
    confirmation_method: 'automatic',
    created: nowSeconds(),
    currency: s.currency ?? 'usd',
    customer: typeof s.customer === 'string' ? s.customer : null,
    customer_account: null,
    description: d.description,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: { ...d.metadata },
    next_action: null,
    on_behalf_of: d.on_behalf_of,
    payment_method: newId('pm', 24),
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: ['card'],
    payment_record: null,
    processing: null,
    receipt_email: s.customer_email,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status,
    transfer_data:
      d.transfer_destination === null
        ? null
        : {
            destination: d.transfer_destination,
            ...(d.transfer_amount !== null ? { amount: d.transfer_amount } : {}),
          },
    transfer_group: d.transfer_group ?? (d.transfer_destination ? `group_${id}` : null),
  };
}

/** A paid card's `payment_method_details` (Stripe test cards are Visa, US, credit). */
export function cardDetails(number: string, amount: number): Stripe.Charge.PaymentMethodDetails {
  const card = {
    amount_authorized: amount,
    authorization_code: null,
    brand: 'visa',
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
    country: 'US',
    electronic_commerce_indicator: null,
    exp_month: 12,
    exp_year: new Date().getUTCFullYear() + 3,
    funding: 'credit',
    installments: null,
    last4: number.slice(-4),
    mandate: null,
    network: 'visa',
    network_token: { used: false },
    network_transaction_id: null,
    overcapture: { maximum_amount_capturable: amount, status: 'unavailable' },
    regulated_status: 'unregulated',
    three_d_secure: null,
    transaction_link_id: null,
    wallet: null,
  } satisfies Stripe.Charge.PaymentMethodDetails.Card;
  return { type: 'card', card };
}

export function buildCharge(
  pi: Stripe.PaymentIntent,
  status: Stripe.Charge.Status,
  email: string | null,
  details: Stripe.Charge.PaymentMethodDetails | null = null,
): Stripe.Charge {
  const id = newId('ch', 24);
  const paid = status === 'succeeded';
  return {
    id,
    object: 'charge',
    amount: pi.amount,
    amount_captured: paid ? pi.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: pi.application_fee_amount,
    balance_transaction: paid ? newId('txn', 24) : null,
    billing_details: { address: null, email, name: null, phone: null, tax_id: null },
    calculated_statement_descriptor: 'SETTLE EMULATOR',
    captured: paid,
    created: nowSeconds(),
    currency: pi.currency,
    customer: typeof pi.customer === 'string' ? pi.customer : null,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: null,
    failure_message: null,
    fraud_details: {},
    livemode: false,
    metadata: { ...pi.metadata },
    on_behalf_of: pi.on_behalf_of,
    outcome: {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: 'approved_by_network',
      reason: null,
      risk_level: 'normal',
      seller_message: 'Payment complete.',
      type: 'authorized',
    },
    paid,
    payment_intent: pi.id,
    payment_method: typeof pi.payment_method === 'string' ? pi.payment_method : null,
    payment_method_details: details,
    receipt_email: email,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    // `refunds` is not included since API version 2022-11-15 unless expanded (engine.expand builds it).
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status,
    transfer_data: pi.transfer_data
      ? { amount: pi.transfer_data.amount ?? null, destination: pi.transfer_data.destination }
      : null,
    transfer_group: pi.transfer_group,
  };
}

/** Creates the application fee and/or transfer for a succeeded charge (both live on the platform). */
export function settleConnect(
  engine: Engine,
  scope: Scope,
  pi: Stripe.PaymentIntent,
  charge: Stripe.Charge,
  cause: EventCause,
): void {
  const platform = engine.store.scope('');
  const fee = pi.application_fee_amount;
  const destination = pi.transfer_data ? String(pi.transfer_data.destination) : null;
  if (fee !== null && fee > 0) {
    const feeId = newId('fee', 24);
    const appFee: Stripe.ApplicationFee = {
      id: feeId,
      object: 'application_fee',
      account: scope.account ?? destination ?? '',
      amount: fee,
      amount_refunded: 0,
      application: 'ca_emulator',
      balance_transaction: newId('txn', 24),
      charge: charge.id,
      created: nowSeconds(),
      currency: charge.currency,
      fee_source: { charge: charge.id, type: 'charge' },
      livemode: false,
      originating_transaction: charge.id,
      refunded: false,
      refunds: emptyList<Stripe.FeeRefund>(`/v1/application_fees/${feeId}/refunds`),
    };
    platform.applicationFees.set(feeId, appFee);
    charge.application_fee = feeId;
    engine.emit(platform, 'application_fee.created', appFee, cause);
  }
  if (destination !== null) {
    // As Stripe does for destination charges with application_fee_amount: the full amount is transferred to the
    // connected account and the application fee is then collected from it (docs.stripe.com/connect/destination-charges).
    const amount = pi.transfer_data?.amount ?? charge.amount;
    const trId = newId('tr', 24);
    const transfer: Stripe.Transfer = {
      id: trId,
      object: 'transfer',
      amount,
      amount_reversed: 0,
      balance_transaction: newId('txn', 24),
      created: nowSeconds(),
      currency: charge.currency,
      description: null,
      destination,
      destination_payment: newId('py', 24),
      livemode: false,
      metadata: {},
      reversals: emptyList<Stripe.TransferReversal>(`/v1/transfers/${trId}/reversals`),
      reversed: false,
      source_transaction: charge.id,
      transfer_group: pi.transfer_group,
    };
    platform.transfers.set(trId, transfer);
    charge.transfer = trId;
    engine.emit(platform, 'transfer.created', transfer, cause);
  }
}

/** Why a discount of the session can no longer be redeemed (`max_redemptions` reached), or null. */
function usedUpDiscount(scope: Scope, rec: SessionRecord): string | null {
  for (const d of rec.session.discounts ?? []) {
    const promo =
      typeof d.promotion_code === 'string' ? scope.promotionCodes.get(d.promotion_code) : undefined;
    if (promo && promo.max_redemptions !== null && promo.times_redeemed >= promo.max_redemptions)
      return 'This promotion code cannot be redeemed because it has been used the maximum number of times.';
    const coupon = typeof d.coupon === 'string' ? scope.coupons.get(d.coupon) : undefined;
    if (coupon && coupon.max_redemptions !== null && coupon.times_redeemed >= coupon.max_redemptions)
      return `Coupon expired: ${coupon.id}`;
  }
  return null;
}

function redeem(scope: Scope, rec: SessionRecord): void {
  for (const d of rec.session.discounts ?? []) {
    if (typeof d.promotion_code === 'string') {
      const promo = scope.promotionCodes.get(d.promotion_code);
      if (promo) promo.times_redeemed += 1;
    }
    if (typeof d.coupon === 'string') {
      const coupon = scope.coupons.get(d.coupon);
      if (coupon) coupon.times_redeemed += 1;
    }
  }
}

function scheduleDispute(engine: Engine, scope: Scope, chargeId: string): void {
  engine.webhooks.later(engine.scaled(engine.settings.disputeDelayMs), () => {
    const charge = scope.charges.get(chargeId);
    if (!charge) return;
    const dispute: Stripe.Dispute = {
      id: newId('dp', 24),
      object: 'dispute',
      amount: charge.amount - charge.amount_refunded,
      balance_transactions: [],
      charge: charge.id,
      created: nowSeconds(),
      currency: charge.currency,
      enhanced_eligibility_types: [],
      evidence: emptyEvidence(),
      evidence_details: {
        due_by: nowSeconds() + 7 * 86400,
        enhanced_eligibility: {},
        has_evidence: false,
        past_due: false,
        submission_count: 0,
        submission_method: 'not_submitted',
      },
      intended_submission_method: null,
      is_charge_refundable: false,
      livemode: false,
      metadata: {},
      payment_intent: typeof charge.payment_intent === 'string' ? charge.payment_intent : null,
      reason: 'fraudulent',
      status: 'needs_response',
    };
    scope.disputes.set(dispute.id, dispute);
    engine.store.disputeScope.set(dispute.id, scope.key);
    charge.disputed = true;
    engine.emit(scope, 'charge.dispute.created', dispute);
  });
}

function emptyEvidence(): Stripe.Dispute.Evidence {
  return {
    access_activity_log: null,
    billing_address: null,
    cancellation_policy: null,
    cancellation_policy_disclosure: null,
    cancellation_rebuttal: null,
    customer_communication: null,
    customer_email_address: null,
    customer_name: null,
    customer_purchase_ip: null,
    customer_signature: null,
    duplicate_charge_documentation: null,
    duplicate_charge_explanation: null,
    duplicate_charge_id: null,
    enhanced_evidence: {},
    product_description: null,
    receipt: null,
    refund_policy: null,
    refund_policy_disclosure: null,
    refund_refusal_explanation: null,
    service_date: null,
    service_documentation: null,
    shipping_address: null,
    shipping_carrier: null,
    shipping_date: null,
    shipping_documentation: null,
    shipping_tracking_number: null,
    uncategorized_file: null,
    uncategorized_text: null,
  };
}

/** Finds a session anywhere (hosted pages and test helpers carry no Stripe-Account). */
export function locateSession(
  engine: Engine,
  sessionId: string,
): { scope: Scope; rec: SessionRecord } | null {
  const key = engine.store.sessionScope.get(sessionId);
  if (key === undefined) return null;
  const scope = engine.store.scope(key);
  const rec = scope.sessions.get(sessionId);
  return rec ? { scope, rec } : null;
}

export function expireSession(
  engine: Engine,
  scope: Scope,
  rec: SessionRecord,
  cause: EventCause = NO_CAUSE,
): void {
  if (rec.session.status !== 'open') return;
  rec.session.status = 'expired';
  rec.session.url = null;
  engine.emit(scope, 'checkout.session.expired', rec.session, cause);
}

/** Expires open sessions whose (scaled) expiry time has passed. */
export function expireDue(engine: Engine): void {
  const now = Date.now();
  for (const scope of engine.store.allScopes()) {
    for (const rec of scope.sessions.values()) {
      if (rec.session.status === 'open' && rec.expireAtMs <= now) expireSession(engine, scope, rec);
    }
  }
}

/**
 * A completed session carries `customer_details` ("The customer details including the customer's tax exempt status
 * and the customer's tax IDs", set once the customer completes Checkout): Checkout collects an email in payment mode.
 * The emulator's page asks for none, so the email is the session's `customer_email`, else its customer's, else a
 * test address made from the session id (the emulator's choice).
 */
export function completeSession(
  scope: Scope,
  rec: SessionRecord,
  paymentStatus: Stripe.Checkout.Session.PaymentStatus,
  piId: string | null,
): void {
  const s = rec.session;
  const customer = typeof s.customer === 'string' ? scope.customers.get(s.customer) : undefined;
  const email =
    s.customer_details?.email ?? s.customer_email ?? customer?.email ?? `buyer+${s.id.slice(-8)}@example.com`;
  s.customer_details = {
    address: s.customer_details?.address ?? null,
    business_name: s.customer_details?.business_name ?? null,
    email,
    individual_name: s.customer_details?.individual_name ?? null,
    name: s.customer_details?.name ?? customer?.name ?? null,
    phone: s.customer_details?.phone ?? null,
    tax_exempt: 'none',
    tax_ids: [],
  };
  s.status = 'complete';
  s.payment_status = paymentStatus;
  s.payment_intent = piId;
  s.url = null;
}

/** The hosted page's form POST: applies a promotion code, then pays (card), defers (delayed) or completes at zero. */
export function paySession(
  engine: Engine,
  sessionId: string,
  form: PayForm,
  cause: EventCause = NO_CAUSE,
): PayResult {
  const found = locateSession(engine, sessionId);
  if (!found) return { status: 404, error: 'This Checkout Session does not exist.' };
  const { scope, rec } = found;
  if (rec.session.status === 'open' && rec.expireAtMs <= Date.now()) expireSession(engine, scope, rec);
  if (rec.session.status !== 'open')
    return {
      status: 400,
      error: `This Checkout Session is no longer available (status: ${String(rec.session.status)}).`,
    };

  const snapshot = structuredClone({ session: rec.session, lineItems: rec.lineItems });
  const restore = (): void => {
    rec.session = snapshot.session;
    rec.lineItems = snapshot.lineItems;
  };

  const code = form.promotion_code?.trim();
  if (code) {
    if (!rec.session.allow_promotion_codes)
      return { status: 400, error: 'Promotion codes are not accepted for this payment.' };
    // The customer-facing code of an active promotion code; then every restriction, as Stripe's page checks them.
    const promo = [...scope.promotionCodes.values()].find(
      (p) => p.active && p.code.toLowerCase() === code.toLowerCase(),
    );
    const coupon = promo ? scope.coupons.get(String(promo.promotion.coupon)) : undefined;
    if (!promo || !coupon) return { status: 400, error: 'This code is invalid.' };
    const problem = promotionCodeProblem(
      promo,
      coupon,
      redemption(scope, rec, typeof rec.session.customer === 'string' ? rec.session.customer : null),
    );
    if (problem !== null) return { status: 400, error: problem.message };
    applyDiscount(rec, coupon, promo);
    // What is left to pay must still be chargeable (Stripe's minimum per currency), or be nothing at all.
    try {
      checkChargeAmount(rec.session.amount_total ?? 0, rec.session.currency ?? 'usd');
    } catch (err) {
      restore();
      return { status: 400, error: err instanceof ApiError ? err.message : 'This code cannot be applied.' };
    }
  }

  // A code or coupon that ran out of redemptions since the session was created cannot complete it (redemptions are
  // counted when sessions complete).
  const usedUp = usedUpDiscount(scope, rec);
  if (usedUp !== null) {
    restore();
    return { status: 400, error: usedUp };
  }

  if (rec.subscriptionData) return paySubscriptionSession(engine, scope, rec, form, cause);

  const total = rec.session.amount_total ?? 0;
  const done = (): PayResult =>
    rec.session.success_url ? { status: 303, location: rec.session.success_url } : { status: 200 };

  if (total === 0) {
    completeSession(scope, rec, engine.settings.zeroAmountPaymentStatus, null);
    redeem(scope, rec);
    engine.emit(scope, 'checkout.session.completed', rec.session, cause);
    return done();
  }

  const email = rec.session.customer_details?.email ?? rec.session.customer_email;
  if (form.payment_method === 'delayed') {
    const pi = buildPaymentIntent(rec, total, 'processing');
    const charge = buildCharge(pi, 'pending', email);
    pi.latest_charge = charge.id;
    scope.paymentIntents.set(pi.id, pi);
    scope.charges.set(charge.id, charge);
    completeSession(scope, rec, 'unpaid', pi.id);
    redeem(scope, rec);
    engine.emit(scope, 'payment_intent.created', pi, cause);
    engine.emit(scope, 'payment_intent.processing', pi, cause);
    engine.emit(scope, 'charge.pending', charge, cause);
    engine.emit(scope, 'checkout.session.completed', rec.session, cause);
    return done();
  }

  const number = (form.card_number ?? '').replace(/[\s-]/g, '');
  if (number === '') {
    restore();
    return { status: 400, error: 'Your card number is incomplete.' };
  }
  if (!/^\d{12,19}$/.test(number)) {
    restore();
    return { status: 402, error: 'Your card number is invalid.' };
  }
  const decline = DECLINES[number];
  if (decline) {
    restore();
    return { status: 402, error: decline.message };
  }

  const pi = buildPaymentIntent(rec, total, 'succeeded');
  const charge = buildCharge(pi, 'succeeded', email, cardDetails(number, total));
  pi.latest_charge = charge.id;
  scope.paymentIntents.set(pi.id, pi);
  scope.charges.set(charge.id, charge);
  completeSession(scope, rec, 'paid', pi.id);
  redeem(scope, rec);
  engine.emit(
    scope,
    'payment_intent.created',
    { ...pi, status: 'requires_payment_method', amount_received: 0, latest_charge: null },
    cause,
  );
  settleConnect(engine, scope, pi, charge, cause);
  engine.emit(scope, 'charge.succeeded', charge, cause);
  engine.emit(scope, 'payment_intent.succeeded', pi, cause);
  engine.emit(scope, 'checkout.session.completed', rec.session, cause);
  if (number === TEST_CARDS.disputed) scheduleDispute(engine, scope, charge.id);
  return done();
}

/** Resolves a delayed (bank debit) payment: `succeeded` → paid + async_payment_succeeded; `failed` → async_payment_failed. */
export function completeDelayedPayment(
  engine: Engine,
  sessionId: string,
  outcome: 'succeeded' | 'failed',
  cause: EventCause = NO_CAUSE,
): Stripe.Checkout.Session {
  const found = locateSession(engine, sessionId);
  if (!found) throw missing('checkout.session', sessionId, 'session');
  const { scope, rec } = found;
  const pi =
    typeof rec.session.payment_intent === 'string'
      ? scope.paymentIntents.get(rec.session.payment_intent)
      : undefined;
  if (
    rec.session.status !== 'complete' ||
    rec.session.payment_status !== 'unpaid' ||
    !pi ||
    pi.status !== 'processing'
  )
    throw invalid('This Checkout Session has no pending delayed payment.', 'session');
  const charge = scope.charges.get(String(pi.latest_charge));
  if (!charge) throw missing('charge', String(pi.latest_charge));
  if (outcome === 'succeeded') {
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    charge.status = 'succeeded';
    charge.paid = true;
    charge.captured = true;
    charge.amount_captured = charge.amount;
    charge.balance_transaction = newId('txn', 24);
    rec.session.payment_status = 'paid';
    settleConnect(engine, scope, pi, charge, cause);
    engine.emit(scope, 'charge.succeeded', charge, cause);
    engine.emit(scope, 'payment_intent.succeeded', pi, cause);
    engine.emit(scope, 'checkout.session.async_payment_succeeded', rec.session, cause);
  } else {
    pi.status = 'requires_payment_method';
    pi.last_payment_error = {
      type: 'card_error',
      code: 'payment_method_provider_decline',
      message: 'The customer’s bank account could not be debited.',
      decline_code: 'insufficient_funds',
    } as Stripe.PaymentIntent.LastPaymentError;
    charge.status = 'failed';
    charge.failure_code = 'insufficient_funds';
    charge.failure_message = 'The customer’s account has insufficient funds to cover this payment.';
    engine.emit(scope, 'charge.failed', charge, cause);
    engine.emit(scope, 'payment_intent.payment_failed', pi, cause);
    engine.emit(scope, 'checkout.session.async_payment_failed', rec.session, cause);
  }
  return rec.session;
}

export function closeDispute(
  engine: Engine,
  disputeId: string,
  outcome: 'won' | 'lost',
  cause: EventCause = NO_CAUSE,
): Stripe.Dispute {
  const key = engine.store.disputeScope.get(disputeId);
  const scope = key === undefined ? undefined : engine.store.scope(key);
  const dispute = scope?.disputes.get(disputeId);
  if (!scope || !dispute) throw missing('dispute', disputeId);
  if (dispute.status === 'won' || dispute.status === 'lost')
    throw invalid(`This dispute is already closed (${dispute.status}).`, 'dispute');
  dispute.status = outcome;
  engine.emit(scope, 'charge.dispute.closed', dispute, cause);
  return dispute;
}

function createRefund(engine: Engine, scope: Scope, p: FormObject, cause: EventCause): Stripe.Refund {
  const piId = str(p.payment_intent);
  const chId = str(p.charge);
  if (!piId && !chId)
    throw invalid(
      'One of the following params should be provided for this request: payment_intent or charge.',
      'payment_intent',
    );
  if (piId && chId)
    throw invalid('You may only specify one of these parameters: charge, payment_intent.', 'charge');
  let charge: Stripe.Charge | undefined;
  if (piId) {
    const pi = scope.paymentIntents.get(piId);
    if (!pi) throw missing('payment_intent', piId, 'payment_intent');
    charge = pi.latest_charge ? scope.charges.get(String(pi.latest_charge)) : undefined;
    if (!charge || pi.status !== 'succeeded')
      throw invalid(
        `This PaymentIntent (${piId}) does not have a successful charge to refund.`,
        'payment_intent',
        'charge_not_refundable',
      );
  } else {
    charge = scope.charges.get(chId ?? '');
    if (!charge) throw missing('charge', chId ?? '', 'charge');
    if (charge.status !== 'succeeded')
      throw invalid(
        `Charge ${charge.id} has not succeeded and cannot be refunded.`,
        'charge',
        'charge_not_refundable',
      );
  }
  // A disputed charge cannot be refunded while its dispute says so: "is_charge_refundable: If true, it's still
  // possible to refund the disputed payment" (the SDK's Dispute documentation; a chargeback withdraws the funds, an
  // inquiry does not). Stripe's code is `charge_disputed`, "The charge you're attempting to refund has been charged
  // back" (docs.stripe.com/error-codes); a lost dispute has charged the payment back for good.
  const blocking = [...scope.disputes.values()].find(
    (d) => d.charge === charge.id && (d.status === 'lost' || (d.status !== 'won' && !d.is_charge_refundable)),
  );
  if (blocking)
    throw invalid(
      `Charge ${charge.id} has been charged back; cannot issue a refund.`,
      'charge',
      'charge_disputed',
    );
  // A fully refunded charge: `charge_already_refunded`, "Charge ch_… has already been refunded." (recorded answers).
  const remaining = charge.amount - charge.amount_refunded;
  if (remaining <= 0)
    throw invalid(`Charge ${charge.id} has already been refunded.`, 'charge', 'charge_already_refunded');
  const amount = intParam(p.amount, 'amount') ?? remaining;
  if (amount < 1) throw invalid('Refund amount must be at least 1.', 'amount');
  checkAmount(amount, charge.currency, 'amount');
  // More than the charge, or than what is left of it: `param: amount` and no `code` ("ex.code is empty, ex.param is
  // amount", edx/commerce-coordinator#360), "Refund amount ($25.00) is greater than unrefunded amount on charge
  // ($21.45)" (reactioncommerce/reaction#3704), "Refund amount (£93.90) is greater than charge amount (£54.45)"
  // (woocommerce/woocommerce-gateway-stripe#1315).
  if (amount > charge.amount)
    throw invalid(
      `Refund amount (${moneyText(amount, charge.currency)}) is greater than charge amount (${moneyText(charge.amount, charge.currency)})`,
      'amount',
    );
  if (amount > remaining)
    throw invalid(
      `Refund amount (${moneyText(amount, charge.currency)}) is greater than unrefunded amount on charge (${moneyText(remaining, charge.currency)})`,
      'amount',
    );
  const refundFee = boolParam(p.refund_application_fee, 'refund_application_fee') ?? false;
  const reverse = boolParam(p.reverse_transfer, 'reverse_transfer') ?? false;
  if (reverse && !charge.transfer)
    throw invalid('This charge has no transfer to reverse.', 'reverse_transfer');
  const reason = str(p.reason) ?? null;
  if (reason !== null && !['duplicate', 'fraudulent', 'requested_by_customer'].includes(reason))
    throw invalid(`Invalid reason: ${reason}`, 'reason');

  const platform = engine.store.scope('');
  const refund: Stripe.Refund = {
    id: newId('re', 24),
    object: 'refund',
    amount,
    balance_transaction: newId('txn', 24),
    charge: charge.id,
    created: nowSeconds(),
    currency: charge.currency,
    customer: typeof charge.customer === 'string' ? charge.customer : null,
    customer_account: null,
    metadata: applyMetadata({}, p.metadata),
    payment_intent: typeof charge.payment_intent === 'string' ? charge.payment_intent : null,
    payment_method: charge.payment_method,
    reason: reason as Stripe.Refund.Reason | null,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'pending',
    transfer_reversal: null,
  };
  const fullAfter = charge.amount_refunded + amount === charge.amount;

  if (reverse && charge.transfer) {
    const tr = platform.transfers.get(String(charge.transfer));
    if (tr) {
      const share = fullAfter
        ? tr.amount - tr.amount_reversed
        : Math.round((tr.amount * amount) / charge.amount);
      const revAmount = Math.min(share, tr.amount - tr.amount_reversed);
      if (revAmount > 0) {
        const reversal: Stripe.TransferReversal = {
          id: newId('trr', 24),
          object: 'transfer_reversal',
          amount: revAmount,
          balance_transaction: newId('txn', 24),
          created: nowSeconds(),
          currency: tr.currency,
          destination_payment_refund: newId('pyr', 24),
          metadata: {},
          source_refund: refund.id,
          transfer: tr.id,
        };
        tr.amount_reversed += revAmount;
        tr.reversed = tr.amount_reversed >= tr.amount;
        tr.reversals.data.unshift(reversal);
        refund.transfer_reversal = reversal.id;
        engine.emit(platform, 'transfer.reversed', tr, cause);
      }
    }
  }
  if (refundFee && charge.application_fee) {
    const fee = platform.applicationFees.get(String(charge.application_fee));
    if (fee) {
      const share = fullAfter
        ? fee.amount - fee.amount_refunded
        : Math.round((fee.amount * amount) / charge.amount);
      const feeRefund = Math.min(share, fee.amount - fee.amount_refunded);
      if (feeRefund > 0) {
        const fr: Stripe.FeeRefund = {
          id: newId('fr', 24),
          object: 'fee_refund',
          amount: feeRefund,
          balance_transaction: newId('txn', 24),
          created: nowSeconds(),
          currency: fee.currency,
          fee: fee.id,
          metadata: {},
        };
        fee.amount_refunded += feeRefund;
        fee.refunded = fee.amount_refunded >= fee.amount;
        fee.refunds.data.unshift(fr);
        engine.emit(platform, 'application_fee.refunded', fee, cause);
      }
    }
  }

  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded >= charge.amount;
  scope.refunds.set(refund.id, refund);
  engine.emit(scope, 'refund.created', refund, cause);
  const before = snapshot(refund);
  refund.status = 'succeeded';
  engine.emit(scope, 'charge.refunded', charge, cause);
  emitUpdated(engine, scope, 'refund.updated', refund, before, cause);
  return refund;
}

export function registerPayments(apiRouter: Router, engine: Engine): void {
  const { store } = engine;
  const router = expandingRouter(apiRouter, store);
  const platform = (): Scope => store.scope('');
  const byPath = <T extends { created: number }>(list: Iterable<T>, created: unknown): T[] =>
    [...list].reverse().filter((x) => createdMatches(x.created, created as never));

  router.get('/v1/payment_intents/:id', (req) => {
    const pi = req.scope.paymentIntents.get(req.path.id ?? '');
    if (!pi) throw missing('payment_intent', req.path.id ?? '', 'intent');
    return pi;
  });
  router.get('/v1/payment_intents', (req) => {
    const customer = str(req.params.customer);
    return paginate(
      byPath(req.scope.paymentIntents.values(), req.params.created).filter(
        (p) => customer === undefined || p.customer === customer,
      ),
      req.params,
      req.url,
    );
  });

  router.get('/v1/charges/:id', (req) => {
    const ch = req.scope.charges.get(req.path.id ?? '');
    if (!ch) throw missing('charge', req.path.id ?? '', 'charge');
    return ch;
  });
  router.get('/v1/charges', (req) => {
    const pi = str(req.params.payment_intent);
    const customer = str(req.params.customer);
    const group = str(req.params.transfer_group);
    return paginate(
      byPath(req.scope.charges.values(), req.params.created).filter(
        (c) =>
          (!pi || c.payment_intent === pi) &&
          (customer === undefined || c.customer === customer) &&
          (group === undefined || c.transfer_group === group),
      ),
      req.params,
      req.url,
    );
  });

  router.post('/v1/refunds', (req) => createRefund(engine, req.scope, req.params, req.cause));
  router.get('/v1/refunds/:id', (req) => {
    const r = req.scope.refunds.get(req.path.id ?? '');
    if (!r) throw missing('refund', req.path.id ?? '', 'refund');
    return r;
  });
  router.get('/v1/refunds', (req) => {
    const pi = str(req.params.payment_intent);
    const ch = str(req.params.charge);
    return paginate(
      byPath(req.scope.refunds.values(), req.params.created).filter(
        (r) => (!pi || r.payment_intent === pi) && (!ch || r.charge === ch),
      ),
      req.params,
      req.url,
    );
  });

  // Application fees and transfers belong to the platform.
  router.get('/v1/application_fees/:id', (req) => {
    const fee = req.account ? undefined : platform().applicationFees.get(req.path.id ?? '');
    if (!fee) throw missing('application_fee', req.path.id ?? '');
    return fee;
  });
  router.get('/v1/application_fees', (req) => {
    const charge = str(req.params.charge);
    const items = req.account ? [] : byPath(platform().applicationFees.values(), req.params.created);
    return paginate(
      items.filter((f) => !charge || f.charge === charge),
      req.params,
      req.url,
    );
  });
  router.get('/v1/transfers/:id', (req) => {
    const tr = req.account ? undefined : platform().transfers.get(req.path.id ?? '');
    if (!tr) throw missing('transfer', req.path.id ?? '');
    return tr;
  });
  router.get('/v1/transfers', (req) => {
    const dest = str(req.params.destination);
    const group = str(req.params.transfer_group);
    const items = req.account ? [] : byPath(platform().transfers.values(), req.params.created);
    return paginate(
      items.filter((t) => (!dest || t.destination === dest) && (!group || t.transfer_group === group)),
      req.params,
      req.url,
    );
  });

  router.get('/v1/disputes/:id', (req) => {
    const d = req.scope.disputes.get(req.path.id ?? '');
    if (!d) throw missing('dispute', req.path.id ?? '', 'dispute');
    return d;
  });
  router.get('/v1/disputes', (req) => {
    const ch = str(req.params.charge);
    const pi = str(req.params.payment_intent);
    return paginate(
      byPath(req.scope.disputes.values(), req.params.created).filter(
        (d) => (!ch || d.charge === ch) && (!pi || d.payment_intent === pi),
      ),
      req.params,
      req.url,
    );
  });
}
