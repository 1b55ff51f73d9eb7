import type { AppContext } from '../app/context.js';
import { accountOf, applyCheckoutState } from './checkout.js';
import { ingestEvent } from './inbox.js';
import { transitionOrder } from './order-transitions.js';

export interface ReconcileSummary {
  accountsScanned: number;
  eventsSeen: number;
  eventsApplied: number;
  eventsAlreadyHandled: number;
  eventsFailed: number;
  ordersSwept: number;
  ordersChanged: number;
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
    errors: [],
  };
  const sellers = await ctx.db
    .selectFrom('sellers')
    .select(['provider_account_id'])
    .where('provider', '=', ctx.provider.id)
    .where('provider_account_id', 'is not', null)
    .execute();
  const accounts: (string | null)[] = [null, ...sellers.map((x) => x.provider_account_id)];
  for (const accountId of accounts) {
    s.accountsScanned += 1;
    let seen = 0;
    try {
      for await (const ev of ctx.provider.listEvents({ accountId, since })) {
        seen += 1;
        s.eventsSeen += 1;
        try {
          const r = await ingestEvent(ctx, ev, 'reconcile');
          if (r === 'duplicate' || r === 'in_progress') s.eventsAlreadyHandled += 1;
          else s.eventsApplied += 1;
        } catch (err) {
          s.eventsFailed += 1;
          s.errors.push(`${ev.eventId}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    } catch (err) {
      s.errors.push(
        `listing events for ${accountId ?? 'platform'}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    say(`events ${accountId ?? 'platform'}: ${seen} seen`);
  }

  const stale = await ctx.db
    .selectFrom('orders')
    .selectAll()
    .where('status', 'in', ['pending', 'processing'])
    .where('expires_at', '<', ctx.now())
    .orderBy('expires_at')
    .limit(500)
    .execute();
  for (const order of stale) {
    s.ordersSwept += 1;
    try {
      if (order.provider_session_id === null) {
        const r = await transitionOrder(ctx.db, order.id, 'expired', {
          via: 'reconcile',
          note: 'no checkout session',
        });
        if (r.changed) s.ordersChanged += 1;
        continue;
      }
      const account = accountOf(order);
      let state = await ctx.provider.retrieveCheckout(order.provider_session_id, account);
      if (state.outcome === 'open') {
        // Past our hold but still open at the provider: end it, then read again (the buyer may have just paid).
        await ctx.provider.expireCheckout(order.provider_session_id, account);
        state = await ctx.provider.retrieveCheckout(order.provider_session_id, account);
      }
      const effective = state;
      const r = await applyCheckoutState(ctx, order.id, effective, 'reconcile');
      if (r.status !== order.status) s.ordersChanged += 1;
    } catch (err) {
      s.errors.push(`order ${order.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  say(`orders past expiry: ${s.ordersSwept} swept, ${s.ordersChanged} changed`);
  return s;
}
