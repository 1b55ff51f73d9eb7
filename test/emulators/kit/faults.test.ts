import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acmeSign, call, startFake, startReceiver, type Fake, type Receiver } from './fake-provider.js';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let fake: Fake;
let rx: Receiver;

beforeEach(async () => {
  fake = await startFake({
    clock: { mode: 'manual', startMs: 0 },
    retry: { attempts: 3, baseDelayMs: 1000 },
  });
  rx = await startReceiver();
});
afterEach(async () => {
  await fake.close();
  await rx.close();
});

/** Emits `n` events and waits until every one is delivered or given up, advancing the clock through retries. */
async function emitAll(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => fake.emit('thing.updated', { i }));
  await drain();
  return ids;
}

async function drain(): Promise<void> {
  for (let i = 0; i < 50 && fake.tasks.pending > 0; i++) {
    await pause(10);
    fake.clock.advance(1000);
  }
  await fake.tasks.idle(1000);
}

describe('webhook faults', () => {
  it('duplicate: each attempt is sent N times, every copy validly signed, sharing the attempt number', async () => {
    const ep = fake.addEndpoint(rx.url);
    fake.faults.set({ webhookDuplicates: 3 });
    const ids = await emitAll(2);
    expect(rx.ids()).toEqual([ids[0], ids[0], ids[0], ids[1], ids[1], ids[1]]);
    for (const h of rx.hits) expect(h.headers['x-acme-signature']).toBe(acmeSign(ep.key, rx.url, h.body));
    expect(fake.sender.deliveries.map((d) => d.attempt)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(fake.settled.get(ids[0]!)).toEqual([true]);
  });

  it('reorder: first attempts are held for the window (clock time), then released reversed', async () => {
    fake.addEndpoint(rx.url);
    fake.faults.set({ webhookReorder: { windowMs: 500, mode: 'reverse' } });
    const ids = [1, 2, 3].map((i) => fake.emit('thing.updated', { i }));
    await pause(30);
    expect(rx.hits).toHaveLength(0);
    fake.clock.advance(500);
    await fake.tasks.idle(1000);
    expect(rx.ids()).toEqual([...ids].reverse());
  });

  it('reorder (shuffle) is a seeded permutation', async () => {
    fake.addEndpoint(rx.url);
    const order = async (): Promise<number[]> => {
      fake.faults.set({ seed: 7, webhookReorder: { windowMs: 100, mode: 'shuffle' } });
      const mark = rx.hits.length;
      const ids = [0, 1, 2, 3, 4, 5].map((i) => fake.emit('thing.updated', { i }));
      fake.clock.advance(100);
      await fake.tasks.idle(1000);
      return rx
        .ids()
        .slice(mark)
        .map((id) => ids.indexOf(id));
    };
    const a = await order();
    const b = await order();
    expect([...a].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(a).toEqual(b);
    expect(a).not.toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('delay: every attempt waits the injected delay on the clock', async () => {
    fake.addEndpoint(rx.url);
    fake.faults.set({ webhookDelayMs: 5000 });
    fake.emit('thing.updated', {});
    await pause(30);
    fake.clock.advance(4999);
    await pause(30);
    expect(rx.hits).toHaveLength(0);
    fake.clock.advance(1);
    await fake.tasks.idle(1000);
    expect(rx.hits).toHaveLength(1);
    expect(fake.sender.deliveries[0]?.at).toBe(5000);
  });

  it('drop: by count, by type and by seeded probability; recorded as dropped, settled as failed', async () => {
    fake.addEndpoint(rx.url);
    fake.faults.set({ webhookDrop: { next: 1 } });
    const [first, second] = await emitAll(2);
    expect(rx.ids()).toEqual([second]);
    expect(fake.sender.deliveries.map((d) => [d.eventId, d.status])).toEqual([
      [first, 'dropped'],
      [second, 200],
    ]);
    expect(fake.settled.get(first!)).toEqual([false]);
    expect(fake.faults.get().webhookDrop?.next).toBe(0);

    fake.faults.set({ webhookDrop: { types: ['thing.secret'] } });
    const secret = fake.emit('thing.secret', {});
    const visible = fake.emit('thing.updated', {});
    await drain();
    expect(rx.ids()).toContain(visible);
    expect(rx.ids()).not.toContain(secret);

    const pattern = async (): Promise<boolean[]> => {
      fake.faults.set({ seed: 3, webhookDrop: { probability: 0.5 } });
      const ids = await emitAll(10);
      return ids.map((id) => fake.settled.get(id)?.[0] === true);
    };
    const a = await pattern();
    expect(a).toEqual(await pattern());
    expect(a.some((x) => x)).toBe(true);
    expect(a.some((x) => !x)).toBe(true);
  });

  it("endpoint down ('skip'): not called, recorded as error; recovers after `failures`", async () => {
    const ep = fake.addEndpoint(rx.url);
    fake.faults.set({ endpointFailures: [{ endpoint: ep.id, failures: 2 }] });
    const [id] = await emitAll(1);
    expect(fake.sender.deliveries.map((d) => [d.attempt, d.status])).toEqual([
      [1, 'error'],
      [2, 'error'],
      [3, 200],
    ]);
    expect(rx.hits).toHaveLength(1);
    expect(fake.settled.get(id!)).toEqual([true]);
  });

  it("endpoint down ('call', by URL, until reset): called, counted as failed, given up", async () => {
    fake.addEndpoint(rx.url);
    fake.faults.set({ endpointFailures: [{ endpoint: rx.url, mode: 'call' }] });
    const [id] = await emitAll(1);
    expect(fake.sender.deliveries.map((d) => d.status)).toEqual(['error', 'error', 'error']);
    expect(rx.hits).toHaveLength(3);
    expect(fake.settled.get(id!)).toEqual([false]);
  });

  it('connection errors count as failed attempts', async () => {
    fake.addEndpoint('http://127.0.0.1:9/closed');
    const [id] = await emitAll(1);
    expect(fake.sender.deliveries.map((d) => d.status)).toEqual(['error', 'error', 'error']);
    expect(fake.settled.get(id!)).toEqual([false]);
  });
});

describe('API faults', () => {
  it("5xx: answered before auth and the handler, in the provider's error shape, logged as a fault", async () => {
    fake.faults.set({ api5xx: { next: 1, status: 503, path: '/v2/things', method: 'POST' } });
    const runs = fake.runs.get('/v2/things') ?? 0;
    const other = await call(fake, 'POST', '/v2/other', {});
    expect(other.status).toBe(200);
    const res = await call(fake, 'POST', '/v2/things', { name: 'x' }, { authorization: 'wrong' });
    expect(res.status).toBe(503);
    expect(res.body.errors?.[0]?.code).toBe('SERVICE_UNAVAILABLE');
    expect(fake.runs.get('/v2/things') ?? 0).toBe(runs);
    expect(fake.server.requests.at(-1)).toMatchObject({ status: 503, fault: '5xx' });
    expect((await call(fake, 'POST', '/v2/things', { name: 'x' })).status).toBe(201);
  });

  it('429: rate limited in the provider shape', async () => {
    fake.faults.set({ apiRateLimit: { next: 1 } });
    const res = await call(fake, 'GET', '/v2/things/THING_x');
    expect(res.status).toBe(429);
    expect(res.body.errors?.[0]?.code).toBe('RATE_LIMITED');
    expect(fake.server.requests.at(-1)?.fault).toBe('429');
  });

  it('timeout: the connection is dropped after `ms` without processing', async () => {
    fake.faults.set({ apiTimeout: { next: 1, ms: 100 } });
    const runs = fake.runs.get('/v2/things') ?? 0;
    await expect(call(fake, 'POST', '/v2/things', { name: 'never' })).rejects.toThrow();
    expect(fake.runs.get('/v2/things') ?? 0).toBe(runs);
    expect(fake.server.requests.at(-1)).toMatchObject({ fault: 'timeout', status: 0 });
  });

  it('latency: added to matching paths only (real time, whatever the clock)', async () => {
    fake.faults.set({ apiLatencyMs: 150, apiLatencyPath: '/v2/things' });
    const t0 = Date.now();
    await call(fake, 'POST', '/v2/things', { name: 'slow' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    const t1 = Date.now();
    await call(fake, 'POST', '/v2/other', {});
    expect(Date.now() - t1).toBeLessThan(140);
  });

  it('probability faults are reproducible with a seed', async () => {
    const pattern = async (): Promise<number[]> => {
      fake.faults.set({ seed: 11, api5xx: { probability: 0.5, path: '/v2/other' } });
      const out: number[] = [];
      for (let i = 0; i < 10; i++) out.push((await call(fake, 'POST', '/v2/other', {})).status);
      return out;
    };
    const a = await pattern();
    expect(a).toEqual(await pattern());
    expect(a).toContain(200);
    expect(a).toContain(500);
  });
});
