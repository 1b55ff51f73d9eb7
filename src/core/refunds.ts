import { sql } from 'kysely';
import type { AppContext } from './context.js';
import type { Order, Refund } from '../db/schema.js';
import { OWED_REFUND_MAX_ATTEMPTS } from './confirm-payment.js';
import { enqueue, type Executor, type QueueWorker } from '../queue/outbox.js';
import { accountOf } from './checkout.js';
import { crashPoint } from './crash-points.js';
import { SettleError } from './errors.js';
import { newId } from './ids.js';
import { assertProviderAmount } from './currency-rules.js';
import { currency, formatMoney } from './money.js';

/**
 * Refunds. The refunded total never exceeds what was paid, even under concurrency: the amount is reserved on
 * the order with a conditional UPDATE (`refunded_amount + $amt <= total`) before the provider is called, and
 * released again only if the provider definitively refuses. The provider call carries `refund:<refundId>` as
 * its idempotency key, so a retry after a timeout can never refund twice.
 */

const REFUNDABLE = ['paid', 'paid_oversold', 'needs_review', 'refunded'] as const;

export interface RefundRequest {
  orderId: string;
  /** Minor units; omitted = the whole remaining amount. */
  amount?: number;
  reason: 'requested_by_operator' | 'oversold' | 'review';
  /** One key per refund intent; a repeated request with the same key returns the same refund. */
  idempotencyKey: string;
}

/** What can be refunded at most: what the provider actually charged (falls back to the total for old rows). */
export function chargedOf(order: Pick<Order, 'charged_amount' | 'total'>): number {
  return order.charged_amount ?? order.total;
}

export async function requestRefund(ctx: AppContext, req: RefundRequest): Promise<Refund> {
  const reserved = await ctx.db.transaction().execute(async (trx) => {
    // The order row is locked first: concurrent requests for one order (same key or not) are serialized here,
    // so a repeated key finds the refund its twin created instead of failing on the unique index.
    const order = await trx
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', req.orderId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (order === undefined) throw new SettleError('not_found', `Order ${req.orderId} does not exist.`);
    const existing = await trx
      .selectFrom('refunds')
      .selectAll()
      .where('idempotency_key', '=', req.idempotencyKey)
      .executeTakeFirst();
    if (existing !== undefined) {
      if (existing.order_id !== req.orderId)
        throw new SettleError('idempotency_key_reused', 'This refund key belongs to another order.');
      return { refund: existing, fresh: false };
    }
    if (!(REFUNDABLE as readonly string[]).includes(order.status)) {
      throw new SettleError(
        'order_not_refundable',
        `Order is ${order.status}; only paid orders can be refunded.`,
      );
    }
    const charged = chargedOf(order);
    if (order.provider_payment_id === null || charged === 0) {
      throw new SettleError(
        'order_not_refundable',
        order.status === 'needs_review'
          ? 'Nothing was charged for this order, so there is nothing to refund; close the review instead.'
          : 'Nothing was charged for this order (100 % discount), so there is nothing to refund.',
      );
    }
    const remaining = charged - order.refunded_amount;
    const amount = req.amount ?? remaining;
    if (!Number.isSafeInteger(amount) || amount <= 0) {
      if (req.amount === undefined)
        throw new SettleError('refund_exceeds_payment', 'This order is already fully refunded.', {
          details: { remaining: 0 },
        });
      throw new SettleError('validation_failed', 'amount must be a positive integer number of minor units.');
    }
    // An amount the provider cannot refund (KWD 0.505 at Stripe) is refused before anything is reserved.
    assertProviderAmount(order.provider, { amount, currency: currency(order.currency) }, 'The refund amount');
    // Never above what was actually charged, even with concurrent requests (the row is locked, and the
    // conditional UPDATE would refuse anyway).
    const res = await trx
      .updateTable('orders')
      .set((eb) => ({ refunded_amount: eb('refunded_amount', '+', amount), updated_at: ctx.now() }))
      .where('id', '=', req.orderId)
      .where(sql<boolean>`refunded_amount + ${amount} <= coalesce(charged_amount, total)`)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) {
      throw new SettleError(
        'refund_exceeds_payment',
        `Only ${remaining} (minor units) of this order is left to refund.`,
        {
          details: { remaining },
        },
      );
    }
    const refund = await trx
      .insertInto('refunds')
      .values({
        id: newId('ref'),
        order_id: req.orderId,
        amount,
        currency: order.currency,
        status: 'pending',
        reason: req.reason,
        idempotency_key: req.idempotencyKey,
        provider_refund_id: null,
        failure_reason: null,
        updated_at: ctx.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    // Durable follow-up: if this process dies before the provider answers, or the provider is down for hours,
    // the job finishes the refund with the same idempotency key.
    await enqueue(trx, {
      kind: 'refund.submit',
      dedupeKey: `refund.submit:${refund.id}`,
      payload: { refundId: refund.id },
      runAt: new Date(ctx.now().getTime() + 60_000),
      maxAttempts: OWED_REFUND_MAX_ATTEMPTS,
    });
    return { refund, fresh: true };
  });
  crashPoint('refund.reserved');
  if (!reserved.fresh || reserved.refund.provider_refund_id !== null) return reserved.refund;
  try {
    return await submitRefund(ctx, reserved.refund.id);
  } catch (err) {
    if (err instanceof SettleError && err.code === 'provider_error')
      // Refused by the provider (recorded failed, its amount released): the operator sees why, not a bare 502.
      throw new SettleError('refund_refused', `The provider refused the refund: ${err.message}`, {
        cause: err,
      });
    if (err instanceof SettleError && err.code === 'provider_unavailable') {
      // Outcome unknown: the queued refund.submit job retries with the same idempotency key.
      return await ctx.db
        .selectFrom('refunds')
        .selectAll()
        .where('id', '=', reserved.refund.id)
        .executeTakeFirstOrThrow();
    }
    throw err;
  }
}

/** Sends a reserved refund to the provider (idempotent) and records the answer. */
export async function submitRefund(ctx: AppContext, refundId: string): Promise<Refund> {
  const refund = await ctx.db
    .selectFrom('refunds')
    .selectAll()
    .where('id', '=', refundId)
    .executeTakeFirstOrThrow();
  if (refund.status !== 'pending' || refund.provider_refund_id !== null) return refund;
  const order = await ctx.db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', refund.order_id)
    .executeTakeFirstOrThrow();
  try {
    const result = await ctx.providers.get(order.provider).refund({
      account: accountOf(order),
      paymentId: order.provider_payment_id ?? '',
      amount: refund.amount,
      currency: order.currency,
      idempotencyKey: `refund:${refund.id}`,
      orderId: order.id,
      refundId: refund.id,
    });
    crashPoint('refund.provider_answered');
    return await recordRefundStatus(ctx, {
      refundId: refund.id,
      providerRefundId: result.providerRefundId,
      status: result.status,
    });
  } catch (err) {
    // A definitive refusal (the provider said no, or the seller withdrew the platform's access so it cannot act on
    // their account): the refund failed and its reserved amount is released; the caller sees why. Any 4xx-class
    // answer is a refusal (Square's REFUND_AMOUNT_INVALID arrives as refund_exceeds_payment).
    if (err instanceof SettleError && (err.code === 'provider_error' || err.httpStatus < 500)) {
      await recordRefundStatus(ctx, {
        refundId: refund.id,
        providerRefundId: null,
        status: 'failed',
        failureReason: err.message,
      });
    }
    throw err;
  }
}

/**
 * Records a refund's provider status (from the API answer or a refund webhook). A failure releases the reserved
 * amount; when succeeded refunds cover the whole total, the order becomes `refunded`. Idempotent.
 */
export async function recordRefundStatus(
  ctx: AppContext,
  update: {
    refundId?: string | null;
    providerRefundId: string | null;
    status: 'pending' | 'succeeded' | 'failed';
    failureReason?: string;
  },
): Promise<Refund> {
  return ctx.db.transaction().execute(async (trx) => {
    // Serialize status changes per order: lock the order row first, so the "all refunded?" sum below sees every
    // other committed refund of this order (concurrent refunds would otherwise each miss the others).
    let owner = trx.selectFrom('refunds').select('order_id');
    if (update.refundId) owner = owner.where('id', '=', update.refundId);
    else if (update.providerRefundId) owner = owner.where('provider_refund_id', '=', update.providerRefundId);
    else throw new Error('recordRefundStatus needs a refund id');
    const ownerRow = await owner.executeTakeFirst();
    if (ownerRow === undefined) throw new SettleError('not_found', 'refund not found');
    await trx
      .selectFrom('orders')
      .select('id')
      .where('id', '=', ownerRow.order_id)
      .forNoKeyUpdate()
      .execute();
    let q = trx.selectFrom('refunds').selectAll().forUpdate();
    if (update.refundId) q = q.where('id', '=', update.refundId);
    else if (update.providerRefundId) q = q.where('provider_refund_id', '=', update.providerRefundId);
    else throw new Error('recordRefundStatus needs a refund id');
    const refund = await q.executeTakeFirst();
    if (refund === undefined) throw new SettleError('not_found', 'refund not found');
    const providerRefundId = refund.provider_refund_id ?? update.providerRefundId;
    // Terminal states stay terminal: a late `pending` webhook never undoes `succeeded` or `failed`.
    const status = refund.status === 'pending' ? update.status : refund.status;
    const updated = await trx
      .updateTable('refunds')
      .set({
        status,
        provider_refund_id: providerRefundId,
        failure_reason: update.failureReason ?? refund.failure_reason,
        updated_at: ctx.now(),
      })
      .where('id', '=', refund.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (refund.status === 'pending' && status === 'failed') {
      await trx
        .updateTable('orders')
        .set((eb) => ({ refunded_amount: eb('refunded_amount', '-', refund.amount), updated_at: ctx.now() }))
        .where('id', '=', refund.order_id)
        .execute();
      // A refused attempt of an owed refund does not end what is owed: the owed-refund job runs again.
      if (refund.reason === 'oversold') await redriveOwedRefund(trx, refund.order_id, ctx.now());
    }
    if (refund.status === 'pending' && status === 'succeeded') {
      const sum = await trx
        .selectFrom('refunds')
        .select(sql<number>`coalesce(sum(amount),0)::bigint`.as('s'))
        .where('order_id', '=', refund.order_id)
        .where('status', '=', 'succeeded')
        .executeTakeFirstOrThrow();
      const order = await trx
        .selectFrom('orders')
        .selectAll()
        .where('id', '=', refund.order_id)
        .executeTakeFirstOrThrow();
      if (Number(sum.s) >= chargedOf(order) && order.status !== 'refunded') {
        await trx
          .updateTable('orders')
          .set({ status: 'refunded', updated_at: ctx.now() })
          .where('id', '=', order.id)
          .execute();
        // A fully refunded booking frees its places (an oversold order never took any).
        if (order.status === 'paid') {
          await trx
            .updateTable('slots')
            .set((eb) => ({ sold: eb('sold', '-', order.quantity) }))
            .where('id', '=', order.slot_id)
            .execute();
        }
        await trx
          .insertInto('order_events')
          .values({
            order_id: order.id,
            from_status: order.status,
            to_status: 'refunded',
            note: `refunded ${formatMoney({ amount: Number(sum.s), currency: currency(order.currency) })}`,
            via: 'refund',
          })
          .execute();
      }
      await enqueue(trx, {
        kind: 'notify.refund',
        dedupeKey: `notify.refund:${refund.id}`,
        payload: { orderId: refund.order_id, refundId: refund.id },
      });
    }
    return updated;
  });
}

/**
 * The automatic refund owed to a buyer who paid for a place that was already gone (paid_oversold). Owed until the
 * order is refunded: a provider refusal marks that attempt failed (its reservation released) and the job retries
 * with a fresh attempt after the queue's backoff; an outage leaves the attempt pending and the same key is
 * retried. It ends when the order is refunded or an operator refunded it by hand (the attention list in the
 * operator console shows such orders while attempts fail).
 */
async function settleOwedRefund(ctx: AppContext, orderId: string): Promise<void> {
  const order = await ctx.db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  if (order.status !== 'paid_oversold') return; // refunded (or never oversold): nothing owed
  if (chargedOf(order) === 0 || order.provider_payment_id === null) return; // nothing was charged
  const attempts = await ctx.db
    .selectFrom('refunds')
    .selectAll()
    .where('order_id', '=', orderId)
    .orderBy('created_at')
    .execute();
  // Attempts in flight (reserved, not yet accepted by the provider) are re-sent with their own keys first.
  for (const r of attempts) {
    if (r.status === 'pending' && r.provider_refund_id === null) await submitRefund(ctx, r.id);
  }
  const fresh = await ctx.db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  const owed = chargedOf(fresh) - fresh.refunded_amount;
  if (owed > 0) {
    const n = attempts.filter((r) => r.reason === 'oversold').length;
    const refund = await requestRefund(ctx, {
      orderId,
      reason: 'oversold',
      idempotencyKey: n === 0 ? `oversold:${orderId}` : `oversold:${orderId}:${n}`,
    });
    if (refund.status === 'failed')
      throw new Error(`provider refused the owed refund (${refund.failure_reason ?? 'no reason'}); retrying`);
    if (refund.status === 'pending' && refund.provider_refund_id === null)
      throw new Error('refund not yet accepted by the provider; retrying');
  }
  const stuck = await ctx.db
    .selectFrom('refunds')
    .select('id')
    .where('order_id', '=', orderId)
    .where('status', '=', 'pending')
    .where('provider_refund_id', 'is', null)
    .executeTakeFirst();
  if (stuck !== undefined) throw new Error('refund not yet accepted by the provider; retrying');
}

/** Registers the refund jobs: the owed (oversold) refund and the durable refund submitter. */
export function registerRefundJobs(worker: QueueWorker, ctx: AppContext): void {
  worker.register('refund.oversold', ({ payload }) => settleOwedRefund(ctx, String(payload['orderId'])), {
    transactional: false,
  });
  worker.register(
    'refund.submit',
    async ({ payload }) => {
      const refund = await submitRefund(ctx, String(payload['refundId']));
      if (refund.status === 'pending' && refund.provider_refund_id === null)
        throw new Error('refund not yet accepted by the provider; retrying');
      // A refused attempt of an owed refund re-drives the owed-refund job where the failure is recorded
      // (recordRefundStatus), in the same transaction.
    },
    { transactional: false },
  );
}

/** Puts an order's owed-refund job back in the queue (after a refusal, or when reconciliation finds it stopped). */
export async function redriveOwedRefund(db: Executor, orderId: string, now: Date): Promise<boolean> {
  const key = `refund.oversold:${orderId}`;
  const inserted = await enqueue(db, {
    kind: 'refund.oversold',
    dedupeKey: key,
    payload: { orderId },
    maxAttempts: OWED_REFUND_MAX_ATTEMPTS,
  });
  if (inserted) return true;
  const res = await db
    .updateTable('jobs')
    .set({ status: 'queued', attempts: 0, run_at: now, locked_until: null, finished_at: null })
    .where('dedupe_key', '=', key)
    .where('status', 'in', ['done', 'dead'])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
