import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { SubscriptionStatus } from '../../src/db/schema.js';
import { canMove } from '../../src/core/subscriptions/status.js';
import { BACKENDS } from '../helpers/db.js';
import { startHarness, type Harness } from '../helpers/settle.js';
import {
  addSlot,
  adminSubscription,
  advanceDays,
  book,
  historyOf,
  manage,
  noticesTo,
  notificationsFor,
  onAccountOf,
  remoteInvoices,
  remoteSubscription,
  setupPlan,
  slotSold,
  startSubscription,
  subscribe,
  updateCard,
  type AdminSubscription,
} from '../helpers/subscriptions.js';

/**
 * Subscriptions through their life: renewals delivered twice or out of order, failed renewals and dunning (recovered or
 * ended), cancel at period end, the operator's cancel and refunds, membership bookings and the checkout's refusals.
 * Settle's HTTP API, the official Stripe SDK against the in-process emulator (Billing, test clocks, the customer
 * portal), signed webhooks over real HTTP, on both databases.
 */

const BUYER = 'member@example.test';
const SELLER = 'seller@example.test';
const GOOD_CARD = '4242424242424242';
/** Attaches fine; every charge on it is declined (Stripe's 4000000000000341). */
const FAILING_CARD = '4000000000000341';

/** The status moves in a subscription's history, oldest first (rows that change the status only). */
async function statusMoves(h: Harness, id: string): Promise<{ from: string; to: string }[]> {
  return (await historyOf(h, id))
    .filter((e) => e.from_status !== null && e.from_status !== e.to_status)
    .map((e) => ({ from: e.from_status!, to: e.to_status }));
}

/** Every move is one the state machine allows, and each starts where the previous one ended. */
async function expectNeverBackwards(h: Harness, id: string): Promise<string[]> {
  const moves = await statusMoves(h, id);
  const path: string[] = ['pending'];
  for (const m of moves) {
    expect(m.from).toBe(path[path.length - 1]);
    expect(canMove(m.from as SubscriptionStatus, m.to as SubscriptionStatus)).toBe(true);
    path.push(m.to);
  }
  return path;
}

const periodOpened = async (h: Harness, id: string) =>
  (await historyOf(h, id)).filter((e) => e.to_status === 'period_opened');

describe.each(BACKENDS)('subscription lifecycle (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('a renewal delivered three times, then replayed by the operator, opens one period per invoice with one receipt each', async () => {
    h = await startHarness(backend);
    const emu = h.settle.emulator!;
    const p = await setupPlan(h, { chargeType: 'direct', unitAmount: 4000, feeBps: 1000 });
    emu.faults.set({ webhookDuplicates: 3 });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    await advanceDays(h, s.subscriptionId, 32);

    // The emulator really sent each invoice.paid three times.
    const paidDeliveries = emu.deliveries.filter((d) => d.type === 'invoice.paid' && d.status === 200);
    const paidEvents = new Set(paidDeliveries.map((d) => d.eventId));
    expect(paidEvents.size).toBe(2);
    for (const ev of paidEvents)
      expect(paidDeliveries.filter((d) => d.eventId === ev).length).toBeGreaterThanOrEqual(3);

    // And the operator replays every stored invoice and checkout event once more.
    emu.faults.reset();
    const inbox = await h.admin<{ events: { id: number; type: string; status: string }[] }>(
      'GET',
      '/api/admin/webhook-events',
    );
    const replayable = inbox.body.events.filter((e) =>
      ['invoice.paid', 'invoice.payment_succeeded', 'checkout.session.completed'].includes(e.type),
    );
    expect(replayable.filter((e) => e.type === 'invoice.paid')).toHaveLength(2);
    for (const e of replayable) {
      const r = await h.admin<{ status: string }>('POST', `/api/admin/webhook-events/${e.id}/replay`);
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('processed');
    }
    await h.settleDown();

    const sub = await adminSubscription(h, s.subscriptionId);
    expect(sub.status).toBe('active');
    expect(sub.periods).toHaveLength(2);
    const paidRemote = (await remoteInvoices(h, s.subscriptionId)).filter((i) => i.status === 'paid');
    expect(sub.periods.map((x) => x.invoiceId).sort()).toEqual(paidRemote.map((i) => i.id).sort());
    expect(sub.periods.map((x) => x.billingReason).sort()).toEqual([
      'subscription_create',
      'subscription_cycle',
    ]);
    expect(sub.periods.every((x) => x.amountPaid === 4000 && x.applicationFee === 400)).toBe(true);

    // One receipt and one seller notice per invoice, one welcome, one period_opened row per invoice.
    const receipts = await noticesTo(h, 'subscription_receipt', BUYER);
    expect(receipts).toHaveLength(2);
    for (const inv of paidRemote) expect(receipts.filter((r) => r.body.includes(inv.id!))).toHaveLength(1);
    expect(await noticesTo(h, 'subscription_seller_notice', SELLER)).toHaveLength(2);
    expect(await notificationsFor(h, 'subscription_welcome')).toHaveLength(1);
    const opened = await periodOpened(h, s.subscriptionId);
    expect(opened).toHaveLength(2);
    for (const inv of paidRemote) expect(opened.filter((e) => e.note?.startsWith(inv.id!))).toHaveLength(1);
    // The platform's fee, once per paid invoice.
    const fees = await h.stripe.applicationFees.list({ limit: 100 });
    expect(fees.data.filter((f) => f.account === p.accountId)).toHaveLength(2);
    await expectNeverBackwards(h, s.subscriptionId);
  });

  it('a failed renewal makes the subscription past_due (grace access, both told); a new card recovers it on the next retry', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'destination', unitAmount: 4000, includedBookings: 3 });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    // The first payment in Checkout declines with the failing card, so the member switches to it afterwards.
    await updateCard(h, s, FAILING_CARD);

    let sub = await advanceDays(h, s.subscriptionId, 32);
    expect(sub.status).toBe('past_due');
    expect(sub.pastDueSince).not.toBeNull();
    expect(sub.periods).toHaveLength(1);
    expect(sub.entitlement).toMatchObject({ access: true, reason: 'grace', bookingsLeft: 3 });
    const problem = await noticesTo(h, 'subscription_payment_problem', BUYER);
    expect(problem).toHaveLength(1);
    expect(problem[0]!.body).toContain('failed');
    expect(await noticesTo(h, 'subscription_payment_problem_seller', SELLER)).toHaveLength(1);
    const remote = await remoteSubscription(h, s.subscriptionId);
    expect(remote.status).toBe('past_due');
    // During grace the member still books.
    const during = await book(h, s.subscriptionId, p.slotId, s.manageToken);
    expect(during.status).toBe(201);

    // A working card from the portal; the next retry (3 days after the failed attempt) pays the renewal.
    await updateCard(h, s, GOOD_CARD);
    sub = await advanceDays(h, s.subscriptionId, 4);
    expect(sub.status).toBe('active');
    expect(sub.pastDueSince).toBeNull();
    expect(sub.periods).toHaveLength(2);
    expect(sub.periods[0]).toMatchObject({ billingReason: 'subscription_cycle', amountPaid: 4000 });
    expect(sub.entitlement).toMatchObject({ access: true, reason: 'active', bookingsLeft: 3 });
    expect(await noticesTo(h, 'subscription_recovered', BUYER)).toHaveLength(1);
    expect(await noticesTo(h, 'subscription_recovered_seller', SELLER)).toHaveLength(1);
    expect(await noticesTo(h, 'subscription_receipt', BUYER)).toHaveLength(2);
    expect(await noticesTo(h, 'subscription_ended', BUYER)).toHaveLength(0);
    // The renewal invoice was attempted twice at the provider and paid once.
    const invoices = await remoteInvoices(h, s.subscriptionId);
    const renewal = invoices.find((i) => i.billing_reason === 'subscription_cycle')!;
    expect(renewal.status).toBe('paid');
    expect(renewal.attempt_count).toBe(2);
    expect((await remoteSubscription(h, s.subscriptionId)).status).toBe('active');
    expect(await expectNeverBackwards(h, s.subscriptionId)).toEqual([
      'pending',
      'active',
      'past_due',
      'active',
    ]);
  });

  it('with no grace days, past_due gives no access and a membership booking answers 409 subscription_not_active', async () => {
    h = await startHarness(backend, { env: { SETTLE_SUBSCRIPTION_GRACE_DAYS: '0' } });
    const p = await setupPlan(h, { chargeType: 'direct' });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    await updateCard(h, s, FAILING_CARD);
    const sub = await advanceDays(h, s.subscriptionId, 32);
    expect(sub.status).toBe('past_due');
    expect(sub.entitlement).toMatchObject({ access: false, reason: 'past_due', bookingsLeft: 0 });
    const before = await slotSold(h, p.slotId);
    const r = await book(h, s.subscriptionId, p.slotId, s.manageToken);
    expect(r.status).toBe(409);
    expect(r.body.error?.code).toBe('subscription_not_active');
    expect(await slotSold(h, p.slotId)).toBe(before);
    expect(await noticesTo(h, 'subscription_payment_problem', BUYER)).toHaveLength(1);
  });

  it('a renewal that fails on every retry (3, 5, 7 days) ends the subscription: canceled, both told, no access, booking refused', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'direct', unitAmount: 4000 });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    await updateCard(h, s, FAILING_CARD);

    let sub = await advanceDays(h, s.subscriptionId, 32);
    expect(sub.status).toBe('past_due');
    sub = await advanceDays(h, s.subscriptionId, 4); // first retry (3 days after the renewal attempt)
    expect(sub.status).toBe('past_due');
    sub = await advanceDays(h, s.subscriptionId, 9); // second retry (5 days later)
    expect(sub.status).toBe('past_due');
    expect(await noticesTo(h, 'subscription_ended', BUYER)).toHaveLength(0);
    sub = await advanceDays(h, s.subscriptionId, 16); // third and last retry (7 days later)
    expect(sub.status).toBe('canceled');
    expect(sub.endedAt).not.toBeNull();
    expect(sub.periods).toHaveLength(1);
    expect(sub.entitlement).toMatchObject({ access: false, reason: 'canceled', bookingsLeft: 0 });

    const remote = await remoteSubscription(h, s.subscriptionId);
    expect(remote.status).toBe('canceled');
    const renewal = (await remoteInvoices(h, s.subscriptionId)).find(
      (i) => i.billing_reason === 'subscription_cycle',
    )!;
    expect(renewal.attempt_count).toBe(4);
    expect(renewal.status).toBe('open');
    // One problem notice per failed attempt (to the buyer and to the seller), one ending notice each.
    expect(await noticesTo(h, 'subscription_payment_problem', BUYER)).toHaveLength(4);
    expect(await noticesTo(h, 'subscription_payment_problem_seller', SELLER)).toHaveLength(4);
    expect(await noticesTo(h, 'subscription_ended', BUYER)).toHaveLength(1);
    expect(await noticesTo(h, 'subscription_ended_seller', SELLER)).toHaveLength(1);
    expect(await noticesTo(h, 'subscription_receipt', BUYER)).toHaveLength(1);

    const r = await book(h, s.subscriptionId, p.slotId, s.manageToken);
    expect(r.status).toBe(409);
    expect(r.body.error?.code).toBe('subscription_not_active');
    expect(await slotSold(h, p.slotId)).toBe(0);
    expect(await expectNeverBackwards(h, s.subscriptionId)).toEqual([
      'pending',
      'active',
      'past_due',
      'canceled',
    ]);
  });

  it('cancel at period end keeps access until the end; resume takes it back; canceled again, it ends with no new invoice', async () => {
    h = await startHarness(backend);
    const emu = h.settle.emulator!;
    const p = await setupPlan(h, { chargeType: 'direct' });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    const updates = () =>
      emu.requests.filter((r) => r.method === 'POST' && /^\/v1\/subscriptions\/sub_/.test(r.path)).length;

    const member = (path: string) =>
      h.api<{ status: string; cancelAtPeriodEnd: boolean; entitlement: { access: boolean } }>(
        'POST',
        `/api/subscriptions/${s.subscriptionId}/${path}`,
        undefined,
        manage(s.manageToken),
      );
    // Not without the member's token.
    expect((await h.api('POST', `/api/subscriptions/${s.subscriptionId}/cancel`)).status).toBe(403);
    expect(updates()).toBe(0);

    let r = await member('cancel');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'active',
      cancelAtPeriodEnd: true,
      entitlement: { access: true },
    });
    expect((await remoteSubscription(h, s.subscriptionId)).cancel_at_period_end).toBe(true);
    r = await member('resume');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    expect((await remoteSubscription(h, s.subscriptionId)).cancel_at_period_end).toBe(false);
    r = await member('cancel');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'active',
      cancelAtPeriodEnd: true,
      entitlement: { access: true },
    });
    expect((await remoteSubscription(h, s.subscriptionId)).cancel_at_period_end).toBe(true);
    expect(updates()).toBe(3);
    await h.settleDown();
    // Still a member until the end: booking works.
    const booked = await book(h, s.subscriptionId, p.slotId, s.manageToken);
    expect(booked.status).toBe(201);

    const sub = await advanceDays(h, s.subscriptionId, 32);
    expect(sub.status).toBe('canceled');
    expect(sub.cancelAtPeriodEnd).toBe(false);
    expect(sub.entitlement).toMatchObject({ access: false, reason: 'canceled' });
    expect(sub.periods).toHaveLength(1);
    expect(await remoteInvoices(h, s.subscriptionId)).toHaveLength(1);
    expect((await remoteSubscription(h, s.subscriptionId)).status).toBe('canceled');
    expect(await noticesTo(h, 'subscription_ended', BUYER)).toHaveLength(1);
    expect(await noticesTo(h, 'subscription_receipt', BUYER)).toHaveLength(1);
    const notes = (await historyOf(h, s.subscriptionId)).map((e) => e.note).filter((n) => n !== null);
    expect(notes.filter((n) => n === 'cancels at period end')).toHaveLength(2);
    expect(notes.filter((n) => n === 'resumed')).toHaveLength(1);
    // Ended: resume is refused, and so is a booking.
    expect((await member('resume')).status).toBe(409);
    const refused = await book(h, s.subscriptionId, p.slotId, s.manageToken);
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe('subscription_not_active');
    expect(await expectNeverBackwards(h, s.subscriptionId)).toEqual(['pending', 'active', 'canceled']);
  });

  it('subscription events delivered in reverse across a renewal and a cancel: Settle ends in the provider state, never moving backwards', async () => {
    h = await startHarness(backend);
    const emu = h.settle.emulator!;
    const p = await setupPlan(h, { chargeType: 'direct', unitAmount: 4000 });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    const before = await adminSubscription(h, s.subscriptionId);
    const opts = onAccountOf(before);
    const remoteBefore = await remoteSubscription(h, s.subscriptionId);
    const clockId = remoteBefore.test_clock as string;
    const frozen = (await h.stripe.testHelpers.testClocks.retrieve(clockId, {}, opts)).frozen_time;

    // Everything from here reaches Settle only through webhooks, held and delivered newest first.
    emu.faults.set({ webhookReorder: { windowMs: 1500, mode: 'reverse' } });
    await h.stripe.testHelpers.testClocks.advance(clockId, { frozen_time: frozen + 32 * 86_400 }, opts);
    for (let i = 0; i < 200; i++) {
      const clock = await h.stripe.testHelpers.testClocks.retrieve(clockId, {}, opts);
      if (clock.status === 'ready') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // The seller cancels at once from their own Stripe dashboard.
    await h.stripe.subscriptions.cancel(remoteBefore.id, {}, opts);
    await h.settleDown();
    emu.faults.reset();

    // The deliveries really were reversed: the cancellation reached Settle before the renewal's payment.
    const firsts = emu.deliveries.filter((d) => d.attempt === 1);
    const at = (type: string) => firsts.findIndex((d) => d.type === type && d.account === p.accountId);
    const deletedAt = at('customer.subscription.deleted');
    const renewalPaid = firsts.filter((d) => d.type === 'invoice.paid');
    expect(deletedAt).toBeGreaterThanOrEqual(0);
    expect(renewalPaid).toHaveLength(2);
    expect(deletedAt).toBeLessThan(firsts.indexOf(renewalPaid[1]!));

    const remote = await remoteSubscription(h, s.subscriptionId);
    const sub = await adminSubscription(h, s.subscriptionId);
    expect(remote.status).toBe('canceled');
    expect(sub.status).toBe(remote.status);
    expect(sub.cancelAtPeriodEnd).toBe(remote.cancel_at_period_end);
    expect(new Date(sub.currentPeriodEnd!).getTime() / 1000).toBe(remote.items.data[0]!.current_period_end);
    // The renewal was paid before the cancel: its period is recorded once.
    const paid = (await remoteInvoices(h, s.subscriptionId)).filter((i) => i.status === 'paid');
    expect(sub.periods.map((x) => x.invoiceId).sort()).toEqual(paid.map((i) => i.id).sort());
    expect(sub.periods).toHaveLength(2);
    expect(sub.entitlement.access).toBe(false);
    expect(await noticesTo(h, 'subscription_ended', BUYER)).toHaveLength(1);
    expect(await expectNeverBackwards(h, s.subscriptionId)).toEqual(['pending', 'active', 'canceled']);
    expect(await noticesTo(h, 'subscription_recovered', BUYER)).toHaveLength(0);
  });

  it('operator cancel now with a prorated refund: canceled at Stripe, the unused share refunded against the period; without proration nothing is refunded', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'destination', unitAmount: 4000, feeBps: 1000 });
    const a = await subscribe(h, p.planId, { email: 'a@example.test' });
    const b = await subscribe(h, p.planId, { email: 'b@example.test' });
    await h.settleDown();
    await advanceDays(h, a.subscriptionId, 10);
    await advanceDays(h, b.subscriptionId, 10);

    const r = await h.admin<AdminSubscription & { refund: { refundId: string; amount: number } | null }>(
      'POST',
      `/api/admin/subscriptions/${a.subscriptionId}/cancel`,
      { prorate: true },
    );
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('canceled');
    expect(r.body.refund).not.toBeNull();
    await h.settleDown();
    const remote = await remoteSubscription(h, a.subscriptionId);
    expect(remote.status).toBe('canceled');
    const sub = await adminSubscription(h, a.subscriptionId);
    const period = sub.periods[0]!;
    // The unused share: from the provider's cancellation time to the period's end, over the period.
    const start = new Date(period.periodStart).getTime();
    const end = new Date(period.periodEnd).getTime();
    const expected = Math.floor((4000 * (end - remote.ended_at! * 1000)) / (end - start));
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(4000);
    expect(sub.refunds).toHaveLength(1);
    expect(sub.refunds[0]).toMatchObject({ amount: expected, status: 'succeeded' });
    expect(period.refundedAmount).toBe(expected);
    // At Stripe: one refund of that amount, of this invoice's payment.
    const refunds = (await h.stripe.refunds.list({ limit: 100 })).data;
    expect(refunds.map((x) => x.amount)).toEqual([expected]);
    expect(refunds[0]!.payment_intent).toBe(period.paymentId);
    expect(await noticesTo(h, 'subscription_ended', 'a@example.test')).toHaveLength(1);
    expect(sub.entitlement.access).toBe(false);

    // Without proration: canceled, and no refund anywhere.
    const nb = await h.admin<AdminSubscription & { refund: unknown }>(
      'POST',
      `/api/admin/subscriptions/${b.subscriptionId}/cancel`,
      { prorate: false },
    );
    expect(nb.status).toBe(200);
    expect(nb.body).toMatchObject({ status: 'canceled', refund: null });
    await h.settleDown();
    expect((await remoteSubscription(h, b.subscriptionId)).status).toBe('canceled');
    expect((await h.stripe.refunds.list({ limit: 100 })).data).toHaveLength(1);
    expect((await adminSubscription(h, b.subscriptionId)).refunds).toHaveLength(0);
    // A repeated cancel changes nothing at Stripe.
    const again = await h.admin('POST', `/api/admin/subscriptions/${a.subscriptionId}/cancel`, {
      prorate: true,
    });
    expect(again.status).toBe(409);
    expect((await h.stripe.refunds.list({ limit: 100 })).data).toHaveLength(1);
  });

  it('operator refunds of one invoice: partial ok, above the remainder 409, the same Idempotency-Key twice is one refund', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'direct', unitAmount: 4000 });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    const period = (await adminSubscription(h, s.subscriptionId)).periods[0]!;
    const refund = (amount: number, key: string) =>
      h.admin<{ refundId: string; amount: number; status: string; error?: { code: string } }>(
        'POST',
        `/api/admin/subscription-periods/${period.id}/refunds`,
        { amount },
        { 'idempotency-key': key },
      );
    const k1 = randomUUID();
    const first = await refund(1500, k1);
    expect(first.status).toBe(201);
    const repeat = await refund(1500, k1);
    expect(repeat.status).toBe(201);
    expect(repeat.body.refundId).toBe(first.body.refundId);
    const over = await refund(2501, randomUUID());
    expect(over.status).toBe(409);
    expect(over.body.error?.code).toBe('refund_exceeds_payment');
    const rest = await refund(2500, randomUUID());
    expect(rest.status).toBe(201);
    await h.settleDown();

    const sub = await adminSubscription(h, s.subscriptionId);
    expect(sub.periods[0]!.refundedAmount).toBe(4000);
    expect(sub.refunds.map((x) => [x.amount, x.status])).toEqual([
      [1500, 'succeeded'],
      [2500, 'succeeded'],
    ]);
    const remote = (await h.stripe.refunds.list({ limit: 100 }, { stripeAccount: p.accountId })).data;
    expect(remote.map((x) => x.amount).sort()).toEqual([1500, 2500]);
    expect(remote.every((x) => x.payment_intent === period.paymentId)).toBe(true);
    const creates = h.settle.emulator!.requests.filter(
      (x) => x.method === 'POST' && x.path === '/v1/refunds' && x.status === 200,
    );
    expect(creates).toHaveLength(2);
    expect(await noticesTo(h, 'subscription_refund', BUYER)).toHaveLength(2);
    // Refunding an invoice changes nothing about the membership.
    expect(sub.status).toBe('active');
  });

  it('membership booking: slot and allowance taken together; token required; allowance exhausted 409; cancel gives both back once', async () => {
    h = await startHarness(backend);
    const p = await setupPlan(h, { chargeType: 'direct', includedBookings: 2, capacity: 5 });
    const s = await subscribe(h, p.planId);
    await h.settleDown();
    const second = await addSlot(h, p.listingId, 5, 4);
    const third = await addSlot(h, p.listingId, 5, 5);

    const one = await book(h, s.subscriptionId, p.slotId, s.manageToken);
    expect(one.status).toBe(201);
    expect(one.body).toMatchObject({ status: 'booked', entitlement: { bookingsLeft: 1, bookingsUsed: 1 } });
    expect(await slotSold(h, p.slotId)).toBe(1);

    const none = await book(h, s.subscriptionId, second, null);
    expect(none.status).toBe(403);
    const wrong = await book(h, s.subscriptionId, second, 'not-the-token');
    expect(wrong.status).toBe(403);
    const stranger = await subscribe(h, p.planId, { email: 'other@example.test' });
    const borrowed = await book(h, s.subscriptionId, second, stranger.manageToken);
    expect(borrowed.status).toBe(403);
    expect(await slotSold(h, second)).toBe(0);

    const two = await book(h, s.subscriptionId, second, s.manageToken);
    expect(two.status).toBe(201);
    expect(two.body.entitlement).toMatchObject({ bookingsLeft: 0 });
    const three = await book(h, s.subscriptionId, third, s.manageToken);
    expect(three.status).toBe(409);
    expect(three.body.error?.code).toBe('allowance_exhausted');
    expect(await slotSold(h, third)).toBe(0);
    let sub = await adminSubscription(h, s.subscriptionId);
    expect(sub.periods[0]!.usedBookings).toBe(2);

    // Cancel: not without the token; then the place and the allowance come back, once.
    const cancel = (token: string | null) =>
      h.api<{ status: string; entitlement: { bookingsLeft: number } }>(
        'POST',
        `/api/bookings/${one.body.bookingId}/cancel`,
        undefined,
        token === null ? {} : manage(token),
      );
    expect((await cancel(null)).status).toBe(403);
    expect((await cancel(stranger.manageToken)).status).toBe(403);
    expect(await slotSold(h, p.slotId)).toBe(1);
    const c1 = await cancel(s.manageToken);
    expect(c1.status).toBe(200);
    expect(c1.body).toMatchObject({ status: 'canceled', entitlement: { bookingsLeft: 1 } });
    const c2 = await cancel(s.manageToken);
    expect(c2.status).toBe(200);
    expect(c2.body.entitlement.bookingsLeft).toBe(1);
    expect(await slotSold(h, p.slotId)).toBe(0);
    sub = await adminSubscription(h, s.subscriptionId);
    expect(sub.periods[0]!.usedBookings).toBe(1);

    // The given-back booking is usable again.
    const again = await book(h, s.subscriptionId, third, s.manageToken);
    expect(again.status).toBe(201);
    expect(await slotSold(h, third)).toBe(1);
    await h.settleDown();
    expect(await noticesTo(h, 'membership_booking', BUYER)).toHaveLength(3);
    expect(await noticesTo(h, 'membership_booking_canceled', BUYER)).toHaveLength(1);
    // Nothing was paid for the bookings: no order and no checkout session beyond the two subscriptions'.
    const orders = await h.settle.ctx.db.selectFrom('orders').select('id').execute();
    expect(orders).toHaveLength(0);
    const sessions = h.settle.emulator!.requests.filter(
      (x) => x.method === 'POST' && x.path === '/v1/checkout/sessions' && x.status === 200,
    );
    expect(sessions).toHaveLength(2);
  });

  it('subscription checkout refusals: fixed seller fee, archived plan, a second live subscription; a price change bills new subscribers only', async () => {
    h = await startHarness(backend);
    const emu = h.settle.emulator!;
    const sessions = () =>
      emu.requests.filter((x) => x.method === 'POST' && x.path === '/v1/checkout/sessions').length;
    const start = (planId: string, email: string) =>
      h.api<{ error?: { code: string } }>('POST', '/api/subscriptions/checkout', { planId, email });

    const fixed = await setupPlan(h, { chargeType: 'direct', feeBps: 500, feeFixed: 30 });
    const refusedFee = await start(fixed.planId, 'a@example.test');
    expect(refusedFee.status).toBe(409);
    expect(refusedFee.body.error?.code).toBe('fee_not_supported');
    expect(sessions()).toBe(0);

    const p = await setupPlan(h, { chargeType: 'destination', unitAmount: 4000, feeBps: 1000 });
    const old = await subscribe(h, p.planId, { email: 'old@example.test' });
    await h.settleDown();
    // The same buyer (any case) again: refused while the first is live.
    const dup = await start(p.planId, 'OLD@example.test');
    expect(dup.status).toBe(409);
    expect(dup.body.error?.code).toBe('subscription_exists');
    // Also while a checkout is only open.
    const open = await startSubscription(h, p.planId, 'open@example.test');
    const dupOpen = await start(p.planId, 'open@example.test');
    expect(dupOpen.status).toBe(409);
    expect(dupOpen.body.error?.code).toBe('subscription_exists');
    expect(sessions()).toBe(2);
    expect(open.subscriptionId).toMatch(/^mem_/);

    const price = await h.admin('POST', `/api/admin/plans/${p.planId}/prices`, { unitAmount: 5000 });
    expect(price.status).toBe(201);
    const fresh = await subscribe(h, p.planId, { email: 'new@example.test' });
    await h.settleDown();

    const oldSub = await advanceDays(h, old.subscriptionId, 32);
    const newSub = await advanceDays(h, fresh.subscriptionId, 32);
    expect(oldSub.periods.map((x) => x.amountPaid)).toEqual([4000, 4000]);
    expect(oldSub.periods.map((x) => x.applicationFee)).toEqual([400, 400]);
    expect(newSub.periods.map((x) => x.amountPaid)).toEqual([5000, 5000]);
    expect(newSub.periods.map((x) => x.applicationFee)).toEqual([500, 500]);
    expect((await remoteSubscription(h, old.subscriptionId)).items.data[0]!.price.unit_amount).toBe(4000);
    expect((await remoteSubscription(h, fresh.subscriptionId)).items.data[0]!.price.unit_amount).toBe(5000);

    // Archived: no new subscribers; the existing ones go on.
    const archived = await h.admin('POST', `/api/admin/plans/${p.planId}/archive`);
    expect(archived.status).toBe(200);
    const late = await start(p.planId, 'late@example.test');
    expect(late.status).toBe(409);
    expect(late.body.error?.code).toBe('plan_not_available');
    expect(sessions()).toBe(3);
    const stillOld = await advanceDays(h, old.subscriptionId, 32);
    expect(stillOld.status).toBe('active');
    expect(stillOld.periods).toHaveLength(3);
  });
});
