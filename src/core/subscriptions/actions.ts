import type { AppContext } from '../context.js';
import type { Refund, Subscription, SubscriptionPeriod } from '../../db/schema.js';
import { roundDownToStep } from '../currency-rules.js';
import { SettleError } from '../errors.js';
import { currency } from '../money.js';
import { requestRefund } from '../refunds.js';
import { ENDED_STATUSES, entitlement, type Entitlement } from './status.js';
import {
  authorizedSubscription,
  newestPeriod,
  billingOf,
  getSubscription,
  recordSubscriptionEvent,
  refreshSubscription,
  subscriptionAccount,
  syncSubscription,
} from './sync.js';

/** The subscription's newest paid period (the one whose allowance bookings use). */
export async function currentPeriod(
  ctx: AppContext,
  subscriptionId: string,
): Promise<SubscriptionPeriod | null> {
  const p = await newestPeriod(ctx.db, subscriptionId).executeTakeFirst();
  return p ?? null;
}

export async function entitlementOf(ctx: AppContext, sub: Subscription): Promise<Entitlement> {
  return entitlement(sub, await currentPeriod(ctx, sub.id), ctx.now(), ctx.config.subscriptions.graceDays);
}

/** A subscription as its buyer sees it (never the manage token, never provider ids beyond the status). */
export async function memberView(ctx: AppContext, sub: Subscription) {
  const plan = await ctx.db
    .selectFrom('plans')
    .select(['id', 'name', 'interval', 'listing_id', 'trial_days', 'included_bookings'])
    .where('id', '=', sub.plan_id)
    .executeTakeFirstOrThrow();
  const seller = await ctx.db
    .selectFrom('sellers')
    .select('name')
    .where('id', '=', sub.seller_id)
    .executeTakeFirstOrThrow();
  const bookings = await ctx.db
    .selectFrom('membership_bookings')
    .innerJoin('slots', 'slots.id', 'membership_bookings.slot_id')
    .innerJoin('listings', 'listings.id', 'slots.listing_id')
    .select([
      'membership_bookings.id',
      'membership_bookings.slot_id',
      'membership_bookings.quantity',
      'membership_bookings.status',
      'membership_bookings.created_at',
      'slots.starts_at',
      'listings.title',
    ])
    .where('membership_bookings.subscription_id', '=', sub.id)
    .orderBy('membership_bookings.created_at', 'desc')
    .limit(50)
    .execute();
  return {
    id: sub.id,
    status: sub.status,
    plan: {
      id: plan.id,
      name: plan.name,
      interval: plan.interval,
      listingId: plan.listing_id,
      includedBookings: plan.included_bookings,
    },
    seller: { name: seller.name },
    email: sub.buyer_email,
    currency: sub.currency,
    unitAmount: sub.unit_amount,
    cancelAtPeriodEnd: sub.cancel_at_period_end,
    currentPeriodStart: sub.current_period_start,
    currentPeriodEnd: sub.current_period_end,
    trialEnd: sub.trial_end,
    endedAt: sub.ended_at,
    entitlement: await entitlementOf(ctx, sub),
    bookings: bookings.map((b) => ({
      id: b.id,
      slotId: b.slot_id,
      title: b.title,
      startsAt: b.starts_at,
      quantity: b.quantity,
      status: b.status,
      createdAt: b.created_at,
    })),
  };
}

const authorized = (ctx: AppContext, id: string, token: string | null | undefined): Promise<Subscription> =>
  authorizedSubscription(ctx.db, id, token);

function requireLinked(sub: Subscription): string {
  if (sub.provider_subscription_id === null || ENDED_STATUSES.includes(sub.status))
    throw new SettleError(
      'subscription_not_active',
      sub.status === 'pending'
        ? 'This subscription has not started yet: finish the checkout first.'
        : `This subscription is ${sub.status}.`,
      { details: { status: sub.status } },
    );
  return sub.provider_subscription_id;
}

/** Buyer: read their subscription (re-read from the provider first: the return page shows the truth). */
export async function memberStatus(ctx: AppContext, id: string, token: string | null | undefined) {
  await authorized(ctx, id, token);
  return memberView(ctx, await refreshSubscription(ctx, id, 'buyer'));
}

/** Buyer: cancel at the end of the current period (access stays until then), or take that back before the end. */
export async function setCancelAtPeriodEnd(
  ctx: AppContext,
  id: string,
  token: string | null | undefined,
  cancel: boolean,
) {
  const sub = await authorized(ctx, id, token);
  const providerId = requireLinked(sub);
  if (!cancel && sub.status === 'canceled')
    throw new SettleError('subscription_not_active', 'This subscription has already ended; subscribe again.');
  // The key names the intent, the period it applies to and how many times the member has toggled it so far: a
  // repeated click is one provider call, while cancel → resume → cancel makes a third call (the first cancel's key
  // would replay its stored answer and change nothing at the provider).
  const toggles = await ctx.db
    .selectFrom('subscription_events')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('subscription_id', '=', sub.id)
    .where('note', 'in', ['cancels at period end', 'resumed'])
    .executeTakeFirstOrThrow();
  const key = `subscription-${cancel ? 'cancel' : 'resume'}:${sub.id}:${sub.current_period_end?.getTime() ?? 0}:${Number(toggles.n)}`;
  await billingOf(ctx, sub).setCancelAtPeriodEnd(providerId, subscriptionAccount(sub), cancel, key);
  return memberView(ctx, await syncSubscription(ctx, id, 'buyer'));
}

/** Buyer: the provider's customer portal (update the card; cancel). */
export async function portalUrl(
  ctx: AppContext,
  id: string,
  token: string | null | undefined,
): Promise<{ url: string }> {
  const sub = await authorized(ctx, id, token);
  requireLinked(sub);
  if (sub.provider_customer_id === null)
    throw new SettleError(
      'subscription_not_active',
      'This subscription has no customer at the provider yet.',
    );
  const url = await billingOf(ctx, sub).portalUrl(
    sub.provider_customer_id,
    subscriptionAccount(sub),
    `${ctx.config.publicUrl}/subscriptions/manage?subscription=${sub.id}`,
  );
  return { url };
}

/**
 * Operator: cancel now. With `prorate`, the unused part of the current paid period is refunded through the refund path
 * (rounded down to what the provider can refund, never above what is left of that invoice): unused = the time between
 * the provider's cancellation time and the period's end, over the period's length.
 */
export async function cancelNow(
  ctx: AppContext,
  id: string,
  opts: { prorate: boolean },
): Promise<{ subscription: Subscription; refund: Refund | null }> {
  const sub = await getSubscription(ctx.db, id);
  const providerId = requireLinked(sub);
  const state = await billingOf(ctx, sub).cancelNow(
    providerId,
    subscriptionAccount(sub),
    `subscription-cancel-now:${sub.id}`,
  );
  const after = await refreshSubscription(ctx, id, 'operator');
  await ctx.db.transaction().execute((trx) =>
    recordSubscriptionEvent(trx, {
      subscriptionId: id,
      // A note on the move the sync just recorded, not a second transition.
      from: after.status,
      to: after.status,
      note: `canceled now by the operator${opts.prorate ? ' with a prorated refund' : ''}`,
      via: 'operator',
    }),
  );
  if (!opts.prorate) return { subscription: after, refund: null };
  const period = await ctx.db
    .selectFrom('subscription_periods')
    .selectAll()
    .where('subscription_id', '=', id)
    .where('amount_paid', '>', 0)
    .where('provider_payment_id', 'is not', null)
    .orderBy('period_start', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (period === undefined) return { subscription: after, refund: null };
  const endedAt = (state.endedAt ?? after.ended_at ?? ctx.now()).getTime();
  const length = period.period_end.getTime() - period.period_start.getTime();
  const unused = Math.min(1, Math.max(0, (period.period_end.getTime() - endedAt) / Math.max(1, length)));
  const raw = Math.floor(period.amount_paid * unused);
  const amount = Math.min(
    roundDownToStep(sub.provider, { amount: raw, currency: currency(period.currency) }).amount,
    period.amount_paid - period.refunded_amount,
  );
  if (amount <= 0) return { subscription: after, refund: null };
  const refund = await requestRefund(ctx, {
    periodId: period.id,
    amount,
    reason: 'subscription_canceled',
    idempotencyKey: `subscription-prorate:${sub.id}`,
  });
  ctx.queue.nudge();
  return { subscription: after, refund };
}

/** Operator: refund (part of) one invoice, never above what it paid (the refund path caps it). */
export async function refundInvoice(
  ctx: AppContext,
  periodId: string,
  opts: { amount?: number; idempotencyKey: string },
): Promise<Refund> {
  const refund = await requestRefund(ctx, {
    periodId,
    ...(opts.amount !== undefined ? { amount: opts.amount } : {}),
    reason: 'requested_by_operator',
    idempotencyKey: opts.idempotencyKey,
  });
  ctx.queue.nudge();
  return refund;
}

/**
 * Test mode: advances the subscription's provider test clock (renewals, failed renewals and dunning then happen at the
 * provider, and their webhooks arrive), then refreshes the subscription from the provider.
 */
export async function advanceTestClock(ctx: AppContext, id: string, to: Date): Promise<Subscription> {
  const sub = await getSubscription(ctx.db, id);
  const providerId = requireLinked(sub);
  await billingOf(ctx, sub).advanceTestClock(providerId, subscriptionAccount(sub), to);
  return refreshSubscription(ctx, id, 'operator');
}
