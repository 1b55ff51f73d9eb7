import { afterEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/core/reconcile.js';
import { BACKENDS } from '../helpers/db.js';
import { startHarness, type Harness } from '../helpers/settle.js';
import {
  adminSubscription,
  advanceDays,
  manage,
  notificationsFor,
  setupPlan,
  startSubscription,
  subscribe,
} from '../helpers/subscriptions.js';

/**
 * Subscriptions end to end: Settle's HTTP API, the official Stripe SDK against the in-process emulator (Billing and
 * test clocks), signed webhooks over real HTTP to both endpoints, on both databases.
 */
describe.each(BACKENDS)('subscriptions end to end (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  for (const chargeType of ['direct', 'destination'] as const) {
    it(`${chargeType}: subscribe and pay; webhook opens one period with the fee; a renewal on the test clock opens the next, fee again`, async () => {
      h = await startHarness(backend);
      const p = await setupPlan(h, { chargeType, unitAmount: 4000, feeBps: 1250 });
      const s = await subscribe(h, p.planId);
      await h.settleDown();
      let sub = await adminSubscription(h, s.subscriptionId);
      expect(sub.status).toBe('active');
      expect(sub.periods).toHaveLength(1);
      expect(sub.periods[0]).toMatchObject({
        amountPaid: 4000,
        applicationFee: 500,
        billingReason: 'subscription_create',
      });
      expect(sub.entitlement).toMatchObject({ access: true, bookingsLeft: 4 });

      // Where the subscription lives: the seller's account (direct) or the platform with a transfer (destination).
      const opts = chargeType === 'direct' ? { stripeAccount: p.accountId } : {};
      const remote = await h.stripe.subscriptions.retrieve(sub.providerSubscriptionId!, {}, opts);
      expect(remote.application_fee_percent).toBe(12.5);
      if (chargeType === 'destination') expect(remote.transfer_data?.destination).toBe(p.accountId);

      sub = await advanceDays(h, s.subscriptionId, 32);
      expect(sub.status).toBe('active');
      expect(sub.periods).toHaveLength(2);
      expect(sub.periods[0]).toMatchObject({
        amountPaid: 4000,
        applicationFee: 500,
        billingReason: 'subscription_cycle',
      });
      expect(sub.periods[0]!.invoiceId).not.toBe(sub.periods[1]!.invoiceId);
      // The platform's application fees: one per paid invoice.
      const fees = await h.stripe.applicationFees.list({ limit: 100 });
      expect(fees.data.filter((f) => f.amount === 500)).toHaveLength(2);
      expect((await notificationsFor(h, 'subscription_receipt')).length).toBe(2);
      expect((await notificationsFor(h, 'subscription_welcome')).length).toBe(1);
      const welcome = (await notificationsFor(h, 'subscription_welcome'))[0]!;
      expect(welcome.body).toContain(`#token=${s.manageToken}`);
      // Once the mail is sent, the queue no longer holds the token; the subscription row holds only its hash.
      const job = await h.settle.ctx.db
        .selectFrom('jobs')
        .select(['status', 'payload'])
        .where('dedupe_key', '=', `notify.subscription_welcome:${s.subscriptionId}`)
        .executeTakeFirstOrThrow();
      expect(job.status).toBe('done');
      expect(JSON.stringify(job.payload)).not.toContain(s.manageToken);
      const row = await h.settle.ctx.db
        .selectFrom('subscriptions')
        .selectAll()
        .where('id', '=', s.subscriptionId)
        .executeTakeFirstOrThrow();
      expect(JSON.stringify(row)).not.toContain(s.manageToken);

      // The member sees the same through the manage token, and nothing without it.
      const mine = await h.api<{ status: string }>(
        'GET',
        `/api/subscriptions/${s.subscriptionId}`,
        undefined,
        manage(s.manageToken),
      );
      expect(mine.status).toBe(200);
      expect(mine.body.status).toBe('active');
      const other = await h.api(
        'GET',
        `/api/subscriptions/${s.subscriptionId}`,
        undefined,
        manage('not-the-token'),
      );
      expect(other.status).toBe(403);
      const none = await h.api('GET', `/api/subscriptions/${s.subscriptionId}`);
      expect(none.status).toBe(403);
    });
  }

  it('the buyer leaves the hosted checkout: with the manage token the checkout ends at Stripe and the same buyer starts again at once', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'direct' });
    const s = await startSubscription(h, p.planId, 'undecided@example.test');
    const blocked = await h.api('POST', '/api/subscriptions/checkout', {
      planId: p.planId,
      email: 'undecided@example.test',
    });
    expect(blocked.status).toBe(409);
    const path = `/api/subscriptions/${s.subscriptionId}/checkout/cancel`;
    expect((await h.api('POST', path)).status).toBe(403);
    expect((await h.api('POST', path, undefined, manage('wrong'))).status).toBe(403);
    const ended = await h.api<{ status: string }>('POST', path, undefined, manage(s.manageToken));
    expect(ended.status).toBe(200);
    expect(ended.body.status).toBe('checkout_expired');
    const session = await h.stripe.checkout.sessions.retrieve(
      s.sessionId,
      {},
      { stripeAccount: p.accountId },
    );
    expect(session.status).toBe('expired');
    // Twice: nothing more happens.
    expect(
      (await h.api<{ status: string }>('POST', path, undefined, manage(s.manageToken))).body.status,
    ).toBe('checkout_expired');
    const again = await startSubscription(h, p.planId, 'undecided@example.test');
    expect(again.subscriptionId).not.toBe(s.subscriptionId);
  });

  it('every webhook lost: the reconciler applies the subscription, its periods and a renewal, once', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'direct' });
    h.settle.emulator!.faults.set({ webhookDrop: { probability: 1 } });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    expect((await adminSubscription(h, s.subscriptionId)).status).toBe('pending');
    const first = await reconcile(h.settle.ctx);
    expect(first.errors).toEqual([]);
    await h.settleDown();
    let sub = await adminSubscription(h, s.subscriptionId);
    expect(sub.status).toBe('active');
    expect(sub.periods).toHaveLength(1);
    // A renewal while webhooks are still lost: the admin advance re-reads, and a second reconcile changes nothing.
    sub = await advanceDays(h, s.subscriptionId, 32);
    expect(sub.periods).toHaveLength(2);
    const again = await reconcile(h.settle.ctx);
    expect(again.errors).toEqual([]);
    await h.settleDown();
    sub = await adminSubscription(h, s.subscriptionId);
    expect(sub.periods).toHaveLength(2);
    expect((await notificationsFor(h, 'subscription_receipt')).length).toBe(2);
    expect(sub.events.filter((e) => e.to === 'period_opened')).toHaveLength(2);
  });

  it('trial: no_payment_required checkout opens a zero period (trialing, access), the first paid renewal follows on the clock', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'direct', trialDays: 7, includedBookings: 2 });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    let sub = await adminSubscription(h, s.subscriptionId);
    expect(sub.status).toBe('trialing');
    expect(sub.periods).toHaveLength(1);
    expect(sub.periods[0]).toMatchObject({ amountPaid: 0, applicationFee: 0, paymentId: null });
    expect(sub.entitlement).toMatchObject({ access: true, reason: 'trialing', bookingsLeft: 2 });
    // A time the clock has already passed is refused with a reason, nothing moves.
    const past = await h.admin<{ error: { code: string } }>(
      'POST',
      `/api/admin/subscriptions/${s.subscriptionId}/advance-clock`,
      { to: new Date(Date.now() - 86_400_000).toISOString() },
    );
    expect(past.status).toBe(400);
    expect(past.body.error.code).toBe('validation_failed');
    sub = await advanceDays(h, s.subscriptionId, 8);
    expect(sub.status).toBe('active');
    expect(sub.periods).toHaveLength(2);
    expect(sub.periods[0]).toMatchObject({ amountPaid: 4000, applicationFee: 400 });
  });
});
