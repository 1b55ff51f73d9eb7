import fc from 'fast-check';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../../src/app/context.js';
import { ingestEvent } from '../../src/core/inbox.js';
import type { VerifiedEvent } from '../../src/core/provider.js';
import { reconcile } from '../../src/core/reconcile.js';
import { BACKENDS } from '../helpers/db.js';
import { checkout, fulfilments, setupMarket, startHarness, type Harness } from '../helpers/settle.js';
import { FULL, record, scaled } from './figures.js';
import { restore, snapshot, type Snapshot } from './hostile-snapshot.js';

/**
 * (a) The three confirmation sources (webhook delivery, the browser's verify, reconciliation) racing on one paid
 * order, in random orders and counts: one confirmation, one fulfilment. (b) Each flow's stored events delivered
 * in every order (a sample at short scale, with duplicates) to fresh copies of the same state: the final state
 * depends only on the set of events.
 */

const DROP_ALL = { webhookDrop: { probability: 1 } } as const;

describe.each(BACKENDS)('confirmation sources interleaved (%s PostgreSQL)', (backend) => {
  let h: Harness;
  let slotId: string;
  const seen = { runs: 0, deliveries: 0, verifies: 0, reconciles: 0, doubleFulfilments: 0, fiveXx: 0 };
  beforeAll(async () => {
    h = await startHarness(backend, { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
    slotId = (await setupMarket(h, { chargeType: 'destination', capacity: 100_000 })).slotId;
  });
  afterAll(async () => {
    record({
      property: 'Webhook, verify and reconcile racing on one paid order confirm it once',
      method: `fast-check: random counts and orders of concurrent signed deliveries, verifies and reconciles per paid order (${backend})`,
      figures: seen,
      held: seen.doubleFulfilments === 0 && seen.fiveXx === 0,
    });
    await h?.close();
  });

  it(
    'whatever the mix, the order is paid once, its place taken once, its payment recorded once',
    async () => {
      const secret = h.settle.webhookSecrets!.platform[0]!;
      const source = fc.constantFrom('webhook', 'verify', 'reconcile');
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(source, fc.integer({ min: 0, max: 15 })), { minLength: 1, maxLength: 8 }),
          async (plan) => {
            h.settle.emulator!.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
            const c = await checkout(h, slotId);
            await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
            await h.settleDown();
            h.settle.emulator!.faults.reset();
            const soldBefore = (
              await h.settle.ctx.db
                .selectFrom('slots')
                .select('sold')
                .where('id', '=', slotId)
                .executeTakeFirstOrThrow()
            ).sold;
            const ev = (
              await h.stripe.events.list({ type: 'checkout.session.completed', limit: 5 })
            ).data.find((e) => JSON.stringify(e).includes(c.orderId));
            if (ev === undefined) throw new Error('event not found');
            const payload = JSON.stringify(ev);
            const statuses = await Promise.all(
              plan.map(async ([kind, delay]) => {
                await new Promise((r) => setTimeout(r, delay));
                if (kind === 'webhook') {
                  seen.deliveries++;
                  const res = await fetch(`${h.settle.url}/webhooks/stripe`, {
                    method: 'POST',
                    headers: {
                      'content-type': 'application/json',
                      'stripe-signature': h.stripe.webhooks.generateTestHeaderString({ payload, secret }),
                    },
                    body: payload,
                  });
                  return res.status;
                }
                if (kind === 'verify') {
                  seen.verifies++;
                  return (await h.api('POST', '/api/checkout/verify', { orderId: c.orderId })).status;
                }
                seen.reconciles++;
                const s = await reconcile(h.settle.ctx, { lookbackHours: 1 });
                return s.errors.length === 0 ? 200 : 500;
              }),
            );
            await h.settleDown();
            seen.runs++;
            seen.fiveXx += statuses.filter((s) => s >= 500 && s !== 503).length;
            const row = await h.settle.ctx.db
              .selectFrom('orders')
              .select(['status', 'confirmed_via'])
              .where('id', '=', c.orderId)
              .executeTakeFirstOrThrow();
            const sold = (
              await h.settle.ctx.db
                .selectFrom('slots')
                .select('sold')
                .where('id', '=', slotId)
                .executeTakeFirstOrThrow()
            ).sold;
            const payments = await h.settle.ctx.db
              .selectFrom('payments')
              .select('id')
              .where('order_id', '=', c.orderId)
              .execute();
            const booked = await h.settle.ctx.db
              .selectFrom('notifications')
              .select('id')
              .where('order_id', '=', c.orderId)
              .where('kind', '=', 'buyer_receipt')
              .execute();
            const paidTimes = await fulfilments(h, c.orderId);
            if (paidTimes !== 1) seen.doubleFulfilments++;
            expect(
              statuses.filter((s) => s >= 500 && s !== 503),
              JSON.stringify(plan),
            ).toEqual([]);
            expect(row.status).toBe('paid');
            expect(plan.map(([k]) => (k === 'verify' ? 'frontend' : k))).toContain(row.confirmed_via);
            expect(paidTimes).toBe(1);
            expect(sold - soldBefore).toBe(1);
            expect(payments).toHaveLength(1);
            expect(booked.length).toBeLessThanOrEqual(1);
          },
        ),
        { numRuns: scaled(6, 40), endOnFailure: true },
      );
    },
    scaled(60_000, 600_000),
  );
});

/** What must not depend on the order of events: per order, its slot and its refunds and disputes; per seller. */
async function finalState(ctx: AppContext, orderIds: string[], sellerIds: string[]): Promise<unknown> {
  const orders = await ctx.db
    .selectFrom('orders')
    .select(['id', 'status', 'dispute_status', 'refunded_amount', 'slot_id', 'charged_amount'])
    .where('id', 'in', orderIds.length > 0 ? orderIds : ['-'])
    .orderBy('id')
    .execute();
  const slots = await ctx.db
    .selectFrom('slots')
    .select(['id', 'sold'])
    .where('id', 'in', orders.length > 0 ? orders.map((o) => o.slot_id) : ['-'])
    .orderBy('id')
    .execute();
  const refunds = await ctx.db
    .selectFrom('refunds')
    .select(['id', 'status', 'amount', 'provider_refund_id'])
    .where('order_id', 'in', orderIds.length > 0 ? orderIds : ['-'])
    .orderBy('id')
    .execute();
  const disputes = await ctx.db
    .selectFrom('disputes')
    .select(['provider_dispute_id', 'status', 'outcome', 'order_id'])
    .orderBy('provider_dispute_id')
    .execute();
  const paid = await ctx.db
    .selectFrom('order_events')
    .select(['order_id'])
    .where('to_status', '=', 'paid')
    .where('order_id', 'in', orderIds.length > 0 ? orderIds : ['-'])
    .execute();
  const sellers = await ctx.db
    .selectFrom('seller_accounts')
    .select([
      'seller_id as id',
      'details_submitted',
      'charges_enabled',
      'payouts_enabled',
      'account_synced_at',
    ])
    .where('seller_id', 'in', sellerIds.length > 0 ? sellerIds : ['-'])
    .orderBy('seller_id')
    .execute();
  return { orders, slots, refunds, disputes, fulfilments: paid.length, sellers };
}

/** A step of a permutation: one event delivery, or running the queue (refund submission answers). */
type Step = { kind: 'event'; ev: VerifiedEvent } | { kind: 'queue' };

function* permutations(n: number): Generator<number[]> {
  const a = [...Array(n).keys()];
  const c = new Array<number>(n).fill(0);
  yield [...a];
  let i = 0;
  while (i < n) {
    if ((c[i] ?? 0) < i) {
      const j = i % 2 === 0 ? 0 : (c[i] ?? 0);
      [a[j], a[i]] = [a[i] ?? 0, a[j] ?? 0];
      yield [...a];
      c[i] = (c[i] ?? 0) + 1;
      i = 0;
    } else {
      c[i] = 0;
      i++;
    }
  }
}

describe('each flow’s events in every order (embedded PostgreSQL)', () => {
  let h: Harness;
  const seen = { flows: 0, permutations: 0, deliveries: 0, divergent: 0 };
  beforeAll(async () => {
    h = await startHarness('embedded', { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(async () => {
    record({
      property: 'The final state depends only on the set of events, never their order',
      method:
        'each flow (checkout, delayed payment, refund, dispute, account) run with webhooks dropped; its stored events from the Events API delivered (with duplicates) in every order (a sample at short scale) to fresh copies of the same state',
      figures: seen,
      held: seen.divergent === 0,
    });
    await h?.close();
  });

  /** Stored, verified events of the given account (null = platform) that mention any of `needles`. */
  async function storedEvents(account: string | null, needles: string[]): Promise<VerifiedEvent[]> {
    const list = await h.stripe.events.list(
      { limit: 100 },
      account !== null ? { stripeAccount: account } : {},
    );
    const out: VerifiedEvent[] = [];
    for (const e of list.data as Stripe.Event[]) {
      const text = JSON.stringify(e);
      if (!needles.some((n) => text.includes(n))) continue;
      const ev = await h.settle.ctx.providers
        .get('stripe')
        .normalizeEvent(account !== null ? 'connect' : 'platform', e);
      if (ev.event.kind !== 'ignored') out.push(ev);
    }
    return out.reverse(); // oldest first
  }

  /**
   * Delivers the steps in every order (or a sample) to fresh copies of `snap`, each step once or twice, and
   * checks that every copy ends in the same state.
   */
  async function everyOrder(
    name: string,
    snap: Snapshot,
    steps: Step[],
    orderIds: string[],
    sellerIds: string[],
  ): Promise<void> {
    seen.flows++;
    const runOne = async (perm: number[], twice: boolean[]): Promise<unknown> => {
      const copy = await restore(snap, h.settle.ctx);
      try {
        for (const [k, i] of perm.entries()) {
          const step = steps[i]!;
          for (let t = 0; t < (twice[k] === true ? 2 : 1); t++) {
            if (step.kind === 'queue') await copy.ctx.queue.drain();
            else {
              seen.deliveries++;
              await ingestEvent(copy.ctx, step.ev, 'webhook');
            }
          }
        }
        await copy.ctx.queue.drain();
        seen.permutations++;
        return await finalState(copy.ctx, orderIds, sellerIds);
      } finally {
        await copy.close();
      }
    };
    const n = steps.length;
    const reference = await runOne([...Array(n).keys()], []);
    const check = async (perm: number[], twice: boolean[]) => {
      const got = await runOne(perm, twice);
      const label = `${name}: ${perm
        .map((i) => {
          const s = steps[i]!;
          return s.kind === 'queue' ? 'queue' : s.ev.type;
        })
        .join(' → ')}`;
      if (JSON.stringify(got) !== JSON.stringify(reference)) seen.divergent++;
      expect(got, label).toEqual(reference);
    };
    const factorial = [...Array(n).keys()].reduce((f, k) => f * (k + 1), 1);
    if (FULL && factorial <= 24) {
      for (const perm of permutations(n))
        await check(
          perm,
          perm.map((_, k) => k % 3 === 0),
        );
    } else {
      await fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
          fc.array(fc.boolean(), { minLength: n, maxLength: n }),
          check,
        ),
        { numRuns: scaled(3, 40), endOnFailure: true },
      );
    }
  }

  it(
    'checkout: completed and expired sessions on one slot',
    async () => {
      const m = await setupMarket(h, { chargeType: 'direct', capacity: 2 });
      h.settle.emulator!.faults.set(DROP_ALL);
      const a = await checkout(h, m.slotId);
      const b = await checkout(h, m.slotId);
      const snap = await snapshot(h.settle.ctx.db);
      await h.settle.emulator!.paySession(a.sessionId, { card_number: '4242424242424242' });
      await h.settle.emulator!.expireSession(b.sessionId);
      await h.settleDown();
      h.settle.emulator!.faults.reset();
      const events = await storedEvents(m.accountId, [a.orderId, b.orderId]);
      expect(events.map((e) => e.event.kind).sort()).toEqual(['checkout.completed', 'checkout.expired']);
      await everyOrder(
        'checkout',
        snap,
        events.map((ev) => ({ kind: 'event', ev })),
        [a.orderId, b.orderId],
        [],
      );
    },
    scaled(60_000, 600_000),
  );

  it(
    'delayed payment: completed unpaid, then async succeeded on one order and async failed on another',
    async () => {
      const m = await setupMarket(h, { chargeType: 'destination', capacity: 5 });
      h.settle.emulator!.faults.set(DROP_ALL);
      const ok = await checkout(h, m.slotId);
      const ko = await checkout(h, m.slotId);
      const snap = await snapshot(h.settle.ctx.db);
      await h.settle.emulator!.paySession(ok.sessionId, { payment_method: 'delayed' });
      await h.settle.emulator!.paySession(ko.sessionId, { payment_method: 'delayed' });
      await h.settle.emulator!.completeDelayedPayment(ok.sessionId, 'succeeded');
      await h.settle.emulator!.completeDelayedPayment(ko.sessionId, 'failed');
      await h.settleDown();
      h.settle.emulator!.faults.reset();
      const events = await storedEvents(null, [ok.orderId, ko.orderId]);
      expect(events.map((e) => e.event.kind).sort()).toEqual([
        'checkout.async_failed',
        'checkout.async_succeeded',
        'checkout.completed',
        'checkout.completed',
      ]);
      await everyOrder(
        'delayed',
        snap,
        events.map((ev) => ({ kind: 'event', ev })),
        [ok.orderId, ko.orderId],
        [],
      );
    },
    scaled(60_000, 600_000),
  );

  it(
    'refunds: two refunds’ events and the refund submissions in any order',
    async () => {
      const m = await setupMarket(h, { chargeType: 'direct', unitAmount: 5000 });
      const c = await checkout(h, m.slotId);
      await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
      await h.settleDown();
      await h.settle.ctx.queue.stop();
      try {
        h.settle.emulator!.faults.set(DROP_ALL);
        expect(
          (await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, { amount: 2000 })).status,
        ).toBe(201);
        expect((await h.admin('POST', `/api/admin/orders/${c.orderId}/refunds`, {})).status).toBe(201);
        const snap = await snapshot(h.settle.ctx.db); // both refunds requested, neither submitted
        await h.settle.ctx.queue.drain(); // submitted to the emulator: its events exist, undelivered
        await h.settleDown();
        h.settle.emulator!.faults.reset();
        const refundIds = (
          await h.settle.ctx.db.selectFrom('refunds').select('id').where('order_id', '=', c.orderId).execute()
        ).map((r) => r.id);
        const events = await storedEvents(m.accountId, refundIds);
        expect(events.filter((e) => e.event.kind === 'refund.updated').length).toBeGreaterThanOrEqual(2);
        const steps: Step[] = [...events.map((ev): Step => ({ kind: 'event', ev })), { kind: 'queue' }];
        await everyOrder('refund', snap, steps, [c.orderId], []);
      } finally {
        h.settle.ctx.queue.start();
      }
    },
    scaled(60_000, 600_000),
  );

  it(
    'dispute: created and closed in any order',
    async () => {
      const m = await setupMarket(h, { chargeType: 'direct', unitAmount: 4000 });
      const c = await checkout(h, m.slotId);
      h.settle.emulator!.faults.set({
        webhookDrop: { types: ['charge.dispute.created', 'charge.dispute.closed', 'charge.dispute.updated'] },
      });
      await h.settle.emulator!.paySession(c.sessionId, { card_number: '4000000000000259' });
      await h.settleDown();
      const snap = await snapshot(h.settle.ctx.db);
      const disputes = await h.stripe.disputes.list({ limit: 5 }, { stripeAccount: m.accountId });
      expect(disputes.data).toHaveLength(1);
      await h.settle.emulator!.closeDispute(disputes.data[0]!.id, 'lost');
      await h.settleDown();
      h.settle.emulator!.faults.reset();
      const events = await storedEvents(m.accountId, [disputes.data[0]!.id]);
      expect(events.map((e) => e.event.kind).sort()).toEqual(['dispute.closed', 'dispute.created']);
      await everyOrder(
        'dispute',
        snap,
        events.map((ev) => ({ kind: 'event', ev })),
        [c.orderId],
        [],
      );
    },
    scaled(60_000, 600_000),
  );

  it(
    'account: account.updated events with different created times',
    async () => {
      h.settle.emulator!.faults.set(DROP_ALL);
      const s = await h.admin<{ id: string; accountId: string }>('POST', '/api/sellers', {
        name: 'Perm seller',
        email: 'perm@example.test',
        chargeType: 'direct',
      });
      expect(s.status).toBe(201);
      const snap = await snapshot(h.settle.ctx.db);
      await h.settle.emulator!.completeOnboarding(s.body.accountId);
      await h.settleDown();
      h.settle.emulator!.faults.reset();
      const real = (await storedEvents(s.body.accountId, [s.body.accountId])).filter(
        (e) => e.event.kind === 'account.updated',
      );
      expect(real.length).toBeGreaterThanOrEqual(1);
      const last = real[real.length - 1]!;
      const raw = last.raw as { id: string; created: number; data: { object: Record<string, unknown> } };
      // Older states of the same account, as Stripe would have sent them earlier (distinct created times).
      const older = (ago: number, patch: Record<string, boolean>, id: string): unknown => ({
        ...raw,
        id,
        created: raw.created - ago,
        data: { ...raw.data, object: { ...raw.data.object, ...patch } },
      });
      const variants = [
        older(
          30,
          { details_submitted: false, charges_enabled: false, payouts_enabled: false },
          `${raw.id}_t30`,
        ),
        older(
          20,
          { details_submitted: true, charges_enabled: false, payouts_enabled: false },
          `${raw.id}_t20`,
        ),
        older(
          10,
          { details_submitted: true, charges_enabled: true, payouts_enabled: false },
          `${raw.id}_t10`,
        ),
      ];
      const events = [...real];
      for (const v of variants)
        events.push(await h.settle.ctx.providers.get('stripe').normalizeEvent('connect', v));
      await everyOrder(
        'account',
        snap,
        events.map((ev) => ({ kind: 'event', ev })),
        [],
        [s.body.id],
      );
    },
    scaled(60_000, 600_000),
  );
});
