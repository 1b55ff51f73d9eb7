import type { AppContext } from '../context.js';
import type { Subscription } from '../../db/schema.js';
import { enqueue } from '../../queue/outbox.js';
import { owningAccount } from '../event-account.js';
import type { NormalizedEvent, VerifiedEvent } from '../provider.js';
import { applySubscriptionCheckout } from './checkout.js';
import {
  billingOf,
  linkProviderSubscription,
  recordInvoiceProblem,
  recordPaidInvoice,
  refreshSubscription,
  subscriptionAccount,
} from './sync.js';

type SubscriptionEvent = Extract<
  NormalizedEvent,
  {
    kind:
      | 'subscription.checkout_completed'
      | 'subscription.checkout_expired'
      | 'subscription.changed'
      | 'subscription.invoice_paid'
      | 'subscription.invoice_failed'
      | 'subscription.invoice_action_required';
  }
>;

/** Only the account that owns a subscription's objects may move it (the seller's for Direct, the platform's else). */
function fromOwner(ctx: AppContext, ev: VerifiedEvent, sub: Subscription): boolean {
  if (ev.provider === sub.provider && (ev.accountId ?? null) === owningAccount(sub)) return true;
  ctx.logger.warn(
    { eventId: ev.eventId, subscriptionId: sub.id, account: ev.accountId },
    'subscription event from an account that does not own the subscription; ignored',
  );
  return false;
}

/**
 * Finds the Settle subscription a provider subscription belongs to: by the link recorded at checkout, else (an event
 * that arrived before checkout.session.completed) by reading the provider subscription's own metadata on the
 * account the event came from, and linking it then.
 */
async function findByProviderSubscription(
  ctx: AppContext,
  ev: VerifiedEvent,
  providerSubscriptionId: string,
  hint: string | null,
): Promise<Subscription | null> {
  const linked = await ctx.db
    .selectFrom('subscriptions')
    .selectAll()
    .where('provider', '=', ev.provider)
    .where('provider_subscription_id', '=', providerSubscriptionId)
    .executeTakeFirst();
  if (linked !== undefined) return linked;
  const billing = ctx.providers.get(ev.provider).subscriptions;
  if (billing === undefined) return null;
  let id = hint;
  if (id === null) {
    const account =
      ev.accountId !== null
        ? { accountId: ev.accountId, chargeType: 'direct' as const }
        : { accountId: '', chargeType: 'destination' as const };
    const state = await billing.retrieve(providerSubscriptionId, account);
    id = state.subscriptionId;
  }
  if (id === null) return null; // not one of Settle's (another integration on the same account)
  const sub = await ctx.db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  if (sub === undefined || !fromOwner(ctx, ev, sub)) return null;
  // The link is confirmed by reading the provider subscription on the subscription's own account.
  const state = await billingOf(ctx, sub).retrieve(providerSubscriptionId, subscriptionAccount(sub));
  if (state.subscriptionId !== sub.id) return null;
  return linkProviderSubscription(ctx, sub, providerSubscriptionId, state.customerId);
}

/**
 * Applies one verified subscription event. Nothing is taken from the payload but ids: the subscription, checkout and
 * invoice are re-read from the provider, so duplicates, late and reordered events converge on the provider's state,
 * and the state machine (status.ts) refuses backward moves.
 */
export async function applySubscriptionEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  e: SubscriptionEvent,
  via: 'webhook' | 'reconcile',
): Promise<'processed' | 'ignored'> {
  switch (e.kind) {
    case 'subscription.checkout_completed':
    case 'subscription.checkout_expired': {
      if (e.checkout.subscriptionId === null) return 'ignored';
      const sub = await ctx.db
        .selectFrom('subscriptions')
        .selectAll()
        .where('id', '=', e.checkout.subscriptionId)
        .executeTakeFirst();
      if (sub === undefined || !fromOwner(ctx, ev, sub)) return 'ignored';
      if (sub.provider_session_id !== e.checkout.sessionId) return 'ignored';
      const state = await billingOf(ctx, sub).retrieveCheckout(
        e.checkout.sessionId,
        subscriptionAccount(sub),
      );
      await applySubscriptionCheckout(ctx, sub, state, via);
      return 'processed';
    }
    case 'subscription.changed': {
      const sub = await findByProviderSubscription(ctx, ev, e.providerSubscriptionId, e.subscriptionId);
      if (sub === null || !fromOwner(ctx, ev, sub)) return 'ignored';
      const after = await refreshSubscription(ctx, sub.id, via);
      if (e.change === 'trial_will_end' && after.trial_end !== null) {
        await enqueue(ctx.db, {
          kind: 'notify.subscription_trial_ending',
          dedupeKey: `notify.subscription_trial_ending:${sub.id}:${after.trial_end.getTime()}`,
          payload: { subscriptionId: sub.id, trialEnd: after.trial_end.toISOString() },
        });
        ctx.queue.nudge();
      }
      return 'processed';
    }
    case 'subscription.invoice_paid':
    case 'subscription.invoice_failed':
    case 'subscription.invoice_action_required': {
      if (e.providerSubscriptionId === null) return 'ignored';
      const sub = await findByProviderSubscription(ctx, ev, e.providerSubscriptionId, null);
      if (sub === null || !fromOwner(ctx, ev, sub)) return 'ignored';
      const inv = await billingOf(ctx, sub).retrieveInvoice(e.providerInvoiceId, subscriptionAccount(sub));
      if (e.kind === 'subscription.invoice_paid') await recordPaidInvoice(ctx, sub, inv, via);
      else
        await recordInvoiceProblem(
          ctx,
          sub,
          inv,
          e.kind === 'subscription.invoice_failed' ? 'failed' : 'action_required',
        );
      await refreshSubscription(ctx, sub.id, via);
      return 'processed';
    }
  }
}
