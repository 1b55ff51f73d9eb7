import type Stripe from 'stripe';
import { NO_CAUSE, type Engine, type EventCause } from '../engine.js';
import type { Scope } from '../store.js';
import { emitUpdated, snapshot } from '../updates.js';
import {
  attemptPayment,
  createInvoice,
  paymentMethodFor,
  finalizeInvoice,
  voidInvoice,
  type AttemptFailure,
  type BillingCtx,
} from './invoices.js';
import { atTime, DAY, HOUR, nextBoundary } from './time.js';

/**
 * The subscription lifecycle on a clock (a test clock's frozen time, or the emulator's clock for subscriptions of
 * customers without a test clock): trial end notice, period boundaries (renewal invoice, or the end of a subscription
 * set to cancel), draft renewal invoices finalized an hour later and charged, retries of failed payments, and the
 * expiry of an unpaid first invoice. `runBilling` runs everything due up to a time, in time order.
 */

/** Failed renewal payments: retried after these many days (each counted from the previous attempt), then given up. */
export interface RetrySettings {
  retryDays: number[];
  /** What the subscription becomes when the last retry fails. */
  afterFinalFailure: 'cancel' | 'unpaid';
}

export const DEFAULT_RETRY: RetrySettings = { retryDays: [3, 5, 7], afterFinalFailure: 'cancel' };

/** An incomplete subscription whose first invoice is not paid within 23 hours becomes `incomplete_expired`. */
export const INCOMPLETE_HOURS = 23;
/** `customer.subscription.trial_will_end` is sent three days before the trial ends. */
export const TRIAL_WILL_END_DAYS = 3;

/** Statuses with nothing left to bill: ended, or paused until resumed. */
const ENDED = new Set<string>(['canceled', 'incomplete_expired', 'paused']);

interface Due {
  at: number;
  run: (at: number) => void;
}

export function latestInvoice(scope: Scope, sub: Stripe.Subscription): Stripe.Invoice | undefined {
  return typeof sub.latest_invoice === 'string' ? scope.invoices.get(sub.latest_invoice) : undefined;
}

function periodEnd(sub: Stripe.Subscription): number {
  return sub.items.data[0]?.current_period_end ?? sub.start_date;
}

function setStatus(ctx: BillingCtx, sub: Stripe.Subscription, status: Stripe.Subscription.Status): void {
  if (sub.status === status) return;
  const before = snapshot(sub);
  sub.status = status;
  emitUpdated(ctx.engine, ctx.scope, 'customer.subscription.updated', sub, before, ctx.cause);
}

/** Ends a subscription now (`customer.subscription.deleted`), stopping the retries of its open invoice. */
export function endSubscription(
  ctx: BillingCtx,
  sub: Stripe.Subscription,
  at: number,
  status: 'canceled' | 'incomplete_expired',
  reason: Stripe.Subscription.CancellationDetails.Reason | null,
): void {
  sub.status = status;
  sub.ended_at = at;
  sub.canceled_at ??= at;
  sub.cancellation_details = { comment: null, feedback: null, feedback_option: null, reason };
  const invoice = latestInvoice(ctx.scope, sub);
  if (invoice && invoice.status === 'open') invoice.next_payment_attempt = null;
  ctx.engine.emit(ctx.scope, 'customer.subscription.deleted', sub, ctx.cause);
}

/**
 * The subscription after a payment attempt of `invoice`: paid → `active`; a failed first invoice leaves it
 * `incomplete` (never retried); a failed renewal makes it `past_due` and schedules the next retry, or, after the
 * last one, cancels it or leaves it `unpaid`.
 */
export function afterAttempt(
  ctx: BillingCtx,
  sub: Stripe.Subscription,
  invoice: Stripe.Invoice,
  failure: AttemptFailure | null,
  at: number,
): void {
  if (failure === null) {
    if (sub.status === 'incomplete' || sub.status === 'past_due' || sub.status === 'unpaid')
      setStatus(ctx, sub, 'active');
    return;
  }
  if (invoice.billing_reason === 'subscription_create') {
    invoice.next_payment_attempt = null;
    return;
  }
  const retry = ctx.engine.settings.billingRetry;
  const delay = retry.retryDays[invoice.attempt_count - 1];
  if (delay !== undefined) {
    invoice.next_payment_attempt = at + delay * DAY;
    if (sub.status === 'active' || sub.status === 'trialing') setStatus(ctx, sub, 'past_due');
    return;
  }
  invoice.next_payment_attempt = null;
  if (retry.afterFinalFailure === 'cancel') endSubscription(ctx, sub, at, 'canceled', 'payment_failed');
  else setStatus(ctx, sub, 'unpaid');
}

/** Finalizes a draft invoice and charges it (a zero invoice is paid by finalizing). */
export function finalizeAndCollect(
  ctx: BillingCtx,
  sub: Stripe.Subscription,
  invoice: Stripe.Invoice,
  at: number,
  charge = true,
): AttemptFailure | null {
  finalizeInvoice(ctx, invoice, at);
  if (invoice.status === 'paid') {
    afterAttempt(ctx, sub, invoice, null, at);
    return null;
  }
  if (!charge) {
    invoice.next_payment_attempt = null;
    return null;
  }
  const failure = attemptPayment(ctx, invoice, sub, at);
  afterAttempt(ctx, sub, invoice, failure, at);
  return failure;
}

/**
 * Resumes a paused subscription (`POST /v1/subscriptions/:id/resume`, `billing_cycle_anchor=now`): a new period from
 * now, `customer.subscription.resumed`, and its invoice finalized and charged at once (a failure makes it `past_due`).
 */
export function resumeSubscription(ctx: BillingCtx, sub: Stripe.Subscription, at: number): void {
  const before = snapshot(sub);
  sub.status = 'active';
  sub.billing_cycle_anchor = at;
  for (const item of sub.items.data) {
    const recurring = item.price.recurring;
    if (!recurring) continue;
    item.current_period_start = at;
    item.current_period_end = nextBoundary(at, recurring, at);
  }
  const invoice = createInvoice(
    ctx,
    sub,
    'subscription_cycle',
    { start: at, end: periodEnd(sub) },
    { trial: false, now: at, autoFinalize: false },
  );
  sub.latest_invoice = invoice.id;
  emitUpdated(ctx.engine, ctx.scope, 'customer.subscription.updated', sub, before, ctx.cause);
  ctx.engine.emit(ctx.scope, 'customer.subscription.resumed', sub, ctx.cause);
  finalizeAndCollect(ctx, sub, invoice, at);
}

/** A period boundary: the end of a subscription set to cancel, or the next period and its draft renewal invoice. */
function renew(ctx: BillingCtx, sub: Stripe.Subscription, at: number): void {
  if (sub.cancel_at_period_end || (sub.cancel_at !== null && sub.cancel_at <= at)) {
    endSubscription(ctx, sub, at, 'canceled', 'cancellation_requested');
    return;
  }
  if (sub.status === 'trialing' && paymentMethodFor(ctx.scope, sub) === null) {
    const behavior = sub.trial_settings?.end_behavior.missing_payment_method ?? 'create_invoice';
    if (behavior === 'cancel') {
      endSubscription(ctx, sub, at, 'canceled', null);
      return;
    }
    if (behavior === 'pause') {
      setStatus(ctx, sub, 'paused');
      ctx.engine.emit(ctx.scope, 'customer.subscription.paused', sub, ctx.cause);
      return;
    }
  }
  const before = snapshot(sub);
  const previousStart = sub.items.data[0]?.current_period_start ?? at;
  for (const item of sub.items.data) {
    const recurring = item.price.recurring;
    if (!recurring) continue;
    item.current_period_start = at;
    item.current_period_end = nextBoundary(sub.billing_cycle_anchor, recurring, at);
  }
  if (sub.status === 'trialing') sub.status = 'active';
  const end = periodEnd(sub);
  // Unpaid subscriptions keep creating invoices, left in draft (Stripe's "unpaid" behaviour).
  const invoice = createInvoice(
    ctx,
    sub,
    'subscription_cycle',
    { start: at, end },
    {
      trial: false,
      now: at,
      autoFinalize: sub.status !== 'unpaid',
      previous: { start: previousStart, end: at },
    },
  );
  if (sub.status === 'unpaid') invoice.auto_advance = false;
  sub.latest_invoice = invoice.id;
  emitUpdated(ctx.engine, ctx.scope, 'customer.subscription.updated', sub, before, ctx.cause);
}

/** The earliest thing due for `sub`, or null. Ties resolve in the order listed. */
function nextDue(ctx: BillingCtx, sub: Stripe.Subscription): Due | null {
  if (ENDED.has(sub.status)) return null;
  const invoice = latestInvoice(ctx.scope, sub);
  const candidates: Due[] = [];
  if (sub.status === 'incomplete') {
    if (invoice && invoice.status === 'open')
      candidates.push({
        at: sub.start_date + INCOMPLETE_HOURS * HOUR,
        run: (at) => {
          voidInvoice(ctx, invoice, at);
          endSubscription(ctx, sub, at, 'incomplete_expired', null);
        },
      });
    return candidates[0] ?? null;
  }
  const state = ctx.scope.subscriptionState.get(sub.id);
  if (sub.status === 'trialing' && sub.trial_end !== null && state && !state.trialWillEndSent)
    candidates.push({
      at: Math.max(sub.trial_start ?? sub.start_date, sub.trial_end - TRIAL_WILL_END_DAYS * DAY),
      run: () => {
        state.trialWillEndSent = true;
        ctx.engine.emit(ctx.scope, 'customer.subscription.trial_will_end', sub, ctx.cause);
      },
    });
  if (invoice?.status === 'draft' && invoice.automatically_finalizes_at !== null)
    candidates.push({
      at: invoice.automatically_finalizes_at,
      run: (at) => {
        finalizeAndCollect(ctx, sub, invoice, at);
      },
    });
  if (invoice?.status === 'open' && invoice.next_payment_attempt !== null)
    candidates.push({
      at: invoice.next_payment_attempt,
      run: (at) => {
        const failure = attemptPayment(ctx, invoice, sub, at);
        afterAttempt(ctx, sub, invoice, failure, at);
      },
    });
  candidates.push({ at: periodEnd(sub), run: (at) => renew(ctx, sub, at) });
  let best: Due | null = null;
  for (const c of candidates) if (!best || c.at < best.at) best = c;
  return best;
}

/**
 * Runs, in time order, everything due up to `target` (epoch seconds) for the subscriptions of `scope` on `clockId`
 * (null: subscriptions of customers without a test clock). Each step runs with the time frozen at its due time, so
 * objects and events carry the time at which Stripe would have made them.
 */
export function runBilling(
  engine: Engine,
  scope: Scope,
  clockId: string | null,
  target: number,
  cause: EventCause = NO_CAUSE,
): void {
  const ctx: BillingCtx = { engine, scope, cause };
  for (let guard = 0; guard < 100_000; guard++) {
    let best: Due | null = null;
    for (const sub of scope.subscriptions.values()) {
      if ((sub.test_clock ?? null) !== clockId) continue;
      const due = nextDue(ctx, sub);
      if (due && due.at <= target && (!best || due.at < best.at)) best = due;
    }
    if (!best) return;
    const step = best;
    atTime(step.at, () => step.run(step.at));
  }
  throw new Error('stripe emulator: billing did not settle');
}

/** Bills the subscriptions on no test clock, in every scope, up to the emulator's clock. */
export function runDueBilling(engine: Engine): void {
  const now = engine.clock.nowSeconds();
  for (const scope of engine.store.allScopes())
    if (scope.subscriptions.size > 0) runBilling(engine, scope, null, now);
}
