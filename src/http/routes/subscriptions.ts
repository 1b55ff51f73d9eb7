import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../core/context.js';
import { SettleError } from '../../core/errors.js';
import {
  advanceTestClock,
  cancelNow,
  memberStatus,
  memberView,
  portalUrl,
  refundInvoice,
  setCancelAtPeriodEnd,
} from '../../core/subscriptions/actions.js';
import { cancelMembershipBooking } from '../../core/subscriptions/bookings.js';
import {
  cancelSubscriptionCheckout,
  startSubscriptionCheckout,
  verifySubscription,
} from '../../core/subscriptions/checkout.js';
import { archivePlan, createPlan, listPlans, replacePlanPrice } from '../../core/subscriptions/plans.js';
import { getSubscription, refreshSubscription } from '../../core/subscriptions/sync.js';
import { PROVIDER_SUBSCRIPTION_STATUSES, type SubscriptionStatus } from '../../db/schema.js';
import { bearerToken, CURRENCY_SCHEMA, EMAIL_SCHEMA, requireAdmin, textSchema } from '../app.js';
import { clientScope, idempotencyDigest, withIdempotency } from '../idempotency.js';

const ID = { type: 'string', minLength: 3, maxLength: 64, pattern: '^[a-z]{3}_[a-z0-9]+$' } as const;
const idParams = { type: 'object', properties: { id: ID } } as const;
const SUBSCRIPTION_STATUSES = ['pending', 'checkout_expired', ...PROVIDER_SUBSCRIPTION_STATUSES];

/** The buyer's manage token travels in this header (never in a URL a server could log). */
export const MANAGE_TOKEN_HEADER = 'settle-manage-token';

export function manageToken(req: FastifyRequest): string | null {
  const v = req.headers[MANAGE_TOKEN_HEADER];
  return typeof v === 'string' && v !== '' ? v : null;
}

/**
 * Buyer-facing subscription routes: plans, checkout, verify, and the member's own actions, each authorized by the
 * manage token (header `Settle-Manage-Token`), never by the subscription id alone.
 */
export async function subscriptionRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const limit = (times: number) => ({
    rateLimit: { max: ctx.config.rateLimitPerMinute * times, timeWindow: 60_000 },
  });

  app.get('/api/plans', async () => {
    const plans = await listPlans(ctx, { includeArchived: false });
    const sellers = await ctx.db.selectFrom('sellers').select(['id', 'name']).execute();
    const listings = await ctx.db.selectFrom('listings').select(['id', 'title']).execute();
    return {
      plans: plans.map((p) => ({
        ...p,
        seller: { id: p.sellerId, name: sellers.find((s) => s.id === p.sellerId)?.name ?? null },
        listing:
          p.listingId === null
            ? null
            : { id: p.listingId, title: listings.find((l) => l.id === p.listingId)?.title ?? null },
      })),
    };
  });

  app.post<{ Body: { planId: string; email: string } }>(
    '/api/subscriptions/checkout',
    {
      config: limit(1),
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['planId', 'email'],
          properties: { planId: ID, email: EMAIL_SCHEMA },
        },
      },
    },
    async (req, reply) => {
      const started = await startSubscriptionCheckout(ctx, req.body);
      return reply.status(201).send(started);
    },
  );

  app.post<{ Body: { subscriptionId: string } }>(
    '/api/subscriptions/verify',
    {
      config: limit(10),
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['subscriptionId'],
          properties: { subscriptionId: ID },
        },
      },
    },
    async (req) => {
      const sub = await verifySubscription(ctx, req.body.subscriptionId);
      return { subscriptionId: sub.id, status: sub.status, cancelAtPeriodEnd: sub.cancel_at_period_end };
    },
  );

  // The buyer left the hosted checkout: ends it (and the pending subscription) so they can start again at once.
  app.post<{ Params: { id: string } }>(
    '/api/subscriptions/:id/checkout/cancel',
    { config: limit(1), schema: { params: idParams } },
    async (req) => {
      const sub = await cancelSubscriptionCheckout(ctx, req.params.id, manageToken(req));
      return { subscriptionId: sub.id, status: sub.status, cancelAtPeriodEnd: sub.cancel_at_period_end };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/subscriptions/:id',
    { config: limit(10), schema: { params: idParams } },
    async (req) => memberStatus(ctx, req.params.id, manageToken(req)),
  );
  app.post<{ Params: { id: string } }>(
    '/api/subscriptions/:id/cancel',
    { config: limit(1), schema: { params: idParams } },
    async (req) => setCancelAtPeriodEnd(ctx, req.params.id, manageToken(req), true),
  );
  app.post<{ Params: { id: string } }>(
    '/api/subscriptions/:id/resume',
    { config: limit(1), schema: { params: idParams } },
    async (req) => setCancelAtPeriodEnd(ctx, req.params.id, manageToken(req), false),
  );
  app.post<{ Params: { id: string } }>(
    '/api/subscriptions/:id/portal',
    { config: limit(1), schema: { params: idParams } },
    async (req) => portalUrl(ctx, req.params.id, manageToken(req)),
  );
  app.post<{ Params: { id: string } }>(
    '/api/bookings/:id/cancel',
    { config: limit(1), schema: { params: idParams } },
    async (req) => cancelMembershipBooking(ctx, { bookingId: req.params.id, token: manageToken(req) }),
  );
}

/** Operator subscription routes (plans, subscriptions, invoices); every route requires the operator token. */
export async function adminSubscriptionRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.addHook('onRequest', requireAdmin(ctx.config.adminToken));

  app.get('/api/admin/plans', async () => ({ plans: await listPlans(ctx, { includeArchived: true }) }));

  app.post<{
    Body: {
      sellerId: string;
      listingId?: string;
      name: string;
      interval: 'month' | 'year';
      unitAmount: number;
      currency?: string;
      trialDays?: number;
      includedBookings?: number;
    };
  }>(
    '/api/admin/plans',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sellerId', 'name', 'interval', 'unitAmount'],
          properties: {
            sellerId: ID,
            listingId: ID,
            name: textSchema(1, 200),
            interval: { type: 'string', enum: ['month', 'year'] },
            unitAmount: { type: 'integer', minimum: 1, maximum: 100000000000 },
            currency: CURRENCY_SCHEMA,
            trialDays: { type: 'integer', minimum: 0, maximum: 730 },
            includedBookings: { type: 'integer', minimum: 0, maximum: 10000 },
          },
        },
      },
    },
    async (req, reply) => reply.status(201).send(await createPlan(ctx, req.body)),
  );

  app.post<{ Params: { id: string }; Body: { unitAmount: number } }>(
    '/api/admin/plans/:id/prices',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['unitAmount'],
          properties: { unitAmount: { type: 'integer', minimum: 1, maximum: 100000000000 } },
        },
      },
    },
    async (req, reply) =>
      reply.status(201).send(await replacePlanPrice(ctx, req.params.id, req.body.unitAmount)),
  );

  app.post<{ Params: { id: string } }>(
    '/api/admin/plans/:id/archive',
    { schema: { params: idParams } },
    async (req) => archivePlan(ctx, req.params.id),
  );

  app.get<{ Querystring: { status?: SubscriptionStatus } }>(
    '/api/admin/subscriptions',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { status: { type: 'string', enum: SUBSCRIPTION_STATUSES } },
        },
      },
    },
    async (req) => {
      let q = ctx.db
        .selectFrom('subscriptions')
        .innerJoin('plans', 'plans.id', 'subscriptions.plan_id')
        .innerJoin('sellers', 'sellers.id', 'subscriptions.seller_id')
        .selectAll('subscriptions')
        .select(['plans.name as plan_name', 'sellers.name as seller_name'])
        .orderBy('subscriptions.created_at', 'desc')
        .limit(200);
      if (req.query.status !== undefined) q = q.where('subscriptions.status', '=', req.query.status);
      const rows = await q.execute();
      return {
        subscriptions: rows.map((s) => ({
          id: s.id,
          plan: { id: s.plan_id, name: s.plan_name },
          seller: { id: s.seller_id, name: s.seller_name },
          email: s.buyer_email,
          status: s.status,
          provider: s.provider,
          chargeType: s.charge_type,
          currency: s.currency,
          unitAmount: s.unit_amount,
          feeBps: s.fee_bps,
          cancelAtPeriodEnd: s.cancel_at_period_end,
          currentPeriodEnd: s.current_period_end,
          providerSubscriptionId: s.provider_subscription_id,
          createdAt: s.created_at,
        })),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/admin/subscriptions/:id',
    { schema: { params: idParams } },
    async (req) => {
      const sub = await getSubscription(ctx.db, req.params.id);
      return adminSubscription(ctx, sub);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/admin/subscriptions/:id/refresh',
    { schema: { params: idParams } },
    async (req) => adminSubscription(ctx, await refreshSubscription(ctx, req.params.id, 'operator')),
  );

  app.post<{ Params: { id: string }; Body: { prorate?: boolean } | null }>(
    '/api/admin/subscriptions/:id/cancel',
    {
      schema: {
        params: idParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { prorate: { type: 'boolean' } },
        },
      },
    },
    async (req) => {
      const r = await cancelNow(ctx, req.params.id, { prorate: req.body?.prorate === true });
      return {
        ...(await adminSubscription(ctx, r.subscription)),
        refund: r.refund === null ? null : refundView(r.refund),
      };
    },
  );

  // Test mode: move the subscription's provider test clock forward (renewals, dunning) — `days` from its frozen time.
  app.post<{ Params: { id: string }; Body: { days?: number; to?: string } }>(
    '/api/admin/subscriptions/:id/advance-clock',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            days: { type: 'integer', minimum: 1, maximum: 400 },
            to: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
    async (req) => {
      if (!ctx.config.subscriptions.stripeTestClocks)
        throw new SettleError(
          'validation_failed',
          'Test clocks are off (SETTLE_STRIPE_TEST_CLOCKS); nothing to advance.',
        );
      const sub = await getSubscription(ctx.db, req.params.id);
      const from = sub.current_period_end ?? sub.current_period_start ?? ctx.now();
      const to =
        req.body.to !== undefined
          ? new Date(req.body.to)
          : req.body.days !== undefined
            ? new Date((sub.current_period_start ?? from).getTime() + req.body.days * 86_400_000)
            : new Date(from.getTime() + 2 * 3_600_000);
      return adminSubscription(ctx, await advanceTestClock(ctx, sub.id, to));
    },
  );

  app.post<{ Params: { id: string }; Body: { amount?: number } | null }>(
    '/api/admin/subscription-periods/:id/refunds',
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
      const scope = clientScope(
        `POST /api/admin/subscription-periods/${req.params.id}/refunds`,
        bearerToken(req),
      );
      const result = await withIdempotency(
        ctx.db,
        { scope, key, body, policy: 'client-bound', now: ctx.now() },
        async () => {
          const refund = await refundInvoice(ctx, req.params.id, {
            ...(body.amount !== undefined ? { amount: body.amount } : {}),
            idempotencyKey:
              key !== undefined
                ? `op:${req.params.id}:${idempotencyDigest(scope, key)}`
                : `op:${req.params.id}:${req.id}`,
          });
          return { status: 201, body: refundView(refund) };
        },
      );
      return reply.status(result.status).send(result.body);
    },
  );
}

function refundView(r: import('../../db/schema.js').Refund) {
  return {
    refundId: r.id,
    periodId: r.period_id,
    amount: r.amount,
    currency: r.currency,
    status: r.status,
    reason: r.reason,
    providerRefundId: r.provider_refund_id,
    failureReason: r.failure_reason,
    createdAt: r.created_at,
  };
}

async function adminSubscription(ctx: AppContext, sub: import('../../db/schema.js').Subscription) {
  const [periods, events, refunds] = await Promise.all([
    ctx.db
      .selectFrom('subscription_periods')
      .selectAll()
      .where('subscription_id', '=', sub.id)
      .orderBy('period_start', 'desc')
      .execute(),
    ctx.db
      .selectFrom('subscription_events')
      .selectAll()
      .where('subscription_id', '=', sub.id)
      .orderBy('id', 'desc')
      .limit(100)
      .execute(),
    ctx.db
      .selectFrom('refunds')
      .innerJoin('subscription_periods', 'subscription_periods.id', 'refunds.period_id')
      .selectAll('refunds')
      .where('subscription_periods.subscription_id', '=', sub.id)
      .orderBy('refunds.created_at')
      .execute(),
  ]);
  return {
    ...(await memberView(ctx, sub)),
    provider: sub.provider,
    chargeType: sub.charge_type,
    providerAccountId: sub.provider_account_id,
    providerSubscriptionId: sub.provider_subscription_id,
    providerCustomerId: sub.provider_customer_id,
    feeBps: sub.fee_bps,
    pastDueSince: sub.past_due_since,
    testClocks: ctx.config.subscriptions.stripeTestClocks,
    periods: periods.map((p) => ({
      id: p.id,
      invoiceId: p.provider_invoice_id,
      billingReason: p.billing_reason,
      periodStart: p.period_start,
      periodEnd: p.period_end,
      amountPaid: p.amount_paid,
      applicationFee: p.application_fee,
      currency: p.currency,
      refundedAmount: p.refunded_amount,
      includedBookings: p.included_bookings,
      usedBookings: p.used_bookings,
      paymentId: p.provider_payment_id,
      paidAt: p.paid_at,
    })),
    events: events.map((e) => ({
      from: e.from_status,
      to: e.to_status,
      note: e.note,
      via: e.via,
      at: e.created_at,
    })),
    refunds: refunds.map(refundView),
  };
}
