import type { AppContext } from '../context.js';
import type { ProviderId, Subscription } from '../../db/schema.js';
import { enqueue } from '../../queue/outbox.js';
import { SettleError } from '../errors.js';
import { newId } from '../ids.js';
import type { SubscriptionCheckoutState } from '../provider.js';
import { isReady } from '../sellers.js';
import { activePrice, providerPriceFor } from './plans.js';
import { ENDED_STATUSES } from './status.js';
import {
  authorizedSubscription,
  getSubscription,
  linkProviderSubscription,
  recordSubscriptionEvent,
  refreshSubscription,
  subscriptionAccount,
  billingOf,
  WELCOME_JOB,
  WELCOME_PARKED_UNTIL,
  welcomeKey,
  type SubscriptionVia,
} from './sync.js';
import { newManageToken } from './tokens.js';

export interface StartedSubscriptionCheckout {
  subscriptionId: string;
  checkoutUrl: string;
  expiresAt: Date;
  /** The buyer's manage token: shown once (the welcome mail carries it too); Settle keeps only its hash. */
  manageToken: string;
  status: Subscription['status'];
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}

/**
 * Starts a subscription: a pending record (one live subscription per buyer and plan, enforced by a unique index),
 * then the provider's hosted checkout in subscription mode on the seller's account (Direct) or the platform with a
 * transfer to the seller (Destination), the seller's percentage fee taken on every invoice.
 */
export async function startSubscriptionCheckout(
  ctx: AppContext,
  req: { planId: string; email: string },
): Promise<StartedSubscriptionCheckout> {
  const email = req.email.trim().toLowerCase();
  const plan = await ctx.db.selectFrom('plans').selectAll().where('id', '=', req.planId).executeTakeFirst();
  if (plan === undefined) throw new SettleError('not_found', `Plan ${req.planId} does not exist.`);
  if (plan.status !== 'active')
    throw new SettleError('plan_not_available', `Plan ${plan.id} is archived and takes no new subscribers.`);
  const price = await activePrice(ctx.db, plan.id);
  if (price === undefined) throw new Error(`plan ${plan.id} has no active price`);
  const seller = await ctx.db
    .selectFrom('sellers')
    .select(['id', 'fee_bps', 'fee_fixed'])
    .where('id', '=', plan.seller_id)
    .executeTakeFirstOrThrow();
  if (seller.fee_fixed > 0)
    throw new SettleError(
      'fee_not_supported',
      "This seller's fee rule has a fixed part; subscription providers take a percentage of each invoice only " +
        '(Stripe application_fee_percent), so the plan cannot be sold until the fee rule is percentage-only.',
    );
  // The platform's first provider that bills subscriptions and the seller is ready on.
  const accounts = await ctx.db
    .selectFrom('seller_accounts')
    .selectAll()
    .where('seller_id', '=', seller.id)
    .execute();
  const billingProviders = ctx.providers.all().filter((p) => p.subscriptions !== undefined);
  if (billingProviders.length === 0)
    throw new SettleError('subscriptions_not_supported', 'No configured provider bills subscriptions.');
  const chosen = billingProviders
    .map((p) => ({ provider: p.id as ProviderId, account: accounts.find((a) => a.provider === p.id) }))
    .find((c) => c.account !== undefined && isReady(c.account) && c.account.revoked_at === null);
  if (chosen === undefined || chosen.account === undefined || chosen.account.provider_account_id === null)
    throw new SettleError(
      'seller_not_ready',
      `This seller cannot take subscriptions yet: connect them to ${billingProviders.map((p) => p.id).join(' or ')} first.`,
    );
  const account = { accountId: chosen.account.provider_account_id, chargeType: chosen.account.charge_type };

  const now = ctx.now();
  // A pending subscription whose checkout has expired no longer blocks a new one.
  const stale = await ctx.db
    .selectFrom('subscriptions')
    .selectAll()
    .where('plan_id', '=', plan.id)
    .where('buyer_email', '=', email)
    .where('status', '=', 'pending')
    .where('checkout_expires_at', '<=', now)
    .execute();
  for (const s of stale) await expirePendingIfClosed(ctx, s);

  const { token, hash } = newManageToken();
  const id = newId('mem');
  const expiresAt = new Date(now.getTime() + ctx.config.holdMinutes * 60_000);
  try {
    await ctx.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('subscriptions')
        .values({
          id,
          plan_id: plan.id,
          plan_price_id: price.id,
          seller_id: seller.id,
          buyer_email: email,
          status: 'pending',
          provider: chosen.provider,
          charge_type: account.chargeType,
          provider_account_id: account.accountId,
          currency: price.currency,
          unit_amount: price.unit_amount,
          fee_bps: seller.fee_bps,
          included_bookings: plan.included_bookings,
          provider_session_id: null,
          checkout_url: null,
          checkout_expires_at: expiresAt,
          provider_subscription_id: null,
          provider_customer_id: null,
          current_period_start: null,
          current_period_end: null,
          trial_end: null,
          past_due_since: null,
          ended_at: null,
          manage_token_hash: hash,
          checkout_key: null,
          updated_at: now,
        })
        .execute();
      await recordSubscriptionEvent(trx, { subscriptionId: id, from: null, to: 'pending', via: 'checkout' });
      // The welcome mail carries the manage links; it waits here until the first period opens (recordPaidInvoice).
      await enqueue(trx, {
        kind: WELCOME_JOB,
        dedupeKey: welcomeKey(id),
        payload: { subscriptionId: id, token },
        runAt: WELCOME_PARKED_UNTIL,
      });
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      const live = await ctx.db
        .selectFrom('subscriptions')
        .select(['id', 'status', 'checkout_expires_at'])
        .where('plan_id', '=', plan.id)
        .where('buyer_email', '=', email)
        .where('status', 'not in', ENDED_STATUSES)
        .executeTakeFirst();
      throw new SettleError(
        'subscription_exists',
        live?.status === 'pending'
          ? `A checkout for this plan is already open for ${email}; finish it, or start again after it expires (${live.checkout_expires_at?.toISOString() ?? 'soon'}).`
          : `${email} already has a ${live?.status ?? 'live'} subscription to this plan; manage it from the membership links.`,
        { details: { status: live?.status ?? null } },
      );
    }
    throw err;
  }

  try {
    const billing = billingOf(ctx, { provider: chosen.provider });
    const providerPriceId = await providerPriceFor(ctx, chosen.provider, account, price, plan);
    const base = ctx.config.publicUrl;
    const session = await billing.createCheckout({
      subscriptionId: id,
      account,
      providerPriceId,
      feePercent: seller.fee_bps / 100,
      trialDays: plan.trial_days,
      customerEmail: email,
      successUrl: `${base}/subscriptions/return?subscription=${id}`,
      cancelUrl: `${base}/subscriptions/return?subscription=${id}&canceled=1`,
      expiresAt,
      testClock: ctx.config.subscriptions.stripeTestClocks,
      idempotencyKey: `subscription-checkout:${id}`,
    });
    await ctx.db
      .updateTable('subscriptions')
      .set({
        provider_session_id: session.sessionId,
        checkout_url: session.url,
        checkout_expires_at: session.expiresAt,
        updated_at: ctx.now(),
      })
      .where('id', '=', id)
      .execute();
    return {
      subscriptionId: id,
      checkoutUrl: session.url,
      expiresAt: session.expiresAt,
      manageToken: token,
      status: 'pending',
    };
  } catch (err) {
    // Nothing was sold: the record ends, so the buyer can start again at once.
    await endPending(ctx, id, 'provider checkout could not be created');
    throw err;
  }
}

/** Moves a pending subscription to checkout_expired and drops its parked welcome mail. */
async function endPending(ctx: AppContext, id: string, note: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('subscriptions')
      .set({ status: 'checkout_expired', updated_at: ctx.now() })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return;
    await recordSubscriptionEvent(trx, {
      subscriptionId: id,
      from: 'pending',
      to: 'checkout_expired',
      note,
      via: 'checkout',
    });
    await trx
      .deleteFrom('jobs')
      .where('dedupe_key', '=', welcomeKey(id))
      .where('status', '=', 'queued')
      .execute();
  });
}

/** A pending subscription whose checkout time is over: ended only when the provider says the checkout did not complete. */
async function expirePendingIfClosed(ctx: AppContext, sub: Subscription): Promise<void> {
  if (sub.provider_session_id === null) {
    await endPending(ctx, sub.id, 'checkout never created');
    return;
  }
  const state = await billingOf(ctx, sub).retrieveCheckout(sub.provider_session_id, subscriptionAccount(sub));
  await applySubscriptionCheckout(ctx, sub, state, 'frontend');
}

/**
 * Applies what the provider says about a subscription's checkout: complete → link the provider subscription and
 * refresh everything from it; expired → the pending record ends. The one path for webhook, verify and reconciliation.
 */
export async function applySubscriptionCheckout(
  ctx: AppContext,
  sub: Subscription,
  state: SubscriptionCheckoutState,
  via: SubscriptionVia,
): Promise<Subscription> {
  if (state.provider !== sub.provider || state.sessionId !== sub.provider_session_id) return sub;
  if (state.subscriptionId !== null && state.subscriptionId !== sub.id) return sub;
  if (state.outcome === 'expired') {
    await endPending(ctx, sub.id, 'checkout expired');
    return getSubscription(ctx.db, sub.id);
  }
  if (state.outcome !== 'complete' || state.providerSubscriptionId === null) return sub;
  await linkProviderSubscription(ctx, sub, state.providerSubscriptionId, state.providerCustomerId);
  return refreshSubscription(ctx, sub.id, via);
}

/**
 * The return page's verify: reads the checkout (while pending) or the subscription from the provider, never from the
 * browser, and applies it through the same functions as the webhooks.
 */
export async function verifySubscription(ctx: AppContext, id: string): Promise<Subscription> {
  const sub = await getSubscription(ctx.db, id);
  if (sub.provider_subscription_id !== null) return refreshSubscription(ctx, id, 'frontend');
  if (sub.provider_session_id === null || (sub.status !== 'pending' && sub.status !== 'checkout_expired'))
    return sub;
  const state = await billingOf(ctx, sub).retrieveCheckout(sub.provider_session_id, subscriptionAccount(sub));
  return applySubscriptionCheckout(ctx, sub, state, 'frontend');
}

/**
 * The buyer left the hosted checkout (its cancel link): the provider checkout is ended and the pending subscription
 * with it, so the buyer can start again at once. If the buyer paid after all (another tab), the subscription is
 * applied as paid instead. Needs the manage token the checkout was started with.
 */
export async function cancelSubscriptionCheckout(
  ctx: AppContext,
  id: string,
  token: string | null | undefined,
): Promise<Subscription> {
  const sub = await authorizedSubscription(ctx.db, id, token);
  if (sub.status !== 'pending') return sub;
  if (sub.provider_session_id === null) {
    await endPending(ctx, sub.id, 'buyer canceled');
    return getSubscription(ctx.db, id);
  }
  const billing = billingOf(ctx, sub);
  const account = subscriptionAccount(sub);
  await billing.expireCheckout(sub.provider_session_id, account);
  const state = await billing.retrieveCheckout(sub.provider_session_id, account);
  return applySubscriptionCheckout(ctx, sub, state, 'buyer');
}
