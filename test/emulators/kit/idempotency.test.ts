import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock, IdempotencyStore } from '../../../src/emulators/kit/index.js';
import { call, startFake, waitFor, type Fake } from './fake-provider.js';

describe('idempotency with a body key (Square-style policy)', () => {
  let fake: Fake;
  beforeAll(async () => {
    fake = await startFake({ idempotencyTtlMs: 24 * 3600_000 });
  });
  afterAll(async () => {
    await fake.close();
  });

  it('replays the recorded response for the same key and body; the handler runs once', async () => {
    const runs = fake.runs.get('/v2/things') ?? 0;
    const a = await call(fake, 'POST', '/v2/things', { name: 'a', idempotency_key: 'k1' });
    const b = await call(fake, 'POST', '/v2/things', { name: 'a', idempotency_key: 'k1' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('location')).toBe(a.headers.get('location'));
    expect(b.headers.get('acme-debug-id')).not.toBe(a.headers.get('acme-debug-id'));
    expect(fake.runs.get('/v2/things')).toBe(runs + 1);
    const log = fake.server.requests.slice(-2);
    expect(log.map((r) => [r.idempotencyKey, r.replayed])).toEqual([
      ['k1', false],
      ['k1', true],
    ]);
  });

  it("answers the provider's mismatch error for other params or another endpoint", async () => {
    await call(fake, 'POST', '/v2/things', { name: 'b', idempotency_key: 'k2' });
    const other = await call(fake, 'POST', '/v2/things', { name: 'c', idempotency_key: 'k2' });
    expect(other.status).toBe(400);
    expect(other.body.errors?.[0]).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    const elsewhere = await call(fake, 'POST', '/v2/other', { name: 'b', idempotency_key: 'k2' });
    expect(elsewhere.status).toBe(400);
    expect(JSON.stringify(elsewhere.body)).toContain('POST /v2/things');
  });

  it('answers in-flight while the first request runs, then replays', async () => {
    const release = fake.gate();
    const first = call(fake, 'POST', '/v2/slow', { idempotency_key: 'slow-1' });
    await waitFor(() => (fake.runs.get('/v2/slow') ?? 0) === 1);
    const second = await call(fake, 'POST', '/v2/slow', { idempotency_key: 'slow-1' });
    expect(second.status).toBe(409);
    expect(second.body.errors?.[0]?.code).toBe('CONFLICT');
    release();
    expect((await first).status).toBe(200);
    const third = await call(fake, 'POST', '/v2/slow', { idempotency_key: 'slow-1' });
    expect(third.body).toEqual({ slow: true });
    expect(fake.runs.get('/v2/slow')).toBe(1);
  });

  it('is scoped by the policy (per token), validated, and not recorded when refused before the handler', async () => {
    const bad = await call(fake, 'POST', '/v2/things', { name: 'x', idempotency_key: 'x'.repeat(46) });
    expect(bad.body.errors?.[0]).toMatchObject({ code: 'INVALID_VALUE', field: 'idempotency_key' });

    // Refused by the strict-params hook: the key stays free, the corrected request runs.
    const refused = await call(fake, 'POST', '/v2/things', { name: 'x', bogus: 1, idempotency_key: 'k3' });
    expect(refused.status).toBe(400);
    expect(fake.server.idempotency.get('good', 'k3')).toBeUndefined();
    const fixed = await call(fake, 'POST', '/v2/things', { name: 'x', idempotency_key: 'k3' });
    expect(fixed.status).toBe(201);
    expect(fake.server.idempotency.get('good', 'k3')?.status).toBe(201);
    // Another token is another scope: the same key runs again there.
    const elsewhere = await call(
      fake,
      'POST',
      '/v2/things',
      { name: 'x', idempotency_key: 'k3' },
      {
        authorization: 'Bearer good-2',
      },
    );
    expect(elsewhere.status).toBe(201);
    expect((elsewhere.body.thing as { id: string }).id).not.toBe((fixed.body.thing as { id: string }).id);

    // Injected faults are answered before idempotency: nothing recorded.
    fake.faults.set({ api5xx: { next: 1 } });
    const faulted = await call(fake, 'POST', '/v2/things', { name: 'y', idempotency_key: 'k4' });
    expect(faulted.status).toBe(500);
    expect(fake.server.idempotency.get('good', 'k4')).toBeUndefined();
    expect((await call(fake, 'POST', '/v2/things', { name: 'y', idempotency_key: 'k4' })).status).toBe(201);
  });

  it("keeps only what the policy keeps (a 5xx is re-run), and forgets keys after the policy's TTL on the clock", async () => {
    const f1 = await call(fake, 'POST', '/v2/flaky', { idempotency_key: 'f1' });
    expect(f1.status).toBe(503);
    const f2 = await call(fake, 'POST', '/v2/flaky', { idempotency_key: 'f1' });
    expect(f2.status).toBe(200);
    const f3 = await call(fake, 'POST', '/v2/flaky', { idempotency_key: 'f1' });
    expect(f3.body).toEqual(f2.body);

    const first = await call(fake, 'POST', '/v2/things', { name: 'ttl', idempotency_key: 'ttl' });
    fake.clock.advance(24 * 3600_000 - 1000);
    const replay = await call(fake, 'POST', '/v2/things', { name: 'ttl', idempotency_key: 'ttl' });
    expect(replay.body).toEqual(first.body);
    fake.clock.advance(1000);
    const fresh = await call(fake, 'POST', '/v2/things', { name: 'ttl', idempotency_key: 'ttl' });
    expect(fresh.status).toBe(201);
    expect((fresh.body.thing as { id: string }).id).not.toBe((first.body.thing as { id: string }).id);
  });
});

describe('idempotency with a header key that replays on reuse (PayPal-style policy)', () => {
  let fake: Fake;
  beforeAll(async () => {
    fake = await startFake({ idempotency: 'header' });
  });
  afterAll(async () => {
    await fake.close();
  });

  it('replays the first result even when the body differs, with the policy’s replay headers', async () => {
    const a = await call(fake, 'POST', '/v2/things', { name: 'one' }, { 'acme-request-id': 'r1' });
    const b = await call(fake, 'POST', '/v2/things', { name: 'two' }, { 'acme-request-id': 'r1' });
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('acme-replayed')).toBe('true');
    expect(a.headers.get('acme-replayed')).toBeNull();
    // Without the header nothing is recorded.
    const c = await call(fake, 'POST', '/v2/things', { name: 'one' });
    const d = await call(fake, 'POST', '/v2/things', { name: 'one' });
    expect(c.body).not.toEqual(d.body);
  });
});

describe('IdempotencyStore on its own', () => {
  it('namespaces keys by scope and reports every decision', () => {
    const clock = new Clock({ mode: 'manual', startMs: 0 });
    const store = new IdempotencyStore(clock);
    const req = { endpoint: 'POST /x', fingerprint: 'a=1', requestId: 'r1' };
    const d1 = store.begin('s1', 'k', req);
    expect(d1.kind).toBe('proceed');
    expect(store.begin('s1', 'k', req).kind).toBe('in_flight');
    expect(store.begin('s2', 'k', req).kind).toBe('proceed');
    if (d1.kind === 'proceed') d1.complete(200, { ok: 1 }, { h: 'v' });
    const replay = store.begin('s1', 'k', { ...req, requestId: 'r2' });
    expect(replay).toMatchObject({
      kind: 'replay',
      entry: { status: 200, body: { ok: 1 }, requestId: 'r1' },
    });
    expect(store.begin('s1', 'k', { ...req, fingerprint: 'a=2' })).toMatchObject({
      kind: 'mismatch',
      info: { sameEndpoint: true, sameParams: false },
    });
    expect(store.begin('s1', 'k', { ...req, endpoint: 'POST /y' })).toMatchObject({
      kind: 'mismatch',
      info: { sameEndpoint: false, priorEndpoint: 'POST /x', endpoint: 'POST /y' },
    });
    clock.advance(10);
    expect(store.begin('s1', 'k', req, { ttlMs: 10 }).kind).toBe('proceed');
  });
});
