import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { requestRefund } from '../../src/core/refunds.js';
import { ingestEvent } from '../../src/core/inbox.js';
import { reconcile, sweepStaleOrders } from '../../src/core/reconcile.js';
import { confirmPayment } from '../../src/core/confirm-payment.js';
import { BACKENDS } from '../helpers/db.js';
import { checkout, lapseHold, order, setupMarket, startHarness, type Harness } from '../helpers/settle.js';

/**
 * Regression tests of issue 8 (hardening): each reproduces a defect found by racing and breaking the Stripe flow.
 * Races are real on the PostgreSQL server (separate pool connections, callers released at once); the embedded
 * database serializes them, so there they only check the outcome. Effects are counted where they happen (paid
 * transitions in the order history, refunds at the emulator), never through a row a unique index caps.
 */
describe.each(BACKENDS)('hardening (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  const transitions = async (to: string, orderId?: string): Promise<number> => {
    let q = h.settle.ctx.db.selectFrom('order_events').select('id').where('to_status', '=', to);
    if (orderId !== undefined) q = q.where('order_id', '=', orderId);
    return (await q.execute()).length;
  };

  /** The simulated clock of the queue: every queued job becomes due now. Returns how far the clock moved. */
  const advanceQueue = async (): Promise<number> => {
    const due = await h.settle.ctx.db
      .selectFrom('jobs')
      .select('run_at')
      .where('status', '=', 'queued')
      .orderBy('run_at', 'desc')
      .executeTakeFirst();
    await h.settle.ctx.db
      .updateTable('jobs')
      .set({ run_at: new Date() })
      .where('status', '=', 'queued')
      .execute();
    return due === undefined ? 0 : Math.max(0, due.run_at.getTime() - Date.now());
  };

  /** A paid_oversold order: the late buyer's hold lapses, another buyer takes and pays for the place first. */
  async function oversold(unitAmount = 3000) {
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 1, unitAmount });
    const late = await checkout(h, m.slotId);
    await lapseHold(h, late.orderId);
    const winner = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(winner.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    return { m, late, winner };
  }

  const emulatorRefunds = async () => (await h.stripe.refunds.list({ limit: 100 })).data;

  it('defect 1: twenty buyers at once for a 5-place slot get exactly 5 × 201 and 15 × 409, never a 5xx', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 5 });
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.api<{ error?: { code: string } }>(
          'POST',
          '/api/checkout',
          { slotId: m.slotId, quantity: 1, email: 'buyer@example.test' },
          { 'idempotency-key': randomUUID() },
        ),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
    expect(
      results.filter((r) => r.status === 409).every((r) => r.body.error?.code === 'slot_unavailable'),
    ).toBe(true);
    const holds = await h.settle.ctx.db
      .selectFrom('holds')
      .select('id')
      .where('slot_id', '=', m.slotId)
      .where('released_at', 'is', null)
      .execute();
    expect(holds).toHaveLength(5);
    const sessions = h.settle.emulator!.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && r.status === 200,
    );
    expect(sessions).toHaveLength(5);
  });

  it('defect 1 sibling: twenty concurrent refund requests with one key make one refund at the provider', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', unitAmount: 10_000 });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    const key = `op:${c.orderId}:${randomUUID()}`;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        requestRefund(h.settle.ctx, {
          orderId: c.orderId,
          amount: 1000,
          reason: 'requested_by_operator',
          idempotencyKey: key,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const ids = new Set(results.map((r) => (r.status === 'fulfilled' ? r.value.id : '')));
    expect(ids.size).toBe(1);
    await h.settleDown();
    expect((await emulatorRefunds()).map((r) => r.amount)).toEqual([1000]);
    expect((await order(h, c.orderId))['refundedAmount']).toBe(1000);
  });

  it('defect 2a: a provider refusal of the owed refund is retried with a fresh attempt until the buyer is refunded', async () => {
    h = await startHarness(backend, { env: { STRIPE_MAX_NETWORK_RETRIES: '0' } });
    const { late } = await oversold();
    h.settle.emulator!.faults.set({ api5xx: { next: 1, path: '/v1/refunds', method: 'POST', status: 400 } });
    await h.settle.emulator!.paySession(late.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    const refused = await order(h, late.orderId);
    expect(refused.status).toBe('paid_oversold');
    const attention = await h.admin<{ owedRefunds: { orderId: string; failedAttempts: number }[] }>(
      'GET',
      '/api/admin/attention',
    );
    expect(attention.body.owedRefunds).toEqual([
      expect.objectContaining({ orderId: late.orderId, failedAttempts: 1 }),
    ]);
    await advanceQueue();
    await h.settleDown();
    const after = await order(h, late.orderId);
    expect(after).toMatchObject({ status: 'refunded', refundedAmount: 3000 });
    const rows = await h.settle.ctx.db
      .selectFrom('refunds')
      .select(['status', 'idempotency_key'])
      .where('order_id', '=', late.orderId)
      .orderBy('created_at')
      .execute();
    expect(rows.map((r) => r.status)).toEqual(['failed', 'succeeded']);
    expect((await emulatorRefunds()).map((r) => r.amount)).toEqual([3000]);
    expect(
      (await h.admin<{ owedRefunds: unknown[] }>('GET', '/api/admin/attention')).body.owedRefunds,
    ).toEqual([]);
  });

  it('defect 2b: an owed refund survives a provider outage of hours (simulated clock) and is made once', async () => {
    h = await startHarness(backend, { env: { STRIPE_MAX_NETWORK_RETRIES: '0' } });
    const { late } = await oversold();
    h.settle.emulator!.faults.set({
      api5xx: { probability: 1, path: '/v1/refunds', method: 'POST', status: 503 },
    });
    await h.settle.emulator!.paySession(late.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    let simulated = 0;
    for (let i = 0; i < 25 && simulated < 3 * 3_600_000; i++) {
      simulated += await advanceQueue();
      await h.settleDown();
    }
    expect(simulated).toBeGreaterThanOrEqual(3 * 3_600_000);
    const dead = await h.settle.ctx.db
      .selectFrom('jobs')
      .select('kind')
      .where('status', '=', 'dead')
      .execute();
    expect(dead).toEqual([]);
    const during = await order(h, late.orderId);
    // Still owed, still reserved: nothing can refund it twice, nothing has forgotten it.
    expect(during).toMatchObject({ status: 'paid_oversold', refundedAmount: 3000 });
    expect(await emulatorRefunds()).toEqual([]);
    h.settle.emulator!.faults.reset();
    await advanceQueue();
    await h.settleDown();
    expect(await order(h, late.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 3000 });
    expect((await emulatorRefunds()).map((r) => r.amount)).toEqual([3000]);
  });

  it('defect 2c: reconciliation re-drives a dead refund job and an owed refund whose job ended', async () => {
    h = await startHarness(backend, { env: { STRIPE_MAX_NETWORK_RETRIES: '0' } });
    const { late } = await oversold();
    h.settle.emulator!.faults.set({
      api5xx: { probability: 1, path: '/v1/refunds', method: 'POST', status: 503 },
    });
    await h.settle.emulator!.paySession(late.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    // As an older version left them: both jobs dead-lettered, the refund pending with its money reserved.
    await h.settle.ctx.db
      .updateTable('jobs')
      .set({ status: 'dead', finished_at: new Date(Date.now() - 2 * 3_600_000) })
      .where('kind', 'in', ['refund.oversold', 'refund.submit'])
      .execute();
    h.settle.emulator!.faults.reset();
    const summary = await reconcile(h.settle.ctx, { lookbackHours: 1 });
    expect(summary.refundsRedriven).toBeGreaterThanOrEqual(1);
    await advanceQueue();
    await h.settleDown();
    expect(await order(h, late.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 3000 });
    expect((await emulatorRefunds()).map((r) => r.amount)).toEqual([3000]);
  });

  it('defect 4: an underpaid review refunds what was charged and closes; accept fulfils; a free review is closed', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', unitAmount: 2000, capacity: 5 });
    // Underpaid: the provider charged 1000 on a 2000 order (the webhook is dropped; evidence applied directly).
    h.settle.emulator!.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    const under = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(under.sessionId, { card_number: '4242424242424242' });
    const session = await h.stripe.checkout.sessions.retrieve(under.sessionId);
    const evidence = {
      via: 'frontend' as const,
      provider: 'stripe' as const,
      sessionId: under.sessionId,
      paymentId: String(session.payment_intent),
      amount: 1000,
      currency: 'usd',
      promotionCode: null,
      applicationFee: 200,
    };
    expect((await confirmPayment(h.settle.ctx.db, under.orderId, evidence)).status).toBe('needs_review');
    const refund = await h.admin<{ refund: { amount: number; status: string } }>(
      'POST',
      `/api/admin/orders/${under.orderId}/review`,
      { decision: 'refund' },
    );
    expect(refund.status).toBe(201);
    expect(refund.body.refund).toMatchObject({ amount: 1000, status: 'succeeded' });
    await h.settleDown();
    expect(await order(h, under.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 1000 });

    // Accept: the operator takes the payment as charged; the order is fulfilled and takes its place.
    const accepted = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(accepted.sessionId, { card_number: '4242424242424242' });
    const s2 = await h.stripe.checkout.sessions.retrieve(accepted.sessionId);
    await confirmPayment(h.settle.ctx.db, accepted.orderId, {
      ...evidence,
      sessionId: accepted.sessionId,
      paymentId: String(s2.payment_intent),
    });
    const acc = await h.admin('POST', `/api/admin/orders/${accepted.orderId}/review`, { decision: 'accept' });
    expect(acc.body).toMatchObject({ status: 'paid' });
    await h.settleDown();
    expect(await order(h, accepted.orderId)).toMatchObject({ status: 'paid', total: 1000 });
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 1 });
    expect(await transitions('paid', accepted.orderId)).toBe(1);

    // A 100 %-off code Settle does not know: nothing charged, so nothing to refund; the operator closes it.
    const free = await checkout(h, m.slotId);
    await confirmPayment(h.settle.ctx.db, free.orderId, {
      ...evidence,
      sessionId: free.sessionId,
      paymentId: null,
      amount: 0,
      applicationFee: 0,
      promotionCode: 'NOT-A-SETTLE-CODE',
    });
    const noRefund = await h.admin('POST', `/api/admin/orders/${free.orderId}/review`, {
      decision: 'refund',
    });
    expect(noRefund.status).toBe(409);
    const closed = await h.admin('POST', `/api/admin/orders/${free.orderId}/review`, { decision: 'close' });
    expect(closed.body).toMatchObject({ status: 'canceled' });
    const again = await h.admin('POST', `/api/admin/orders/${free.orderId}/review`, { decision: 'accept' });
    expect(again.status).toBe(409);
    const att = await h.admin<{ reviews: unknown[] }>('GET', '/api/admin/attention');
    expect(att.body.reviews).toEqual([]);
  });

  it('defect 5: a bank debit keeps its place while processing and is paid (not oversold) when it settles', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 1 });
    const debit = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(debit.sessionId, { payment_method: 'delayed' });
    await h.settleDown();
    expect((await order(h, debit.orderId)).status).toBe('processing');
    // Forty minutes later the original 35-minute hold would have lapsed.
    const hold = await h.settle.ctx.db
      .selectFrom('holds')
      .select('expires_at')
      .where('order_id', '=', debit.orderId)
      .executeTakeFirstOrThrow();
    expect(hold.expires_at.getTime()).toBeGreaterThan(Date.now() + 13 * 86_400_000);
    await h.settle.ctx.db
      .updateTable('holds')
      .set({ expires_at: new Date(hold.expires_at.getTime() - 40 * 60_000) })
      .where('order_id', '=', debit.orderId)
      .execute();
    const other = await h.api<{ error?: { code: string } }>(
      'POST',
      '/api/checkout',
      { slotId: m.slotId, quantity: 1 },
      { 'idempotency-key': randomUUID() },
    );
    expect(other.status).toBe(409);
    expect(other.body.error?.code).toBe('slot_unavailable');
    await h.settle.emulator!.completeDelayedPayment(debit.sessionId, 'succeeded');
    await h.settleDown();
    expect(await order(h, debit.orderId)).toMatchObject({ status: 'paid' });
    expect(await emulatorRefunds()).toEqual([]);
  });

  it('defect 5: a card payment confirmed after its hold lapsed keeps the place over a checkout started later', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 1, unitAmount: 3000 });
    h.settle.emulator!.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    const first = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(first.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    // Its webhook is late: meanwhile the hold lapses and a second buyer starts a checkout for the freed place.
    await lapseHold(h, first.orderId);
    h.settle.emulator!.faults.reset();
    const second = await checkout(h, m.slotId);
    // The first buyer's confirmation arrives (verify on return); then the second buyer pays.
    expect((await h.api('POST', '/api/checkout/verify', { orderId: first.orderId })).body).toMatchObject({
      status: 'paid',
    });
    await h.settle.emulator!.paySession(second.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    expect((await order(h, first.orderId)).status).toBe('paid');
    expect(await order(h, second.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 3000 });
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 1 });
    expect(await transitions('paid')).toBe(1);
  });

  it('the last place raced: a paying buyer whose hold lapsed and one with a live hold confirm at once; one wins', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 1, unitAmount: 3000 });
    h.settle.emulator!.faults.set({ webhookDrop: { probability: 1 } });
    const a = await checkout(h, m.slotId);
    await lapseHold(h, a.orderId);
    const b = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(a.sessionId, { card_number: '4242424242424242' });
    await h.settle.emulator!.paySession(b.sessionId, { card_number: '4242424242424242' });
    h.settle.emulator!.faults.reset();
    // Both buyers' return pages verify at the same moment, ten times each.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.api('POST', '/api/checkout/verify', { orderId: i % 2 === 0 ? a.orderId : b.orderId }),
      ),
    );
    await h.settleDown();
    const statuses = [(await order(h, a.orderId)).status, (await order(h, b.orderId)).status].sort();
    expect(statuses).toEqual(['paid', 'refunded']);
    expect(await transitions('paid')).toBe(1);
    expect(await transitions('paid_oversold')).toBe(1);
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 1 });
    expect((await emulatorRefunds()).map((r) => r.amount)).toEqual([3000]);
  });

  it.skipIf(backend === 'embedded')(
    'defect 8: the sweep pages past 500 processing orders; an unseen failed debit becomes failed',
    async () => {
      h = await startHarness(backend);
      const m = await setupMarket(h, { chargeType: 'destination', capacity: 10, unitAmount: 1000 });
      const emu = h.settle.emulator!;
      emu.faults.set({ webhookDrop: { probability: 1 } });
      const listing = await h.settle.ctx.db
        .selectFrom('listings')
        .selectAll()
        .where('id', '=', m.listingId)
        .executeTakeFirstOrThrow();
      // 501 bank debits still processing, their checkouts long expired (cheaply: sessions made with the SDK).
      const longAgo = new Date(Date.now() - 2 * 3_600_000);
      for (let i = 0; i < 501; i++) {
        const orderId = `ord_sweep${String(i).padStart(4, '0')}`;
        const session = await h.stripe.checkout.sessions.create({
          mode: 'payment',
          line_items: [
            { price_data: { currency: 'usd', unit_amount: 1000, product_data: { name: 'x' } }, quantity: 1 },
          ],
          metadata: { orderId },
          client_reference_id: orderId,
          success_url: 'http://127.0.0.1/ok',
          cancel_url: 'http://127.0.0.1/cancel',
          payment_intent_data: { on_behalf_of: m.accountId, transfer_data: { destination: m.accountId } },
        });
        await emu.paySession(session.id, { payment_method: 'delayed' });
        await h.settle.ctx.db
          .insertInto('orders')
          .values({
            id: orderId,
            seller_id: m.sellerId,
            listing_id: m.listingId,
            slot_id: m.slotId,
            quantity: 1,
            currency: 'usd',
            unit_amount: listing.unit_amount,
            subtotal: 1000,
            discount: 0,
            total: 1000,
            platform_fee: 100,
            promotion_code: null,
            status: 'processing',
            review_reason: null,
            buyer_email: null,
            provider: 'stripe',
            charge_type: 'destination',
            provider_account_id: m.accountId,
            provider_session_id: session.id,
            provider_payment_id: null,
            confirmed_via: null,
            dispute_status: null,
            expires_at: new Date(longAgo.getTime() + i),
            paid_at: null,
            updated_at: longAgo,
          })
          .execute();
      }
      // A card payment whose webhook was lost, and a debit that failed unseen: both past expiry, after the 501.
      const paid = await checkout(h, m.slotId);
      await emu.paySession(paid.sessionId, { card_number: '4242424242424242' });
      const failedDebit = await checkout(h, m.slotId);
      await emu.paySession(failedDebit.sessionId, { payment_method: 'delayed' });
      await emu.completeDelayedPayment(failedDebit.sessionId, 'failed');
      await h.settle.ctx.db
        .updateTable('orders')
        .set({ status: 'processing' })
        .where('id', '=', failedDebit.orderId)
        .execute();
      await h.settle.ctx.db
        .updateTable('orders')
        .set({ expires_at: new Date(Date.now() - 60_000) })
        .where('id', 'in', [paid.orderId, failedDebit.orderId])
        .execute();
      // The sweep alone: reconcile() also lists events, which would find the lost webhooks another way.
      const summary = await sweepStaleOrders(h.settle.ctx);
      expect(summary.errors).toEqual([]);
      expect(summary.swept).toBe(503);
      expect((await order(h, paid.orderId)).status).toBe('paid');
      expect((await order(h, failedDebit.orderId)).status).toBe('failed');
      const still = await h.settle.ctx.db
        .selectFrom('orders')
        .select('id')
        .where('status', '=', 'processing')
        .execute();
      expect(still).toHaveLength(501);
    },
    120_000,
  );

  it('confirmation sources raced: one webhook and twenty verifies at once make one paid transition', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct', capacity: 3 });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await Promise.all(
      Array.from({ length: 20 }, () => h.api('POST', '/api/checkout/verify', { orderId: c.orderId })),
    );
    await h.settleDown();
    expect(await transitions('paid', c.orderId)).toBe(1);
    const jobs = await h.settle.ctx.db
      .selectFrom('jobs')
      .select('kind')
      .where('dedupe_key', 'like', `%${c.orderId}`)
      .execute();
    expect(jobs.map((j) => j.kind).sort()).toEqual([
      'fulfil.booking',
      'notify.buyer_receipt',
      'notify.seller_notice',
    ]);
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 1 });
  });

  it('a duplicate delivery while the first is processing waits for its outcome; a lapsed lease is taken over', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 3 });
    const emu = h.settle.emulator!;
    emu.faults.set({ webhookDrop: { probability: 1 } });
    const c = await checkout(h, m.slotId);
    await emu.paySession(c.sessionId, { card_number: '4242424242424242' });
    emu.faults.reset();
    const events = await h.stripe.events.list({ type: 'checkout.session.completed', limit: 10 });
    const raw = events.data.find((e) => (e.data.object as { id?: string }).id === c.sessionId);
    if (raw === undefined) throw new Error('no completed event');
    const ev = await h.settle.ctx.providers.get('stripe').normalizeEvent('platform', raw);
    // The first delivery is slow (the provider read takes 1.5 s); the duplicate arrives meanwhile.
    emu.faults.set({ apiLatencyMs: 1500, apiLatencyPath: '/v1/checkout/sessions' });
    const reads = () =>
      emu.requests.filter(
        (r) => r.method === 'GET' && r.path.startsWith(`/v1/checkout/sessions/${c.sessionId}`),
      ).length;
    const before = reads();
    const first = ingestEvent(h.settle.ctx, ev, 'webhook');
    await new Promise((r) => setTimeout(r, 200));
    const second = await ingestEvent(h.settle.ctx, ev, 'webhook');
    expect(await first).toBe('processed');
    expect(second).toBe('duplicate');
    expect(reads() - before).toBe(1);
    emu.faults.reset();
    expect((await order(h, c.orderId)).status).toBe('paid');

    // A delivery whose process died mid-way: the row stays `received` with a lapsed lease; the next delivery runs it.
    const d = await checkout(h, m.slotId);
    emu.faults.set({ webhookDrop: { probability: 1 } });
    await emu.paySession(d.sessionId, { card_number: '4242424242424242' });
    emu.faults.reset();
    const list = await h.stripe.events.list({ type: 'checkout.session.completed', limit: 10 });
    const rawD = list.data.find((e) => (e.data.object as { id?: string }).id === d.sessionId);
    if (rawD === undefined) throw new Error('no completed event');
    const evD = await h.settle.ctx.providers.get('stripe').normalizeEvent('platform', rawD);
    await h.settle.ctx.db
      .insertInto('webhook_events')
      .values({
        provider: 'stripe',
        endpoint: 'platform',
        account: '',
        event_id: evD.eventId,
        type: evD.type,
        livemode: false,
        event_created: evD.createdAt,
        payload: JSON.stringify(rawD),
        claimed_until: new Date(Date.now() - 1000),
      })
      .execute();
    expect(await ingestEvent(h.settle.ctx, evD, 'webhook')).toBe('processed');
    expect((await order(h, d.orderId)).status).toBe('paid');
  });

  it('a signed event carrying a NUL character is recorded and acknowledged, not a 500 retried for days', async () => {
    h = await startHarness(backend);
    const event = {
      id: `evt_nul${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      object: 'event',
      api_version: '2025-09-30.clover',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: 'customer.created',
      data: { object: { id: 'cus_nul', object: 'customer', name: 'Ann\u0000Lee' } },
    };
    const body = JSON.stringify(event);
    expect(body).toContain('Ann\\u0000Lee');
    const res = await fetch(`${h.settle.url}/webhooks/stripe`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': h.stripe.webhooks.generateTestHeaderString({
          payload: body,
          secret: h.settle.webhookSecrets!.platform[0]!,
        }),
      },
      body,
    });
    expect(res.status).toBe(200);
    const row = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select(['status', 'payload'])
      .where('event_id', '=', event.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('ignored');
    expect(JSON.stringify(row.payload)).toContain('Ann\ufffdLee');
  });

  it('an idempotent checkout re-run after its claim went stale resumes the same order, never a second one', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', capacity: 5 });
    const key = randomUUID();
    const body = { slotId: m.slotId, quantity: 1, email: 'buyer@example.test' };
    const first = await h.api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', body, {
      'idempotency-key': key,
    });
    expect(first.status).toBe(201);
    // As if the first request were still in flight after three minutes (its answer never stored).
    await sql`update idempotency_keys set status = 'in_flight', response_status = null, response_body = null,
      created_at = now() - interval '3 minutes'`.execute(h.settle.ctx.db);
    const second = await h.api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', body, {
      'idempotency-key': key,
    });
    expect(second.status).toBe(201);
    expect(second.body.orderId).toBe(first.body.orderId);
    expect(second.body.checkoutUrl).toBe(first.body.checkoutUrl);
    expect(await h.settle.ctx.db.selectFrom('orders').select('id').execute()).toHaveLength(1);
    expect(await h.settle.ctx.db.selectFrom('holds').select('id').execute()).toHaveLength(1);
  });
});
