import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { AppContext } from '../../core/context.js';
import { cancelCheckout, startCheckout, verifyCheckout } from '../../core/checkout.js';
import { getAvailability, heldBySlot } from '../../core/inventory.js';
import { getOrder } from '../../core/orders.js';
import { SettleError } from '../../core/errors.js';
import { bookWithMembership } from '../../core/subscriptions/bookings.js';
import { manageToken } from './subscriptions.js';
import { accountTakesCurrency, isReady, publicSeller, refreshSeller } from '../../core/sellers.js';
import { chargeableThrough } from '../../core/currency-rules.js';
import { currency } from '../../core/money.js';
import { EMAIL_SCHEMA, textSchema } from '../app.js';
import { idempotencyDigest, withIdempotency } from '../idempotency.js';
import { PROVIDER_IDS, type ProviderId } from '../../db/schema.js';

const ID = { type: 'string', minLength: 3, maxLength: 64, pattern: '^[a-z]{3}_[a-z0-9]+$' } as const;

/** Buyer-facing API: catalogue, availability, checkout, verify, cancel, order status. */
export async function publicRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // Per client IP and minute (SETTLE_RATE_LIMIT_PER_MINUTE); ignored when the limiter is off.
  const limit = (times: number) => ({
    rateLimit: { max: ctx.config.rateLimitPerMinute * times, timeWindow: 60_000 },
  });

  app.get('/healthz', async (_req, reply) => {
    try {
      await sql`select 1`.execute(ctx.db);
      return { status: 'ok', database: ctx.dbKind };
    } catch {
      return reply.status(503).send({ status: 'unavailable', database: ctx.dbKind });
    }
  });

  app.get('/api/listings', async () => {
    const now = ctx.now();
    const listings = await ctx.db
      .selectFrom('listings')
      .innerJoin('sellers', 'sellers.id', 'listings.seller_id')
      .select([
        'listings.id',
        'listings.title',
        'listings.description',
        'listings.currency',
        'listings.unit_amount',
        'sellers.id as seller_id',
        'sellers.name as seller_name',
      ])
      .orderBy('listings.created_at')
      .execute();
    // Per seller, the configured providers it has an account on, in the platform's order of preference.
    const accounts = await ctx.db
      .selectFrom('seller_accounts')
      .select([
        'seller_id',
        'provider',
        'provider_account_id',
        'charge_type',
        'charges_enabled',
        'capabilities',
      ])
      .execute();
    const sellerProviders = (sellerId: string) =>
      ctx.providers.ids.flatMap((id) =>
        accounts.filter((a) => a.seller_id === sellerId && a.provider === id),
      );
    const slots = await ctx.db
      .selectFrom('slots')
      .select(['id', 'listing_id', 'starts_at', 'capacity', 'sold'])
      .where('starts_at', '>', now)
      .orderBy('starts_at')
      .execute();
    const held = await heldBySlot(
      ctx.db,
      slots.map((s) => s.id),
      now,
    );
    return {
      listings: listings.map((l) => ({
        id: l.id,
        title: l.title,
        description: l.description,
        currency: l.currency,
        unitAmount: l.unit_amount,
        seller: ((mine) => ({
          id: l.seller_id,
          name: l.seller_name,
          chargeType: mine[0]?.charge_type ?? null,
          ready: mine.some(isReady),
          // The providers a buyer can pay this listing through (the first is the default).
          providers: mine
            .filter(
              (a) =>
                isReady(a) &&
                accountTakesCurrency(a, l.currency) &&
                chargeableThrough(a.provider, { amount: l.unit_amount, currency: currency(l.currency) }),
            )
            .map((a) => a.provider),
        }))(sellerProviders(l.seller_id)),
        slots: slots
          .filter((s) => s.listing_id === l.id)
          .map((s) => ({
            id: s.id,
            startsAt: s.starts_at,
            capacity: s.capacity,
            sold: s.sold,
            held: held.get(s.id) ?? 0,
            available: Math.max(0, s.capacity - s.sold - (held.get(s.id) ?? 0)),
          })),
      })),
    };
  });

  app.get<{ Params: { id: string } }>(
    '/api/slots/:id',
    { schema: { params: { type: 'object', properties: { id: ID } } } },
    async (req) => {
      const a = await getAvailability(ctx.db, req.params.id, ctx.now());
      return a;
    },
  );

  app.post<{
    Body: {
      slotId: string;
      quantity: number;
      promotionCode?: string;
      email?: string;
      provider?: ProviderId;
      /** Book with a membership instead of paying (the manage token in the Settle-Manage-Token header). */
      subscriptionId?: string;
    };
    Headers: { 'idempotency-key'?: string };
  }>(
    '/api/checkout',
    {
      config: limit(1),
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['slotId', 'quantity'],
          properties: {
            slotId: ID,
            quantity: { type: 'integer', minimum: 1, maximum: 100 },
            promotionCode: textSchema(1, 40),
            email: EMAIL_SCHEMA,
            provider: { type: 'string', enum: PROVIDER_IDS },
            subscriptionId: ID,
          },
        },
      },
    },
    async (req, reply) => {
      const { subscriptionId } = req.body;
      if (
        subscriptionId !== undefined &&
        (req.body.promotionCode !== undefined || req.body.provider !== undefined)
      )
        throw new SettleError(
          'validation_failed',
          'A booking with a membership takes no promotionCode or provider: nothing is paid.',
        );
      const header = req.headers['idempotency-key'];
      const key = typeof header === 'string' ? header : undefined;
      // Buyers are anonymous: the scope is the route, and only unguessable keys are accepted.
      const scope = 'POST /api/checkout';
      const result = await withIdempotency(
        ctx.db,
        { scope, key, body: req.body, policy: 'unguessable', now: ctx.now() },
        async () => {
          if (subscriptionId !== undefined) {
            const booked = await bookWithMembership(ctx, {
              slotId: req.body.slotId,
              quantity: req.body.quantity,
              subscriptionId,
              token: manageToken(req),
            });
            return { status: 201, body: booked };
          }
          const started = await startCheckout(ctx, {
            ...req.body,
            // A re-run of the same request (same scope and key) resumes the order it already created.
            checkoutKey: key !== undefined ? idempotencyDigest(scope, key) : null,
          });
          return {
            status: 201,
            body: {
              orderId: started.orderId,
              checkoutUrl: started.checkoutUrl,
              expiresAt: started.expiresAt,
              status: started.status,
            },
          };
        },
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.status(result.status).send(result.body);
    },
  );

  const orderBody = {
    body: { type: 'object', additionalProperties: false, required: ['orderId'], properties: { orderId: ID } },
  } as const;

  app.post<{ Body: { orderId: string } }>(
    '/api/checkout/verify',
    { schema: orderBody, config: limit(10) },
    async (req) => verifyCheckout(ctx, req.body.orderId),
  );
  app.post<{ Body: { orderId: string } }>(
    '/api/checkout/cancel',
    { schema: orderBody, config: limit(1) },
    async (req) => cancelCheckout(ctx, req.body.orderId),
  );

  app.get<{ Params: { id: string } }>(
    '/api/orders/:id',
    { schema: { params: { type: 'object', properties: { id: ID } } }, config: limit(10) },
    async (req) => {
      const o = await getOrder(ctx.db, req.params.id);
      const oversold =
        (
          await ctx.db
            .selectFrom('order_events')
            .select('id')
            .where('order_id', '=', o.id)
            .where('to_status', '=', 'paid_oversold')
            .execute()
        ).length > 0;
      const extra = await ctx.db
        .selectFrom('listings')
        .innerJoin('slots', 'slots.listing_id', 'listings.id')
        .innerJoin('sellers', 'sellers.id', 'listings.seller_id')
        .select(['listings.title', 'slots.starts_at', 'sellers.name'])
        .where('slots.id', '=', o.slot_id)
        .executeTakeFirstOrThrow();
      return {
        id: o.id,
        status: o.status,
        quantity: o.quantity,
        currency: o.currency,
        unitAmount: o.unit_amount,
        subtotal: o.subtotal,
        discount: o.discount,
        total: o.total,
        promotionCode: o.promotion_code,
        refundedAmount: o.refunded_amount,
        disputeStatus: o.dispute_status,
        // true when the buyer paid after the place sold out (such an order is refunded automatically)
        oversold,
        listing: { id: o.listing_id, title: extra.title },
        slot: { id: o.slot_id, startsAt: extra.starts_at },
        seller: { name: extra.name },
        createdAt: o.created_at,
        paidAt: o.paid_at,
        expiresAt: o.expires_at,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/sellers/:id',
    { schema: { params: { type: 'object', properties: { id: ID } } }, config: limit(1) },
    async (req) => {
      const s = await refreshSeller(ctx, req.params.id);
      return publicSeller(s);
    },
  );
}
