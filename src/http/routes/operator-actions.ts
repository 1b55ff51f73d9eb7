import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { AppContext } from '../../core/context.js';
import { decideReview } from '../../core/confirm-payment.js';
import { getOrder } from '../../core/orders.js';
import { requestRefund } from '../../core/refunds.js';
import { requireAdmin, textSchema } from '../app.js';

const ID = { type: 'string', minLength: 3, maxLength: 64, pattern: '^[a-z]{3}_[a-z0-9]+$' } as const;

/**
 * Operator decisions and the attention list: what needs a person. Every route requires the operator token
 * (checked before the body is parsed).
 */
export async function operatorActionRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.addHook('onRequest', requireAdmin(ctx.config.adminToken));

  // Closing a review (docs/api.md): accept the payment as charged, refund what was charged, or close an order
  // on which nothing was charged.
  app.post<{ Params: { id: string }; Body: { decision: 'accept' | 'refund' | 'close'; note?: string } }>(
    '/api/admin/orders/:id/review',
    {
      schema: {
        params: { type: 'object', properties: { id: ID } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['decision'],
          properties: {
            decision: { type: 'string', enum: ['accept', 'refund', 'close'] },
            note: textSchema(1, 500, { multiline: true }),
          },
        },
      },
    },
    async (req, reply) => {
      const { decision, note } = req.body;
      if (decision === 'refund') {
        const order = await getOrder(ctx.db, req.params.id);
        if (order.status !== 'needs_review') {
          return reply.status(409).send({
            error: {
              code: 'review_not_open',
              message: `Order is ${order.status}, not waiting for a review decision.`,
            },
          });
        }
        // One review refund per order: a repeated click returns the same refund.
        const refund = await requestRefund(ctx, {
          orderId: order.id,
          reason: 'review',
          idempotencyKey: `review:${order.id}`,
        });
        ctx.queue.nudge();
        return reply.status(201).send({
          orderId: order.id,
          decision,
          refund: { refundId: refund.id, amount: refund.amount, status: refund.status },
        });
      }
      const r = await decideReview(ctx.db, req.params.id, decision, {
        ...(note !== undefined ? { note } : {}),
        now: ctx.now(),
      });
      ctx.queue.nudge();
      return reply.status(200).send({ orderId: r.orderId, decision, status: r.status });
    },
  );

  // What needs a person: reviews, owed refunds that keep failing, refunds the provider refused, dead jobs and
  // webhook events whose processing failed.
  app.get('/api/admin/attention', async () => {
    const [reviews, owed, refused, deadJobs, failedEvents] = await Promise.all([
      ctx.db
        .selectFrom('orders')
        .select([
          'id',
          'review_reason',
          'total',
          'charged_amount',
          'refunded_amount',
          'currency',
          'updated_at',
        ])
        .where('status', '=', 'needs_review')
        .orderBy('updated_at')
        .limit(200)
        .execute(),
      ctx.db
        .selectFrom('orders')
        .select([
          'id',
          'currency',
          'refunded_amount',
          sql<number>`coalesce(charged_amount, total)`.as('charged'),
          sql<number>`(select count(*)::int from refunds r where r.order_id = orders.id and r.status = 'failed')`.as(
            'failed_attempts',
          ),
          sql<
            string | null
          >`(select last_error from jobs j where j.dedupe_key = 'refund.oversold:' || orders.id)`.as(
            'last_error',
          ),
        ])
        .where('status', '=', 'paid_oversold')
        .where(
          sql<boolean>`(refunded_amount < coalesce(charged_amount, total) or exists (select 1 from refunds r where r.order_id = orders.id and r.status = 'failed'))`,
        )
        .orderBy('updated_at')
        .limit(200)
        .execute(),
      // Orders' refunds only (the inner join): a subscription invoice's refund has no order_id.
      ctx.db
        .selectFrom('refunds')
        .innerJoin('orders', 'orders.id', 'refunds.order_id')
        .select([
          'refunds.id',
          'refunds.order_id',
          'refunds.amount',
          'refunds.currency',
          'refunds.reason',
          'refunds.failure_reason',
          'refunds.updated_at',
        ])
        .$narrowType<{ order_id: string }>()
        .where('refunds.status', '=', 'failed')
        .where('orders.status', '<>', 'refunded')
        .orderBy('refunds.updated_at', 'desc')
        .limit(200)
        .execute(),
      ctx.db
        .selectFrom('jobs')
        .select(['id', 'kind', 'attempts', 'last_error', 'finished_at'])
        .where('status', '=', 'dead')
        .orderBy('id', 'desc')
        .limit(200)
        .execute(),
      ctx.db
        .selectFrom('webhook_events')
        .select(['id', 'event_id', 'type', 'attempts', 'last_error', 'received_at'])
        .where('status', '=', 'failed')
        .orderBy('id', 'desc')
        .limit(200)
        .execute(),
    ]);
    return {
      reviews: reviews.map((o) => ({
        orderId: o.id,
        reason: o.review_reason,
        total: o.total,
        charged: o.charged_amount,
        refunded: o.refunded_amount,
        currency: o.currency,
        since: o.updated_at,
      })),
      owedRefunds: owed.map((o) => ({
        orderId: o.id,
        owed: o.charged - o.refunded_amount,
        currency: o.currency,
        failedAttempts: o.failed_attempts,
        lastError: o.last_error,
      })),
      refusedRefunds: refused.map((r) => ({
        refundId: r.id,
        orderId: r.order_id,
        amount: r.amount,
        currency: r.currency,
        reason: r.reason,
        failureReason: r.failure_reason,
        at: r.updated_at,
      })),
      deadJobs: deadJobs.map((j) => ({
        id: j.id,
        kind: j.kind,
        attempts: j.attempts,
        lastError: j.last_error,
        at: j.finished_at,
      })),
      failedWebhookEvents: failedEvents.map((e) => ({
        id: e.id,
        eventId: e.event_id,
        type: e.type,
        attempts: e.attempts,
        lastError: e.last_error,
        receivedAt: e.received_at,
      })),
    };
  });
}
