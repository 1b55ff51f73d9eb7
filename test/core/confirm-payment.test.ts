import { afterEach, describe, expect, it } from 'vitest';
import { confirmPayment, inventoryDrift } from '../../src/core/confirm-payment.js';
import { getAvailability } from '../../src/core/inventory.js';
import { createPendingOrder, getOrder } from '../../src/core/orders.js';
import { transitionOrder } from '../../src/core/order-transitions.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';
import { evidenceFor, marketplace } from '../helpers/fixtures.js';

/**
 * Every test runs both ways a confirmation can go: `locking` (the order row read and locked in the transaction, as
 * verify and reconciliation call it) and `optimistic` (the webhook path: the row the caller read before, given as
 * `known`, applied in one statement only if it did not change, else the locking way).
 */
const MODES = BACKENDS.flatMap((backend) =>
  (['locking', 'optimistic'] as const).map((mode) => [backend, mode] as const),
);

describe.each(MODES)('confirmPayment on %s PostgreSQL, %s', (backend, mode) => {
  let t: TestDb;
  /** confirmPayment as the mode calls it: in `optimistic`, with the row read just before as `known`. */
  const confirm = async (
    db: TestDb['db'],
    orderId: string,
    evidence: Parameters<typeof confirmPayment>[2],
    options: Parameters<typeof confirmPayment>[3] = {},
  ) =>
    confirmPayment(
      db,
      orderId,
      evidence,
      mode === 'optimistic' ? { ...options, known: await getOrder(db, orderId) } : options,
    );
  afterEach(async () => {
    await t?.destroy();
  });

  const counts = async (orderId: string) => {
    const jobs = await t.db
      .selectFrom('jobs')
      .select(['kind'])
      .where('dedupe_key', 'like', `%:${orderId}`)
      .execute();
    const payments = await t.db.selectFrom('payments').selectAll().where('order_id', '=', orderId).execute();
    const events = await t.db
      .selectFrom('order_events')
      .selectAll()
      .where('order_id', '=', orderId)
      .execute();
    return { jobs: jobs.map((j) => j.kind).sort(), payments, events };
  };

  it('200 concurrent confirmations over separate connections: one transition, one set of side effects', async () => {
    t = await freshDb(backend, { poolMax: 60 });
    const { slot } = await marketplace(t.db, { capacity: 5 });
    const order = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 2,
      provider: 'stripe',
      holdMinutes: 30,
    });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        confirm(t.db, order.id, evidenceFor(order, i % 2 === 0 ? 'webhook' : 'frontend')),
      ),
    );
    expect(results.filter((r) => r.outcome === 'confirmed')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'already_handled')).toHaveLength(199);
    expect(results.every((r) => r.status === 'paid')).toBe(true);
    const c = await counts(order.id);
    expect(c.jobs).toEqual(['fulfil.booking', 'notify.buyer_receipt', 'notify.seller_notice']);
    expect(c.payments).toHaveLength(1);
    expect(c.events.filter((e) => e.to_status === 'paid')).toHaveLength(1);
    const avail = await getAvailability(t.db, slot.id);
    expect(avail).toMatchObject({ capacity: 5, sold: 2, held: 0, available: 3 });
    expect(await inventoryDrift(t.db, slot.id)).toBe(0);
  });

  it('last-slot race: 50 paid orders for 10 places, holds expired → 10 fulfilled, 40 oversold with refunds queued', async () => {
    t = await freshDb(backend, { poolMax: 30 });
    const { slot } = await marketplace(t.db, { capacity: 10 });
    // Each order's 30-minute hold expired before the next was created, so all 50 checkouts could start.
    const base = Date.now() - 50 * 31 * 60_000 - 3_600_000;
    const orders = [];
    for (let i = 0; i < 50; i++) {
      orders.push(
        await createPendingOrder(t.db, {
          slotId: slot.id,
          quantity: 1,
          provider: 'stripe',
          holdMinutes: 30,
          now: new Date(base + i * 31 * 60_000),
        }),
      );
    }
    expect((await getAvailability(t.db, slot.id)).held).toBe(0);
    const results = await Promise.all(orders.map((o) => confirm(t.db, o.id, evidenceFor(o))));
    expect(results.filter((r) => r.outcome === 'confirmed')).toHaveLength(10);
    expect(results.filter((r) => r.outcome === 'oversold')).toHaveLength(40);
    const s = await t.db.selectFrom('slots').selectAll().where('id', '=', slot.id).executeTakeFirstOrThrow();
    expect(s.sold).toBe(10);
    const refunds = await t.db
      .selectFrom('jobs')
      .select('dedupe_key')
      .where('kind', '=', 'refund.oversold')
      .execute();
    expect(refunds).toHaveLength(40);
    const oversold = await t.db
      .selectFrom('orders')
      .select('id')
      .where('status', '=', 'paid_oversold')
      .execute();
    expect(new Set(refunds.map((r) => r.dedupe_key))).toEqual(
      new Set(oversold.map((o) => `refund.oversold:${o.id}`)),
    );
    const fulfil = await t.db.selectFrom('jobs').select('id').where('kind', '=', 'fulfil.booking').execute();
    expect(fulfil).toHaveLength(10);
    expect(await inventoryDrift(t.db, slot.id)).toBe(0);
  });

  it('holds are first come, first served: a later checkout never takes precedence over an earlier paid one', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 1 });
    // The first buyer paid within their hold, but the confirmation arrives after it lapsed; meanwhile a second
    // buyer started a checkout on the place that lapse freed.
    const first = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
      now: new Date(Date.now() - 3_600_000),
    });
    const later = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    expect((await confirm(t.db, first.id, evidenceFor(first))).outcome).toBe('confirmed');
    expect((await confirm(t.db, later.id, evidenceFor(later))).outcome).toBe('oversold');
    expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 1, held: 0, available: 0 });
  });

  it('an earlier active hold of another buyer is respected: it keeps its place over a later one', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 2 });
    const hourAgo = new Date(Date.now() - 3_600_000);
    // c's hold lapsed; a was placed while c's hold was active; b was placed after c's hold lapsed.
    const c = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 31,
      now: hourAgo,
    });
    const a = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 120,
      now: new Date(hourAgo.getTime() + 60_000),
    });
    const b = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    // c's late confirmation: a (earlier, active) counts against it, b (later) does not.
    expect((await confirm(t.db, c.id, evidenceFor(c))).outcome).toBe('confirmed');
    // b pays before a: a's earlier hold is still respected, so b is the one oversold.
    expect((await confirm(t.db, b.id, evidenceFor(b))).outcome).toBe('oversold');
    expect((await confirm(t.db, a.id, evidenceFor(a))).outcome).toBe('confirmed');
    expect(await getAvailability(t.db, slot.id)).toMatchObject({ capacity: 2, sold: 2 });
  });

  for (const step of ['status_updated', 'inventory_taken', 'effects_queued'] as const) {
    it(`a failure injected at '${step}' rolls everything back, and a later confirmation succeeds`, async () => {
      t = await freshDb(backend);
      const { slot } = await marketplace(t.db, { capacity: 3 });
      const order = await createPendingOrder(t.db, {
        slotId: slot.id,
        quantity: 1,
        provider: 'stripe',
        holdMinutes: 30,
      });
      await expect(
        confirm(t.db, order.id, evidenceFor(order), {
          probe: (s) => {
            if (s === step) throw new Error('injected crash');
          },
        }),
      ).rejects.toThrow('injected crash');
      expect((await getOrder(t.db, order.id)).status).toBe('pending');
      const c = await counts(order.id);
      expect(c.jobs).toEqual([]);
      expect(c.payments).toEqual([]);
      expect(c.events.map((e) => e.to_status)).toEqual(['pending']);
      expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 0, held: 1 });

      const ok = await confirm(t.db, order.id, evidenceFor(order));
      expect(ok).toMatchObject({ outcome: 'confirmed', status: 'paid' });
      expect((await counts(order.id)).jobs).toHaveLength(3);
      expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 1, held: 0 });
    });
  }

  it('amount mismatch puts the order in review and fulfils nothing', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db);
    const order = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    const r = await confirm(t.db, order.id, evidenceFor(order, 'webhook', { amount: order.total - 1 }));
    expect(r).toMatchObject({ outcome: 'review', status: 'needs_review' });
    const o = await getOrder(t.db, order.id);
    expect(o.review_reason).toContain('amount mismatch');
    expect((await counts(order.id)).jobs).toEqual(['notify.operator_review']);
    expect((await getAvailability(t.db, slot.id)).sold).toBe(0);
    // A second, matching confirmation does not override the review.
    expect((await confirm(t.db, order.id, evidenceFor(order))).outcome).toBe('already_handled');
  });

  it('currency mismatch puts the order in review', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db);
    const order = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    const r = await confirm(t.db, order.id, evidenceFor(order, 'frontend', { currency: 'eur' }));
    expect(r.status).toBe('needs_review');
    expect((await getOrder(t.db, order.id)).review_reason).toContain('currency mismatch');
    expect((await getAvailability(t.db, slot.id)).sold).toBe(0);
  });

  it('a code entered on the hosted page is priced from Settle’s own copy; an unknown code goes to review', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { unitAmount: 2500 });
    const a = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 2,
      provider: 'stripe',
      holdMinutes: 30,
    });
    const ok = await confirm(
      t.db,
      a.id,
      evidenceFor(a, 'webhook', { amount: 4500, promotionCode: 'tenoff', applicationFee: 500 }),
    );
    expect(ok.status).toBe('paid');
    const paid = await getOrder(t.db, a.id);
    expect(paid).toMatchObject({
      subtotal: 5000,
      discount: 500,
      total: 4500,
      promotion_code: 'TENOFF',
      platform_fee: 500,
    });
    const b = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    const bad = await confirm(t.db, b.id, evidenceFor(b, 'webhook', { amount: 0, promotionCode: 'NOPE' }));
    expect(bad.status).toBe('needs_review');
  });

  it('a 100%-off order confirms with no payment id and no fee', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db);
    const order = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
      promotionCode: 'free100',
    });
    expect(order).toMatchObject({ total: 0, discount: 2000, platform_fee: 0, promotion_code: 'FREE100' });
    const r = await confirm(t.db, order.id, evidenceFor(order));
    expect(r.status).toBe('paid');
    const pay = await t.db
      .selectFrom('payments')
      .selectAll()
      .where('order_id', '=', order.id)
      .executeTakeFirstOrThrow();
    expect(pay).toMatchObject({
      amount: 0,
      provider_payment_id: null,
      application_fee: 0,
      status: 'no_payment_required',
    });
  });

  it('late or reordered events never move a paid order backwards; expiry releases the hold', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 2 });
    const a = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    await confirm(t.db, a.id, evidenceFor(a));
    expect(await transitionOrder(t.db, a.id, 'expired')).toMatchObject({ changed: false, status: 'paid' });
    expect(await transitionOrder(t.db, a.id, 'processing')).toMatchObject({ changed: false, status: 'paid' });
    const b = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    expect((await getAvailability(t.db, slot.id)).available).toBe(0);
    expect(await transitionOrder(t.db, b.id, 'expired')).toMatchObject({ changed: true, status: 'expired' });
    expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 1, held: 0, available: 1 });
    // Money arriving after expiry is still confirmed (and inventory taken if still free).
    expect((await confirm(t.db, b.id, evidenceFor(b))).status).toBe('paid');
  });

  it('a hold blocks new checkouts beyond capacity', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 2 });
    await createPendingOrder(t.db, { slotId: slot.id, quantity: 2, provider: 'stripe', holdMinutes: 30 });
    await expect(
      createPendingOrder(t.db, { slotId: slot.id, quantity: 1, provider: 'stripe', holdMinutes: 30 }),
    ).rejects.toMatchObject({
      code: 'slot_unavailable',
    });
  });
});

describe.each(BACKENDS)('confirmPayment with a row read before (known) on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  const history = async (orderId: string) =>
    (
      await t.db
        .selectFrom('order_events')
        .select(['from_status', 'to_status', 'note'])
        .where('order_id', '=', orderId)
        .orderBy('id')
        .execute()
    ).map((e) => `${e.from_status ?? ''}→${e.to_status}`);

  /** A fresh database with one pending order on a slot, and the order's row as read now (`known`). */
  const pendingOrder = async (capacity: number, quantity: number, poolMax?: number) => {
    t = await freshDb(backend, poolMax !== undefined ? { poolMax } : {});
    const { slot } = await marketplace(t.db, { capacity });
    const order = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity,
      provider: 'stripe',
      holdMinutes: 30,
    });
    return { slot, order, known: await getOrder(t.db, order.id) };
  };

  it('an order that expired after it was read is decided again on the locked row', async () => {
    const { slot, order, known } = await pendingOrder(2, 1);
    await transitionOrder(t.db, order.id, 'expired');
    const r = await confirmPayment(t.db, order.id, evidenceFor(order), { known });
    expect(r).toMatchObject({ outcome: 'confirmed', status: 'paid' });
    // The history names the status the order really left (expired), not the stale one (pending).
    expect(await history(order.id)).toEqual(['→pending', 'pending→expired', 'expired→paid']);
    expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 1, held: 0 });
    expect(await inventoryDrift(t.db, slot.id)).toBe(0);
  });

  it('a price that changed after the row was read is checked against the new price', async () => {
    const { slot, order, known } = await pendingOrder(2, 1);
    await t.db
      .updateTable('orders')
      .set({ total: order.total - 100, discount: order.discount + 100 })
      .where('id', '=', order.id)
      .execute();
    const r = await confirmPayment(t.db, order.id, evidenceFor(order), { known });
    expect(r).toMatchObject({ outcome: 'review', status: 'needs_review' });
    const o = await getOrder(t.db, order.id);
    expect(o.review_reason).toBe(`amount mismatch: paid ${order.total}, expected ${order.total - 100}`);
    expect((await getAvailability(t.db, slot.id)).sold).toBe(0);
  });

  it('an order already paid after it was read: already handled, nothing written twice', async () => {
    const { slot, order, known } = await pendingOrder(2, 2);
    expect((await confirmPayment(t.db, order.id, evidenceFor(order))).outcome).toBe('confirmed');
    const r = await confirmPayment(t.db, order.id, evidenceFor(order), { known });
    expect(r).toMatchObject({ outcome: 'already_handled', status: 'paid' });
    expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 2, held: 0 });
    const jobs = await t.db
      .selectFrom('jobs')
      .select('kind')
      .where('dedupe_key', 'like', `%:${order.id}`)
      .execute();
    expect(jobs).toHaveLength(3);
  });

  it('a slot the fast take cannot fit goes the exact way: an earlier active hold keeps its place', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 1 });
    const earlier = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
      now: new Date(Date.now() - 60_000),
    });
    // The later checkout starts while the earlier hold looks lapsed; then the earlier hold is active again (as a
    // delayed payment's extended hold would be), so both holds are active when the later order is confirmed.
    await t.db
      .updateTable('holds')
      .set({ expires_at: new Date(Date.now() - 1) })
      .where('order_id', '=', earlier.id)
      .execute();
    const later = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    await t.db
      .updateTable('holds')
      .set({ expires_at: new Date(Date.now() + 3_600_000) })
      .where('order_id', '=', earlier.id)
      .execute();
    // Both holds are active now; `held` (2) makes the fast take fail for the later order, and the exact check finds
    // the earlier hold ahead of it.
    const r = await confirmPayment(t.db, later.id, evidenceFor(later), {
      known: await getOrder(t.db, later.id),
    });
    expect(r).toMatchObject({ outcome: 'oversold', status: 'paid_oversold' });
    const e = await confirmPayment(t.db, earlier.id, evidenceFor(earlier), {
      known: await getOrder(t.db, earlier.id),
    });
    expect(e).toMatchObject({ outcome: 'confirmed', status: 'paid' });
    expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 1, held: 0 });
  });

  it('concurrent confirmations with the same row read before, racing an expiry: one paid transition', async () => {
    const { slot, order, known } = await pendingOrder(3, 2, 40);
    const results = await Promise.all([
      transitionOrder(t.db, order.id, 'expired').then(() => null),
      ...Array.from({ length: 60 }, (_, i) =>
        confirmPayment(t.db, order.id, evidenceFor(order, i % 2 === 0 ? 'webhook' : 'frontend'), { known }),
      ),
    ]);
    const outcomes = results.filter((r) => r !== null).map((r) => r.outcome);
    expect(outcomes.filter((o) => o === 'confirmed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'already_handled')).toHaveLength(59);
    const paidEvents = (await history(order.id)).filter((h) => h.endsWith('→paid'));
    expect(paidEvents).toHaveLength(1);
    expect(await getAvailability(t.db, slot.id)).toMatchObject({ sold: 2, held: 0 });
    expect(await inventoryDrift(t.db, slot.id)).toBe(0);
    const payments = await t.db
      .selectFrom('payments')
      .select('id')
      .where('order_id', '=', order.id)
      .execute();
    expect(payments).toHaveLength(1);
  });
});
