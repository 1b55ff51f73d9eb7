import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sessionParams, startHarness, stripeClientFor, type Harness } from './helpers.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ webhookRetry: { attempts: 4, baseDelayMs: 1000 } }); // retries after 10, 20, 40 ms
});
afterEach(async () => {
  await h.emu.idle();
  h.emu.faults.reset();
  h.platform.respond = () => 200;
});
afterAll(async () => {
  await h.close();
});

/** Pays a fresh platform session and returns the ids of the events it emitted, in emission order. */
async function payOne(): Promise<{ sessionId: string; eventIds: string[] }> {
  const s = await h.stripe.checkout.sessions.create(sessionParams());
  const before = new Set((await h.stripe.events.list({ limit: 100 })).data.map((e) => e.id));
  await h.emu.paySession(s.id, { card_number: '4242424242424242' });
  const after = (await h.stripe.events.list({ limit: 100 })).data.filter((e) => !before.has(e.id));
  return { sessionId: s.id, eventIds: after.map((e) => e.id).reverse() };
}

function receivedFor(ids: string[]): string[] {
  return h.platform.received.map((r) => r.event.id).filter((id) => ids.includes(id));
}

describe('webhook delivery faults', () => {
  it('duplicates: each event is delivered N times, all validly signed', async () => {
    h.emu.faults.set({ webhookDuplicates: 3 });
    const { eventIds } = await payOne();
    await h.emu.idle();
    const got = receivedFor(eventIds);
    expect(got.length).toBe(eventIds.length * 3);
    for (const id of eventIds) expect(got.filter((x) => x === id)).toHaveLength(3);
    for (const r of h.platform.received.filter((x) => eventIds.includes(x.event.id)))
      expect(Stripe.webhooks.constructEvent(r.raw, r.signature, h.platformSecret).id).toBe(r.event.id);
  });

  it('normal order is emission order; reorder (reverse) delivers a window backwards', async () => {
    const normal = await payOne();
    await h.emu.idle();
    expect(receivedFor(normal.eventIds)).toEqual(normal.eventIds);

    h.emu.faults.set({ webhookReorder: { windowMs: 50, mode: 'reverse' } });
    const reordered = await payOne();
    await h.emu.idle();
    expect(receivedFor(reordered.eventIds)).toEqual([...reordered.eventIds].reverse());
  });

  it('delay: deliveries arrive no sooner than the injected delay', async () => {
    h.emu.faults.set({ webhookDelayMs: 150 });
    const start = Date.now();
    const { eventIds } = await payOne();
    await h.emu.idle();
    const first = h.platform.received.filter((r) => eventIds.includes(r.event.id)).map((r) => r.at);
    expect(first.length).toBe(eventIds.length);
    expect(Math.min(...first) - start).toBeGreaterThanOrEqual(140);
  });

  it('drop by type: not delivered, still listed, and reported by delivery_success=false', async () => {
    h.emu.faults.set({ webhookDrop: { types: ['charge.succeeded'] } });
    const { eventIds } = await payOne();
    await h.emu.idle();
    const events = await h.stripe.events.list({ limit: 100 });
    const dropped = events.data.find((e) => eventIds.includes(e.id) && e.type === 'charge.succeeded');
    expect(dropped).toBeDefined();
    expect(receivedFor(eventIds)).not.toContain(dropped?.id);
    expect(receivedFor(eventIds)).toHaveLength(eventIds.length - 1);
    const undelivered = await h.stripe.events.list({ delivery_success: false, limit: 100 });
    expect(undelivered.data.map((e) => e.id)).toContain(dropped?.id);
    expect(undelivered.data.find((e) => e.id === dropped?.id)?.pending_webhooks).toBe(1);
    expect(h.emu.deliveries.find((d) => d.eventId === dropped?.id)?.status).toBe('dropped');
  });

  it('drop next N', async () => {
    h.emu.faults.set({ webhookDrop: { next: 2 } });
    const { eventIds } = await payOne();
    await h.emu.idle();
    expect(receivedFor(eventIds)).toEqual(eventIds.slice(2));
    expect(h.emu.faults.get().webhookDrop?.next).toBe(0);
  });

  it('endpoint down for 2 attempts, then the retry succeeds (exponential backoff)', async () => {
    h.emu.faults.set({ endpointFailures: [{ endpoint: h.platformEndpointId, failures: 2 }] });
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    const expired = await h.stripe.checkout.sessions.expire(s.id);
    await h.emu.idle();
    const evt = (await h.stripe.events.list({ type: 'checkout.session.expired', limit: 1 })).data[0];
    expect((evt?.data.object as Stripe.Checkout.Session).id).toBe(expired.id);
    const log = h.emu.deliveries.filter((d) => d.eventId === evt?.id);
    expect(log.map((d) => [d.attempt, d.status])).toEqual([
      [1, 'error'],
      [2, 'error'],
      [3, 200],
    ]);
    expect(log[2]!.at - log[0]!.at).toBeGreaterThanOrEqual(25); // 10 ms + 20 ms at timeScale 0.01
    expect(receivedFor([String(evt?.id)])).toHaveLength(1);
    expect(evt?.request?.id).toMatch(/^req_/);
    expect(evt?.request?.idempotency_key).toMatch(/^stripe-node-retry-/);
  });

  it("endpoint failure in 'call' mode: the endpoint is called but the attempt counts as failed", async () => {
    h.emu.faults.set({ endpointFailures: [{ endpoint: h.platform.url, mode: 'call', failures: 1 }] });
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    await h.stripe.checkout.sessions.expire(s.id);
    await h.emu.idle();
    const evt = (await h.stripe.events.list({ type: 'checkout.session.expired', limit: 1 })).data[0];
    expect(h.emu.deliveries.filter((d) => d.eventId === evt?.id).map((d) => d.status)).toEqual([
      'error',
      200,
    ]);
    expect(receivedFor([String(evt?.id)])).toHaveLength(2);
  });

  it('receiver answering 500 is retried; giving up after the bounded attempts marks the event failed', async () => {
    h.platform.respond = () => 500;
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    await h.stripe.checkout.sessions.expire(s.id);
    await h.emu.idle();
    const evt = (await h.stripe.events.list({ type: 'checkout.session.expired', limit: 1 })).data[0];
    const log = h.emu.deliveries.filter((d) => d.eventId === evt?.id);
    expect(log.map((d) => d.status)).toEqual([500, 500, 500, 500]);
    const failed = await h.stripe.events.list({ delivery_success: false, type: 'checkout.session.expired' });
    expect(failed.data.map((e) => e.id)).toContain(evt?.id);
  });
});

describe('API faults', () => {
  it('a 500 is retried by the SDK with the same idempotency key and succeeds', async () => {
    h.emu.faults.set({ api5xx: { next: 1, path: '/v1/customers', method: 'POST' } });
    const retrying = stripeClientFor(h.emu, 'sk_test_settle', { maxNetworkRetries: 2 });
    const c = await retrying.customers.create({ email: 'retry@example.com' });
    const reqs = h.emu.requests.filter((r) => r.path === '/v1/customers' && r.method === 'POST').slice(-2);
    expect(reqs.map((r) => [r.status, r.fault])).toEqual([
      [500, '5xx'],
      [200, null],
    ]);
    expect(reqs[0]?.idempotencyKey).toBe(reqs[1]?.idempotencyKey);
    expect(c.lastResponse.idempotencyKey).toBe(reqs[0]?.idempotencyKey);
    const all = await h.stripe.customers.list({ email: 'retry@example.com' });
    expect(all.data).toHaveLength(1);
  });

  it('a 500 without retries surfaces as StripeAPIError', async () => {
    h.emu.faults.set({ api5xx: { next: 1, status: 503 } });
    await expect(h.stripe.customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
  });

  it('429 → StripeRateLimitError (not retried by the SDK)', async () => {
    h.emu.faults.set({ apiRateLimit: { next: 1 } });
    const retrying = stripeClientFor(h.emu, 'sk_test_settle', { maxNetworkRetries: 2 });
    await expect(retrying.customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(h.emu.requests.at(-1)?.fault).toBe('429');
  });

  it('timeout: the request hangs past the client timeout and is not processed', async () => {
    h.emu.faults.set({ apiTimeout: { next: 1, ms: 1500, path: '/v1/coupons', method: 'POST' } });
    const impatient = stripeClientFor(h.emu, 'sk_test_settle', { timeout: 200 });
    const before = (await h.stripe.coupons.list({ limit: 100 })).data.length;
    await expect(impatient.coupons.create({ percent_off: 7 })).rejects.toBeInstanceOf(
      Stripe.errors.StripeConnectionError,
    );
    expect((await h.stripe.coupons.list({ limit: 100 })).data.length).toBe(before);
    expect(h.emu.requests.some((r) => r.path === '/v1/coupons' && r.fault === 'timeout')).toBe(true);
  });

  it('latency is added to matching requests; faults are settable over HTTP', async () => {
    const res = await fetch(`${h.emu.url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiLatencyMs: 200, apiLatencyPath: '/v1/customers' }),
    });
    expect(((await res.json()) as { apiLatencyMs: number }).apiLatencyMs).toBe(200);
    const t0 = Date.now();
    await h.stripe.customers.create({});
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    const t1 = Date.now();
    await h.stripe.coupons.list();
    expect(Date.now() - t1).toBeLessThan(180);
    await fetch(`${h.emu.url}/_emulator/faults`, { method: 'DELETE' });
    expect(h.emu.faults.get().apiLatencyMs).toBe(0);
  });

  it('probability faults are reproducible with a seed', async () => {
    const pattern = async (): Promise<boolean[]> => {
      h.emu.faults.set({ seed: 42, apiRateLimit: { probability: 0.5, path: '/v1/coupons' } });
      const out: boolean[] = [];
      for (let i = 0; i < 8; i++)
        out.push(
          await h.stripe.coupons.list().then(
            () => true,
            () => false,
          ),
        );
      return out;
    };
    const a = await pattern();
    const b = await pattern();
    expect(a).toEqual(b);
    expect(a.some((x) => x)).toBe(true);
    expect(a.some((x) => !x)).toBe(true);
  });
});
