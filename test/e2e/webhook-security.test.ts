import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkout, order, setupMarket, startHarness, type Harness } from '../helpers/settle.js';

/** Webhook ingress: verification before any write, on the raw bytes (embedded database; the logic is DB-agnostic). */
describe('webhook endpoints reject what is not Stripe', () => {
  let h: Harness;
  let payload: string;
  let eventId: string;
  let orderId: string;
  let accountId: string;
  let sellerId: string;
  beforeEach(async () => {
    h = await startHarness('embedded');
    const m = await setupMarket(h, { chargeType: 'destination' });
    accountId = m.accountId;
    sellerId = m.sellerId;
    h.settle.emulator!.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    const c = await checkout(h, m.slotId);
    orderId = c.orderId;
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    const ev = (await h.stripe.events.list({ type: 'checkout.session.completed' })).data[0]!;
    eventId = ev.id;
    payload = JSON.stringify(ev);
  });
  afterEach(async () => {
    await h?.close();
  });

  const post = (body: string, signature: string | null, path = '/webhooks/stripe') =>
    fetch(`${h.settle.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(signature !== null ? { 'stripe-signature': signature } : {}),
      },
      body,
    });
  const sign = (body: string, secret: string, timestamp?: number) =>
    h.stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret,
      ...(timestamp !== undefined ? { timestamp } : {}),
    });
  const inboxRows = async () =>
    (
      await h.settle.ctx.db
        .selectFrom('webhook_events')
        .select('id')
        .where('event_id', '=', eventId)
        .execute()
    ).length;

  it('forged, tampered, wrong-secret, stale, unsigned and re-serialised deliveries get 400 and write nothing', async () => {
    const secret = h.settle.webhookSecrets!.platform[0]!;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<Response>][] = [
      ['no header', post(payload, null)],
      ['empty header', post(payload, '')],
      ['garbage header', post(payload, 'v1=deadbeef')],
      ['wrong secret', post(payload, sign(payload, 'whsec_not_the_right_one'))],
      [
        'connect secret on the platform endpoint',
        post(payload, sign(payload, h.settle.webhookSecrets!.connect[0]!)),
      ],
      ['one byte changed', post(payload.replace('"paid"', '"pai_"'), sign(payload, secret))],
      ['re-serialised JSON', post(JSON.stringify(JSON.parse(payload), null, 2), sign(payload, secret))],
      ['stale timestamp (301 s)', post(payload, sign(payload, secret, now - 301))],
      ['empty body', post('', sign('', secret))],
    ];
    for (const [name, pending] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(400);
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code, name).toMatch(/^webhook_/);
    }
    expect(await inboxRows()).toBe(0);
    expect((await order(h, orderId)).status).toBe('pending');
    // Within tolerance (299 s) and correctly signed: accepted and processed.
    const ok = await post(payload, sign(payload, secret, now - 299));
    expect(ok.status).toBe(200);
    await h.settleDown();
    expect((await order(h, orderId)).status).toBe('paid');
  });

  it('secret rotation: any valid v1 signature among several is accepted', async () => {
    const secret = h.settle.webhookSecrets!.platform[0]!;
    const t = Math.floor(Date.now() / 1000);
    const good = sign(payload, secret, t)
      .split(',')
      .find((p) => p.startsWith('v1='))!;
    const res = await post(payload, `t=${t},v1=${'0'.repeat(64)},${good}`);
    expect(res.status).toBe(200);
  });

  it('an unknown event type is acknowledged (200) and ignored; a duplicate is acknowledged without reprocessing', async () => {
    const secret = h.settle.webhookSecrets!.platform[0]!;
    const unknown = JSON.stringify({ ...JSON.parse(payload), id: 'evt_unknown_type_1', type: 'foo.bar' });
    const r = await post(unknown, sign(unknown, secret));
    expect(r.status).toBe(200);
    expect(((await r.json()) as { outcome: string }).outcome).toBe('ignored');
    const first = await post(payload, sign(payload, secret));
    expect(((await first.json()) as { outcome: string }).outcome).toBe('processed');
    const dup = await post(payload, sign(payload, secret));
    expect(dup.status).toBe(200);
    expect(((await dup.json()) as { outcome: string }).outcome).toBe('duplicate');
    expect(await inboxRows()).toBe(1);
  });

  it('a checkout event naming an order Settle does not have is recorded and ignored; the real one is then processed', async () => {
    const secret = h.settle.webhookSecrets!.platform[0]!;
    const ev = JSON.parse(payload) as { data: { object: Record<string, unknown> } };
    const session = ev.data.object;
    const foreign = JSON.stringify({
      ...ev,
      id: 'evt_foreign_order_1',
      data: {
        ...ev.data,
        object: { ...session, metadata: { orderId: 'ord_not_ours' }, client_reference_id: null },
      },
    });
    const r = await post(foreign, sign(foreign, secret));
    expect(r.status).toBe(200);
    expect(((await r.json()) as { outcome: string }).outcome).toBe('ignored');
    const row = await h.settle.ctx.db
      .selectFrom('webhook_events')
      .select(['status', 'type'])
      .where('event_id', '=', 'evt_foreign_order_1')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'ignored', type: 'checkout.session.completed' });
    expect((await order(h, orderId)).status).toBe('pending');
    const real = await post(payload, sign(payload, secret));
    expect(((await real.json()) as { outcome: string }).outcome).toBe('processed');
    expect((await order(h, orderId)).status).toBe('paid');
  });

  it('a livemode event on a test-mode deployment is rejected on the platform endpoint and ignored on the Connect endpoint', async () => {
    const secret = h.settle.webhookSecrets!.platform[0]!;
    const live = JSON.stringify({ ...JSON.parse(payload), id: 'evt_live_1', livemode: true });
    const r = await post(live, sign(live, secret));
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('webhook_livemode_mismatch');
    // The Connect endpoint legitimately receives both modes for live-connected accounts: acknowledged, ignored.
    const connectLive = JSON.stringify({
      ...JSON.parse(payload),
      id: 'evt_live_2',
      livemode: true,
      account: accountId,
    });
    const c = await post(
      connectLive,
      sign(connectLive, h.settle.webhookSecrets!.connect[0]!),
      '/webhooks/stripe/connect',
    );
    expect(c.status).toBe(200);
    expect(((await c.json()) as { outcome: string }).outcome).toBe('ignored');
    expect(
      await h.settle.ctx.db
        .selectFrom('webhook_events')
        .select('id')
        .where('event_id', 'in', ['evt_live_1', 'evt_live_2'])
        .execute(),
    ).toEqual([]);
  });

  it('a processing failure is recorded and answered 500; the operator replays it once the cause is fixed', async () => {
    const secret = h.settle.webhookSecrets!.platform[0]!;
    // The provider is unreachable while processing (re-reading the session fails): Stripe must retry.
    h.settle.emulator!.faults.set({ api5xx: { next: 50, path: '/v1/checkout/sessions', status: 500 } });
    const r = await post(payload, sign(payload, secret));
    expect(r.status).toBe(500);
    const failed = await h.admin<{
      events: { id: number; status: string; lastError: string; attempts: number }[];
    }>('GET', '/api/admin/webhook-events?status=failed');
    expect(failed.body.events).toHaveLength(1);
    expect(failed.body.events[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await order(h, orderId)).status).toBe('pending');
    h.settle.emulator!.faults.reset();
    const replay = await h.admin<{ status: string }>(
      'POST',
      `/api/admin/webhook-events/${failed.body.events[0]!.id}/replay`,
    );
    expect(replay.body.status).toBe('processed');
    await h.settleDown();
    expect((await order(h, orderId)).status).toBe('paid');
  });

  it('non-webhook routes still parse JSON; oversized webhook bodies are refused', async () => {
    const big = 'x'.repeat(1024 * 1024 + 10);
    const r = await post(big, 't=1,v1=00');
    expect(r.status).toBe(413);
    const bad = await fetch(`${h.settle.url}/api/checkout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(bad.status).toBe(400);
  });

  it('account.updated events arriving out of order never overwrite newer capability state', async () => {
    const secret = h.settle.webhookSecrets!.connect[0]!;
    const account = await h.stripe.accounts.retrieve(accountId);
    const now = Math.floor(Date.now() / 1000);
    const event = (id: string, created: number, chargesEnabled: boolean) =>
      JSON.stringify({
        id,
        object: 'event',
        type: 'account.updated',
        account: accountId,
        api_version: '2026-10-28.endive',
        created,
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        data: { object: { ...account, charges_enabled: chargesEnabled, payouts_enabled: chargesEnabled } },
      });
    const newer = event('evt_acct_newer', now + 60, false);
    const older = event('evt_acct_older', now + 30, true);
    expect((await post(newer, sign(newer, secret), '/webhooks/stripe/connect')).status).toBe(200);
    expect((await post(older, sign(older, secret), '/webhooks/stripe/connect')).status).toBe(200);
    const seller = await h.settle.ctx.db
      .selectFrom('seller_accounts')
      .selectAll()
      .where('seller_id', '=', sellerId)
      .executeTakeFirstOrThrow();
    expect(seller).toMatchObject({ charges_enabled: false, payouts_enabled: false });
    // …and a seller who cannot take charges gets no checkout.
    const slotRow = await h.settle.ctx.db
      .selectFrom('slots')
      .innerJoin('listings', 'listings.id', 'slots.listing_id')
      .select('slots.id')
      .where('listings.seller_id', '=', sellerId)
      .executeTakeFirstOrThrow();
    const r = await h.api('POST', '/api/checkout', { slotId: slotRow.id, quantity: 1 });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: { code: 'seller_not_ready' } });
  });
});

describe('rate limits on buyer routes', () => {
  it('checkout answers 429 rate_limited with Retry-After past the limit; webhook ingress is never limited', async () => {
    const h = await startHarness('embedded', { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '3' } });
    try {
      const m = await setupMarket(h, { chargeType: 'destination', capacity: 50 });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await h.api('POST', '/api/checkout', { slotId: m.slotId, quantity: 1 })).status);
      expect(statuses).toEqual([201, 201, 201, 429]);
      const limited = await h.api('POST', '/api/checkout', { slotId: m.slotId, quantity: 1 });
      expect(limited.body).toMatchObject({ error: { code: 'rate_limited' } });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // Provider retries must never be dropped: many deliveries in a row all get an answer other than 429.
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${h.settle.url}/webhooks/stripe`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          }),
        ),
      );
      expect(results.every((r) => r.status === 400)).toBe(true);
    } finally {
      await h.close();
    }
  });
});
