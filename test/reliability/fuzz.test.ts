import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/db.js';
import { ADMIN_TOKEN, checkout, setupMarket, startHarness, type Harness } from '../helpers/settle.js';
import { record, scaled } from './figures.js';
import {
  changedTables,
  rawRequest,
  routeTable,
  tableDigest,
  type RawRequest,
  type RouteEntry,
} from './hostile-http.js';

/**
 * Hostile input over every route of the route table and the two webhook endpoints, as raw HTTP: malformed JSON,
 * huge and deeply nested bodies, wrong types, bad numbers, NUL and control characters, unknown currencies, forged,
 * replayed and stale signatures, repeated headers and wrong content types. Properties: never a 5xx, and never a
 * write (every table's row count and content digest is the same before and after each batch).
 */

const RUNS = scaled(200, 4000);
/** Batches per backend: the digest of every table is compared around each. */
const BATCHES = 4;

interface Ctx {
  h: Harness;
  routes: RouteEntry[];
  slotId: string;
  sellerId: string;
  listingId: string;
  paidOrderId: string;
  /** A checkout.session.completed Settle has not seen (its delivery was dropped): a valid signature would write. */
  unseenPayload: string;
  /** A correctly signed header of another payload, for replay onto this one. */
  otherSignature: string;
  platformSecret: string;
  connectSecret: string;
}

// ---------- generators ----------

const CONTROL = fc.constantFrom('\u0000', '\u0001', '\u0007', '\u001b', '\u007f', '\r\n', '\u2028', '\ud800');
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.tuple(fc.string({ maxLength: 10 }), CONTROL, fc.string({ maxLength: 10 })).map(([a, c, b]) => a + c + b),
  fc.constantFrom(
    '',
    ' ',
    'x'.repeat(5000),
    '<script>alert(1)</script>',
    "' OR 1=1 --",
    '${7*7}',
    '../../etc',
  ),
);
const badNumber = fc.oneof(
  fc.integer({ max: 0 }),
  fc.integer({ min: 101 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
  fc.constantFrom(-1, 0.5, 1.5, -0.0001, 1e21, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER),
);
const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  fc.string({ maxLength: 8 }).map((s) => `${s}1`),
);
const unknownCurrency = fc.constantFrom('xxx', 'zzz', 'US', 'usdd', 'u$d', '\u0000sd', 'EUR ', '123', 'btc');
const extraField = fc.constantFrom(
  'price',
  'amount',
  'currency',
  'unitAmount',
  'card_number',
  '__proto__',
  'total',
);

/** A JSON object that is invalid for a route whose valid body is `base`, by one mutation at least. */
function mutatedBody(base: Record<string, unknown>, numeric: string[]): fc.Arbitrary<unknown> {
  const keys = Object.keys(base);
  const key = keys.length > 0 ? fc.constantFrom(...keys) : fc.constant('x');
  const numKey = numeric.length > 0 ? fc.constantFrom(...numeric) : key;
  return fc.oneof(
    fc.tuple(key, wrongType).map(([k, v]) => ({ ...base, [k]: v })),
    fc.tuple(numKey, badNumber).map(([k, v]) => ({ ...base, [k]: v })),
    fc
      .tuple(key, hostileString)
      // eslint-disable-next-line no-control-regex
      .filter(([, s]) => /[\u0000-\u001f\u007f]/.test(s) || s.length > 2000 || s === '')
      .map(([k, v]) => ({ ...base, [k]: v })),
    fc.tuple(extraField, fc.oneof(unknownCurrency, badNumber)).map(([k, v]) => ({ ...base, [k]: v })),
    key.map((k) => {
      const copy: Record<string, unknown> = { ...base };
      delete copy[k];
      return { ...copy, unexpected: true };
    }),
    fc.integer({ min: 50, max: 3000 }).map((d) => {
      let v: unknown = 1;
      for (let i = 0; i < d; i++) v = { a: v };
      return { ...base, nested: v };
    }),
  );
}

/** Raw bodies that are not a JSON object at all. */
const rawGarbage: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom(
    '{',
    '{"slotId":',
    "{'a':1}",
    'NaN',
    '[1,]',
    '\u0000',
    '\ufeff{}',
    'null',
    '1',
    '"x"',
    '[]',
    'true',
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '{"a":1}{"a":2}',
    '{"quantity":1,"quantity":-1}',
  ),
  fc.integer({ min: 1000, max: 200_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
  fc.integer({ min: 1000, max: 50_000 }).map((d) => '{"a":'.repeat(d) + '1' + '}'.repeat(d)),
  fc.integer({ min: 1000, max: 50_000 }).map((d) => '['.repeat(d)), // unterminated
);

const contentType = fc.oneof(
  { weight: 4, arbitrary: fc.constant<string | string[] | undefined>('application/json') },
  fc.constantFrom<string | string[] | undefined>(
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=utf-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    'application/octet-stream',
    '',
    undefined,
    ['application/json', 'text/plain'],
    ['text/plain', 'application/json'],
  ),
);

const paramValue = fc
  .oneof(
    fc.constantFrom(
      'ord_doesnotexist0',
      'slt_nope',
      'sel_nope',
      'lst_nope',
      '99999999999999',
      '999999999999999999999999',
      '0',
      '-1',
      '1e9',
      '..',
      '%00',
      '%2e%2e%2f',
      'a'.repeat(300),
      'ORD_X',
      '%E2%80%AE',
      '__proto__',
      'constructor',
      'ord_',
      'ord_%20',
    ),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map(encodeURIComponent),
  )
  // short numbers could name a real inbox row (replay would write)
  .filter((p) => !/^[0-9]{1,6}$/.test(p));

/** Known-valid bodies (with the ids of the test's market) that each mutation breaks. */
function baseBodies(c: Ctx): Record<string, { base: Record<string, unknown>; numeric: string[] }> {
  return {
    'POST /api/checkout': {
      base: { slotId: c.slotId, quantity: 1, email: 'fuzz@example.test', promotionCode: 'TENOFF' },
      numeric: ['quantity'],
    },
    'POST /api/checkout/verify': { base: { orderId: 'ord_nosuchorder' }, numeric: [] },
    'POST /api/checkout/cancel': { base: { orderId: 'ord_nosuchorder' }, numeric: [] },
    'POST /api/sellers': {
      base: { name: 'Fuzz', email: 'fuzz@example.test', chargeType: 'direct', feeBps: 100, feeFixed: 0 },
      numeric: ['feeBps', 'feeFixed'],
    },
    'POST /api/listings': {
      base: { sellerId: c.sellerId, title: 'Fuzz', currency: 'usd', unitAmount: 1000 },
      numeric: ['unitAmount'],
    },
    'POST /api/listings/:id/slots': {
      base: { startsAt: new Date(Date.now() + 86_400_000).toISOString(), capacity: 5 },
      numeric: ['capacity'],
    },
    'POST /api/admin/promotion-codes': { base: { code: 'FUZZ10', percentOff: 10 }, numeric: ['percentOff'] },
    'POST /api/admin/orders/:id/refunds': { base: { amount: 100 }, numeric: ['amount'] },
    'POST /api/admin/orders/:id/review': { base: { decision: 'close', note: 'n' }, numeric: [] },
  };
}

const isOperator = (r: RouteEntry) =>
  r.path.startsWith('/api/admin') ||
  (r.method === 'POST' && (r.path === '/api/sellers' || r.path.startsWith('/api/sellers/'))) ||
  (r.method === 'POST' && r.path.startsWith('/api/listings'));
const isWebhook = (r: RouteEntry) => r.path.startsWith('/webhooks/');

/** One hostile request to one route of the table (webhooks excluded). */
function routeRequest(c: Ctx, route: RouteEntry): fc.Arbitrary<RawRequest> {
  const bodies = baseBodies(c);
  const known = bodies[`${route.method} ${route.path}`];
  const body: fc.Arbitrary<string | undefined> =
    route.method === 'GET'
      ? fc.option(rawGarbage, { nil: undefined })
      : fc.oneof(
          rawGarbage,
          known !== undefined
            ? mutatedBody(known.base, known.numeric).map((b) => JSON.stringify(b))
            : fc
                .dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), {
                  minKeys: 1,
                  maxKeys: 4,
                })
                .map((d) => JSON.stringify({ ...d, unexpected_field: 1 })),
          fc.integer({ min: 257, max: 600 }).map((kib) => JSON.stringify({ pad: 'x'.repeat(kib * 1024) })),
        );
  // Operator routes: without a token, a wrong one, or the right one (then the body is what is invalid).
  const auth: fc.Arbitrary<string | string[] | undefined> = isOperator(route)
    ? fc.constantFrom(
        undefined,
        'Bearer wrong-token-0123456789',
        `Bearer ${ADMIN_TOKEN}x`,
        `bearer ${ADMIN_TOKEN}`,
        ['Bearer nope', `Bearer ${ADMIN_TOKEN}`],
        ...(known !== undefined ? [`Bearer ${ADMIN_TOKEN}`] : []),
      )
    : fc.constant(undefined);
  const query = fc.option(
    fc.constantFrom(
      `?token=${ADMIN_TOKEN}`,
      '?limit=-1',
      '?status=%00',
      '?a[b][c]=1',
      '?__proto__[x]=1',
      '?x=%ZZ',
    ),
    { nil: '' },
  );
  return fc
    .record({
      params: fc.array(paramValue, { minLength: 3, maxLength: 3 }),
      body,
      ct: contentType,
      auth,
      query,
      dupIdem: fc.boolean(),
    })
    .map(({ params, body, ct, auth, query, dupIdem }) => {
      let i = 0;
      const path = route.path.replace(/:[A-Za-z]+/g, () => params[i++] ?? 'x') + query;
      const headers: Record<string, string | string[]> = {};
      if (ct !== undefined) headers['content-type'] = ct;
      if (auth !== undefined) headers['authorization'] = auth;
      if (dupIdem) headers['idempotency-key'] = [randomUUID(), randomUUID()];
      return {
        method: route.method,
        path,
        headers,
        ...(body !== undefined && route.method !== 'GET' ? { body } : {}),
      };
    });
}

/** One forged, replayed, stale, tampered or malformed delivery to a webhook endpoint: none may be accepted. */
function webhookRequest(c: Ctx): fc.Arbitrary<RawRequest> {
  const now = () => Math.floor(Date.now() / 1000);
  const sign = (payload: string, secret: string, t: number) =>
    c.h.stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: t });
  const payload = fc.oneof(
    { weight: 3, arbitrary: fc.constant(c.unseenPayload) },
    fc.constant(c.unseenPayload.replace('"complete"', '"completf"')),
    fc.constant(JSON.stringify(JSON.parse(c.unseenPayload), null, 2)),
    rawGarbage,
    fc.integer({ min: 1025, max: 1500 }).map((kib) => c.unseenPayload + ' '.repeat(kib * 1024)),
  );
  const signature = (body: string, path: string): fc.Arbitrary<string | string[] | undefined> => {
    // The endpoint's own secret, and the other endpoint's (never valid here).
    const own = path === '/webhooks/stripe' ? c.platformSecret : c.connectSecret;
    const foreign = path === '/webhooks/stripe' ? c.connectSecret : c.platformSecret;
    return fc.oneof(
      fc.constant(undefined),
      fc.constantFrom('', 'v1=deadbeef', 't=,v1=', 't=abc,v1=zz', 'v0=00', `t=${now()}`),
      fc
        .tuple(fc.integer({ min: 0, max: 2 ** 31 }), fc.stringMatching(/^[0-9a-f]{64}$/))
        .map(([t, h]) => `t=${t},v1=${h}`),
      fc.constant(sign(body, 'whsec_not_the_right_secret', now())),
      fc.constant(sign(body, foreign, now())),
      fc.integer({ min: 301, max: 10_000_000 }).map((age) => sign(body, own, now() - age)),
      fc.constant(c.otherSignature), // a real signature of another payload (replay)
      fc.constant(body === c.unseenPayload ? 'v1=00' : sign(c.unseenPayload, own, now())),
      fc.constant<string[]>([c.otherSignature, 'v1=deadbeef']),
      fc.constant<string[]>(['t=1,v1=00', `t=${now()},v1=${'0'.repeat(64)}`]),
      fc.constant(
        sign(body, own, now())
          .split(',')
          .map((p) => (p.startsWith('v1=') ? `v1=${'f'.repeat(64)}` : p))
          .join(','),
      ),
    );
  };
  return fc
    .tuple(payload, contentType, fc.constantFrom('/webhooks/stripe', '/webhooks/stripe/connect'))
    .chain(([body, ct, path]) =>
      signature(body, path).map((sig) => {
        const headers: Record<string, string | string[]> = {};
        if (ct !== undefined) headers['content-type'] = ct;
        if (sig !== undefined) headers['stripe-signature'] = sig;
        return { method: 'POST', path, headers, body };
      }),
    );
}

describe.each(BACKENDS)('fuzzer: hostile input on every route (%s PostgreSQL)', (backend) => {
  let c: Ctx;
  const seen = { requests: 0, fiveXx: 0, writes: 0, byStatus: new Map<number, number>() };

  beforeAll(async () => {
    // Rate limits off so every input reaches validation (a 429 would hide it).
    const h = await startHarness(backend, { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
    const m = await setupMarket(h, { chargeType: 'destination' });
    const paid = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(paid.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    // An order Settle believes pending: its completion is known only to the emulator.
    h.settle.emulator!.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    const unseen = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(unseen.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    h.settle.emulator!.faults.reset();
    const events = await h.stripe.events.list({ type: 'checkout.session.completed', limit: 10 });
    const ev = events.data.find((e) => JSON.stringify(e).includes(unseen.orderId));
    const other = events.data.find((e) => JSON.stringify(e).includes(paid.orderId));
    if (ev === undefined || other === undefined) throw new Error('events not found');
    const platformSecret = h.settle.webhookSecrets!.platform[0]!;
    const otherPayload = JSON.stringify(other);
    c = {
      h,
      routes: routeTable(h.settle),
      slotId: m.slotId,
      sellerId: m.sellerId,
      listingId: m.listingId,
      paidOrderId: paid.orderId,
      unseenPayload: JSON.stringify(ev),
      otherSignature: h.stripe.webhooks.generateTestHeaderString({
        payload: otherPayload,
        secret: platformSecret,
      }),
      platformSecret,
      connectSecret: h.settle.webhookSecrets!.connect[0]!,
    };
  });
  afterAll(async () => {
    record({
      property: 'Hostile input: never a 5xx, never a write',
      method:
        'fast-check over every route of the route table and both webhook endpoints (raw HTTP: malformed, huge and deep bodies, wrong types and numbers, control characters, forged/replayed/stale signatures, repeated headers, wrong content types); every table digested around each batch',
      figures: {
        inputs: seen.requests,
        fiveXx: seen.fiveXx,
        batchesWithWrites: seen.writes,
        [`backend_${backend}`]: 1,
      },
      held: seen.fiveXx === 0 && seen.writes === 0,
    });
    await c?.h.close();
  });

  async function batch(name: string, arb: fc.Arbitrary<RawRequest>, runs: number): Promise<void> {
    await c.h.settleDown();
    const before = await tableDigest(c.h.settle.ctx.db);
    const failures: string[] = [];
    await fc.assert(
      fc.asyncProperty(arb, async (req) => {
        const res = await rawRequest(c.h.settle.url, req);
        seen.requests++;
        seen.byStatus.set(res.status, (seen.byStatus.get(res.status) ?? 0) + 1);
        if (res.status >= 500) {
          seen.fiveXx++;
          failures.push(`${req.method} ${req.path.slice(0, 120)} → ${res.status} ${res.text.slice(0, 200)}`);
        }
        expect(res.status, `${req.method} ${req.path.slice(0, 120)}: ${res.text.slice(0, 300)}`).toBeLessThan(
          500,
        );
        // A read of a public page with junk around it may succeed; anything that could write must be refused.
        if (req.method !== 'GET')
          expect(res.status, `${req.method} ${req.path.slice(0, 120)}`).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: runs, endOnFailure: true },
    );
    await c.h.settleDown();
    const changed = changedTables(before, await tableDigest(c.h.settle.ctx.db));
    if (changed.length > 0) seen.writes++;
    expect(changed, `${name}: tables written by invalid input`).toEqual([]);
    expect(failures).toEqual([]);
  }

  it('the route table is the documented one (the fuzzer covers every route)', () => {
    const keys = c.routes.map((r) => `${r.method} ${r.path}`);
    for (const k of [
      'POST /api/checkout',
      'POST /api/checkout/verify',
      'POST /api/checkout/cancel',
      'GET /api/orders/:id',
      'GET /api/sellers/:id',
      'GET /api/slots/:id',
      'GET /api/listings',
      'POST /webhooks/stripe',
      'POST /webhooks/stripe/connect',
      'POST /api/admin/orders/:id/refunds',
    ]) {
      expect(keys).toContain(k);
    }
  });

  it('JSON routes (public and operator): every hostile request answered 4xx, nothing written', async () => {
    const routes = c.routes.filter((r) => !isWebhook(r));
    const arb = fc.constantFrom(...routes).chain((r) => routeRequest(c, r));
    const per = Math.ceil((RUNS * 0.6) / (BATCHES / 2));
    for (let b = 0; b < BATCHES / 2; b++) await batch(`routes batch ${b}`, arb, per);
  });

  it('webhook endpoints: forged, replayed, stale, tampered and malformed deliveries answered 4xx, nothing written', async () => {
    const per = Math.ceil((RUNS * 0.4) / (BATCHES / 2));
    for (let b = 0; b < BATCHES / 2; b++) await batch(`webhooks batch ${b}`, webhookRequest(c), per);
    // The unseen completion is still unseen: a valid-looking but unsigned event wrote nothing.
    const inbox = await c.h.settle.ctx.db
      .selectFrom('webhook_events')
      .select('id')
      .where('event_id', '=', (JSON.parse(c.unseenPayload) as { id: string }).id)
      .execute();
    expect(inbox).toEqual([]);
  });

  it('signed but malformed events (structure the parser does not expect) are refused with a 4xx, never a 5xx', async () => {
    const base = JSON.parse(c.unseenPayload) as Record<string, unknown>;
    const shapes = fc.oneof(
      fc.constantFrom<unknown>(null, 1, 'x', [], {}, { id: 1 }, { id: 'evt_x', type: 5 }),
      fc
        .constantFrom(
          'checkout.session.completed',
          'checkout.session.expired',
          'checkout.session.async_payment_failed',
          'charge.dispute.created',
          'refund.updated',
          'account.updated',
        )
        .chain((type) =>
          fc
            .oneof(
              fc.constantFrom<unknown>(null, 1, 'x', [], {}, { object: null }, { object: 5 }, { object: [] }),
              fc.jsonValue({ maxDepth: 3 }).map((o) => ({ object: o })),
              fc.constant({ object: { id: 'cs_x', metadata: 5, amount_total: -1, currency: 5 } }),
              fc.constant({ object: { id: 'du_x', payment_intent: { x: 1 }, amount: 'NaN' } }),
            )
            .map((data) => ({ ...base, id: `evt_fuzz_${randomUUID()}`, type, data })),
        ),
    );
    let fiveXx = 0;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(shapes, fc.constantFrom('platform', 'connect'), async (shape, endpoint) => {
        const body = JSON.stringify(shape);
        const secret = endpoint === 'platform' ? c.platformSecret : c.connectSecret;
        const res = await rawRequest(c.h.settle.url, {
          method: 'POST',
          path: endpoint === 'platform' ? '/webhooks/stripe' : '/webhooks/stripe/connect',
          headers: {
            'content-type': 'application/json',
            'stripe-signature': c.h.stripe.webhooks.generateTestHeaderString({ payload: body, secret }),
          },
          body,
        });
        n++;
        if (res.status >= 500) fiveXx++;
        expect(res.status, `${endpoint} ${body.slice(0, 300)} → ${res.text.slice(0, 300)}`).toBeLessThan(500);
      }),
      { numRuns: scaled(60, 600), endOnFailure: true },
    );
    record({
      property: 'Signed but malformed events never cause a 5xx',
      method:
        'fast-check: events signed with the endpoint secret whose structure is wrong (types, data.object)',
      figures: { inputs: n, fiveXx },
      held: fiveXx === 0,
    });
  });
});
