import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../core/context.js';
import { createListing, createSlot } from '../../core/catalog.js';
import { replayInboxEvent } from '../../core/inbox.js';
import { offerPromotionCode } from '../../core/promotions.js';
import { TRANSITIONS } from '../../core/order-status.js';
import { getOrder } from '../../core/orders.js';
import { requestRefund } from '../../core/refunds.js';
import {
  adminSeller,
  connectSeller,
  getSellerWithAccounts,
  onboardingLink,
  onboardSeller,
  refreshSeller,
} from '../../core/sellers.js';
import { PROVIDER_IDS, type ProviderId } from '../../db/schema.js';
import type { InboxStatus, OrderStatus } from '../../db/schema.js';
import { bearerToken, CURRENCY_SCHEMA, EMAIL_SCHEMA, requireAdmin, textSchema } from '../app.js';
import { clientScope, idempotencyDigest, withIdempotency } from '../idempotency.js';

const ID = { type: 'string', minLength: 3, maxLength: 64, pattern: '^[a-z]{3}_[a-z0-9]+$' } as const;
const idParams = { type: 'object', properties: { id: ID } } as const;

/** Operator API; every route requires `Authorization: Bearer $SETTLE_ADMIN_TOKEN`. */
export async function adminRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // onRequest: unauthenticated callers are refused before their body is parsed or validated.
  app.addHook('onRequest', requireAdmin(ctx.config.adminToken));

  app.post<{
    Body: {
      name: string;
      email: string;
      chargeType: 'direct' | 'destination';
      feeBps?: number;
      feeFixed?: number;
    };
  }>(
    '/api/sellers',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'email', 'chargeType'],
          properties: {
            name: textSchema(1, 200),
            email: EMAIL_SCHEMA,
            chargeType: { type: 'string', enum: ['direct', 'destination'] },
            feeBps: { type: 'integer', minimum: 0, maximum: 10000 },
            feeFixed: { type: 'integer', minimum: 0, maximum: 1000000000 },
          },
        },
      },
    },
    async (req, reply) => reply.status(201).send(adminSeller(await onboardSeller(ctx, req.body))),
  );

  app.get('/api/admin/sellers', async () => {
    const rows = await ctx.db.selectFrom('sellers').select('id').orderBy('created_at').execute();
    const sellers = [];
    for (const r of rows) sellers.push(adminSeller(await getSellerWithAccounts(ctx, r.id)));
    return { sellers };
  });

  // Connects a seller to a provider (creating its account there when needed): the answer is the onboarding link.
  app.post<{ Params: { id: string; provider: ProviderId } }>(
    '/api/sellers/:id/providers/:provider',
    {
      schema: {
        params: {
          type: 'object',
          required: ['id', 'provider'],
          properties: { id: ID, provider: { type: 'string', enum: PROVIDER_IDS } },
        },
      },
    },
    async (req) => connectSeller(ctx, req.params.id, req.params.provider),
  );

  // Each provider's state on the seller (refreshed from the providers).
  app.get<{ Params: { id: string } }>(
    '/api/admin/sellers/:id',
    { schema: { params: idParams } },
    async (req) => adminSeller(await refreshSeller(ctx, req.params.id)),
  );

  app.post<{ Params: { id: string } }>(
    '/api/sellers/:id/onboarding-link',
    { schema: { params: idParams } },
    async (req) => onboardingLink(ctx, req.params.id),
  );

  app.post<{
    Body: { sellerId: string; title: string; description?: string; currency: string; unitAmount: number };
  }>(
    '/api/listings',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sellerId', 'title', 'currency', 'unitAmount'],
          properties: {
            sellerId: ID,
            title: textSchema(1, 200),
            description: textSchema(0, 2000, { multiline: true }),
            currency: CURRENCY_SCHEMA,
            unitAmount: { type: 'integer', minimum: 0, maximum: 100000000000 },
          },
        },
      },
    },
    async (req, reply) => {
      const l = await createListing(ctx.db, req.body);
      return reply.status(201).send({
        id: l.id,
        sellerId: l.seller_id,
        title: l.title,
        description: l.description,
        currency: l.currency,
        unitAmount: l.unit_amount,
      });
    },
  );

  app.post<{ Params: { id: string }; Body: { startsAt: string; capacity: number } }>(
    '/api/listings/:id/slots',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['startsAt', 'capacity'],
          properties: {
            startsAt: textSchema(10, 40),
            capacity: { type: 'integer', minimum: 0, maximum: 100000 },
          },
        },
      },
    },
    async (req, reply) => {
      const s = await createSlot(ctx.db, {
        listingId: req.params.id,
        startsAt: new Date(req.body.startsAt),
        capacity: req.body.capacity,
      });
      return reply.status(201).send({
        id: s.id,
        listingId: s.listing_id,
        startsAt: s.starts_at,
        capacity: s.capacity,
        sold: s.sold,
      });
    },
  );

  app.get<{ Querystring: { status?: OrderStatus; limit?: string } }>(
    '/api/admin/orders',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: Object.keys(TRANSITIONS) },
            limit: { type: 'string', pattern: '^(?:[1-9][0-9]{0,2})$' },
          },
        },
      },
    },
    async (req) => {
      const limit = Math.min(Number(req.query.limit ?? 100), 500);
      let q = ctx.db
        .selectFrom('orders')
        .innerJoin('listings', 'listings.id', 'orders.listing_id')
        .innerJoin('sellers', 'sellers.id', 'orders.seller_id')
        .selectAll('orders')
        .select(['listings.title', 'sellers.name as seller_name'])
        .orderBy('orders.created_at', 'desc')
        .limit(limit);
      if (req.query.status) q = q.where('orders.status', '=', req.query.status);
      const rows = await q.execute();
      return { orders: rows.map(adminOrder) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/admin/orders/:id',
    { schema: { params: idParams } },
    async (req) => {
      const o = await getOrder(ctx.db, req.params.id);
      const names = await ctx.db
        .selectFrom('listings')
        .innerJoin('sellers', 'sellers.id', 'listings.seller_id')
        .select(['listings.title', 'sellers.name as seller_name'])
        .where('listings.id', '=', o.listing_id)
        .executeTakeFirstOrThrow();
      const [history, payments, refunds, disputes] = await Promise.all([
        ctx.db.selectFrom('order_events').selectAll().where('order_id', '=', o.id).orderBy('id').execute(),
        ctx.db.selectFrom('payments').selectAll().where('order_id', '=', o.id).execute(),
        ctx.db.selectFrom('refunds').selectAll().where('order_id', '=', o.id).orderBy('created_at').execute(),
        ctx.db.selectFrom('disputes').selectAll().where('order_id', '=', o.id).execute(),
      ]);
      return {
        ...adminOrder({ ...o, ...names }),
        history: history.map((h) => ({
          from: h.from_status,
          to: h.to_status,
          note: h.note,
          via: h.via,
          at: h.created_at,
        })),
        payments: payments.map((p) => ({
          id: p.id,
          providerPaymentId: p.provider_payment_id,
          amount: p.amount,
          currency: p.currency,
          applicationFee: p.application_fee,
          status: p.status,
        })),
        refunds: refunds.map(adminRefund),
        disputes: disputes.map((d) => ({
          id: d.id,
          providerDisputeId: d.provider_dispute_id,
          amount: d.amount,
          status: d.status,
          outcome: d.outcome,
          reason: d.reason,
        })),
      };
    },
  );

  app.post<{
    Params: { id: string };
    Body: { amount?: number } | undefined;
    Headers: { 'idempotency-key'?: string };
  }>(
    '/api/admin/orders/:id/refunds',
    {
      schema: {
        params: idParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { amount: { type: 'integer', minimum: 1, maximum: 100000000000 } },
        },
      },
    },
    async (req, reply) => {
      const header = req.headers['idempotency-key'];
      const key = typeof header === 'string' ? header : undefined;
      const body = req.body ?? {};
      // The stored answer is bound to the operator token that made it: another token never replays it.
      const scope = clientScope(`POST /api/admin/orders/${req.params.id}/refunds`, bearerToken(req));
      const result = await withIdempotency(
        ctx.db,
        { scope, key, body, policy: 'client-bound', now: ctx.now() },
        async () => {
          const refund = await requestRefund(ctx, {
            orderId: req.params.id,
            ...(body.amount !== undefined ? { amount: body.amount } : {}),
            reason: 'requested_by_operator',
            // The refund intent is bound the same way (scope + key), so another token's key finds no refund
            // to return; without a client key every request is a new refund intent.
            idempotencyKey:
              key !== undefined
                ? `op:${req.params.id}:${idempotencyDigest(scope, key)}`
                : `op:${req.params.id}:${req.id}`,
          });
          return { status: 201, body: adminRefund(refund) };
        },
      );
      ctx.queue.nudge();
      return reply.status(result.status).send(result.body);
    },
  );

  app.post<{ Body: { code: string; percentOff?: number; amountOff?: number; currency?: string } }>(
    '/api/admin/promotion-codes',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['code'],
          properties: {
            code: { type: 'string', pattern: '^[A-Za-z0-9_-]{2,40}$' },
            percentOff: { type: 'number', exclusiveMinimum: 0, maximum: 100, multipleOf: 0.01 },
            amountOff: { type: 'integer', minimum: 1, maximum: 100000000000 },
            currency: CURRENCY_SCHEMA,
          },
          oneOf: [{ required: ['percentOff'] }, { required: ['amountOff', 'currency'] }],
        },
      },
    },
    async (req, reply) => {
      await offerPromotionCode(ctx, req.body);
      return reply.status(201).send({
        code: req.body.code.toUpperCase(),
        percentOff: req.body.percentOff ?? null,
        amountOff: req.body.amountOff ?? null,
        currency: req.body.currency ?? null,
      });
    },
  );

  app.get('/api/admin/promotion-codes', async () => {
    const rows = await ctx.db.selectFrom('promotion_codes').selectAll().orderBy('code').execute();
    return {
      promotionCodes: rows.map((p) => ({
        code: p.code,
        percentOff: p.percent_off === null ? null : Number(p.percent_off),
        amountOff: p.amount_off,
        currency: p.currency,
        active: p.active,
      })),
    };
  });

  app.get('/api/admin/disputes', async () => {
    const rows = await ctx.db
      .selectFrom('disputes')
      .selectAll()
      .orderBy('created_at', 'desc')
      .limit(200)
      .execute();
    return {
      disputes: rows.map((d) => ({
        id: d.id,
        orderId: d.order_id,
        providerDisputeId: d.provider_dispute_id,
        amount: d.amount,
        currency: d.currency,
        reason: d.reason,
        status: d.status,
        outcome: d.outcome,
        createdAt: d.created_at,
        updatedAt: d.updated_at,
      })),
    };
  });

  app.get<{ Querystring: { status?: InboxStatus } }>(
    '/api/admin/webhook-events',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['received', 'processed', 'failed', 'ignored'] } },
        },
      },
    },
    async (req) => {
      let q = ctx.db
        .selectFrom('webhook_events')
        .select([
          'id',
          'provider',
          'endpoint',
          'account',
          'event_id',
          'type',
          'status',
          'attempts',
          'last_error',
          'received_at',
          'processed_at',
        ])
        .orderBy('id', 'desc')
        .limit(200);
      if (req.query.status) q = q.where('status', '=', req.query.status);
      const rows = await q.execute();
      return {
        events: rows.map((r) => ({
          id: r.id,
          provider: r.provider,
          endpoint: r.endpoint,
          account: r.account || null,
          eventId: r.event_id,
          type: r.type,
          status: r.status,
          attempts: r.attempts,
          lastError: r.last_error,
          receivedAt: r.received_at,
          processedAt: r.processed_at,
        })),
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/admin/webhook-events/:id/replay',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]{1,18}$' } } },
      },
    },
    async (req) => {
      const id = Number(req.params.id);
      const status = await replayInboxEvent(ctx, id);
      ctx.queue.nudge();
      return { id, status };
    },
  );

  app.get<{ Querystring: { orderId?: string } }>(
    '/api/admin/notifications',
    { schema: { querystring: { type: 'object', properties: { orderId: ID } } } },
    async (req) => {
      let q = ctx.db.selectFrom('notifications').selectAll().orderBy('id', 'desc').limit(200);
      if (req.query.orderId) q = q.where('order_id', '=', req.query.orderId);
      const rows = await q.execute();
      return {
        notifications: rows.map((n) => ({
          id: n.id,
          orderId: n.order_id,
          kind: n.kind,
          recipient: n.recipient,
          subject: n.subject,
          body: n.body,
          createdAt: n.created_at,
        })),
      };
    },
  );
}

function adminOrder(
  o: import('../../db/schema.js').Order & { title: string | null; seller_name: string | null },
) {
  return {
    id: o.id,
    status: o.status,
    title: o.title,
    seller: o.seller_name,
    sellerId: o.seller_id,
    slotId: o.slot_id,
    quantity: o.quantity,
    currency: o.currency,
    subtotal: o.subtotal,
    discount: o.discount,
    total: o.total,
    platformFee: o.platform_fee,
    promotionCode: o.promotion_code,
    refundedAmount: o.refunded_amount,
    disputeStatus: o.dispute_status,
    provider: o.provider,
    chargeType: o.charge_type,
    confirmedVia: o.confirmed_via,
    reviewReason: o.review_reason,
    buyerEmail: o.buyer_email,
    providerSessionId: o.provider_session_id,
    providerPaymentId: o.provider_payment_id,
    createdAt: o.created_at,
    paidAt: o.paid_at,
    expiresAt: o.expires_at,
  };
}

function adminRefund(r: import('../../db/schema.js').Refund) {
  return {
    refundId: r.id,
    orderId: r.order_id,
    amount: r.amount,
    currency: r.currency,
    status: r.status,
    reason: r.reason,
    providerRefundId: r.provider_refund_id,
    failureReason: r.failure_reason,
    createdAt: r.created_at,
  };
}
