import type { AppContext } from '../app/context.js';
import { enqueue } from '../queue/outbox.js';
import { accountOf, applyCheckoutState } from './checkout.js';
import { newId } from './ids.js';
import type { VerifiedEvent } from './provider.js';
import { recordRefundStatus } from './refunds.js';

export type EventResult = 'processed' | 'ignored';

/**
 * Applies one verified provider event. Every branch is idempotent (conditional updates, unique keys), so a
 * duplicate or replayed event changes nothing, and order never moves backwards whatever order events arrive in.
 */
export async function applyEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  via: 'webhook' | 'reconcile',
): Promise<EventResult> {
  const e = ev.event;
  switch (e.kind) {
    case 'checkout.completed':
    case 'checkout.async_succeeded':
    case 'checkout.async_failed':
    case 'checkout.expired': {
      const orderId = e.checkout.orderId;
      if (orderId === null) return 'ignored';
      const order = await ctx.db
        .selectFrom('orders')
        .select(['id', 'provider_account_id', 'charge_type'])
        .where('id', '=', orderId)
        .executeTakeFirst();
      if (order === undefined) return 'ignored'; // not one of ours (another integration on the same account)
      // A Direct Charge session lives on the seller's account: only a Connect event for that account may move it.
      const expectedAccount = order.charge_type === 'direct' ? order.provider_account_id : null;
      if ((ev.accountId ?? null) !== expectedAccount) {
        ctx.logger.warn(
          { eventId: ev.eventId, orderId, account: ev.accountId },
          'checkout event from an account that does not own the order; ignored',
        );
        return 'ignored';
      }
      // Payment outcomes are re-read from the provider on the order's own account: amounts, fee and promotion
      // code come from the API, not from the payload (which could be stale or replayed out of order).
      const state =
        e.kind === 'checkout.async_failed'
          ? { ...e.checkout, outcome: 'failed' as const }
          : e.kind === 'checkout.expired'
            ? e.checkout
            : await ctx.provider.retrieveCheckout(e.checkout.sessionId, accountOf(order));
      await applyCheckoutState(ctx, orderId, state, via);
      return 'processed';
    }
    case 'refund.updated': {
      const r = e.refund;
      const known = await ctx.db
        .selectFrom('refunds')
        .select('id')
        .where((eb) =>
          r.refundId ? eb('id', '=', r.refundId) : eb('provider_refund_id', '=', r.providerRefundId),
        )
        .executeTakeFirst();
      if (known === undefined) return 'ignored'; // a refund made outside Settle (dashboard): nothing to reconcile against
      await recordRefundStatus(ctx, {
        refundId: known.id,
        providerRefundId: r.providerRefundId,
        status: r.status,
      });
      ctx.queue.nudge();
      return 'processed';
    }
    case 'dispute.created':
    case 'dispute.closed': {
      const d = e.dispute;
      const order =
        d.paymentId === null
          ? undefined
          : await ctx.db
              .selectFrom('orders')
              .select(['id'])
              .where('provider', '=', ev.provider)
              .where('provider_payment_id', '=', d.paymentId)
              .executeTakeFirst();
      await ctx.db.transaction().execute(async (trx) => {
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
        if (order !== undefined) {
          const status = d.outcome ?? 'open';
          await trx
            .updateTable('orders')
            .set({ dispute_status: status, updated_at: ctx.now() })
            .where('id', '=', order.id)
            .execute();
          await trx
            .insertInto('order_events')
            .values({
              order_id: order.id,
              from_status: null,
              to_status: `dispute_${status}`,
              note: d.reason,
              via,
            })
            .execute();
          await enqueue(trx, {
            kind: 'notify.dispute',
            dedupeKey: `notify.dispute:${d.providerDisputeId}:${status}`,
            payload: { orderId: order.id, disputeId: d.providerDisputeId },
          });
        }
      });
      ctx.queue.nudge();
      return 'processed';
    }
    case 'account.updated': {
      const a = e.account;
      // Ignore events older than the state we already hold (out-of-order account.updated deliveries).
      await ctx.db
        .updateTable('sellers')
        .set({
          details_submitted: a.detailsSubmitted,
          charges_enabled: a.chargesEnabled,
          payouts_enabled: a.payoutsEnabled,
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
