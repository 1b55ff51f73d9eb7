import type { AppContext } from './context.js';
import { accountOf, applyCheckoutState } from './checkout.js';
import { ingestEvent } from './inbox.js';
import { sql } from 'kysely';
import type { Order } from '../db/schema.js';
import type { PaymentProvider } from './provider.js';
import { transitionOrder } from './order-transitions.js';
import { enqueue } from '../queue/outbox.js';
import { OWED_REFUND_MAX_ATTEMPTS } from './confirm-payment.js';
import { redriveOwedRefund } from './refunds.js';
import { refreshExpiringGrants } from './sellers.js';
import { sweepSubscriptions } from './subscriptions/reconcile.js';

export interface ReconcileSummary {
  accountsScanned: number;
  eventsSeen: number;
  eventsApplied: number;
  eventsAlreadyHandled: number;
  eventsFailed: number;
  ordersSwept: number;
  ordersChanged: number;
  /** Owed or unsent refunds whose jobs were put back in the queue. */
  refundsRedriven: number;
  /** Dead jobs put back in the queue. */
  jobsRedriven: number;
  /** Sellers' OAuth grants refreshed ahead of expiry (Square), and grants found revoked. */
  grantsRefreshed: number;
  grantsRevoked: number;
  /** Subscriptions read back from the provider (checkout over while pending, or period ended), and how many changed. */
  subscriptionsSwept: number;
  subscriptionsChanged: number;
  errors: string[];
}

export interface ReconcileOptions {
  /** How far back to list provider events (Stripe keeps 30 days). */
  lookbackHours?: number;
  onProgress?: (line: string) => void;
}

/**
 * Catches what webhooks missed. (1) Lists recent provider events for the platform and for every connected
 * account (Direct Charge events exist only on the seller's account) and feeds each through the same inbox
 * path the webhooks use; events already processed are skipped by the inbox. (2) Sweeps orders still pending or
 * processing past their expiry by reading their checkout from the provider.
 */
export async function reconcile(ctx: AppContext, opts: ReconcileOptions = {}): Promise<ReconcileSummary> {
  const say = opts.onProgress ?? (() => undefined);
  const since = new Date(ctx.now().getTime() - (opts.lookbackHours ?? 72) * 3_600_000);
  const s: ReconcileSummary = {
    accountsScanned: 0,
    eventsSeen: 0,
    eventsApplied: 0,
    eventsAlreadyHandled: 0,
    eventsFailed: 0,
    ordersSwept: 0,
    ordersChanged: 0,
    refundsRedriven: 0,
    jobsRedriven: 0,
    grantsRefreshed: 0,
    grantsRevoked: 0,
    subscriptionsSwept: 0,
    subscriptionsChanged: 0,
    errors: [],
  };
  // Every configured provider's recent events: the platform's, then each seller account's there.
  for (const provider of ctx.providers.all()) {
    const sellers = await ctx.db
      .selectFrom('seller_accounts')
      .select(['provider_account_id'])
      .where('provider', '=', provider.id)
      .where('provider_account_id', 'is not', null)
      .execute();
    const accounts: (string | null)[] = [null, ...sellers.map((x) => x.provider_account_id)];
    for (const accountId of accounts) await scanEvents(ctx, s, provider, accountId, since, say);
  }

  const grants = await refreshExpiringGrants(ctx);
  s.grantsRefreshed = grants.refreshed;
  s.grantsRevoked = grants.revoked;
  s.errors.push(...grants.errors);
  if (grants.refreshed + grants.revoked > 0)
    say(`seller grants: ${grants.refreshed} refreshed ahead of expiry, ${grants.revoked} found revoked`);

  const swept = await sweepStaleOrders(ctx);
  s.ordersSwept = swept.swept;
  s.ordersChanged = swept.changed;
  s.errors.push(...swept.errors);
  const subs = await sweepSubscriptions(ctx);
  s.subscriptionsSwept = subs.swept;
  s.subscriptionsChanged = subs.changed;
  s.errors.push(...subs.errors);
  if (subs.swept > 0) say(`subscriptions read back: ${subs.swept} swept, ${subs.changed} changed`);
  const redriven = await redriveStoppedWork(ctx);
  s.refundsRedriven = redriven.refunds;
  s.jobsRedriven = redriven.jobs;
  if (redriven.refunds + redriven.jobs > 0) ctx.queue.nudge();
  say(`orders past expiry: ${s.ordersSwept} swept, ${s.ordersChanged} changed`);
  say(
    `stopped work re-driven: ${s.refundsRedriven} owed or pending refund(s), ${s.jobsRedriven} dead job(s)`,
  );
  return s;
}

/** One account's recent events at one provider, each through the inbox (already handled ones are duplicates). */
async function scanEvents(
  ctx: AppContext,
  s: ReconcileSummary,
  provider: PaymentProvider,
  accountId: string | null,
  since: Date,
  say: (line: string) => void,
): Promise<void> {
  s.accountsScanned += 1;
  let seen = 0;
  const where = `${provider.id} ${accountId ?? 'platform'}`;
  try {
    for await (const ev of provider.listEvents({ accountId, since })) {
      seen += 1;
      s.eventsSeen += 1;
      try {
        const r = await ingestEvent(ctx, ev, 'reconcile');
        if (r === 'duplicate') s.eventsAlreadyHandled += 1;
        else s.eventsApplied += 1;
      } catch (err) {
        s.eventsFailed += 1;
        s.errors.push(`${ev.eventId}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } catch (err) {
    s.errors.push(`listing events for ${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  say(`events ${where}: ${seen} seen`);
}

const SWEEP_PAGE = 200;

/**
 * Every order past its expiry that is still pending or processing, paged by (expires_at, id), so orders that
 * stay processing for days never crowd out the rest: each is read from the provider and applied.
 */
export async function sweepStaleOrders(
  ctx: AppContext,
): Promise<{ swept: number; changed: number; errors: string[] }> {
  const out = { swept: 0, changed: 0, errors: [] as string[] };
  let cursor: { expiresAt: Date; id: string } | null = null;
  for (;;) {
    let q = ctx.db
      .selectFrom('orders')
      .selectAll()
      .where('status', 'in', ['pending', 'processing'])
      .where('expires_at', '<', ctx.now())
      .orderBy('expires_at')
      .orderBy('id')
      .limit(SWEEP_PAGE);
    if (cursor !== null) {
      const c = cursor;
      q = q.where((eb) =>
        eb.or([
          eb('expires_at', '>', c.expiresAt),
          eb.and([eb('expires_at', '=', c.expiresAt), eb('id', '>', c.id)]),
        ]),
      );
    }
    const page = await q.execute();
    for (const order of page) {
      out.swept += 1;
      try {
        if (await sweepOrder(ctx, order)) out.changed += 1;
      } catch (err) {
        out.errors.push(`order ${order.id}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const last = page.at(-1);
    if (last === undefined || page.length < SWEEP_PAGE) return out;
    cursor = { expiresAt: last.expires_at, id: last.id };
  }
}
/** A dead job is re-driven once it has rested this long, so a job that keeps failing retries about hourly. */
const DEAD_JOB_REST_MS = 3_600_000;

/** Reads one stale order's checkout from the provider and applies it. Returns true when the order changed. */
async function sweepOrder(ctx: AppContext, order: Order): Promise<boolean> {
  if (order.provider_session_id === null) {
    const r = await transitionOrder(ctx.db, order.id, 'expired', {
      via: 'reconcile',
      note: 'no checkout session',
    });
    return r.changed;
  }
  const account = accountOf(order);
  const provider = ctx.providers.get(order.provider);
  let state = await provider.retrieveCheckout(order.provider_session_id, account);
  if (state.outcome === 'open') {
    // Past our hold but still open at the provider: end it, then read again (the buyer may have just paid).
    await provider.expireCheckout(order.provider_session_id, account);
    state = await provider.retrieveCheckout(order.provider_session_id, account);
  }
  const r = await applyCheckoutState(ctx, order.id, state, 'reconcile');
  return r.status !== order.status;
}

/**
 * Work that stopped without finishing: owed refunds of oversold orders whose job ended, refunds reserved but
 * never accepted by the provider whose submit job ended, and dead jobs (after a rest). All of them are idempotent
 * by their keys, so running them again can only finish what is missing.
 */
async function redriveStoppedWork(ctx: AppContext): Promise<{ refunds: number; jobs: number }> {
  const now = ctx.now();
  let refunds = 0;
  const owed = await ctx.db
    .selectFrom('orders')
    .select('id')
    .where('status', '=', 'paid_oversold')
    .where(sql<boolean>`refunded_amount < coalesce(charged_amount, total)`)
    .where('provider_payment_id', 'is not', null)
    .execute();
  for (const o of owed) if (await redriveOwedRefund(ctx.db, o.id, now)) refunds += 1;
  const unsent = await ctx.db
    .selectFrom('refunds')
    .select('id')
    .where('status', '=', 'pending')
    .where('provider_refund_id', 'is', null)
    .execute();
  for (const r of unsent) {
    const key = `refund.submit:${r.id}`;
    const inserted = await enqueue(ctx.db, {
      kind: 'refund.submit',
      dedupeKey: key,
      payload: { refundId: r.id },
      maxAttempts: OWED_REFUND_MAX_ATTEMPTS,
    });
    const res = await ctx.db
      .updateTable('jobs')
      .set({ status: 'queued', attempts: 0, run_at: now, locked_until: null, finished_at: null })
      .where('dedupe_key', '=', key)
      .where('status', 'in', ['done', 'dead'])
      .executeTakeFirst();
    refunds += (inserted ? 1 : 0) + Number(res.numUpdatedRows);
  }
  const jobs = await ctx.db
    .updateTable('jobs')
    .set({ status: 'queued', attempts: 0, run_at: now, locked_until: null, finished_at: null })
    .where('status', '=', 'dead')
    .where('finished_at', '<', new Date(now.getTime() - DEAD_JOB_REST_MS))
    .executeTakeFirst();
  return { refunds, jobs: Number(jobs.numUpdatedRows) };
}
