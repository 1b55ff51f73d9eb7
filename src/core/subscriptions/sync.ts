import type { AppContext } from '../context.js';
import type { Subscription, SubscriptionStatus } from '../../db/schema.js';
import { enqueue, type Executor } from '../../queue/outbox.js';
import { SettleError } from '../errors.js';
import { newId } from '../ids.js';
import type { AccountContext, InvoiceState, SubscriptionBilling, SubscriptionState } from '../provider.js';
import { canMove } from './status.js';
import { checkManageToken } from './tokens.js';

export type SubscriptionVia = 'webhook' | 'frontend' | 'reconcile' | 'buyer' | 'operator';

/** The account a subscription's provider objects live on (as accountOf for orders). */
export function subscriptionAccount(
  sub: Pick<Subscription, 'provider_account_id' | 'charge_type'>,
): AccountContext {
  return { accountId: sub.provider_account_id, chargeType: sub.charge_type };
}

export function billingOf(ctx: AppContext, sub: Pick<Subscription, 'provider'>): SubscriptionBilling {
  const billing = ctx.providers.get(sub.provider).subscriptions;
  if (billing === undefined)
    throw new SettleError(
      'subscriptions_not_supported',
      `Settle does not bill subscriptions through ${sub.provider}.`,
    );
  return billing;
}

export async function getSubscription(db: Executor, id: string): Promise<Subscription> {
  const sub = await db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  if (sub === undefined) throw new SettleError('not_found', `Subscription ${id} does not exist.`);
  return sub;
}

/** The subscription's newest paid period (the one whose allowance bookings use); callers may lock it. */
export function newestPeriod(db: Executor, subscriptionId: string) {
  return db
    .selectFrom('subscription_periods')
    .selectAll()
    .where('subscription_id', '=', subscriptionId)
    .orderBy('period_start', 'desc')
    .orderBy('created_at', 'desc')
    .limit(1);
}

/** The subscription, after checking the member's manage token. */
export async function authorizedSubscription(
  db: Executor,
  id: string,
  token: string | null | undefined,
): Promise<Subscription> {
  const sub = await getSubscription(db, id);
  checkManageToken(sub, token);
  return sub;
}

/** Writes a history row (status changes, periods, actions). */
export async function recordSubscriptionEvent(
  trx: Executor,
  e: { subscriptionId: string; from: string | null; to: string; note?: string | null; via: string },
): Promise<void> {
  await trx
    .insertInto('subscription_events')
    .values({
      subscription_id: e.subscriptionId,
      from_status: e.from,
      to_status: e.to,
      note: e.note ?? null,
      via: e.via,
    })
    .execute();
}

/**
 * Records which provider subscription a Settle subscription became (from its completed checkout, or from an event
 * naming it). Conditional: a record is linked once, and never to a second provider subscription.
 */
export async function linkProviderSubscription(
  ctx: AppContext,
  sub: Subscription,
  providerSubscriptionId: string,
  customerId: string | null,
): Promise<Subscription> {
  if (sub.provider_subscription_id === providerSubscriptionId) return sub;
  if (sub.provider_subscription_id !== null) {
    ctx.logger.error(
      { subscriptionId: sub.id, linked: sub.provider_subscription_id, other: providerSubscriptionId },
      'a second provider subscription names this subscription; not linked',
    );
    return sub;
  }
  const updated = await ctx.db
    .updateTable('subscriptions')
    .set({
      provider_subscription_id: providerSubscriptionId,
      ...(customerId !== null ? { provider_customer_id: customerId } : {}),
      updated_at: ctx.now(),
    })
    .where('id', '=', sub.id)
    .where('provider_subscription_id', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return updated ?? getSubscription(ctx.db, sub.id);
}

/**
 * Brings a subscription up to date with the provider: re-reads it (never trusting a webhook payload, which may be
 * older than what is applied) while holding the subscription's row lock, so two concurrent syncs apply their reads in
 * the order they were made; then applies the status through the state machine, which refuses backward moves.
 * Notices of what changed are queued in the same transaction, under keys that name the change (once each).
 */
export async function syncSubscription(
  ctx: AppContext,
  id: string,
  via: SubscriptionVia,
): Promise<Subscription> {
  const result = await ctx.db.transaction().execute(async (trx) => {
    const sub = await trx
      .selectFrom('subscriptions')
      .selectAll()
      .where('id', '=', id)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (sub === undefined) throw new SettleError('not_found', `Subscription ${id} does not exist.`);
    if (sub.provider_subscription_id === null) return sub;
    const state = await billingOf(ctx, sub).retrieve(sub.provider_subscription_id, subscriptionAccount(sub));
    return applySubscriptionState(ctx, trx, sub, state, via);
  });
  ctx.queue.nudge();
  return result;
}

async function applySubscriptionState(
  ctx: AppContext,
  trx: Executor,
  sub: Subscription,
  state: SubscriptionState,
  via: SubscriptionVia,
): Promise<Subscription> {
  if (state.subscriptionId !== null && state.subscriptionId !== sub.id) {
    ctx.logger.error(
      {
        subscriptionId: sub.id,
        providerSubscription: state.providerSubscriptionId,
        names: state.subscriptionId,
      },
      'provider subscription names another Settle subscription; not applied',
    );
    return sub;
  }
  if (state.accountId !== null && state.accountId !== sub.provider_account_id) {
    ctx.logger.error(
      { subscriptionId: sub.id, account: state.accountId },
      "subscription pays an account that is not the seller's; not applied",
    );
    return sub;
  }
  const now = ctx.now();
  const from = sub.status;
  const to: SubscriptionStatus = from === state.status || canMove(from, state.status) ? state.status : from;
  if (to !== state.status)
    ctx.logger.warn(
      { subscriptionId: sub.id, from, reported: state.status },
      'subscription status not applied: the state machine refuses that move',
    );
  const ended = to === 'canceled' || to === 'incomplete_expired';
  const updated = await trx
    .updateTable('subscriptions')
    .set({
      status: to,
      cancel_at_period_end: ended ? false : state.cancelAtPeriodEnd,
      current_period_start: state.currentPeriodStart,
      current_period_end: state.currentPeriodEnd,
      trial_end: state.trialEnd,
      ended_at: ended ? (state.endedAt ?? sub.ended_at ?? now) : null,
      past_due_since: to === 'past_due' ? (from === 'past_due' ? sub.past_due_since : now) : null,
      ...(state.customerId !== null ? { provider_customer_id: state.customerId } : {}),
      updated_at: now,
    })
    .where('id', '=', sub.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  if (to !== from) {
    await recordSubscriptionEvent(trx, { subscriptionId: sub.id, from, to, via });
    if (to === 'canceled' || to === 'incomplete_expired')
      await notice(trx, 'notify.subscription_ended', `notify.subscription_ended:${sub.id}`, {
        subscriptionId: sub.id,
      });
    if (to === 'active' && (from === 'past_due' || from === 'unpaid'))
      await notice(
        trx,
        'notify.subscription_recovered',
        `notify.subscription_recovered:${sub.id}:${(sub.past_due_since ?? now).getTime()}`,
        { subscriptionId: sub.id },
      );
  }
  if (!sub.cancel_at_period_end && updated.cancel_at_period_end)
    await recordSubscriptionEvent(trx, {
      subscriptionId: sub.id,
      from: to,
      to: to,
      note: 'cancels at period end',
      via,
    });
  if (sub.cancel_at_period_end && !updated.cancel_at_period_end && !ended)
    await recordSubscriptionEvent(trx, { subscriptionId: sub.id, from: to, to: to, note: 'resumed', via });
  return updated;
}

async function notice(
  trx: Executor,
  kind: string,
  dedupeKey: string,
  payload: Record<string, unknown>,
): Promise<void> {
  await enqueue(trx, { kind, dedupeKey, payload });
}

/** The welcome mail (with the buyer's manage links) waits from checkout until the first period opens. */
export const WELCOME_JOB = 'notify.subscription_welcome';
export const welcomeKey = (subscriptionId: string): string => `${WELCOME_JOB}:${subscriptionId}`;
/** When a waiting welcome mail would run if nothing released it: never, in practice. */
export const WELCOME_PARKED_UNTIL = new Date('9999-01-01T00:00:00Z');

/**
 * Opens the period a paid invoice pays for: exactly once per invoice (unique provider invoice id), whoever gets there
 * first (webhook, verify, reconciliation). Only the call that inserts the period queues its notices (receipt to the
 * buyer, notice to the seller) and, for the first period, releases the welcome mail.
 */
export async function recordPaidInvoice(
  ctx: AppContext,
  sub: Subscription,
  inv: InvoiceState,
  via: SubscriptionVia,
): Promise<'opened' | 'already_open' | 'not_paid'> {
  if (inv.status !== 'paid') return 'not_paid';
  if (inv.providerSubscriptionId !== null && inv.providerSubscriptionId !== sub.provider_subscription_id) {
    ctx.logger.error(
      { subscriptionId: sub.id, invoice: inv.providerInvoiceId },
      'invoice of another provider subscription; not applied',
    );
    return 'not_paid';
  }
  if (inv.currency !== sub.currency) {
    ctx.logger.error(
      { subscriptionId: sub.id, invoice: inv.providerInvoiceId, currency: inv.currency },
      'invoice in another currency than the subscription; not applied',
    );
    return 'not_paid';
  }
  const now = ctx.now();
  const outcome = await ctx.db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('subscription_periods')
      .values({
        id: newId('per'),
        subscription_id: sub.id,
        provider: sub.provider,
        provider_invoice_id: inv.providerInvoiceId,
        billing_reason: inv.billingReason,
        period_start: inv.periodStart,
        period_end: inv.periodEnd,
        amount_paid: inv.amountPaid,
        currency: inv.currency,
        application_fee: inv.applicationFee,
        provider_payment_id: inv.paymentId,
        included_bookings: sub.included_bookings,
        paid_at: now,
      })
      .onConflict((oc) => oc.columns(['provider', 'provider_invoice_id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted === undefined) return 'already_open' as const;
    await recordSubscriptionEvent(trx, {
      subscriptionId: sub.id,
      from: null,
      to: 'period_opened',
      note: `${inv.providerInvoiceId} (${inv.billingReason ?? 'invoice'})`,
      via,
    });
    const payload = { subscriptionId: sub.id, periodId: inserted.id };
    await notice(
      trx,
      'notify.subscription_receipt',
      `notify.subscription_receipt:${inv.providerInvoiceId}`,
      payload,
    );
    await notice(
      trx,
      'notify.subscription_seller',
      `notify.subscription_seller:${inv.providerInvoiceId}`,
      payload,
    );
    await trx
      .updateTable('jobs')
      .set({ run_at: now })
      .where('dedupe_key', '=', welcomeKey(sub.id))
      .where('status', '=', 'queued')
      .where('run_at', '>', now)
      .execute();
    return 'opened' as const;
  });
  ctx.queue.nudge();
  return outcome;
}

/** A payment attempt failed (or needs the buyer): the buyer and the seller are told, once per attempt. */
export async function recordInvoiceProblem(
  ctx: AppContext,
  sub: Subscription,
  inv: InvoiceState,
  problem: 'failed' | 'action_required',
): Promise<void> {
  if (inv.status === 'paid' || inv.status === 'void') return;
  await ctx.db.transaction().execute(async (trx) => {
    const fresh = await enqueue(trx, {
      kind: 'notify.subscription_payment_problem',
      dedupeKey: `notify.subscription_payment_problem:${inv.providerInvoiceId}:${inv.attemptCount}:${problem}`,
      payload: {
        subscriptionId: sub.id,
        invoiceId: inv.providerInvoiceId,
        problem,
        amount: inv.amountDue,
        currency: inv.currency,
        attempt: inv.attemptCount,
        nextAttempt: inv.nextPaymentAttempt?.toISOString() ?? null,
        payUrl: inv.hostedInvoiceUrl,
      },
    });
    if (fresh)
      await recordSubscriptionEvent(trx, {
        subscriptionId: sub.id,
        from: null,
        to: problem === 'failed' ? 'payment_failed' : 'payment_action_required',
        note: `${inv.providerInvoiceId} attempt ${inv.attemptCount}`,
        via: 'webhook',
      });
  });
  ctx.queue.nudge();
}

/**
 * Everything the provider knows, applied: the subscription's state, then every paid invoice (a missed invoice.paid
 * is opened here). Verify, reconciliation and every webhook go through this.
 */
export async function refreshSubscription(
  ctx: AppContext,
  id: string,
  via: SubscriptionVia,
): Promise<Subscription> {
  const sub = await syncSubscription(ctx, id, via);
  if (sub.provider_subscription_id === null) return sub;
  const invoices = await billingOf(ctx, sub).listInvoices(
    sub.provider_subscription_id,
    subscriptionAccount(sub),
  );
  for (const inv of [...invoices].reverse()) await recordPaidInvoice(ctx, sub, inv, via);
  return getSubscription(ctx.db, id);
}
