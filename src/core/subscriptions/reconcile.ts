import type { AppContext } from '../context.js';
import { verifySubscription } from './checkout.js';
import { refreshSubscription } from './sync.js';

const SWEEP_LIMIT = 500;

/**
 * What subscription webhooks missed, read back from the provider (the reconciler's event scan replays the events
 * themselves; this catches what is older than the scan or never became an event):
 * - pending subscriptions whose checkout time is over: completed after all (linked and applied) or ended;
 * - live subscriptions whose current period has ended by the wall clock: the renewal (or its failure, or the end)
 *   is applied from the provider's state and invoices.
 */
export async function sweepSubscriptions(
  ctx: AppContext,
): Promise<{ swept: number; changed: number; errors: string[] }> {
  const now = ctx.now();
  const pending = await ctx.db
    .selectFrom('subscriptions')
    .select(['id', 'status'])
    .where('status', '=', 'pending')
    .where('checkout_expires_at', '<', now)
    .orderBy('checkout_expires_at')
    .limit(SWEEP_LIMIT)
    .execute();
  const due = await ctx.db
    .selectFrom('subscriptions')
    .select(['id', 'status'])
    .where('status', 'in', ['incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused'])
    .where('provider_subscription_id', 'is not', null)
    .where('current_period_end', '<', now)
    .orderBy('current_period_end')
    .limit(SWEEP_LIMIT)
    .execute();
  let changed = 0;
  const errors: string[] = [];
  for (const s of [...pending, ...due]) {
    try {
      const after =
        s.status === 'pending'
          ? await verifySubscription(ctx, s.id)
          : await refreshSubscription(ctx, s.id, 'reconcile');
      if (after.status !== s.status) changed += 1;
    } catch (err) {
      errors.push(`subscription ${s.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { swept: pending.length + due.length, changed, errors };
}
