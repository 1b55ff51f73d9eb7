import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startFake, type Fake } from './fake-provider.js';

let fake: Fake;

beforeAll(async () => {
  fake = await startFake();
});
afterAll(async () => {
  await fake.close();
});

describe('routing and the request pipeline', () => {
  it('routes to handlers with path params, statuses and headers from respond()', async () => {
    const created = await call(fake, 'POST', '/v2/things', { name: 'lamp' });
    expect(created.status).toBe(201);
    const thing = created.body.thing as { id: string; name: string };
    expect(thing.name).toBe('lamp');
    expect(created.headers.get('location')).toBe(`/v2/things/${thing.id}`);
    expect(created.headers.get('acme-debug-id')).toMatch(/^[0-9A-Za-z]{12}$/);
    const got = await call(fake, 'GET', `/v2/things/${thing.id}`);
    expect(got.status).toBe(200);
    expect((got.body.thing as { id: string }).id).toBe(thing.id);
  });

  it("renders every error in the provider's shape: handler errors, auth, unknown routes, crashes, bad JSON", async () => {
    const missing = await call(fake, 'GET', '/v2/things/THING_nope');
    expect(missing.status).toBe(404);
    expect(missing.body.errors?.[0]?.code).toBe('NOT_FOUND');

    const unauth = await call(fake, 'POST', '/v2/things', { name: 'x' }, { authorization: 'Bearer bad' });
    expect(unauth.status).toBe(401);
    expect(unauth.body.errors?.[0]?.code).toBe('UNAUTHORIZED');

    const unknown = await call(fake, 'GET', '/v2/nowhere');
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors?.[0]?.code).toBe('NOT_FOUND');
    expect(unknown.headers.get('acme-error-kind')).toBe('not_found');

    const crash = await call(fake, 'POST', '/v2/crash', {});
    expect(crash.status).toBe(500);
    expect(crash.body.errors?.[0]).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', detail: 'boom' });

    const res = await fetch(`${fake.url}/v2/things`, {
      method: 'POST',
      headers: { authorization: 'Bearer good', 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe('INVALID_JSON');
  });

  it('calls the strict-params hook after auth, with (method, route pattern, params), before the handler', async () => {
    const before = fake.checked.length;
    const runs = fake.runs.get('/v2/things/:id') ?? 0;
    await call(fake, 'GET', '/v2/things/THING_x?expand=a');
    expect(fake.checked.slice(before)).toEqual([['GET', '/v2/things/:id', { expand: 'a' }]]);
    expect(fake.runs.get('/v2/things/:id')).toBe(runs + 1);

    const refused = await call(fake, 'POST', '/v2/things', { name: 'x', bogus: 1 });
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0]).toMatchObject({ code: 'UNKNOWN_FIELD', field: 'bogus' });
    expect(fake.checked.at(-1)).toEqual(['POST', '/v2/things', { name: 'x', bogus: 1 }]);

    // Refused by auth: the hook never sees it.
    const n = fake.checked.length;
    await call(fake, 'POST', '/v2/things', { bogus: 1 }, { authorization: 'nope' });
    expect(fake.checked.length).toBe(n);
  });

  it('logs every API request (not control routes or pages)', async () => {
    const mark = fake.server.requests.length;
    await call(fake, 'POST', '/v2/things', { name: 'logged' }, { 'acme-merchant': 'M1' });
    await call(fake, 'GET', '/_emulator/requests');
    const rows = fake.server.requests.slice(mark);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      method: 'POST',
      path: '/v2/things',
      account: 'M1',
      status: 201,
      fault: null,
      replayed: false,
      idempotencyKey: null,
    });
    expect(Math.abs((rows[0]?.at ?? 0) - fake.clock.now())).toBeLessThan(5000);
  });
});

describe('control routes', () => {
  it('faults, requests, deliveries, idle and clock are there for every emulator', async () => {
    const set = await call(fake, 'POST', '/_emulator/faults', { apiLatencyMs: 5 });
    expect(set.body.apiLatencyMs).toBe(5);
    expect((await call(fake, 'GET', '/_emulator/faults')).body.apiLatencyMs).toBe(5);
    expect((await call(fake, 'DELETE', '/_emulator/faults')).body.apiLatencyMs).toBe(0);
    expect(Array.isArray((await call(fake, 'GET', '/_emulator/requests')).body.data)).toBe(true);
    expect((await call(fake, 'GET', '/_emulator/deliveries')).body.data).toEqual([]);
    expect((await call(fake, 'POST', '/_emulator/idle')).body).toEqual({ idle: true });

    const t0 = (await call(fake, 'GET', '/_emulator/clock')).body as { now: number; advancedMs: number };
    const t1 = (await call(fake, 'POST', '/_emulator/clock', { advanceMs: 3_600_000 })).body as {
      now: number;
      advancedMs: number;
      nowSeconds: number;
    };
    expect(t1.advancedMs - t0.advancedMs).toBe(3_600_000);
    expect(t1.now - t0.now).toBeGreaterThanOrEqual(3_600_000);
    expect(t1.nowSeconds).toBe(Math.floor(t1.now / 1000));

    const bad = await call(fake, 'POST', '/_emulator/clock', { advanceMs: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]).toMatchObject({ code: 'BAD_REQUEST', field: 'advanceMs' });
    expect(bad.headers.get('acme-error-kind')).toBe('control');
  });
});
