import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { owningAccount } from '../../src/core/payment-events.js';
import type { VerifiedEvent } from '../../src/core/provider.js';
import { applyRefundEvent, requestRefund } from '../../src/core/refunds.js';
import { SettleError } from '../../src/core/errors.js';
import { newId } from '../../src/core/ids.js';
import type { ChargeType } from '../../src/db/schema.js';
import { BACKENDS } from '../helpers/db.js';
import {
  checkout,
  order,
  setupMarket,
  startHarness,
  type Harness,
  type MarketSetup,
} from '../helpers/settle.js';

/**
 * Refunds of subscription invoices (periods, issue 13) through the order refund path: the same reservation on the
 * period row, the same idempotency, the provider call on the subscription's account, and the refund webhook.
 * The period is written directly and points at a real PaymentIntent paid through the Stripe emulator.
 */
describe.each(BACKENDS)('subscription invoice refunds (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  interface PaidPeriod {
    m: MarketSetup;
    periodId: string;
    paymentId: string;
    /** Stripe request options for the account the payment lives on. */
    on: { stripeAccount?: string };
  }

  /** A paid checkout (a real PaymentIntent) and a subscription period whose invoice that payment paid. */
  async function paidPeriod(chargeType: ChargeType, amount = 10_000): Promise<PaidPeriod> {
    const m = await setupMarket(h, { chargeType, unitAmount: amount, feeBps: 1000 });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    const o = await order(h, c.orderId);
    expect(o.status).toBe('paid');
    const paymentId = String(o['providerPaymentId']);
    const periodId = await insertPeriod(m, chargeType, { amountPaid: amount, paymentId });
    return { m, periodId, paymentId, on: chargeType === 'direct' ? { stripeAccount: m.accountId } : {} };
  }

  async function insertPeriod(
    m: MarketSetup,
    chargeType: ChargeType,
    p: { amountPaid: number; paymentId: string | null },
  ): Promise<string> {
    const db = h.settle.ctx.db;
    const now = new Date();
    const planId = newId('pln');
    const priceId = newId('ppr');
    const subscriptionId = newId('mem');
    const periodId = newId('per');
    await db
      .insertInto('plans')
      .values({
        id: planId,
        seller_id: m.sellerId,
        listing_id: m.listingId,
        name: 'Studio membership',
        interval: 'month',
        updated_at: now,
      })
      .execute();
    await db
      .insertInto('plan_prices')
      .values({ id: priceId, plan_id: planId, currency: 'usd', unit_amount: 10_000 })
      .execute();
    await db
      .insertInto('subscriptions')
      .values({
        id: subscriptionId,
        plan_id: planId,
        plan_price_id: priceId,
        seller_id: m.sellerId,
        buyer_email: 'member@example.test',
        status: 'active',
        provider: 'stripe',
        charge_type: chargeType,
        provider_account_id: m.accountId,
        currency: 'usd',
        unit_amount: 10_000,
        fee_bps: 1000,
        included_bookings: 0,
        provider_session_id: null,
        checkout_url: null,
        checkout_expires_at: null,
        provider_subscription_id: `sub_${randomBytes(8).toString('hex')}`,
        provider_customer_id: null,
        current_period_start: now,
        current_period_end: new Date(now.getTime() + 30 * 86_400_000),
        trial_end: null,
        past_due_since: null,
        ended_at: null,
        manage_token_hash: randomBytes(32).toString('hex'),
        checkout_key: null,
        updated_at: now,
      })
      .execute();
    await db
      .insertInto('subscription_periods')
      .values({
        id: periodId,
        subscription_id: subscriptionId,
        provider: 'stripe',
        provider_invoice_id: `in_${randomBytes(8).toString('hex')}`,
        billing_reason: 'subscription_create',
        period_start: now,
        period_end: new Date(now.getTime() + 30 * 86_400_000),
        amount_paid: p.amountPaid,
        currency: 'usd',
        application_fee: Math.round(p.amountPaid / 10),
        provider_payment_id: p.paymentId,
        included_bookings: 0,
        paid_at: now,
      })
      .execute();
    return periodId;
  }

  const period = (id: string) =>
    h.settle.ctx.db
      .selectFrom('subscription_periods')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  const refundsOf = (periodId: string) =>
    h.settle.ctx.db
      .selectFrom('refunds')
      .selectAll()
      .where('period_id', '=', periodId)
      .orderBy('created_at')
      .execute();
  const refundPosts = () =>
    h.settle.emulator!.requests.filter((q) => q.method === 'POST' && q.path === '/v1/refunds');
  const refused = async (p: Promise<unknown>): Promise<SettleError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SettleError);
    return err as SettleError;
  };

  for (const chargeType of ['direct', 'destination'] as const) {
    it(`${chargeType}: a partial then the remaining refund; refunded_amount is their sum, nothing more is left`, async () => {
      h = await startHarness(backend);
      const { m, periodId, paymentId, on } = await paidPeriod(chargeType);
      const part = await requestRefund(h.settle.ctx, {
        periodId,
        amount: 3000,
        reason: 'requested_by_operator',
        idempotencyKey: `t:${periodId}:1`,
      });
      expect(part).toMatchObject({ amount: 3000, status: 'succeeded', period_id: periodId, order_id: null });
      const rest = await requestRefund(h.settle.ctx, {
        periodId,
        reason: 'subscription_canceled',
        idempotencyKey: `t:${periodId}:2`,
      });
      expect(rest).toMatchObject({ amount: 7000, status: 'succeeded', reason: 'subscription_canceled' });
      await h.settleDown();
      expect((await period(periodId)).refunded_amount).toBe(10_000);
      expect((await refundsOf(periodId)).map((r) => [r.amount, r.status])).toEqual([
        [3000, 'succeeded'],
        [7000, 'succeeded'],
      ]);
      // At the provider: the subscription's payment, on the subscription's account, keyed by the refund id.
      const posts = refundPosts();
      expect(posts.map((q) => q.idempotencyKey)).toEqual([`refund:${part.id}`, `refund:${rest.id}`]);
      expect(posts.every((q) => q.account === (chargeType === 'direct' ? m.accountId : null))).toBe(true);
      const intent = await h.stripe.paymentIntents.retrieve(paymentId, {}, on);
      const charge = await h.stripe.charges.retrieve(String(intent.latest_charge), {}, on);
      expect(charge.amount_refunded).toBe(10_000);
      const atStripe = await h.stripe.refunds.list({ limit: 10 }, on);
      expect(atStripe.data.map((r) => r.metadata)).toEqual(
        expect.arrayContaining([{ orderId: periodId, refundId: part.id }]),
      );
      // The buyer's notice is queued once per refund (its handler is the subscriptions module's).
      const notices = await h.settle.ctx.db
        .selectFrom('jobs')
        .select(['dedupe_key', 'payload'])
        .where('kind', '=', 'notify.subscription_refund')
        .orderBy('id')
        .execute();
      expect(notices).toEqual([
        {
          dedupe_key: `notify.subscription_refund:${part.id}`,
          payload: { periodId, refundId: part.id },
        },
        {
          dedupe_key: `notify.subscription_refund:${rest.id}`,
          payload: { periodId, refundId: rest.id },
        },
      ]);
      // No order notice, no order touched by a period's refund.
      expect(
        await h.settle.ctx.db.selectFrom('jobs').select('id').where('kind', '=', 'notify.refund').execute(),
      ).toEqual([]);
      // The refund webhooks (refund.created/updated) were matched to the period's refunds and processed.
      const events = await h.settle.ctx.db
        .selectFrom('webhook_events')
        .select(['type', 'status'])
        .where('type', 'in', ['refund.created', 'refund.updated'])
        .execute();
      expect(events.length).toBeGreaterThanOrEqual(4);
      expect(events.every((e) => e.status === 'processed')).toBe(true);
      const over = await refused(
        requestRefund(h.settle.ctx, {
          periodId,
          amount: 1,
          reason: 'requested_by_operator',
          idempotencyKey: `t:${periodId}:3`,
        }),
      );
      expect(over.code).toBe('refund_exceeds_payment');
      const none = await refused(
        requestRefund(h.settle.ctx, {
          periodId,
          reason: 'requested_by_operator',
          idempotencyKey: `t:${periodId}:4`,
        }),
      );
      expect(none).toMatchObject({ code: 'refund_exceeds_payment', httpStatus: 409 });
    });
  }

  it('a refund above what is left is refused with 409 and nothing reserved', async () => {
    h = await startHarness(backend);
    const { periodId } = await paidPeriod('destination');
    await requestRefund(h.settle.ctx, {
      periodId,
      amount: 4000,
      reason: 'requested_by_operator',
      idempotencyKey: 'first',
    });
    const jobsBefore = await h.settle.ctx.db.selectFrom('jobs').select('id').execute();
    const err = await refused(
      requestRefund(h.settle.ctx, {
        periodId,
        amount: 6001,
        reason: 'requested_by_operator',
        idempotencyKey: 'too-much',
      }),
    );
    expect(err).toMatchObject({ code: 'refund_exceeds_payment', httpStatus: 409 });
    expect(err.details).toEqual({ remaining: 6000 });
    expect((await period(periodId)).refunded_amount).toBe(4000);
    expect(await refundsOf(periodId)).toHaveLength(1);
    expect(await h.settle.ctx.db.selectFrom('jobs').select('id').execute()).toHaveLength(jobsBefore.length);
    expect(refundPosts()).toHaveLength(1);
    // Malformed amounts are refused as such.
    const zero = await refused(
      requestRefund(h.settle.ctx, {
        periodId,
        amount: 0,
        reason: 'requested_by_operator',
        idempotencyKey: 'z',
      }),
    );
    expect(zero.code).toBe('validation_failed');
    const missing = await refused(
      requestRefund(h.settle.ctx, {
        periodId: 'per_missing',
        reason: 'requested_by_operator',
        idempotencyKey: 'm',
      }),
    );
    expect(missing).toMatchObject({ code: 'not_found', httpStatus: 404 });
  });

  it('the same idempotency key twice: one refund, one provider call; another owner’s key is refused', async () => {
    h = await startHarness(backend);
    const { m, periodId } = await paidPeriod('direct');
    const req = {
      periodId,
      amount: 2500,
      reason: 'requested_by_operator',
      idempotencyKey: `op:${periodId}:k1`,
    } as const;
    const a = await requestRefund(h.settle.ctx, req);
    const b = await requestRefund(h.settle.ctx, req);
    expect(b.id).toBe(a.id);
    // Twenty concurrent twins with a fresh key: still one refund.
    const twins = await Promise.all(
      Array.from({ length: 20 }, () => requestRefund(h.settle.ctx, { ...req, idempotencyKey: 'twin' })),
    );
    expect(new Set(twins.map((r) => r.id)).size).toBe(1);
    await h.settleDown();
    expect(refundPosts().map((q) => q.idempotencyKey)).toEqual([`refund:${a.id}`, `refund:${twins[0]!.id}`]);
    expect((await period(periodId)).refunded_amount).toBe(5000);
    // A key used for this period cannot refund an order, and an order's key cannot refund the period.
    const orderRow = await h.settle.ctx.db
      .selectFrom('orders')
      .select('id')
      .where('seller_id', '=', m.sellerId)
      .executeTakeFirstOrThrow();
    const cross = await refused(
      requestRefund(h.settle.ctx, {
        orderId: orderRow.id,
        amount: 100,
        reason: 'requested_by_operator',
        idempotencyKey: req.idempotencyKey,
      }),
    );
    expect(cross).toMatchObject({
      code: 'idempotency_key_reused',
      httpStatus: 422,
      message: 'This refund key belongs to a subscription invoice.',
    });
    await requestRefund(h.settle.ctx, {
      orderId: orderRow.id,
      amount: 100,
      reason: 'requested_by_operator',
      idempotencyKey: 'order-key',
    });
    const back = await refused(requestRefund(h.settle.ctx, { ...req, idempotencyKey: 'order-key' }));
    expect(back).toMatchObject({
      code: 'idempotency_key_reused',
      message: 'This refund key belongs to an order.',
    });
    expect((await period(periodId)).refunded_amount).toBe(5000);
    expect(refundPosts()).toHaveLength(3);
  });

  it('20 concurrent refunds of 10 % each: exactly 10 succeed and the period never exceeds amount_paid', async () => {
    h = await startHarness(backend);
    const { periodId, on } = await paidPeriod('destination');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        requestRefund(h.settle.ctx, {
          periodId,
          amount: 1000,
          reason: 'requested_by_operator',
          idempotencyKey: `conc-${i}`,
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const no = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(10);
    expect(no).toHaveLength(10);
    expect(
      no.every((r) => r.reason instanceof SettleError && r.reason.code === 'refund_exceeds_payment'),
    ).toBe(true);
    await h.settleDown();
    expect((await period(periodId)).refunded_amount).toBe(10_000);
    const rows = await refundsOf(periodId);
    expect(rows).toHaveLength(10);
    expect(rows.every((r) => r.status === 'succeeded')).toBe(true);
    const atStripe = await h.stripe.refunds.list({ limit: 100 }, on);
    expect(atStripe.data.reduce((s, r) => s + r.amount, 0)).toBe(10_000);
  });

  it('a zero invoice (a trial) has nothing to refund; a provider refusal releases the reservation', async () => {
    h = await startHarness(backend);
    const { m, periodId: paid } = await paidPeriod('destination');
    const trial = await insertPeriod(m, 'destination', { amountPaid: 0, paymentId: null });
    const err = await refused(
      requestRefund(h.settle.ctx, {
        periodId: trial,
        reason: 'requested_by_operator',
        idempotencyKey: 'trial',
      }),
    );
    expect(err).toMatchObject({ code: 'order_not_refundable', httpStatus: 409 });
    const noPayment = await insertPeriod(m, 'destination', { amountPaid: 500, paymentId: null });
    expect(
      (
        await refused(
          requestRefund(h.settle.ctx, {
            periodId: noPayment,
            reason: 'requested_by_operator',
            idempotencyKey: 'no-payment',
          }),
        )
      ).code,
    ).toBe('order_not_refundable');
    expect(await h.settle.ctx.db.selectFrom('refunds').select('id').execute()).toEqual([]);
    // A payment the provider does not know: refused there, recorded failed, the amount released.
    const ghost = await insertPeriod(m, 'destination', { amountPaid: 4000, paymentId: 'pi_does_not_exist' });
    const no = await refused(
      requestRefund(h.settle.ctx, {
        periodId: ghost,
        reason: 'requested_by_operator',
        idempotencyKey: 'ghost',
      }),
    );
    expect(no.code).toBe('refund_refused');
    expect((await period(ghost)).refunded_amount).toBe(0);
    expect((await refundsOf(ghost)).map((r) => r.status)).toEqual(['failed']);
    expect((await period(paid)).refunded_amount).toBe(0);
  });

  it('refund.updated finds a period refund: the status is recorded from the webhook, on its account only', async () => {
    h = await startHarness(backend);
    const { m, periodId, paymentId, on } = await paidPeriod('direct');
    // Stripe is down: the refund stays reserved and pending, unsent.
    h.settle.emulator!.faults.set({ api5xx: { next: 100, path: '/v1/refunds', status: 503 } });
    const pending = await requestRefund(h.settle.ctx, {
      periodId,
      amount: 2000,
      reason: 'requested_by_operator',
      idempotencyKey: 'outage',
    });
    expect(pending).toMatchObject({ status: 'pending', provider_refund_id: null });
    h.settle.emulator!.faults.reset();
    const event = (
      status: 'pending' | 'succeeded' | 'failed',
      accountId: string | null,
      refundId: string | null,
      providerRefundId = 're_unknown',
    ): VerifiedEvent => ({
      provider: 'stripe',
      endpoint: accountId === null ? 'platform' : 'connect',
      eventId: `evt_${randomBytes(6).toString('hex')}`,
      type: 'refund.updated',
      accountId,
      livemode: false,
      createdAt: new Date(),
      raw: {},
      event: {
        kind: 'refund.updated',
        refund: { providerRefundId, paymentId, amount: 2000, status, refundId },
      },
    });
    const apply = (ev: VerifiedEvent) =>
      applyRefundEvent(
        h.settle.ctx,
        ev,
        (ev.event as Extract<VerifiedEvent['event'], { kind: 'refund.updated' }>).refund,
        owningAccount,
      );
    // From the platform (not the account the direct charge lives on), or about a refund Settle never made.
    expect(await apply(event('succeeded', null, pending.id))).toBe('ignored');
    expect(await apply(event('succeeded', 'acct_someone_else', pending.id))).toBe('ignored');
    expect(await apply(event('succeeded', m.accountId, null, 're_made_in_the_dashboard'))).toBe('ignored');
    expect((await refundsOf(periodId))[0]).toMatchObject({ status: 'pending' });
    // The provider made the refund after all (the answer was lost): its webhook, delivered to Settle, settles it.
    const made = await h.stripe.refunds.create(
      {
        payment_intent: paymentId,
        amount: 2000,
        refund_application_fee: true,
        metadata: { orderId: periodId, refundId: pending.id },
      },
      on,
    );
    await h.settleDown();
    const [row] = await refundsOf(periodId);
    expect(row).toMatchObject({ status: 'succeeded', provider_refund_id: made.id });
    expect((await period(periodId)).refunded_amount).toBe(2000);
    // The durable job finds it done: no second refund at the provider.
    await h.settle.ctx.db
      .updateTable('jobs')
      .set({ run_at: new Date() })
      .where('kind', '=', 'refund.submit')
      .execute();
    await h.settleDown();
    expect(refundPosts().filter((q) => q.status === 200)).toHaveLength(1);
    // A late event never undoes a terminal state.
    expect(await apply(event('failed', m.accountId, pending.id, made.id))).toBe('processed');
    expect((await refundsOf(periodId))[0]).toMatchObject({ status: 'succeeded' });
    expect((await period(periodId)).refunded_amount).toBe(2000);

    // A refusal reported by webhook releases the reservation of a pending refund.
    h.settle.emulator!.faults.set({ api5xx: { next: 100, path: '/v1/refunds', status: 503 } });
    const second = await requestRefund(h.settle.ctx, {
      periodId,
      amount: 3000,
      reason: 'requested_by_operator',
      idempotencyKey: 'outage-2',
    });
    h.settle.emulator!.faults.reset();
    expect((await period(periodId)).refunded_amount).toBe(5000);
    expect(await apply(event('failed', m.accountId, second.id, 're_failed'))).toBe('processed');
    const after = await h.settle.ctx.db
      .selectFrom('refunds')
      .selectAll()
      .where('id', '=', second.id)
      .executeTakeFirstOrThrow();
    expect(after).toMatchObject({ status: 'failed', provider_refund_id: 're_failed' });
    expect((await period(periodId)).refunded_amount).toBe(2000);
  });
});
