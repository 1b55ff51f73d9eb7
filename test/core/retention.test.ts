import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createPendingOrder } from '../../src/core/orders.js';
import { runRetentionSweep, type RetentionContext } from '../../src/core/retention.js';
import type { Db } from '../../src/db/connect.js';
import type { OrderStatus } from '../../src/db/schema.js';
import { silentLogger } from '../../src/log/logger.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';
import { marketplace } from '../helpers/fixtures.js';

const DAY = 86_400_000;

describe.each(BACKENDS)('retention sweep on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  const now = new Date();
  const ago = (days: number): Date => new Date(now.getTime() - days * DAY);

  /** The default periods (30 days for webhook events, jobs and holds; 180 for notifications). */
  const context = (db: Db): RetentionContext => ({
    db,
    logger: silentLogger,
    now: () => now,
    config: { retention: loadConfig({}).retention },
  });

  async function orderWithHold(db: Db, slotId: string, status: OrderStatus, releasedDaysAgo: number | null) {
    const o = await createPendingOrder(db, { slotId, quantity: 1, provider: 'stripe', holdMinutes: 30 });
    await db
      .updateTable('orders')
      .set({ status, provider_payment_id: `pi_${o.id}` })
      .where('id', '=', o.id)
      .execute();
    if (releasedDaysAgo !== null) {
      await db
        .updateTable('holds')
        .set({ released_at: ago(releasedDaysAgo), release_reason: 'test' })
        .where('order_id', '=', o.id)
        .execute();
    }
    return o.id;
  }

  const count = async (db: Db, table: 'orders' | 'payments' | 'refunds' | 'disputes' | 'order_events') =>
    (await db.selectFrom(table).select('id').execute()).length;

  it('deletes rows past their period and keeps rows inside it and rows audits and disputes need', async () => {
    t = await freshDb(backend);
    const db = t.db;
    const { slot } = await marketplace(db, { capacity: 20 });

    // Holds: released long ago on a settled or abandoned order → gone; recent, undecided or active → kept.
    const paidOld = await orderWithHold(db, slot.id, 'paid', 40);
    const expiredOld = await orderWithHold(db, slot.id, 'expired', 40);
    const paidRecent = await orderWithHold(db, slot.id, 'paid', 10);
    const reviewOld = await orderWithHold(db, slot.id, 'needs_review', 40);
    const processingOld = await orderWithHold(db, slot.id, 'processing', 40);
    const pendingActive = await orderWithHold(db, slot.id, 'pending', null);

    // The financial record, some of it old: never purged.
    await db
      .insertInto('payments')
      .values({
        id: 'pay_old',
        order_id: paidOld,
        provider: 'stripe',
        provider_payment_id: `pi_${paidOld}`,
        amount: 2000,
        currency: 'usd',
        application_fee: 200,
        status: 'succeeded',
        created_at: ago(400),
      })
      .execute();
    const refund = (id: string, status: 'pending' | 'succeeded') => ({
      id,
      order_id: paidOld,
      amount: 100,
      currency: 'usd',
      status,
      reason: 'requested_by_operator',
      idempotency_key: `op:${id}`,
      provider_refund_id: null,
      failure_reason: null,
      created_at: ago(400),
      updated_at: ago(400),
    });
    await db
      .insertInto('refunds')
      .values([refund('ref_pending', 'pending'), refund('ref_done', 'succeeded')])
      .execute();
    const dispute = (id: string, paymentId: string, outcome: 'won' | null) => ({
      id: `dsp_${id}`,
      order_id: paidOld,
      provider: 'stripe' as const,
      provider_dispute_id: id,
      provider_payment_id: paymentId,
      amount: 2000,
      currency: 'usd',
      reason: 'fraudulent',
      status: outcome ?? 'needs_response',
      outcome,
      created_at: ago(400),
      updated_at: ago(400),
    });
    await db
      .insertInto('disputes')
      .values([
        dispute('dp_open', 'pi_disputed_open', null),
        dispute('dp_closed', 'pi_disputed_closed', 'won'),
      ])
      .execute();
    await db
      .insertInto('order_events')
      .values({
        order_id: paidOld,
        from_status: null,
        to_status: 'dispute_open',
        note: 'dp_open',
        created_at: ago(400),
      })
      .execute();
    const audit = {
      orders: await count(db, 'orders'),
      payments: await count(db, 'payments'),
      refunds: await count(db, 'refunds'),
      disputes: await count(db, 'disputes'),
      order_events: await count(db, 'order_events'),
    };

    // Jobs.
    const job = (
      key: string,
      status: 'done' | 'dead' | 'queued',
      finishedDaysAgo: number | null,
      payload = {},
    ) => ({
      kind: 'test.job',
      dedupe_key: key,
      payload: JSON.stringify(payload),
      status,
      run_at: ago(60),
      created_at: ago(60),
      finished_at: finishedDaysAgo === null ? null : ago(finishedDaysAgo),
    });
    await db
      .insertInto('jobs')
      .values([
        job('done-old', 'done', 40),
        job('done-old-2', 'done', 31),
        job('done-recent', 'done', 5),
        job('dead-old', 'dead', 40),
        job('queued-old', 'queued', null),
        job('done-old-refund-pending', 'done', 40, { refundId: 'ref_pending' }),
        job('done-old-refund-done', 'done', 40, { refundId: 'ref_done' }),
      ])
      .execute();

    // Webhook events.
    const ev = (
      id: string,
      status: 'processed' | 'ignored' | 'failed' | 'received',
      receivedDaysAgo: number,
      processedDaysAgo: number | null,
      object: Record<string, unknown> = { id: `obj_${id}` },
    ) => ({
      provider: 'stripe' as const,
      endpoint: 'platform',
      account: '',
      event_id: id,
      type: 'test.event',
      livemode: false,
      event_created: ago(receivedDaysAgo),
      payload: JSON.stringify({ id, data: { object: { ...object, receipt_email: 'buyer@example.test' } } }),
      status,
      received_at: ago(receivedDaysAgo),
      processed_at: processedDaysAgo === null ? null : ago(processedDaysAgo),
    });
    await db
      .insertInto('webhook_events')
      .values([
        ev('evt_processed_old', 'processed', 40, 40),
        ev('evt_ignored_old', 'ignored', 40, 40),
        ev('evt_processed_recent', 'processed', 5, 5),
        ev('evt_replayed_recently', 'processed', 40, 2),
        ev('evt_failed_old', 'failed', 40, null),
        ev('evt_received_old', 'received', 40, null),
        ev('evt_dispute_open', 'processed', 40, 40, { id: 'dp_open', payment_intent: 'pi_disputed_open' }),
        ev('evt_payment_disputed', 'processed', 40, 40, { id: 'cs_1', payment_intent: 'pi_disputed_open' }),
        ev('evt_dispute_closed', 'processed', 40, 40, {
          id: 'dp_closed',
          payment_intent: 'pi_disputed_closed',
        }),
      ])
      .execute();

    // Notifications (the default keeps them 180 days).
    const mail = (key: string, daysAgo: number) => ({
      order_id: paidOld,
      kind: 'buyer_receipt',
      recipient: 'buyer@example.test',
      subject: 's',
      body: 'b',
      dedupe_key: key,
      created_at: ago(daysAgo),
    });
    await db
      .insertInto('notifications')
      .values([mail('n-old-1', 200), mail('n-old-2', 190), mail('n-old-3', 181), mail('n-recent', 170)])
      .execute();

    // Idempotency keys live 24 h.
    const key = (k: string, hoursAgo: number) => ({
      scope: 'POST /api/checkout',
      key: k,
      request_hash: 'h',
      status: 'done' as const,
      response_status: 201,
      response_body: JSON.stringify({}),
      created_at: new Date(now.getTime() - hoursAgo * 3_600_000),
    });
    await db
      .insertInto('idempotency_keys')
      .values([key('old', 25), key('fresh', 1)])
      .execute();

    // OAuth connection states: gone a day after they expired, used or not.
    const { seller_id: sellerId } = await db
      .selectFrom('listings')
      .innerJoin('slots', 'slots.listing_id', 'listings.id')
      .select('listings.seller_id')
      .where('slots.id', '=', slot.id)
      .executeTakeFirstOrThrow();
    const state = (hash: string, expiredHoursAgo: number, used: boolean) => ({
      state_hash: hash,
      seller_id: sellerId,
      provider: 'square' as const,
      expires_at: new Date(now.getTime() - expiredHoursAgo * 3_600_000),
      used_at: used ? new Date(now.getTime() - (expiredHoursAgo + 1) * 3_600_000) : null,
    });
    await db
      .insertInto('oauth_states')
      .values([state('old-unused', 25, false), state('old-used', 30, true), state('recent', 2, false)])
      .execute();

    // A small batch size makes the sweep loop over several batches.
    const summary = await runRetentionSweep(context(db), { batchSize: 2 });
    expect(summary).toEqual({
      jobs: 3,
      webhookEvents: 3,
      holds: 2,
      notifications: 3,
      idempotencyKeys: 1,
      oauthStates: 2,
    });
    const states = await db.selectFrom('oauth_states').select('state_hash').execute();
    expect(states.map((x) => x.state_hash)).toEqual(['recent']);

    const jobs = await db.selectFrom('jobs').select('dedupe_key').orderBy('dedupe_key').execute();
    expect(jobs.map((j) => j.dedupe_key)).toEqual([
      'dead-old',
      'done-old-refund-pending',
      'done-recent',
      'queued-old',
    ]);
    const events = await db.selectFrom('webhook_events').select('event_id').orderBy('event_id').execute();
    expect(events.map((e) => e.event_id)).toEqual([
      'evt_dispute_open',
      'evt_failed_old',
      'evt_payment_disputed',
      'evt_processed_recent',
      'evt_received_old',
      'evt_replayed_recently',
    ]);
    const holds = await db.selectFrom('holds').select('order_id').execute();
    expect(holds.map((h) => h.order_id).sort()).toEqual(
      [paidRecent, reviewOld, processingOld, pendingActive].sort(),
    );
    expect(holds.map((h) => h.order_id)).not.toContain(expiredOld);
    const mails = await db.selectFrom('notifications').select('dedupe_key').execute();
    expect(mails.map((m) => m.dedupe_key)).toEqual(['n-recent']);
    const keys = await db.selectFrom('idempotency_keys').select('key').execute();
    expect(keys.map((k) => k.key)).toEqual(['fresh']);

    expect({
      orders: await count(db, 'orders'),
      payments: await count(db, 'payments'),
      refunds: await count(db, 'refunds'),
      disputes: await count(db, 'disputes'),
      order_events: await count(db, 'order_events'),
    }).toEqual(audit);

    // Nothing left to purge: a second sweep deletes nothing.
    expect(await runRetentionSweep(context(db))).toEqual({
      jobs: 0,
      webhookEvents: 0,
      holds: 0,
      notifications: 0,
      idempotencyKeys: 0,
      oauthStates: 0,
    });

    // Once the dispute closes, its evidence ages out like any other event.
    await db
      .updateTable('disputes')
      .set({ outcome: 'lost', status: 'lost' })
      .where('id', '=', 'dsp_dp_open')
      .execute();
    expect((await runRetentionSweep(context(db))).webhookEvents).toBe(2);
  });

  it('honours configured periods', async () => {
    t = await freshDb(backend);
    const db = t.db;
    await db
      .insertInto('jobs')
      .values(
        [3, 8].map((d) => ({
          kind: 'test.job',
          dedupe_key: `done-${d}`,
          payload: JSON.stringify({}),
          status: 'done' as const,
          run_at: ago(d),
          finished_at: ago(d),
        })),
      )
      .execute();
    await db
      .insertInto('notifications')
      .values(
        [3, 8].map((d) => ({
          order_id: null,
          kind: 'k',
          recipient: 'r',
          subject: 's',
          body: 'b',
          dedupe_key: `n-${d}`,
          created_at: ago(d),
        })),
      )
      .execute();
    const ctx = context(db);
    ctx.config = { retention: { webhookEventsDays: 7, jobsDays: 7, holdsDays: 7, notificationsDays: 7 } };
    expect(await runRetentionSweep(ctx)).toMatchObject({ jobs: 1, notifications: 1 });
    expect((await db.selectFrom('jobs').select('dedupe_key').execute()).map((j) => j.dedupe_key)).toEqual([
      'done-3',
    ]);
  });
});
