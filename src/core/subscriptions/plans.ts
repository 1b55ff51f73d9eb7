import type { AppContext } from '../context.js';
import type { Plan, PlanInterval, PlanPrice, ProviderId } from '../../db/schema.js';
import type { Executor } from '../../queue/outbox.js';
import { assertProviderAmount } from '../currency-rules.js';
import { SettleError } from '../errors.js';
import { newId } from '../ids.js';
import { currency } from '../money.js';
import type { AccountContext } from '../provider.js';

/**
 * Sellers' plans (memberships, class passes). A plan's price is immutable once created: a new price replaces it for
 * new subscribers (existing subscriptions keep theirs), as Stripe's prices do. Archiving stops new subscriptions.
 */

export interface PlanInput {
  sellerId: string;
  /** The listing members book; absent: any of the seller's listings. */
  listingId?: string | null;
  name: string;
  interval: PlanInterval;
  unitAmount: number;
  /** Lowercase ISO code; default: the listing's currency (required without a listing). */
  currency?: string;
  trialDays?: number;
  /** Bookings included per period; 0 (default) = unlimited. */
  includedBookings?: number;
}

export interface PlanView {
  id: string;
  sellerId: string;
  listingId: string | null;
  name: string;
  interval: PlanInterval;
  trialDays: number;
  includedBookings: number;
  status: 'active' | 'archived';
  price: { id: string; unitAmount: number; currency: string } | null;
  createdAt: Date;
}

export function planView(plan: Plan, price: PlanPrice | undefined): PlanView {
  return {
    id: plan.id,
    sellerId: plan.seller_id,
    listingId: plan.listing_id,
    name: plan.name,
    interval: plan.interval,
    trialDays: plan.trial_days,
    includedBookings: plan.included_bookings,
    status: plan.status,
    price:
      price === undefined ? null : { id: price.id, unitAmount: price.unit_amount, currency: price.currency },
    createdAt: plan.created_at,
  };
}

/** Every provider the platform bills subscriptions through must be able to charge the price. */
function checkPrice(ctx: AppContext, unitAmount: number, code: string): void {
  const m = { amount: unitAmount, currency: currency(code) };
  for (const p of ctx.providers.all())
    if (p.subscriptions !== undefined) assertProviderAmount(p.id, m, 'The plan price');
}

export async function createPlan(ctx: AppContext, input: PlanInput): Promise<PlanView> {
  if (!Number.isSafeInteger(input.unitAmount) || input.unitAmount <= 0)
    throw new SettleError(
      'validation_failed',
      'unitAmount must be a positive integer number of minor units.',
    );
  const seller = await ctx.db
    .selectFrom('sellers')
    .select('id')
    .where('id', '=', input.sellerId)
    .executeTakeFirst();
  if (seller === undefined) throw new SettleError('not_found', `Seller ${input.sellerId} does not exist.`);
  let code = input.currency?.toLowerCase() ?? null;
  if (input.listingId) {
    const listing = await ctx.db
      .selectFrom('listings')
      .select(['seller_id', 'currency'])
      .where('id', '=', input.listingId)
      .executeTakeFirst();
    if (listing === undefined)
      throw new SettleError('not_found', `Listing ${input.listingId} does not exist.`);
    if (listing.seller_id !== input.sellerId)
      throw new SettleError('validation_failed', `Listing ${input.listingId} belongs to another seller.`);
    code ??= listing.currency;
  }
  if (code === null)
    throw new SettleError(
      'validation_failed',
      'currency is required for a plan that is not tied to a listing.',
    );
  currency(code); // refuses a currency Settle does not price in
  checkPrice(ctx, input.unitAmount, code);
  const now = ctx.now();
  const planId = newId('pln');
  const priceId = newId('ppr');
  return ctx.db.transaction().execute(async (trx) => {
    const plan = await trx
      .insertInto('plans')
      .values({
        id: planId,
        seller_id: input.sellerId,
        listing_id: input.listingId ?? null,
        name: input.name,
        interval: input.interval,
        trial_days: input.trialDays ?? 0,
        included_bookings: input.includedBookings ?? 0,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const price = await trx
      .insertInto('plan_prices')
      .values({ id: priceId, plan_id: planId, currency: code, unit_amount: input.unitAmount })
      .returningAll()
      .executeTakeFirstOrThrow();
    return planView(plan, price);
  });
}

/** A new price for the plan's new subscribers; the old one stays with the subscriptions that bought it. */
export async function replacePlanPrice(
  ctx: AppContext,
  planId: string,
  unitAmount: number,
): Promise<PlanView> {
  if (!Number.isSafeInteger(unitAmount) || unitAmount <= 0)
    throw new SettleError(
      'validation_failed',
      'unitAmount must be a positive integer number of minor units.',
    );
  return ctx.db.transaction().execute(async (trx) => {
    const plan = await trx
      .selectFrom('plans')
      .selectAll()
      .where('id', '=', planId)
      .forUpdate()
      .executeTakeFirst();
    if (plan === undefined) throw new SettleError('not_found', `Plan ${planId} does not exist.`);
    if (plan.status === 'archived')
      throw new SettleError('plan_not_available', `Plan ${planId} is archived.`);
    const old = await activePrice(trx, planId);
    const code = old?.currency;
    if (code === undefined) throw new Error(`plan ${planId} has no active price`);
    checkPrice(ctx, unitAmount, code);
    await trx.updateTable('plan_prices').set({ active: false }).where('plan_id', '=', planId).execute();
    const price = await trx
      .insertInto('plan_prices')
      .values({ id: newId('ppr'), plan_id: planId, currency: code, unit_amount: unitAmount })
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx.updateTable('plans').set({ updated_at: ctx.now() }).where('id', '=', planId).execute();
    return planView(plan, price);
  });
}

export async function archivePlan(ctx: AppContext, planId: string): Promise<PlanView> {
  const plan = await ctx.db
    .updateTable('plans')
    .set({ status: 'archived', updated_at: ctx.now() })
    .where('id', '=', planId)
    .returningAll()
    .executeTakeFirst();
  if (plan === undefined) throw new SettleError('not_found', `Plan ${planId} does not exist.`);
  return planView(plan, await activePrice(ctx.db, planId));
}

export async function activePrice(db: Executor, planId: string): Promise<PlanPrice | undefined> {
  return db
    .selectFrom('plan_prices')
    .selectAll()
    .where('plan_id', '=', planId)
    .where('active', '=', true)
    .executeTakeFirst();
}

export async function listPlans(ctx: AppContext, opts: { includeArchived: boolean }): Promise<PlanView[]> {
  let q = ctx.db.selectFrom('plans').selectAll().orderBy('created_at');
  if (!opts.includeArchived) q = q.where('status', '=', 'active');
  const plans = await q.execute();
  const prices =
    plans.length === 0
      ? []
      : await ctx.db
          .selectFrom('plan_prices')
          .selectAll()
          .where(
            'plan_id',
            'in',
            plans.map((p) => p.id),
          )
          .where('active', '=', true)
          .execute();
  return plans.map((p) =>
    planView(
      p,
      prices.find((x) => x.plan_id === p.id),
    ),
  );
}

/**
 * The provider's recurring price for a plan price on the account the subscription lives on, created once and cached
 * in provider_prices (the provider call is idempotent on the plan price and account, so two concurrent first buyers
 * get one price).
 */
export async function providerPriceFor(
  ctx: AppContext,
  provider: ProviderId,
  account: AccountContext,
  price: PlanPrice,
  plan: Plan,
): Promise<string> {
  const key = account.chargeType === 'direct' ? account.accountId : '';
  const cached = await ctx.db
    .selectFrom('provider_prices')
    .select('provider_price_id')
    .where('plan_price_id', '=', price.id)
    .where('provider', '=', provider)
    .where('provider_account', '=', key)
    .executeTakeFirst();
  if (cached !== undefined) return cached.provider_price_id;
  const billing = ctx.providers.get(provider).subscriptions;
  if (billing === undefined)
    throw new SettleError(
      'subscriptions_not_supported',
      `Settle does not bill subscriptions through ${provider} yet.`,
    );
  const id = await billing.ensurePrice({
    planPriceId: price.id,
    account,
    productName: plan.name,
    unitAmount: price.unit_amount,
    currency: price.currency,
    interval: plan.interval,
  });
  await ctx.db
    .insertInto('provider_prices')
    .values({ plan_price_id: price.id, provider, provider_account: key, provider_price_id: id })
    .onConflict((oc) => oc.columns(['plan_price_id', 'provider', 'provider_account']).doNothing())
    .execute();
  return id;
}
