import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/db.js';
import { lapseHold, order, startHarness, type Harness } from '../helpers/settle.js';
import {
  addSlot,
  adminSubscription,
  book,
  historyOf,
  notificationsFor,
  onAccountOf,
  setupPlan,
  slotSold,
  startSubscription,
  subscribe,
  type Subscribed,
} from '../helpers/subscriptions.js';

/**
 * Subscriptions raced: the return page's verify against the webhooks (both databases), and, on the PostgreSQL server
 * only (the embedded database serializes transactions, so nothing races there), the last place of a class between
 * members booking and buyers paying, and the last booking of a period across many slots. Many callers are released at
 * once over real HTTP (each request on its own pooled connection); what is counted are real effects (a slot's `sold`
 * counter, status moves in the history, refunds at the provider), not rows a unique index caps.
 */

const GOOD_CARD = '4242424242424242';
const serverOnly = (backend: string) => backend !== 'server';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(BACKENDS)('subscription races (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  for (const chargeType of ['direct', 'destination'] as const) {
    it(`${chargeType}: ten verifies while the webhooks deliver make one linked subscription, one period, one welcome`, async () => {
      h = await startHarness(backend, { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
      const emu = h.settle.emulator!;
      const p = await setupPlan(h, { chargeType, unitAmount: 4000, feeBps: 1000 });
      // Every event twice as well: more callers applying the same payment.
      emu.faults.set({ webhookDuplicates: 2 });
      const s = await startSubscription(h, p.planId);
      const pay = await emu.paySession(s.sessionId, { card_number: GOOD_CARD });
      expect(pay.status).toBe(303);
      const verifies = await Promise.all(
        Array.from({ length: 10 }, () =>
          h.api<{ status: string }>('POST', '/api/subscriptions/verify', {
            subscriptionId: s.subscriptionId,
          }),
        ),
      );
      expect(verifies.map((v) => v.status)).toEqual(Array.from({ length: 10 }, () => 200));
      await h.settleDown();

      const sub = await adminSubscription(h, s.subscriptionId);
      expect(sub.status).toBe('active');
      expect(sub.periods).toHaveLength(1);
      expect(sub.periods[0]).toMatchObject({ amountPaid: 4000, applicationFee: 400 });
      // Linked to the one subscription the checkout made, the only one at the provider.
      const opts = onAccountOf(sub);
      const session = await h.stripe.checkout.sessions.retrieve(s.sessionId, {}, opts);
      expect(sub.providerSubscriptionId).toBe(session.subscription);
      const remote = await h.stripe.subscriptions.list({ status: 'all', limit: 100 }, opts);
      expect(remote.data.map((x) => x.id)).toEqual([sub.providerSubscriptionId]);
      // Applied once: one move to active, one period opened, one welcome, one receipt, one seller notice.
      const history = await historyOf(h, s.subscriptionId);
      expect(history.filter((e) => e.from_status !== null && e.from_status !== e.to_status)).toHaveLength(1);
      expect(history.filter((e) => e.to_status === 'active')).toHaveLength(1);
      expect(history.filter((e) => e.to_status === 'period_opened')).toHaveLength(1);
      expect(await notificationsFor(h, 'subscription_welcome')).toHaveLength(1);
      expect(await notificationsFor(h, 'subscription_receipt')).toHaveLength(1);
      expect(await notificationsFor(h, 'subscription_seller_notice')).toHaveLength(1);
      expect((await h.stripe.applicationFees.list({ limit: 100 })).data).toHaveLength(1);
    });
  }

  it.skipIf(serverOnly(backend))(
    'the last place raced by three members booking and two buyers paying, twelve rounds: one place taken each round, losers refused',
    async () => {
      h = await startHarness(backend, { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
      const emu = h.settle.emulator!;
      const p = await setupPlan(h, { chargeType: 'destination', includedBookings: 0, unitAmount: 4000 });
      const members: Subscribed[] = [];
      for (let i = 0; i < 3; i++)
        members.push(await subscribe(h, p.planId, { email: `member${i}@example.test` }));
      await h.settleDown();

      const buyer = async (slotId: string) => {
        const r = await h.api<{ orderId: string; checkoutUrl: string; error?: { code: string } }>(
          'POST',
          '/api/checkout',
          { slotId, quantity: 1, email: 'buyer@example.test' },
          { 'idempotency-key': randomUUID() },
        );
        if (r.status !== 201) return { status: r.status, code: r.body.error?.code, orderId: null };
        const sessionId = new URL(r.body.checkoutUrl).pathname.split('/').pop() ?? '';
        const paid = await emu.paySession(sessionId, { card_number: GOOD_CARD });
        expect(paid.status).toBe(303);
        await h.api('POST', '/api/checkout/verify', { orderId: r.body.orderId });
        return { status: 201, code: undefined, orderId: r.body.orderId };
      };

      const rounds: { slotId: string; members: number; orders: string[] }[] = [];
      for (let round = 0; round < 12; round++) {
        const slotId = await addSlot(h, p.listingId, 1);
        // The members set off up to 75 ms after the buyers, so either side gets there first in some rounds.
        const lag = (round % 6) * 15;
        const [booked, buyers] = await Promise.all([
          Promise.all(
            members.map(async (m) => {
              await sleep(lag);
              return book(h, m.subscriptionId, slotId, m.manageToken);
            }),
          ),
          Promise.all([buyer(slotId), buyer(slotId)]),
        ]);
        for (const m of booked) {
          expect([201, 409]).toContain(m.status);
          if (m.status === 409) expect(m.body.error?.code).toBe('slot_unavailable');
        }
        for (const b of buyers) {
          expect([201, 409]).toContain(b.status);
          if (b.status === 409) expect(b.code).toBe('slot_unavailable');
        }
        rounds.push({
          slotId,
          members: booked.filter((m) => m.status === 201).length,
          orders: buyers.flatMap((b) => (b.orderId === null ? [] : [b.orderId])),
        });
      }
      await h.settleDown();

      for (const r of rounds) {
        const statuses = await Promise.all(r.orders.map(async (id) => (await order(h, id)).status));
        const paid = statuses.filter((s) => s === 'paid').length;
        // One winner a round: a member or a paying buyer, never both, never none; sold never above capacity.
        expect(await slotSold(h, r.slotId)).toBe(1);
        expect(r.members + paid).toBe(1);
        // A buyer who held the place while a member tried is never oversold: the member was refused.
        expect(statuses.filter((s) => s !== 'paid')).toEqual([]);
        const booked = await h.settle.ctx.db
          .selectFrom('membership_bookings')
          .select('id')
          .where('slot_id', '=', r.slotId)
          .where('status', '=', 'booked')
          .execute();
        expect(booked).toHaveLength(r.members);
      }
      // Nothing was refunded: nobody paid for a place they did not get.
      expect((await h.stripe.refunds.list({ limit: 100 })).data).toHaveLength(0);
    },
    180_000,
  );

  it.skipIf(serverOnly(backend))(
    'the last place raced by a member and a buyer paying after their hold lapsed, ten rounds: the loser is refused, or paid_oversold and refunded',
    async () => {
      h = await startHarness(backend, { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
      const emu = h.settle.emulator!;
      const p = await setupPlan(h, { chargeType: 'direct', includedBookings: 0, unitAmount: 4000 });
      const member = await subscribe(h, p.planId);
      await h.settleDown();

      const rounds: { slotId: string; orderId: string; member: number }[] = [];
      for (let round = 0; round < 10; round++) {
        const slotId = await addSlot(h, p.listingId, 1);
        const c = await h.api<{ orderId: string; checkoutUrl: string }>(
          'POST',
          '/api/checkout',
          { slotId, quantity: 1, email: 'buyer@example.test' },
          { 'idempotency-key': randomUUID() },
        );
        expect(c.status).toBe(201);
        await lapseHold(h, c.body.orderId);
        const sessionId = new URL(c.body.checkoutUrl).pathname.split('/').pop() ?? '';
        // The member sets off up to 90 ms after the payment, so either gets there first in some rounds.
        const lag = (round % 4) * 30;
        const [booked] = await Promise.all([
          (async () => {
            await sleep(lag);
            return book(h, member.subscriptionId, slotId, member.manageToken);
          })(),
          (async () => {
            await emu.paySession(sessionId, { card_number: GOOD_CARD });
            await Promise.all(
              Array.from({ length: 3 }, () =>
                h.api('POST', '/api/checkout/verify', { orderId: c.body.orderId }),
              ),
            );
          })(),
        ]);
        expect([201, 409]).toContain(booked.status);
        if (booked.status === 409) expect(booked.body.error?.code).toBe('slot_unavailable');
        rounds.push({ slotId, orderId: c.body.orderId, member: booked.status === 201 ? 1 : 0 });
      }
      await h.settleDown();

      let refundsExpected = 0;
      for (const r of rounds) {
        expect(await slotSold(h, r.slotId)).toBe(1);
        const o = await order(h, r.orderId);
        const moves = o.history.map((x) => x.to);
        if (r.member === 1) {
          // The member took the place first: the payment came too late, the buyer is refunded in full.
          expect(moves).toContain('paid_oversold');
          expect(moves).not.toContain('paid');
          expect(o.status).toBe('refunded');
          refundsExpected++;
        } else {
          expect(o.status).toBe('paid');
          expect(moves).not.toContain('paid_oversold');
        }
      }
      const refunds = (await h.stripe.refunds.list({ limit: 100 }, { stripeAccount: p.accountId })).data;
      expect(refunds).toHaveLength(refundsExpected);
      expect(refunds.every((r) => r.amount === 5000)).toBe(true);
    },
    180_000,
  );

  it.skipIf(serverOnly(backend))(
    'the last booking of a period raced: two members with one booking left each, twenty bookings at once over ten slots: one each',
    async () => {
      h = await startHarness(backend, { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
      const p = await setupPlan(h, { chargeType: 'destination', includedBookings: 3, capacity: 5 });
      const a = await subscribe(h, p.planId, { email: 'a@example.test' });
      const b = await subscribe(h, p.planId, { email: 'b@example.test' });
      await h.settleDown();
      // Two of three bookings used, each on the plan's first slot and one more.
      const warmup = await addSlot(h, p.listingId, 5);
      for (const m of [a, b])
        for (const slotId of [p.slotId, warmup])
          expect((await book(h, m.subscriptionId, slotId, m.manageToken)).status).toBe(201);

      const slots: string[] = [];
      for (let i = 0; i < 10; i++) slots.push(await addSlot(h, p.listingId, 1));
      const results = await Promise.all(
        [a, b].flatMap((m) =>
          slots.map(async (slotId) => ({
            member: m.subscriptionId,
            r: await book(h, m.subscriptionId, slotId, m.manageToken),
          })),
        ),
      );
      for (const m of [a, b]) {
        const mine = results.filter((x) => x.member === m.subscriptionId);
        expect(mine.filter((x) => x.r.status === 201)).toHaveLength(1);
        const refused = mine.filter((x) => x.r.status !== 201);
        expect(refused).toHaveLength(9);
        for (const x of refused) {
          expect(x.r.status).toBe(409);
          expect(['allowance_exhausted', 'slot_unavailable']).toContain(x.r.body.error?.code);
        }
        const sub = await adminSubscription(h, m.subscriptionId);
        expect(sub.periods[0]!.usedBookings).toBe(3);
        expect(sub.entitlement).toMatchObject({ bookingsLeft: 0, bookingsUsed: 3 });
      }
      // The places actually taken: one per member in the raced slots, two each before.
      const sold = await Promise.all(slots.map((s) => slotSold(h, s)));
      expect(sold.reduce((x, y) => x + y, 0)).toBe(2);
      expect(sold.every((x) => x <= 1)).toBe(true);
      expect(await slotSold(h, p.slotId)).toBe(2);
      expect(await slotSold(h, warmup)).toBe(2);
      const booked = await h.settle.ctx.db
        .selectFrom('membership_bookings')
        .select('id')
        .where('status', '=', 'booked')
        .execute();
      expect(booked).toHaveLength(6);
      await h.settleDown();
      expect(await notificationsFor(h, 'membership_booking')).toHaveLength(6);
    },
    120_000,
  );
});
