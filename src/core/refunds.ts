import { sql } from 'kysely';
import type { AppContext } from './context.js';
import type { Order, Refund } from '../db/schema.js';
import type { NormalizedEvent, VerifiedEvent } from './provider.js';
import { OWED_REFUND_MAX_ATTEMPTS } from './confirm-payment.js';
import { enqueue, type Executor, type QueueWorker } from '../queue/outbox.js';
import { crashPoint } from './crash-points.js';
import { SettleError } from './errors.js';
import { newId } from './ids.js';
import { assertProviderAmount } from './currency-rules.js';
import { currency, formatMoney } from './money.js';
import {
  loadPeriod,
  lockOwner,
  ownerOfRefund,
  refundTarget,
  sameOwner,
  type RefundOwner,
} from './refund-owner.js';

/**
 * Refunds of orders and of subscription invoices (periods, issue 13). The refunded total never exceeds what was
 * paid, even under concurrency: the amount is reserved on the owner's row (the order, or the subscription period)
 * with a conditional UPDATE (`refunded_amount + $amt <= total` / `<= amount_paid`) before the provider is called,
 * and released again only if the provider definitively refuses. The provider call carries `refund:<refundId>` as
 * its idempotency key, so a retry after a timeout can never refund twice.
 */

const REFUNDABLE = ['paid', 'paid_oversold', 'needs_review', 'refunded'] as const;

/** Why an order is refunded. */
export type OrderRefundReason = 'requested_by_operator' | 'oversold' | 'review';
/**
 * Why a subscription invoice (period) is refunded: by an operator, or the prorated remainder when an operator
 * cancels a subscription now.
 */
export type PeriodRefundReason = 'requested_by_operator' | 'subscription_canceled';
export type RefundReason = OrderRefundReason | PeriodRefundReason;

interface RefundRequestCommon {
  /** Minor units; omitted = the whole remaining amount. */
  amount?: number;
  /** One key per refund intent; a repeated request with the same key returns the same refund. */
  idempotencyKey: string;
}

/** An order's refund. */
export interface OrderRefundRequest extends RefundRequestCommon {
  orderId: string;
  periodId?: never;
  reason: OrderRefundReason;
}

/** A subscription invoice's refund: the period that invoice paid for. */
export interface PeriodRefundRequest extends RefundRequestCommon {
  periodId: string;
  orderId?: never;
  reason: PeriodRefundReason;
}

export type RefundRequest = OrderRefundRequest | PeriodRefundRequest;

/** The owner a request names (exactly one of orderId / periodId). */
function ownerOfRequest(req: RefundRequest): RefundOwner {
  const orderId = (req as { orderId?: unknown }).orderId;
  const periodId = (req as { periodId?: unknown }).periodId;
  if (typeof orderId === 'string' && periodId === undefined) return { kind: 'order', id: orderId };
  if (typeof periodId === 'string' && orderId === undefined) return { kind: 'period', id: periodId };
  throw new SettleError('validation_failed', 'A refund names exactly one order or one subscription period.');
}

type Reserved = { refund: Refund; fresh: boolean };

/** What can be refunded at most: what the provider actually charged (falls back to the total for old rows). */
export function chargedOf(order: Pick<Order, 'charged_amount' | 'total'>): number {
  return order.charged_amount ?? order.total;
}

export async function requestRefund(ctx: AppContext, req: RefundRequest): Promise<Refund> {
  const owner = ownerOfRequest(req);
  const reserved = await ctx.db
    .transaction()
    .execute(async (trx) =>
      owner.kind === 'order'
        ? reserveOrderRefund(ctx, trx, owner.id, req)
        : reservePeriodRefund(ctx, trx, owner.id, req),
    );
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

/** The refund already made with this key, if any (a key of another owner is refused). */
async function existingRefund(
  trx: Executor,
  owner: RefundOwner,
  idempotencyKey: string,
): Promise<Reserved | undefined> {
  const existing = await trx
    .selectFrom('refunds')
    .selectAll()
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
  if (existing === undefined) return undefined;
  if (!sameOwner(existing, owner)) {
    const other = ownerOfRefund(existing).kind;
    throw new SettleError(
      'idempotency_key_reused',
      other === owner.kind
        ? `This refund key belongs to another ${other === 'order' ? 'order' : 'subscription invoice'}.`
        : `This refund key belongs to ${other === 'order' ? 'an order' : 'a subscription invoice'}.`,
    );
  }
  return { refund: existing, fresh: false };
}

/** Reserves an order's refund (the order row locked, its refunded_amount raised) and queues its submission. */
async function reserveOrderRefund(
  ctx: AppContext,
  trx: Executor,
  orderId: string,
  req: RefundRequest,
): Promise<Reserved> {
  // The order row is locked first: concurrent requests for one order (same key or not) are serialized here,
  // so a repeated key finds the refund its twin created instead of failing on the unique index.
  const order = await trx
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', orderId)
    .forNoKeyUpdate()
    .executeTakeFirst();
  if (order === undefined) throw new SettleError('not_found', `Order ${orderId} does not exist.`);
  const existing = await existingRefund(trx, { kind: 'order', id: orderId }, req.idempotencyKey);
  if (existing !== undefined) return existing;
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
  const amount = refundAmount(req, remaining, 'This order is already fully refunded.');
  // An amount the provider cannot refund (KWD 0.505 at Stripe) is refused before anything is reserved.
  assertProviderAmount(order.provider, { amount, currency: currency(order.currency) }, 'The refund amount');
  // Never above what was actually charged, even with concurrent requests (the row is locked, and the
  // conditional UPDATE would refuse anyway).
  const res = await trx
    .updateTable('orders')
    .set((eb) => ({ refunded_amount: eb('refunded_amount', '+', amount), updated_at: ctx.now() }))
    .where('id', '=', orderId)
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
  return insertReservedRefund(ctx, trx, { orderId, periodId: null }, amount, order.currency, req);
}

/**
 * Reserves a subscription invoice's refund: the period row locked, its refunded_amount raised (never above
 * amount_paid), the refund row and its refund.submit job created, all in the caller's transaction.
 */
async function reservePeriodRefund(
  ctx: AppContext,
  trx: Executor,
  periodId: string,
  req: RefundRequest,
): Promise<Reserved> {
  // As for orders: the period row is locked first, so concurrent requests for one invoice are serialized.
  const locked = await lockOwner(trx, { kind: 'period', id: periodId });
  const period = locked ? await loadPeriod(trx, periodId) : undefined;
  if (period === undefined)
    throw new SettleError('not_found', `Subscription period ${periodId} does not exist.`);
  const existing = await existingRefund(trx, { kind: 'period', id: periodId }, req.idempotencyKey);
  if (existing !== undefined) return existing;
  if (period.provider_payment_id === null || period.amount_paid === 0) {
    throw new SettleError(
      'order_not_refundable',
      'Nothing was charged for this invoice (a trial or zero-amount invoice), so there is nothing to refund.',
    );
  }
  const remaining = period.amount_paid - period.refunded_amount;
  const amount = refundAmount(req, remaining, 'This invoice is already fully refunded.');
  assertProviderAmount(
    period.subscription_provider,
    { amount, currency: currency(period.currency) },
    'The refund amount',
  );
  const res = await trx
    .updateTable('subscription_periods')
    .set((eb) => ({ refunded_amount: eb('refunded_amount', '+', amount) }))
    .where('id', '=', periodId)
    .where(sql<boolean>`refunded_amount + ${amount} <= amount_paid`)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) {
    throw new SettleError(
      'refund_exceeds_payment',
      `Only ${remaining} (minor units) of this invoice is left to refund.`,
      { details: { remaining } },
    );
  }
  return insertReservedRefund(ctx, trx, { orderId: null, periodId }, amount, period.currency, req);
}

/** The amount asked for, or the whole remainder; a non-positive amount is refused. */
function refundAmount(req: RefundRequest, remaining: number, fullyRefunded: string): number {
  const amount = req.amount ?? remaining;
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    if (req.amount === undefined)
      throw new SettleError('refund_exceeds_payment', fullyRefunded, {
        details: { remaining: 0 },
      });
    throw new SettleError('validation_failed', 'amount must be a positive integer number of minor units.');
  }
  return amount;
}

/** The reserved refund's row and its durable refund.submit job. */
async function insertReservedRefund(
  ctx: AppContext,
  trx: Executor,
  owner: { orderId: string; periodId: null } | { orderId: null; periodId: string },
  amount: number,
  refundCurrency: string,
  req: RefundRequest,
): Promise<Reserved> {
  const refund = await trx
    .insertInto('refunds')
    .values({
      id: newId('ref'),
      order_id: owner.orderId,
      ...(owner.periodId !== null ? { period_id: owner.periodId } : {}),
      amount,
      currency: refundCurrency,
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
}

/** Sends a reserved refund to the provider (idempotent) and records the answer. */
export async function submitRefund(ctx: AppContext, refundId: string): Promise<Refund> {
  const refund = await ctx.db
    .selectFrom('refunds')
    .selectAll()
    .where('id', '=', refundId)
    .executeTakeFirstOrThrow();
  if (refund.status !== 'pending' || refund.provider_refund_id !== null) return refund;
  // The order's payment on the order's account, or the invoice's payment on its subscription's account.
  const target = await refundTarget(ctx.db, refund);
  try {
    const result = await ctx.providers.get(target.provider).refund({
      account: target.account,
      paymentId: target.paymentId,
      amount: refund.amount,
      currency: target.currency,
      idempotencyKey: `refund:${refund.id}`,
      orderId: target.reference,
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
 * amount (on the order or the subscription period); when an order's succeeded refunds cover its whole total, the
 * order becomes `refunded`. A succeeded refund queues the buyer's notice (`notify.refund` for an order,
 * `notify.subscription_refund` for a subscription invoice). Idempotent.
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
    // Serialize status changes per owner: lock the order (or period) row first, so the "all refunded?" sum below
    // sees every other committed refund of this order (concurrent refunds would otherwise each miss the others).
    let ownerQuery = trx.selectFrom('refunds').select(['order_id', 'period_id']);
    if (update.refundId) ownerQuery = ownerQuery.where('id', '=', update.refundId);
    else if (update.providerRefundId)
      ownerQuery = ownerQuery.where('provider_refund_id', '=', update.providerRefundId);
    else throw new Error('recordRefundStatus needs a refund id');
    const ownerRow = await ownerQuery.executeTakeFirst();
    if (ownerRow === undefined) throw new SettleError('not_found', 'refund not found');
    await lockOwner(trx, ownerOfRefund(ownerRow));
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
    const owner = ownerOfRefund(refund);
    if (owner.kind === 'period') {
      if (refund.status === 'pending' && status === 'failed') {
        // The provider refused: the reserved amount is released (the invoice can be refunded again).
        await trx
          .updateTable('subscription_periods')
          .set((eb) => ({ refunded_amount: eb('refunded_amount', '-', refund.amount) }))
          .where('id', '=', owner.id)
          .execute();
      }
      if (refund.status === 'pending' && status === 'succeeded') {
        await enqueue(trx, {
          kind: 'notify.subscription_refund',
          dedupeKey: `notify.subscription_refund:${refund.id}`,
          payload: { periodId: owner.id, refundId: refund.id },
        });
      }
      return updated;
    }
    const orderId = owner.id;
    if (refund.status === 'pending' && status === 'failed') {
      await trx
        .updateTable('orders')
        .set((eb) => ({ refunded_amount: eb('refunded_amount', '-', refund.amount), updated_at: ctx.now() }))
        .where('id', '=', orderId)
        .execute();
      // A refused attempt of an owed refund does not end what is owed: the owed-refund job runs again.
      if (refund.reason === 'oversold') await redriveOwedRefund(trx, orderId, ctx.now());
    }
    if (refund.status === 'pending' && status === 'succeeded') {
      const sum = await trx
        .selectFrom('refunds')
        .select(sql<number>`coalesce(sum(amount),0)::bigint`.as('s'))
        .where('order_id', '=', orderId)
        .where('status', '=', 'succeeded')
        .executeTakeFirstOrThrow();
      const order = await trx
        .selectFrom('orders')
        .selectAll()
        .where('id', '=', orderId)
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
        payload: { orderId, refundId: refund.id },
      });
    }
    return updated;
  });
}

type RefundEventData = Extract<NormalizedEvent, { kind: 'refund.updated' }>['refund'];

/**
 * Applies a provider's refund event (src/core/payment-events.ts): finds the refund by Settle's refund id (the
 * provider's metadata) or the provider's refund id, among refunds made through this provider, checks that the
 * event comes from the account that owns the refunded payment (the order's, or the subscription's for an invoice),
 * and records the status. A refund made outside Settle (dashboard) or on another account is ignored.
 */
export async function applyRefundEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  refund: RefundEventData,
  owningAccount: (o: Pick<Order, 'provider' | 'charge_type' | 'provider_account_id'>) => string | null,
): Promise<'processed' | 'ignored'> {
  const r = refund;
  const known = await findKnownRefund(ctx, ev, r);
  if (known === undefined) return 'ignored'; // a refund made outside Settle (dashboard): nothing to reconcile against
  // The refund lives on the account that owns the payment; an event from any other account is not about it.
  if ((ev.accountId ?? null) !== owningAccount(known)) {
    ctx.logger.warn(
      {
        eventId: ev.eventId,
        refundId: known.id,
        ...(known.period_id !== null ? { periodId: known.period_id } : { orderId: known.order_id }),
        account: ev.accountId,
      },
      'refund event from an account that does not own the refund; ignored',
    );
    return 'ignored';
  }
  await recordRefundStatus(ctx, {
    refundId: known.id,
    providerRefundId: r.providerRefundId,
    status: r.status,
  });
  ctx.queue.nudge();
  return 'processed';
}

/** The refund an event names, with the provider, charge type and account of the payment it refunds. */
async function findKnownRefund(
  ctx: AppContext,
  ev: VerifiedEvent,
  r: RefundEventData,
): Promise<
  | (Pick<Order, 'provider' | 'charge_type' | 'provider_account_id'> & {
      id: string;
      order_id: string | null;
      period_id: string | null;
    })
  | undefined
> {
  const order = await ctx.db
    .selectFrom('refunds')
    .innerJoin('orders', 'orders.id', 'refunds.order_id')
    .select([
      'refunds.id',
      'refunds.order_id',
      'refunds.period_id',
      'orders.provider',
      'orders.charge_type',
      'orders.provider_account_id',
    ])
    .where('orders.provider', '=', ev.provider)
    .where((eb) =>
      r.refundId
        ? eb('refunds.id', '=', r.refundId)
        : eb('refunds.provider_refund_id', '=', r.providerRefundId),
    )
    .executeTakeFirst();
  if (order !== undefined) return order;
  // A subscription invoice's refund: the payment lives where its subscription bills.
  return ctx.db
    .selectFrom('refunds')
    .innerJoin('subscription_periods', 'subscription_periods.id', 'refunds.period_id')
    .innerJoin('subscriptions', 'subscriptions.id', 'subscription_periods.subscription_id')
    .select([
      'refunds.id',
      'refunds.order_id',
      'refunds.period_id',
      'subscriptions.provider',
      'subscriptions.charge_type',
      'subscriptions.provider_account_id',
    ])
    .where('subscriptions.provider', '=', ev.provider)
    .where((eb) =>
      r.refundId
        ? eb('refunds.id', '=', r.refundId)
        : eb('refunds.provider_refund_id', '=', r.providerRefundId),
    )
    .executeTakeFirst();
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
