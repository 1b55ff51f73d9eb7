import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acmeSign, startFake, startReceiver, waitFor, type Fake, type Receiver } from './fake-provider.js';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let fake: Fake;
let rx: Receiver;

beforeEach(async () => {
  fake = await startFake({
    clock: { mode: 'manual', startMs: 0 },
    retry: { attempts: 4, baseDelayMs: 1000 },
  });
  rx = await startReceiver();
});
afterEach(async () => {
  await fake.close();
  await rx.close();
});

/** Waits until the attempt in flight has finished and its retry (if any) sits on the clock. */
async function settledAttempts(n: number): Promise<void> {
  await waitFor(() => fake.sender.deliveries.length === n);
  await pause(5);
}

describe('signed delivery', () => {
  it("signs with the provider's signer over the exact bytes sent, with the configured headers", async () => {
    const ep = fake.addEndpoint(rx.url);
    const id = fake.emit('thing.created', { id: 'THING_1', note: 'é & <b>' });
    await fake.tasks.idle(2000);
    expect(rx.hits).toHaveLength(1);
    const hit = rx.hits[0]!;
    expect(hit.headers['x-acme-signature']).toBe(acmeSign(ep.key, rx.url, hit.body));
    expect(hit.headers['user-agent']).toBe('Acme-Webhooks/1');
    expect(hit.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(hit.body)).toMatchObject({
      event_id: id,
      type: 'thing.created',
      data: { note: 'é & <b>' },
    });
    expect(fake.settled.get(id)).toEqual([true]);
    expect(fake.sender.deliveries).toEqual([
      {
        eventId: id,
        type: 'thing.created',
        endpointId: ep.id,
        url: rx.url,
        account: null,
        attempt: 1,
        status: 200,
        at: 0,
      },
    ]);
  });

  it('keeps emission order per endpoint', async () => {
    fake.addEndpoint(rx.url);
    const ids = [1, 2, 3, 4, 5].map((n) => fake.emit('thing.updated', { n }));
    await fake.tasks.idle(2000);
    expect(rx.ids()).toEqual(ids);
  });
});

describe('retries with exponential backoff on the clock', () => {
  it('retries after 1 s, 2 s, … of clock time, and only then', async () => {
    rx.respond = (n) => (n < 2 ? 500 : 200);
    fake.addEndpoint(rx.url);
    const id = fake.emit('thing.created', {});
    await settledAttempts(1);
    expect(fake.clock.state().scheduled).toBe(1);
    expect(fake.tasks.pending).toBe(1);

    fake.clock.advance(999);
    await pause(30);
    expect(rx.hits).toHaveLength(1);
    fake.clock.advance(1);
    await settledAttempts(2);

    fake.clock.advance(1999);
    await pause(30);
    expect(rx.hits).toHaveLength(2);
    fake.clock.advance(1);
    await settledAttempts(3);
    await fake.tasks.idle(1000);

    expect(fake.sender.deliveries.map((d) => [d.attempt, d.status, d.at])).toEqual([
      [1, 500, 0],
      [2, 500, 1000],
      [3, 200, 3000],
    ]);
    expect(fake.settled.get(id)).toEqual([true]);
  });

  it('gives up after the bounded attempts; idle() then resolves', async () => {
    rx.respond = () => 503;
    fake.addEndpoint(rx.url);
    const id = fake.emit('thing.created', {});
    await settledAttempts(1);
    fake.clock.advance(1000);
    await settledAttempts(2);
    fake.clock.advance(2000);
    await settledAttempts(3);
    fake.clock.advance(4000);
    await settledAttempts(4);
    await fake.tasks.idle(1000);
    expect(fake.sender.deliveries.map((d) => d.status)).toEqual([503, 503, 503, 503]);
    expect(fake.settled.get(id)).toEqual([false]);
    expect(fake.clock.state().scheduled).toBe(0);
  });

  it('a deleted endpoint ends the delivery without another attempt', async () => {
    rx.respond = () => 500;
    const ep = fake.addEndpoint(rx.url);
    const id = fake.emit('thing.created', {});
    await settledAttempts(1);
    fake.endpoints.delete(ep.id);
    fake.clock.advance(1000);
    await fake.tasks.idle(1000);
    expect(fake.sender.deliveries).toHaveLength(1);
    expect(fake.settled.get(id)).toEqual([false]);
  });
});

describe('backoff', () => {
  it('is scaled by the time scale and capped by maxDelayMs', async () => {
    const scaled = await startFake({
      clock: { mode: 'manual', startMs: 0, timeScale: 0.5 },
      retry: { attempts: 6, baseDelayMs: 1000, maxDelayMs: 3000 },
    });
    try {
      expect([1, 2, 3, 4, 5].map((n) => scaled.sender.backoff(n))).toEqual([500, 1000, 1500, 1500, 1500]);
      rx.respond = (n) => (n === 0 ? 500 : 200);
      scaled.addEndpoint(rx.url);
      scaled.emit('thing.created', {});
      await waitFor(() => scaled.sender.deliveries.length === 1);
      await pause(5);
      scaled.clock.advance(500);
      await waitFor(() => scaled.sender.deliveries.length === 2);
      expect(scaled.sender.deliveries.map((d) => d.at)).toEqual([0, 500]);
    } finally {
      await scaled.close();
    }
  });

  it('runs on real time too with a system clock', async () => {
    const real = await startFake({ clock: { timeScale: 0.01 }, retry: { attempts: 3, baseDelayMs: 1000 } });
    try {
      rx.respond = (n) => (n < 2 ? 500 : 200);
      real.addEndpoint(rx.url);
      real.emit('thing.created', {});
      await real.tasks.idle(3000);
      const at = real.sender.deliveries.map((d) => d.at);
      expect(real.sender.deliveries.map((d) => d.status)).toEqual([500, 500, 200]);
      expect(at[2]! - at[0]!).toBeGreaterThanOrEqual(25); // 10 ms + 20 ms
    } finally {
      await real.close();
    }
  });
});
