import { X509Certificate, verify } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OrdersController, Client, Environment, ApiError } from '@paypal/paypal-server-sdk';
import {
  PAYPAL_WEBHOOK_RETRY,
  emulatorHttpClientOptions,
  paypalSdkClientFor,
} from '../../../src/emulators/paypal/index.js';
import {
  orderBody,
  raw,
  referralBody,
  sdkError,
  startHarness,
  startReceiver,
  subscribe,
  type Harness,
  type Receiver,
} from './helpers.js';

async function waitFor(pred: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function header(r: { headers: Record<string, string | string[] | undefined> }, name: string): string {
  const v = r.headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/** Verifies a delivery offline, as a receiver does: RSA-SHA256 over id|time|webhookId|crc32(raw body). */
async function verifyOffline(
  rec: { raw: string; headers: Record<string, string | string[] | undefined> },
  webhookId: string,
  body = rec.raw,
): Promise<boolean> {
  const certPem = await (await fetch(header(rec, 'paypal-cert-url'))).text();
  const cert = new X509Certificate(certPem);
  const message = `${header(rec, 'paypal-transmission-id')}|${header(rec, 'paypal-transmission-time')}|${webhookId}|${crc32(Buffer.from(body, 'utf8')) >>> 0}`;
  return verify(
    'sha256',
    Buffer.from(message),
    cert.publicKey,
    Buffer.from(header(rec, 'paypal-transmission-sig'), 'base64'),
  );
}

describe('webhook subscriptions', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates, lists, reads and deletes webhooks; refuses a duplicate URL and more than 10', async () => {
    const created = await h.http('POST', '/v1/notifications/webhooks', {
      url: 'https://settle.example/webhooks/paypal',
      event_types: [{ name: 'PAYMENT.CAPTURE.COMPLETED' }, { name: 'CHECKOUT.ORDER.APPROVED' }],
    });
    expect(created.status).toBe(201);
    const id = String(created.json['id']);
    expect(id).toMatch(/^[A-Z0-9]{17}$/);
    expect(created.json['event_types']).toEqual([
      { name: 'PAYMENT.CAPTURE.COMPLETED', description: 'A payment capture completes.', status: 'ENABLED' },
      {
        name: 'CHECKOUT.ORDER.APPROVED',
        description: 'An order has been approved by buyer.',
        status: 'ENABLED',
      },
    ]);
    const dup = await h.http('POST', '/v1/notifications/webhooks', {
      url: 'https://settle.example/webhooks/paypal',
      event_types: [{ name: '*' }],
    });
    expect(dup.status).toBe(400);
    expect(dup.json['name']).toBe('WEBHOOK_URL_ALREADY_EXISTS');
    expect(((await h.http('GET', '/v1/notifications/webhooks')).json['webhooks'] as unknown[]).length).toBe(
      1,
    );
    expect((await h.http('GET', `/v1/notifications/webhooks/${id}`)).json['url']).toBe(
      'https://settle.example/webhooks/paypal',
    );
    for (let i = 0; i < 9; i++)
      expect(
        (
          await h.http('POST', '/v1/notifications/webhooks', {
            url: `https://settle.example/h${i}`,
            event_types: [{ name: '*' }],
          })
        ).status,
      ).toBe(201);
    const eleventh = await h.http('POST', '/v1/notifications/webhooks', {
      url: 'https://settle.example/h11',
      event_types: [{ name: '*' }],
    });
    expect(eleventh.json['name']).toBe('WEBHOOK_NUMBER_LIMIT_EXCEEDED');
    const del = await h.http('DELETE', `/v1/notifications/webhooks/${id}`);
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    expect((await h.http('GET', `/v1/notifications/webhooks/${id}`)).status).toBe(404);
  });
});

describe('signed delivery', () => {
  let h: Harness;
  let receiver: Receiver;
  let webhookId: string;
  beforeAll(async () => {
    h = await startHarness();
    receiver = await startReceiver();
    webhookId = await subscribe(h, receiver.url);
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  it('delivers PayPal’s envelope with the signature headers; the signature verifies against the served certificate', async () => {
    const created = await h.orders.createOrder({ body: orderBody() });
    const id = created.result.id ?? '';
    await h.emu.approveOrder(id);
    await h.emu.idle();
    const rec = receiver.received.find(
      (r) => r.event.event_type === 'CHECKOUT.ORDER.APPROVED' && r.event.resource['id'] === id,
    );
    if (!rec) throw new Error('no CHECKOUT.ORDER.APPROVED');
    expect(Object.keys(rec.event)).toEqual([
      'id',
      'event_version',
      'create_time',
      'resource_type',
      'resource_version',
      'event_type',
      'summary',
      'resource',
      'links',
    ]);
    expect(rec.event.id).toMatch(/^WH-[A-Z0-9]{17}-[A-Z0-9]{17}$/);
    expect(rec.event['event_version']).toBe('1.0');
    expect(rec.event['resource_type']).toBe('checkout-order');
    expect(rec.event.resource['status']).toBe('APPROVED');
    expect(header(rec, 'paypal-auth-algo')).toBe('SHA256withRSA');
    expect(header(rec, 'paypal-cert-url')).toBe(h.emu.certUrl);
    expect(header(rec, 'paypal-transmission-time')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await verifyOffline(rec, webhookId)).toBe(true);
    expect(await verifyOffline(rec, webhookId, rec.raw.replace('APPROVED', 'COMPLETED'))).toBe(false);
    expect(await verifyOffline(rec, 'WRONGWEBHOOKID000')).toBe(false);
    const certRes = await fetch(h.emu.certUrl);
    expect(certRes.status).toBe(200);
    expect(await certRes.text()).toBe(h.emu.certPem);
  });

  it('verify-webhook-signature: SUCCESS with the delivered bytes spliced in, FAILURE re-serialised or for another webhook', async () => {
    await h.http('POST', '/v2/customer/partner-referrals', referralBody('seller-verify'));
    await h.emu.completeOnboarding('seller-verify');
    await h.emu.idle();
    const rec = receiver.received.find((r) => r.event.event_type === 'MERCHANT.ONBOARDING.COMPLETED');
    if (!rec) throw new Error('no event');
    const fields = (wid: string): string =>
      `"auth_algo":"${header(rec, 'paypal-auth-algo')}","cert_url":"${header(rec, 'paypal-cert-url')}","transmission_id":"${header(
        rec,
        'paypal-transmission-id',
      )}","transmission_sig":"${header(rec, 'paypal-transmission-sig')}","transmission_time":"${header(rec, 'paypal-transmission-time')}","webhook_id":"${wid}"`;
    const post = (body: string): Promise<{ json: Record<string, unknown>; status: number }> =>
      raw(h.emu.url, 'POST', '/v1/notifications/verify-webhook-signature', { token: h.token, rawBody: body });
    const ok = await post(`{${fields(webhookId)},"webhook_event":${rec.raw}}`);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ verification_status: 'SUCCESS' });
    const pretty = await post(
      `{${fields(webhookId)},"webhook_event":${JSON.stringify(JSON.parse(rec.raw), null, 2)}}`,
    );
    expect(pretty.json).toEqual({ verification_status: 'FAILURE' });
    const reordered = JSON.parse(rec.raw) as Record<string, unknown>;
    const { id, ...rest } = reordered;
    const moved = await post(`{${fields(webhookId)},"webhook_event":${JSON.stringify({ ...rest, id })}}`);
    expect(moved.json).toEqual({ verification_status: 'FAILURE' });
    const other = await post(`{${fields('OTHERWEBHOOK00000')},"webhook_event":${rec.raw}}`);
    expect(other.json).toEqual({ verification_status: 'FAILURE' });
    const missing = await post(`{${fields(webhookId)}}`);
    expect(missing.status).toBe(400);
  });

  it('lists, reads and resends events (webhooks-events)', async () => {
    const list = await h.http(
      'GET',
      '/v1/notifications/webhooks-events?event_type=MERCHANT.ONBOARDING.COMPLETED&page_size=5',
    );
    const events = list.json['events'] as Array<Record<string, unknown>>;
    expect(events.length).toBe(1);
    const id = String(events[0]?.['id']);
    expect((await h.http('GET', `/v1/notifications/webhooks-events/${id}`)).json['id']).toBe(id);
    const before = receiver.received.filter((r) => r.event.id === id).length;
    const resend = await h.http('POST', `/v1/notifications/webhooks-events/${id}/resend`, {
      webhook_ids: [webhookId],
    });
    expect(resend.status).toBe(202);
    await h.emu.idle();
    expect(receiver.received.filter((r) => r.event.id === id).length).toBe(before + 1);
    expect((await h.http('GET', '/v1/notifications/webhooks-events/WH-NOPE')).status).toBe(404);
  });
});

describe('retries with backoff on the clock', () => {
  it('retries a failing endpoint with doubling delays (PayPal: 25 retries over about 3 days)', async () => {
    const total = Array.from({ length: 25 }, (_, i) =>
      Math.min(PAYPAL_WEBHOOK_RETRY.baseDelayMs * 2 ** i, PAYPAL_WEBHOOK_RETRY.maxDelayMs ?? Infinity),
    ).reduce((a, b) => a + b, 0);
    expect(PAYPAL_WEBHOOK_RETRY.attempts).toBe(26);
    expect(total / 3600_000).toBeGreaterThan(70);
    expect(total / 3600_000).toBeLessThan(74);

    const h = await startHarness({ clockMode: 'manual', timeScale: 1 });
    const receiver = await startReceiver();
    try {
      receiver.respond = (n) => (n < 3 ? 500 : 200);
      await subscribe(h, receiver.url, ['MERCHANT.ONBOARDING.COMPLETED']);
      await h.http('POST', '/v2/customer/partner-referrals', referralBody('seller-retry'));
      await h.emu.completeOnboarding('seller-retry');
      await waitFor(() => h.emu.deliveries.length === 1);
      const start = h.emu.clock.now();
      for (const [step, expected] of [
        [60_000, 2],
        [120_000, 3],
        [240_000, 4],
      ] as const) {
        h.emu.clock.advance(step - 1);
        await new Promise((r) => setTimeout(r, 30));
        expect(h.emu.deliveries.length).toBe(expected - 1);
        h.emu.clock.advance(1);
        await waitFor(() => h.emu.deliveries.length === expected);
      }
      await h.emu.idle();
      expect(h.emu.deliveries.map((d) => [d.attempt, d.status])).toEqual([
        [1, 500],
        [2, 500],
        [3, 500],
        [4, 200],
      ]);
      expect((h.emu.deliveries.at(-1)?.at ?? 0) - start).toBe(420_000);
      expect(receiver.received).toHaveLength(1);
      // Every attempt is a new transmission of the same event, signed afresh.
      const ids = new Set(receiver.all.map((r) => header(r, 'paypal-transmission-id')));
      expect(ids.size).toBe(4);
      expect(new Set(receiver.all.map((r) => r.event.id)).size).toBe(1);
    } finally {
      await h.close();
      await receiver.close();
    }
  });
});

describe('faults', () => {
  let h: Harness;
  let receiver: Receiver;
  let webhookId: string;
  let n = 0;
  beforeAll(async () => {
    h = await startHarness({ webhookRetry: { attempts: 4, baseDelayMs: 20_000 } });
    receiver = await startReceiver();
    webhookId = await subscribe(h, receiver.url, [
      'MERCHANT.ONBOARDING.COMPLETED',
      'CHECKOUT.ORDER.APPROVED',
    ]);
  });
  afterEach(() => {
    h.emu.faults.reset();
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  /** Onboards a new seller: one MERCHANT.ONBOARDING.COMPLETED event. */
  async function emitOne(): Promise<string> {
    const tracking = `fault-seller-${++n}`;
    await h.http('POST', '/v2/customer/partner-referrals', referralBody(tracking));
    const { merchantId } = await h.emu.completeOnboarding(tracking);
    return merchantId;
  }
  const forMerchant = (m: string): Receiver['received'] =>
    receiver.received.filter((r) => r.event.resource['merchant_id'] === m);

  it('duplicate: each delivery is sent twice, with the same event id', async () => {
    h.emu.faults.set({ webhookDuplicates: 2 });
    const m = await emitOne();
    await h.emu.idle();
    const got = forMerchant(m);
    expect(got).toHaveLength(2);
    expect(got[0]?.event.id).toBe(got[1]?.event.id);
  });

  it('reorder: events emitted within the window arrive reversed', async () => {
    h.emu.faults.set({ webhookReorder: { windowMs: 100, mode: 'reverse' } });
    const a = await emitOne();
    const b = await emitOne();
    await h.emu.idle();
    const order = receiver.received
      .map((r) => r.event.resource['merchant_id'])
      .filter((x) => x === a || x === b);
    expect(order).toEqual([b, a]);
  });

  it('delay: deliveries wait webhookDelayMs', async () => {
    h.emu.faults.set({ webhookDelayMs: 200 });
    const t0 = Date.now();
    const m = await emitOne();
    await h.emu.idle();
    expect((forMerchant(m)[0]?.at ?? 0) - t0).toBeGreaterThanOrEqual(190);
  });

  it('drop: the event is kept (webhooks-events) but never delivered', async () => {
    h.emu.faults.set({ webhookDrop: { types: ['MERCHANT.ONBOARDING.COMPLETED'] } });
    const m = await emitOne();
    await h.emu.idle();
    expect(forMerchant(m)).toHaveLength(0);
    expect(h.emu.deliveries.at(-1)?.status).toBe('dropped');
    const list = await h.http(
      'GET',
      '/v1/notifications/webhooks-events?event_type=MERCHANT.ONBOARDING.COMPLETED&page_size=50',
    );
    expect(
      (list.json['events'] as Array<{ resource: { merchant_id: string } }>).some(
        (e) => e.resource.merchant_id === m,
      ),
    ).toBe(true);
  });

  it('endpoint down: failed attempts are retried until it recovers', async () => {
    h.emu.faults.set({ endpointFailures: [{ endpoint: webhookId, mode: 'skip', failures: 2 }] });
    const m = await emitOne();
    await h.emu.idle();
    expect(forMerchant(m)).toHaveLength(1);
    const mine = h.emu.deliveries.slice(-3);
    expect(mine.map((d) => [d.attempt, d.status])).toEqual([
      [1, 'error'],
      [2, 'error'],
      [3, 200],
    ]);
  });

  it('5xx: answered before processing; the SDK retries a GET when told to', async () => {
    const created = await h.orders.createOrder({ body: orderBody() });
    const id = created.result.id ?? '';
    h.emu.faults.set({ api5xx: { next: 1, path: '/v2/checkout/orders/', method: 'GET' } });
    const err = await sdkError(h.orders.getOrder({ id }));
    expect(err.status).toBe(500);
    expect(err.body['name']).toBe('INTERNAL_SERVER_ERROR');
    h.emu.faults.set({ api5xx: { next: 1, path: '/v2/checkout/orders/', method: 'GET', status: 503 } });
    const retrying = new OrdersController(
      new Client({
        clientCredentialsAuthCredentials: {
          oAuthClientId: 'emulator-client-id',
          oAuthClientSecret: 'emulator-client-secret',
        },
        environment: Environment.Sandbox,
        timeout: 5000,
        httpClientOptions: {
          retryConfig: { maxNumberOfRetries: 2, retryInterval: 0.01, maximumRetryWaitTime: 5 },
        },
        unstable_httpClientOptions: emulatorHttpClientOptions(h.emu.url),
      }),
    );
    const got = await retrying.getOrder({ id });
    expect(got.result.id).toBe(id);
    const gets = h.emu.requests.filter((r) => r.path === `/v2/checkout/orders/${id}` && r.method === 'GET');
    expect(gets.map((r) => r.status).slice(-2)).toEqual([503, 200]);
    // A failed create is not recorded: the same PayPal-Request-Id then creates the order.
    h.emu.faults.set({ api5xx: { next: 1, path: '/v2/checkout/orders', method: 'POST' } });
    await sdkError(h.orders.createOrder({ body: orderBody(), paypalRequestId: 'after-5xx' }));
    const retried = await h.orders.createOrder({ body: orderBody(), paypalRequestId: 'after-5xx' });
    expect(retried.statusCode).toBe(201);
  });

  it('timeout: the request is held, then the connection dropped; the SDK times out', async () => {
    h.emu.faults.set({ apiTimeout: { next: 1, path: '/v2/checkout/orders', method: 'POST', ms: 1500 } });
    const client = paypalSdkClientFor(h.emu.url, { timeout: 300 });
    const orders = new OrdersController(client);
    await orders.getOrder({ id: 'WARMUPTOKENCALLXX' }).catch(() => undefined);
    const t0 = Date.now();
    const err = await orders.createOrder({ body: orderBody() }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err instanceof ApiError).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(h.emu.requests.some((r) => r.fault === 'timeout')).toBe(true);
  });

  it('latency: every request waits apiLatencyMs', async () => {
    h.emu.faults.set({ apiLatencyMs: 150 });
    const t0 = Date.now();
    await h.http('GET', '/v1/notifications/webhooks');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('429: RATE_LIMIT_REACHED in PayPal’s shape', async () => {
    h.emu.faults.set({ apiRateLimit: { next: 1, path: '/v1/notifications/webhooks' } });
    const res = await h.http('GET', '/v1/notifications/webhooks');
    expect(res.status).toBe(429);
    expect(res.json['name']).toBe('RATE_LIMIT_REACHED');
    expect((await h.http('GET', '/v1/notifications/webhooks')).status).toBe(200);
  });

  it('faults over HTTP: POST/GET/DELETE /_emulator/faults', async () => {
    const set = await raw(h.emu.url, 'POST', '/_emulator/faults', { body: { webhookDuplicates: 3 } });
    expect(set.json['webhookDuplicates']).toBe(3);
    expect((await raw(h.emu.url, 'DELETE', '/_emulator/faults')).json['webhookDuplicates']).toBe(1);
    const deliveries = await raw(h.emu.url, 'GET', '/_emulator/deliveries');
    expect(Array.isArray(deliveries.json['data'])).toBe(true);
    const clock = await raw(h.emu.url, 'GET', '/_emulator/clock');
    expect(typeof clock.json['now']).toBe('number');
  });
});

describe('indented delivery bodies (webhookBodyIndent)', () => {
  it('delivers the configured bytes and signs exactly them', async () => {
    const h = await startHarness({ webhookBodyIndent: 2 });
    const receiver = await startReceiver();
    try {
      const webhookId = await subscribe(h, receiver.url);
      await h.http('POST', '/v2/customer/partner-referrals', referralBody('seller-indent'));
      await h.emu.completeOnboarding('seller-indent');
      await h.emu.idle();
      const rec = receiver.received[0];
      if (!rec) throw new Error('nothing delivered');
      expect(rec.raw).toContain('\n  "id"');
      expect(await verifyOffline(rec, webhookId)).toBe(true);
      expect(await verifyOffline(rec, webhookId, JSON.stringify(JSON.parse(rec.raw)))).toBe(false);
    } finally {
      await h.close();
      await receiver.close();
    }
  });
});
