import type { AppContext } from './context.js';
import type { Order } from '../db/schema.js';
import { enqueue, type Executor } from '../queue/outbox.js';
import { accountOf, applyCheckoutState } from './checkout.js';
import type { AlsoWrite } from './confirm-payment.js';
import { SettleError } from './errors.js';
import { owningAccount } from './event-account.js';
import { newId } from './ids.js';
import type { NormalizedEvent, VerifiedEvent } from './provider.js';
import { applyRefundEvent } from './refunds.js';
import { applySubscriptionEvent } from './subscriptions/events.js';
import { applyPlatformAccountEvent, onboardingState } from './sellers.js';

export type EventResult = 'processed' | 'ignored';

type DisputeData = Extract<NormalizedEvent, { kind: 'dispute.created' | 'dispute.closed' }>['dispute'];

/** What a dispute notice reports: the dispute was opened, or closed with this outcome. */
export type DisputeNoticeEvent = 'opened' | 'won' | 'lost';

export { owningAccount };

/**
 * Applies one verified provider event. Every branch is idempotent (conditional updates, unique keys), so a
 * duplicate or replayed event changes nothing, and order never moves backwards whatever order events arrive in.
 */
export async function applyEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  via: 'webhook' | 'reconcile',
  /**
   * The inbox's record of the outcome, for a step that can make it in its own transaction (a payment's
   * confirmation); the inbox records it separately otherwise (src/core/inbox.ts).
   */
  recordInbox?: AlsoWrite,
  /** A checkout event's order as the inbox read it when it recorded the event (null: none); read here otherwise. */
  prefetched?: Order | null,
): Promise<EventResult> {
  const e = ev.event;
  switch (e.kind) {
    case 'checkout.completed':
    case 'checkout.async_succeeded':
    case 'checkout.async_failed':
    case 'checkout.expired': {
      const orderId = e.checkout.orderId;
      if (orderId === null) return 'ignored';
      // The whole row: applyCheckoutState() uses it for a payment instead of reading the order again.
      const order =
        prefetched !== undefined && (prefetched === null || prefetched.id === orderId)
          ? (prefetched ?? undefined)
          : await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
      if (order === undefined) return 'ignored'; // not one of ours (another integration on the same account)
      if (order.provider !== ev.provider) {
        ctx.logger.warn(
          { eventId: ev.eventId, orderId, provider: ev.provider },
          "checkout event from a provider that is not the order's; ignored",
        );
        return 'ignored';
      }
      // A Direct Charge session lives on the seller's account: only a Connect event for that account may move it.
      if ((ev.accountId ?? null) !== owningAccount(order)) {
        ctx.logger.warn(
          { eventId: ev.eventId, orderId, account: ev.accountId },
          'checkout event from an account that does not own the order; ignored',
        );
        return 'ignored';
      }
      // Payment outcomes are re-read from the provider on the order's own account: amounts, fee and promotion
      // code come from the API, not from the payload (which could be stale or replayed out of order). The order's
      // own checkout is read: a Square payment event names the payment and its order, not the payment link.
      const sessionId = order.provider_session_id ?? e.checkout.sessionId;
      if (sessionId === '')
        // The checkout is still being created (its id not yet recorded): not acknowledged, so it is redelivered.
        throw new SettleError('webhook_in_progress', `Order ${orderId} has no checkout recorded yet; retry.`);
      const state =
        e.kind === 'checkout.async_failed'
          ? { ...e.checkout, outcome: 'failed' as const }
          : e.kind === 'checkout.expired'
            ? e.checkout
            : await ctx.providers.get(order.provider).retrieveCheckout(sessionId, accountOf(order));
      await applyCheckoutState(ctx, orderId, state, via, order, recordInbox);
      return 'processed';
    }
    case 'refund.updated':
      // An order's refund or a subscription invoice's (src/core/refunds.ts finds which, and checks the account).
      return applyRefundEvent(ctx, ev, e.refund, owningAccount);
    case 'subscription.checkout_completed':
    case 'subscription.checkout_expired':
    case 'subscription.changed':
    case 'subscription.invoice_paid':
    case 'subscription.invoice_failed':
    case 'subscription.invoice_action_required':
      // Subscriptions have their own state machine (src/core/subscriptions/events.ts).
      return applySubscriptionEvent(ctx, ev, e, via);
    case 'dispute.created':
    case 'dispute.closed':
      return applyDisputeEvent(ctx, ev, e.dispute, via);
    case 'account.updated': {
      // PayPal delivers its merchants' account events to the platform's one endpoint, signed by PayPal and naming
      // the merchant (and the seller id its onboarding link carried): src/core/sellers.ts applies them.
      if (ev.provider !== 'stripe') return applyPlatformAccountEvent(ctx, ev, e);
      const a = e.account;
      if (a.accountId === null) return 'ignored';
      // Only the connected account itself may change its seller's state: Stripe sends a connected account's
      // account.updated to Connect endpoints with `event.account` set to that account. A payload naming another
      // account, or a platform-endpoint event (the platform's own account), never touches a seller.
      if (ev.endpoint !== 'connect' || ev.accountId !== a.accountId) {
        const seller = await ctx.db
          .selectFrom('seller_accounts')
          .select('seller_id as id')
          .where('provider', '=', ev.provider)
          .where('provider_account_id', '=', a.accountId)
          .executeTakeFirst();
        if (seller !== undefined || ev.endpoint === 'connect') {
          ctx.logger.warn(
            {
              eventId: ev.eventId,
              endpoint: ev.endpoint,
              account: ev.accountId,
              payloadAccount: a.accountId,
              sellerId: seller?.id,
            },
            'account.updated not sent by the account it describes; ignored',
          );
        }
        return 'ignored';
      }
      // Ignore events older than the state we already hold (out-of-order account.updated deliveries).
      await ctx.db
        .updateTable('seller_accounts')
        .set({
          ...onboardingState(a),
          account_synced_at: ev.createdAt,
        })
        .where('provider', '=', ev.provider)
        .where('provider_account_id', '=', a.accountId)
        .where((eb) =>
          eb.or([eb('account_synced_at', 'is', null), eb('account_synced_at', '<=', ev.createdAt)]),
        )
        .execute();
      return 'processed';
    }
    case 'ignored':
      return 'ignored';
  }
}

/**
 * Applies a dispute event. The disputes row is the truth: its upsert never lets an older event overwrite a newer
 * state (a closed dispute stays closed), and the order's `dispute_status` is derived from all of the order's
 * disputes afterwards, so events arriving in any order (reconciliation replays newest first) end in the same
 * state. The history row and the seller's notice are written only when the dispute actually changed (it is new, or
 * it closed), once per dispute and outcome.
 */
async function applyDisputeEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  d: DisputeData,
  via: 'webhook' | 'reconcile',
): Promise<EventResult> {
  const result = await ctx.db.transaction().execute(async (trx): Promise<EventResult> => {
    // The order row is locked first, so dispute events of one order (two disputes, or duplicate deliveries)
    // are applied one at a time and each derives the order's state from committed dispute rows.
    const order =
      d.paymentId === null
        ? undefined
        : await trx
            .selectFrom('orders')
            .select(['id', 'provider', 'dispute_status', 'charge_type', 'provider_account_id'])
            .where('provider', '=', ev.provider)
            .where('provider_payment_id', '=', d.paymentId)
            .forUpdate()
            .executeTakeFirst();
    if (order !== undefined && (ev.accountId ?? null) !== owningAccount(order)) {
      ctx.logger.warn(
        { eventId: ev.eventId, orderId: order.id, account: ev.accountId },
        'dispute event from an account that does not own the payment; ignored',
      );
      return 'ignored';
    }
    const before = await trx
      .selectFrom('disputes')
      .select(['id', 'order_id', 'outcome'])
      .where('provider', '=', ev.provider)
      .where('provider_dispute_id', '=', d.providerDisputeId)
      .forUpdate()
      .executeTakeFirst();
    await trx
      .insertInto('disputes')
      .values({
        id: newId('dsp'),
        order_id: order?.id ?? null,
        provider: ev.provider,
        provider_dispute_id: d.providerDisputeId,
        provider_payment_id: d.paymentId,
        amount: d.amount,
        currency: d.currency,
        reason: d.reason,
        status: d.status,
        outcome: d.outcome,
        updated_at: ev.createdAt,
      })
      .onConflict((oc) =>
        oc
          .columns(['provider', 'provider_dispute_id'])
          .doUpdateSet({ status: d.status, outcome: d.outcome, updated_at: ev.createdAt })
          .where(
            // Never let an older event overwrite a newer state (a closed dispute stays closed).
            (eb) =>
              eb.and([eb('disputes.updated_at', '<=', ev.createdAt), eb('disputes.outcome', 'is', null)]),
          ),
      )
      .execute();
    if (order === undefined) return 'processed'; // a payment Settle does not know: recorded, nothing to move
    if (before !== undefined && before.order_id === null) {
      // Recorded before its order could be matched: attach it now.
      await trx.updateTable('disputes').set({ order_id: order.id }).where('id', '=', before.id).execute();
    }
    const after = await trx
      .selectFrom('disputes')
      .select(['outcome', 'amount', 'currency', 'reason'])
      .where('provider', '=', ev.provider)
      .where('provider_dispute_id', '=', d.providerDisputeId)
      .executeTakeFirstOrThrow();

    const derived = await orderDisputeStatus(trx, order.id);
    if (derived !== order.dispute_status) {
      await trx
        .updateTable('orders')
        .set({ dispute_status: derived, updated_at: ctx.now() })
        .where('id', '=', order.id)
        .execute();
    }

    const changed = before === undefined || before.outcome !== after.outcome;
    if (!changed) return 'processed'; // a duplicate, or an older event than the state already recorded
    const state = after.outcome ?? 'open';
    const notice: DisputeNoticeEvent = after.outcome ?? 'opened';
    await trx
      .insertInto('order_events')
      .values({
        order_id: order.id,
        from_status: null,
        to_status: `dispute_${state}`,
        note: `${d.providerDisputeId}${after.reason !== null ? ` (${after.reason})` : ''}`,
        via,
      })
      .execute();
    await enqueue(trx, {
      kind: 'notify.dispute',
      dedupeKey: `notify.dispute:${d.providerDisputeId}:${state}`,
      payload: {
        orderId: order.id,
        disputeId: d.providerDisputeId,
        event: notice,
        amount: after.amount,
        currency: after.currency,
        reason: after.reason,
      },
    });
    return 'processed';
  });
  ctx.queue.nudge();
  return result;
}

/**
 * The order's dispute status from its disputes: `open` while any dispute is open, otherwise the outcome of the
 * dispute that closed last; null when the order has none.
 */
async function orderDisputeStatus(trx: Executor, orderId: string): Promise<'open' | 'won' | 'lost' | null> {
  const rows = await trx
    .selectFrom('disputes')
    .select(['outcome'])
    .where('order_id', '=', orderId)
    .orderBy('updated_at', 'desc')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  if (rows.length === 0) return null;
  if (rows.some((r) => r.outcome === null)) return 'open';
  return rows[0]?.outcome ?? null;
}
