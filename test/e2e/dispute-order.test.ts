import type Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/core/reconcile.js';
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
 * Dispute events arrive in any order (Stripe does not guarantee it, and reconciliation replays the Events API
 * newest first). Whatever the order, the order ends showing the dispute's true final state, its history and the
 * seller's notices record what happened once each, and no notice is lost to another one's dedupe key.
 */
describe.each(BACKENDS)('dispute events in any order (%s PostgreSQL)', (backend) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  const DISPUTE_TYPES = ['charge.dispute.created', 'charge.dispute.closed'];

  /** Posts a (possibly forged) event, signed with the demo endpoint's secret, as Stripe would deliver it. */
  async function deliver(
    ev: object,
    endpoint: 'platform' | 'connect' = 'connect',
  ): Promise<{ status: number; outcome: string | undefined }> {
    const payload = JSON.stringify(ev);
    const secret = h.settle.webhookSecrets![endpoint][0]!;
    const header = h.stripe.webhooks.generateTestHeaderString({ payload, secret });
    const res = await fetch(
      `${h.settle.url}${endpoint === 'connect' ? '/webhooks/stripe/connect' : '/webhooks/stripe'}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': header },
        body: payload,
      },
    );
    const body = (await res.json()) as { outcome?: string };
    return { status: res.status, outcome: body.outcome };
  }

  /**
   * A Direct Charge paid with the dispute card; the dispute is opened and closed at the emulator while the chosen
   * dispute webhooks are dropped, so the test decides what Settle sees and in which order.
   */
  async function disputedOrder(outcome: 'won' | 'lost', drop: string[]) {
    const m = await setupMarket(h, { chargeType: 'direct', unitAmount: 4000 });
    h.settle.emulator!.faults.set({ webhookDrop: { types: drop } });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4000000000000259' });
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    const disputes = await h.stripe.disputes.list({ limit: 10 }, { stripeAccount: m.accountId });
    expect(disputes.data).toHaveLength(1);
    const disputeId = disputes.data[0]!.id;
    await h.settle.emulator!.closeDispute(disputeId, outcome);
    await h.settleDown();
    h.settle.emulator!.faults.reset();
    const events = await h.stripe.events.list({ limit: 100 }, { stripeAccount: m.accountId });
    const byType = (type: string): Stripe.Event => {
      const found = events.data.find((e) => e.type === type);
      if (found === undefined) throw new Error(`no ${type} event`);
      return found;
    };
    return {
      m,
      orderId: c.orderId,
      disputeId,
      created: byType('charge.dispute.created'),
      closed: byType('charge.dispute.closed'),
    };
  }

  const disputeNotices = async (orderId: string) =>
    h.settle.ctx.db
      .selectFrom('notifications')
      .select(['subject', 'body'])
      .where('order_id', '=', orderId)
      .where('kind', '=', 'seller_dispute')
      .orderBy('id')
      .execute();

  const disputeHistory = async (orderId: string) =>
    (await order(h, orderId)).history.map((x) => x.to).filter((to) => to.startsWith('dispute_'));

  const disputeRow = async (disputeId: string) =>
    h.settle.ctx.db
      .selectFrom('disputes')
      .selectAll()
      .where('provider_dispute_id', '=', disputeId)
      .executeTakeFirstOrThrow();

  for (const outcome of ['won', 'lost'] as const) {
    it(`created then closed (${outcome}): the order ends ${outcome}, and both the opening and the closing notice are recorded`, async () => {
      h = await startHarness(backend);
      const d = await disputedOrder(outcome, DISPUTE_TYPES);
      expect((await deliver(d.created)).status).toBe(200);
      await h.settleDown();
      expect((await order(h, d.orderId)).disputeStatus).toBe('open');
      expect((await deliver(d.closed)).status).toBe(200);
      // Stripe redelivers, and a copy of the opening event with a new id (as a second endpoint would see it)
      // arrives late: neither moves the order back nor notifies again.
      expect((await deliver(d.created)).status).toBe(200);
      expect((await deliver({ ...d.created, id: `${d.created.id}_late` })).status).toBe(200);
      await h.settleDown();
      expect((await order(h, d.orderId)).disputeStatus).toBe(outcome);
      expect(await disputeRow(d.disputeId)).toMatchObject({ outcome, order_id: d.orderId });
      expect(await disputeHistory(d.orderId)).toEqual(['dispute_open', `dispute_${outcome}`]);
      const notices = await disputeNotices(d.orderId);
      expect(notices).toHaveLength(2);
      expect(notices[0]!.subject).toMatch(/opened/i);
      expect(notices[1]!.subject).toMatch(new RegExp(outcome, 'i'));
      expect(notices[1]!.body).toContain(d.disputeId);
    });

    it(`closed (${outcome}) then created: the late opening event does not reopen the order`, async () => {
      h = await startHarness(backend);
      const d = await disputedOrder(outcome, DISPUTE_TYPES);
      expect((await deliver(d.closed)).status).toBe(200);
      await h.settleDown();
      expect((await order(h, d.orderId)).disputeStatus).toBe(outcome);
      expect((await deliver(d.created)).status).toBe(200);
      await h.settleDown();
      expect((await order(h, d.orderId)).disputeStatus).toBe(outcome);
      expect(await disputeRow(d.disputeId)).toMatchObject({ outcome, status: outcome });
      expect(await disputeHistory(d.orderId)).toEqual([`dispute_${outcome}`]);
      const notices = await disputeNotices(d.orderId);
      expect(notices).toHaveLength(1);
      expect(notices[0]!.subject).toMatch(new RegExp(outcome, 'i'));
    });
  }

  it('reconciliation replays newest first after the created webhook was dropped: the order stays won', async () => {
    h = await startHarness(backend);
    const d = await disputedOrder('won', ['charge.dispute.created']);
    // Only the closing webhook reached Settle.
    expect((await order(h, d.orderId)).disputeStatus).toBe('won');
    const summary = await reconcile(h.settle.ctx);
    expect(summary.errors).toEqual([]);
    await h.settleDown();
    const inbox = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select(['status'])
      .where('event_id', '=', d.created.id)
      .executeTakeFirstOrThrow();
    expect(inbox.status).toBe('processed'); // the missed event was applied, and changed nothing
    expect((await order(h, d.orderId)).disputeStatus).toBe('won');
    expect(await disputeRow(d.disputeId)).toMatchObject({ outcome: 'won' });
    expect(await disputeHistory(d.orderId)).toEqual(['dispute_won']);
    expect(await disputeNotices(d.orderId)).toHaveLength(1);
  });

  it('both dispute webhooks dropped: reconciliation alone ends with the closed state', async () => {
    h = await startHarness(backend);
    const d = await disputedOrder('lost', DISPUTE_TYPES);
    expect((await order(h, d.orderId)).disputeStatus).toBeNull();
    const summary = await reconcile(h.settle.ctx);
    expect(summary.errors).toEqual([]);
    await h.settleDown();
    expect((await order(h, d.orderId)).disputeStatus).toBe('lost');
    expect(await disputeHistory(d.orderId)).toEqual(['dispute_lost']);
  });

  it('a second dispute on the same order: an open dispute wins over a closed one, and every notice is kept', async () => {
    h = await startHarness(backend);
    const d = await disputedOrder('won', []);
    expect((await order(h, d.orderId)).disputeStatus).toBe('won');
    const base = Math.max(d.created.created, d.closed.created);
    const obj = d.created.data.object as unknown as Record<string, unknown>;
    const second = (type: string, suffix: string, created: number, status: string) => ({
      ...d.created,
      id: `${d.created.id}_second_${suffix}`,
      type,
      created,
      data: { object: { ...obj, id: `${d.disputeId}_second`, status, reason: 'product_not_received' } },
    });
    expect(
      (await deliver(second('charge.dispute.created', 'open', base + 10, 'needs_response'))).status,
    ).toBe(200);
    await h.settleDown();
    expect((await order(h, d.orderId)).disputeStatus).toBe('open');
    expect((await deliver(second('charge.dispute.closed', 'close', base + 20, 'lost'))).status).toBe(200);
    await h.settleDown();
    // Both closed: the latest outcome is the order's.
    expect((await order(h, d.orderId)).disputeStatus).toBe('lost');
    expect(await disputeRow(d.disputeId)).toMatchObject({ outcome: 'won' });
    expect(await disputeRow(`${d.disputeId}_second`)).toMatchObject({ outcome: 'lost', order_id: d.orderId });
    expect(await disputeHistory(d.orderId)).toEqual([
      'dispute_open',
      'dispute_won',
      'dispute_open',
      'dispute_lost',
    ]);
    const notices = await disputeNotices(d.orderId);
    expect(notices.map((n) => n.subject.toLowerCase().match(/opened|won|lost/)?.[0])).toEqual([
      'opened',
      'won',
      'opened',
      'lost',
    ]);
    expect(notices.filter((n) => n.body.includes(`${d.disputeId}_second`))).toHaveLength(2);
    // Every queued notice was recorded: no job reported done without its message.
    const jobs = await h.settle.ctx.db
      .selectFrom('jobs')
      .select(['status'])
      .where('kind', '=', 'notify.dispute')
      .execute();
    expect(jobs.map((j) => j.status)).toEqual(['done', 'done', 'done', 'done']);
  });

  it('account.updated changes only the seller whose account sent it', async () => {
    h = await startHarness(backend);
    const m: MarketSetup = await setupMarket(h, { chargeType: 'direct' });
    const other = await h.admin<{ id: string; accountId: string }>('POST', '/api/sellers', {
      name: 'Other seller',
      email: 'other@example.test',
      chargeType: 'direct',
    });
    expect(other.status).toBe(201);
    const account = await h.stripe.accounts.retrieve(m.accountId);
    const now = Math.floor(Date.now() / 1000);
    const event = (id: string, created: number, sentBy: string | undefined) => ({
      id,
      object: 'event',
      type: 'account.updated',
      ...(sentBy !== undefined ? { account: sentBy } : {}),
      api_version: '2026-10-28.endive',
      created,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: { ...account, charges_enabled: false, payouts_enabled: false } },
    });
    const seller = async (id: string) =>
      h.settle.ctx.db
        .selectFrom('seller_accounts')
        .selectAll()
        .where('seller_id', '=', id)
        .executeTakeFirstOrThrow();

    // Another connected account sends an event describing this seller's account: ignored.
    const forged = await deliver(event('evt_acct_other', now + 60, other.body.accountId));
    expect(forged).toEqual({ status: 200, outcome: 'ignored' });
    // On the platform endpoint (no account): a connected account's state never comes from there.
    const platform = await deliver(event('evt_acct_platform', now + 61, undefined), 'platform');
    expect(platform).toEqual({ status: 200, outcome: 'ignored' });
    expect(await seller(m.sellerId)).toMatchObject({ charges_enabled: true, payouts_enabled: true });
    expect(await seller(other.body.id)).toMatchObject({ charges_enabled: false });
    const inbox = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select(['event_id', 'status'])
      .where('event_id', 'in', ['evt_acct_other', 'evt_acct_platform'])
      .orderBy('event_id')
      .execute();
    expect(inbox).toEqual([
      { event_id: 'evt_acct_other', status: 'ignored' },
      { event_id: 'evt_acct_platform', status: 'ignored' },
    ]);

    // The account itself, on the Connect endpoint: applied.
    const own = await deliver(event('evt_acct_own', now + 62, m.accountId));
    expect(own).toEqual({ status: 200, outcome: 'processed' });
    expect(await seller(m.sellerId)).toMatchObject({ charges_enabled: false, payouts_enabled: false });
  });
});
