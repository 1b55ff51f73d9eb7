import { WebhooksHelper } from 'square';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { squareSignature } from '../../../src/emulators/square/index.js';
import {
  createLink,
  rawApi,
  refused,
  startHarness,
  startReceiver,
  type Harness,
  type Receiver,
  type Seller,
} from './helpers.js';

const PAYMENT_TYPES = ['payment.created', 'payment.updated'];

describe('Square emulator: webhook subscriptions and signed deliveries', () => {
  let h: Harness;
  let seller: Seller;
  let hook: Receiver;
  beforeEach(async () => {
    h = await startHarness({ webhookRetry: { attempts: 4, baseDelayMs: 60_000 } });
    seller = await h.connect();
    hook = await startReceiver();
  });
  afterEach(async () => {
    await h.close();
    await hook.close();
  });

  const subscribe = async (types = PAYMENT_TYPES, url = hook.url): Promise<{ id: string; key: string }> => {
    const s = (
      await h.app.webhooks.subscriptions.create({
        idempotencyKey: `sub-${Math.random()}`,
        subscription: { name: 'Settle', notificationUrl: url, eventTypes: types, apiVersion: '2026-09-16' },
      })
    ).subscription;
    return { id: s?.id ?? '', key: s?.signatureKey ?? '' };
  };
  const pay = async (): Promise<string> => (await h.emu.payLink((await createLink(seller)).linkId)).paymentId;

  it('subscriptions: create (with a signature key), list, get, update, rotate the key, delete', async () => {
    const created = (
      await h.app.webhooks.subscriptions.create({
        subscription: { name: 'Settle', notificationUrl: hook.url, eventTypes: ['payment.updated'] },
      })
    ).subscription;
    expect(created).toMatchObject({
      name: 'Settle',
      enabled: true,
      eventTypes: ['payment.updated'],
      notificationUrl: hook.url,
      apiVersion: '2026-09-16',
    });
    expect(created?.id).toMatch(/^wbhk_[0-9a-f]{32}$/);
    expect(created?.signatureKey).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const id = created?.id ?? '';
    const listed = await h.app.webhooks.subscriptions.list();
    expect(listed.data.map((s) => s.id)).toEqual([id]);
    expect(listed.data[0]?.signatureKey).toBeUndefined();
    expect((await h.app.webhooks.subscriptions.get({ subscriptionId: id })).subscription?.signatureKey).toBe(
      created?.signatureKey,
    );
    const updated = await h.app.webhooks.subscriptions.update({
      subscriptionId: id,
      subscription: { enabled: false, eventTypes: ['refund.created'] },
    });
    expect(updated.subscription).toMatchObject({ enabled: false, eventTypes: ['refund.created'] });
    expect((await h.app.webhooks.subscriptions.list()).data).toEqual([]);
    expect((await h.app.webhooks.subscriptions.list({ includeDisabled: true })).data).toHaveLength(1);
    const rotated = await h.app.webhooks.subscriptions.updateSignatureKey({
      subscriptionId: id,
      idempotencyKey: 'rot',
    });
    expect(rotated.signatureKey).not.toBe(created?.signatureKey);
    await h.app.webhooks.subscriptions.delete({ subscriptionId: id });
    expect(await refused(h.app.webhooks.subscriptions.get({ subscriptionId: id }))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
  });

  it('subscriptions need the application’s personal access token, known event types and an http(s) URL', async () => {
    expect(await refused(seller.client.webhooks.subscriptions.list())).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    expect(
      await refused(
        h.app.webhooks.subscriptions.create({
          subscription: { notificationUrl: hook.url, eventTypes: ['payment.exploded'] },
        }),
      ),
    ).toMatchObject({ status: 400, code: 'INVALID_VALUE', field: 'subscription.event_types' });
    expect(
      await refused(
        h.app.webhooks.subscriptions.create({
          subscription: { notificationUrl: 'ftp://x', eventTypes: ['payment.created'] },
        }),
      ),
    ).toMatchObject({ status: 400, field: 'subscription.notification_url' });
    expect(
      await refused(
        h.app.webhooks.subscriptions.create({ subscription: { eventTypes: ['payment.created'] } }),
      ),
    ).toMatchObject({
      code: 'MISSING_REQUIRED_PARAMETER',
      field: 'subscription.notification_url',
    });
    const types = await h.app.webhooks.eventTypes.list();
    expect(types.eventTypes).toEqual(
      expect.arrayContaining(['payment.updated', 'oauth.authorization.revoked', 'dispute.state.updated']),
    );
  });

  it('deliveries are signed: WebhooksHelper.verifySignature accepts them with the notification URL, refuses another URL', async () => {
    const { key } = await subscribe();
    const paymentId = await pay();
    await h.emu.idle();
    expect(hook.types()).toEqual(['payment.created', 'payment.updated']);
    const d = hook.ok[1];
    if (!d) throw new Error('no delivery');
    const header = String(d.headers['x-square-hmacsha256-signature']);
    expect(header).toBe(squareSignature(key, hook.url, d.raw));
    expect(
      await WebhooksHelper.verifySignature({
        requestBody: d.raw,
        signatureHeader: header,
        signatureKey: key,
        notificationUrl: hook.url,
      }),
    ).toBe(true);
    expect(
      await WebhooksHelper.verifySignature({
        requestBody: d.raw,
        signatureHeader: header,
        signatureKey: key,
        notificationUrl: `${hook.url}/`,
      }),
    ).toBe(false);
    expect(
      await WebhooksHelper.verifySignature({
        requestBody: `${d.raw} `,
        signatureHeader: header,
        signatureKey: key,
        notificationUrl: hook.url,
      }),
    ).toBe(false);
    expect(d.headers['square-environment']).toBe('Sandbox');
    expect(d.event).toMatchObject({
      merchant_id: seller.merchantId,
      type: 'payment.updated',
      data: { type: 'payment', id: paymentId },
    });
    expect(d.event.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(d.event.data.object).toMatchObject({
      payment: { id: paymentId, status: 'COMPLETED', amount_money: { amount: 2500, currency: 'USD' } },
    });
    expect(Number.isNaN(Date.parse(d.event.created_at))).toBe(false);
  });

  it('a failing endpoint is retried with doubling backoff on the clock; the retry is a new signed delivery of the same event', async () => {
    await subscribe(['payment.created']);
    hook.respond = (n) => (n < 2 ? 500 : 200);
    await pay();
    await h.emu.idle();
    expect(hook.all).toHaveLength(3);
    expect(hook.ok).toHaveLength(1);
    expect(new Set(hook.all.map((d) => d.event.event_id)).size).toBe(1);
    expect(hook.all[1]?.headers['square-retry-number']).toBe('1');
    const attempts = h.emu.deliveries.filter((d) => d.type === 'payment.created');
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    const gap1 = (attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0);
    const gap2 = (attempts[2]?.at ?? 0) - (attempts[1]?.at ?? 0);
    expect(gap1).toBeGreaterThanOrEqual(60);
    expect(gap2).toBeGreaterThanOrEqual(120);
  });

  it('events need the scope the seller granted: no payment events without PAYMENTS_READ', async () => {
    await subscribe(['payment.created', 'order.created']);
    const limited = await h.connect({ scopes: ['PAYMENTS_WRITE', 'ORDERS_READ', 'ORDERS_WRITE'] });
    await h.emu.payLink((await createLink(limited)).linkId);
    await h.emu.idle();
    expect(hook.types()).toEqual(['order.created']);
  });

  it('webhook faults: duplicate, drop, delay, reorder, endpoint down', async () => {
    const { id } = await subscribe();
    h.emu.faults.set({ webhookDuplicates: 2 });
    await pay();
    await h.emu.idle();
    expect(hook.types()).toEqual([
      'payment.created',
      'payment.created',
      'payment.updated',
      'payment.updated',
    ]);

    hook.ok.length = 0;
    h.emu.faults.set({ webhookDuplicates: 1, webhookDrop: { types: ['payment.created'] } });
    await pay();
    await h.emu.idle();
    expect(hook.types()).toEqual(['payment.updated']);
    expect(h.emu.deliveries.filter((d) => d.status === 'dropped')).toHaveLength(1);

    hook.ok.length = 0;
    h.emu.faults.set({ webhookDrop: null, webhookReorder: { windowMs: 50 } });
    await pay();
    await h.emu.idle();
    expect(hook.types()).toEqual(['payment.updated', 'payment.created']);

    hook.ok.length = 0;
    h.emu.faults.set({ webhookReorder: null, webhookDelayMs: 30 });
    const t0 = Date.now();
    await pay();
    await h.emu.idle();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(hook.ok).toHaveLength(2);

    hook.ok.length = 0;
    h.emu.faults.set({ webhookDelayMs: 0, endpointFailures: [{ endpoint: id, failures: 1 }] });
    await pay();
    await h.emu.idle();
    expect(hook.types().sort()).toEqual(['payment.created', 'payment.updated']);
    expect(h.emu.deliveries.some((d) => d.status === 'error' && d.endpointId === id)).toBe(true);
  });
});

describe('Square emulator: events search', () => {
  let h: Harness;
  let seller: Seller;
  beforeEach(async () => {
    h = await startHarness({ clockMode: 'manual' });
    seller = await h.connect();
  });
  afterEach(async () => {
    await h.close();
  });

  it('events are not searchable until enabled (as on Square), then are, for 28 days', async () => {
    await h.emu.payLink((await createLink(seller)).linkId);
    expect((await seller.client.events.searchEvents({})).events).toBeUndefined();
    await seller.client.events.enableEvents();
    const link = await createLink(seller, { amount: 4200 });
    const paymentId = (await h.emu.payLink(link.linkId)).paymentId;
    const res = await seller.client.events.searchEvents({
      query: { filter: { eventTypes: ['payment.updated'] } },
    });
    expect(res.events?.map((e) => e.type)).toEqual(['payment.updated']);
    expect(res.events?.[0]).toMatchObject({
      merchantId: seller.merchantId,
      data: { type: 'payment', id: paymentId },
    });
    expect(res.metadata?.[0]).toMatchObject({ eventId: res.events?.[0]?.eventId, apiVersion: '2026-09-16' });
    const all = await seller.client.events.searchEvents({ query: { sort: { order: 'ASC' } } });
    expect(all.events?.map((e) => e.type)).toEqual([
      'order.created',
      'payment.created',
      'payment.updated',
      'order.updated',
    ]);
    const page = await seller.client.events.searchEvents({ limit: 3 });
    expect(page.events).toHaveLength(3);
    const next = await seller.client.events.searchEvents({ limit: 3, cursor: page.cursor ?? '' });
    expect(next.events).toHaveLength(1);
    // The application's own token sees the events of its sellers; another seller sees none of them.
    expect((await h.app.events.searchEvents({})).events).toHaveLength(4);
    const other = await h.connect();
    expect((await other.client.events.searchEvents({})).events).toBeUndefined();
    const since = await seller.client.events.searchEvents({
      query: { filter: { createdAt: { startAt: new Date(h.emu.clock.now() + 1000).toISOString() } } },
    });
    expect(since.events).toBeUndefined();
    h.emu.clock.advance(28 * 24 * 3600_000 + 1);
    expect((await seller.client.events.searchEvents({})).events).toBeUndefined();
    await seller.client.events.disableEvents();
    await h.emu.payLink((await createLink(seller)).linkId);
    expect((await seller.client.events.searchEvents({})).events).toBeUndefined();
  });

  it('search parameters are checked: limit 1–100, sort order, unknown fields', async () => {
    expect(await refused(seller.client.events.searchEvents({ limit: 101 }))).toMatchObject({
      status: 400,
      code: 'VALUE_TOO_HIGH',
      field: 'limit',
    });
    // The SDK checks enums itself; raw HTTP shows the emulator's answer.
    const raw = await rawApi(h.emu, seller.accessToken, 'POST', '/v2/events', {
      query: { sort: { order: 'UP' } },
    });
    expect(raw.status).toBe(400);
    expect(raw.json.errors?.[0]).toMatchObject({ code: 'INVALID_ENUM_VALUE', field: 'query.sort.order' });
    expect(
      await refused(
        seller.client.events.searchEvents({ query: { filter: { createdAt: { startAt: 'tomorrow' } } } }),
      ),
    ).toMatchObject({ code: 'INVALID_TIME' });
  });
});
