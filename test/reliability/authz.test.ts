import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout, setupMarket, type Harness } from '../helpers/settle.js';
import { record } from './figures.js';
import { rawRequest, routeTable, startLoggedHarness, type RouteEntry } from './hostile-http.js';

/**
 * The authorization matrix, generated from the running route table: every operator route refused (401) without
 * the token, with wrong tokens and with the token anywhere but the Authorization header; and no buyer route shows
 * one buyer another buyer's data.
 */

const TOKEN = randomBytes(32).toString('base64url');

/** Routes anyone may call; every other route must be an operator route. A new route must be classified here. */
const PUBLIC = new Set([
  'GET /',
  'GET /healthz',
  'GET /api/listings',
  'GET /api/slots/:id',
  'GET /api/sellers/:id',
  'POST /api/checkout',
  'POST /api/checkout/verify',
  'POST /api/checkout/cancel',
  'GET /api/orders/:id',
  'GET /admin',
  'GET /assets/app.js',
  'GET /assets/app.css',
  'POST /webhooks/stripe',
  'POST /webhooks/stripe/connect',
  'POST /webhooks/paypal',
  'POST /webhooks/square',
  // The seller's browser back from a provider's authorize page: only a live single-use state names the seller.
  'GET /oauth/:provider/callback',
  'GET /checkout/return',
  'GET /checkout/cancel',
  'GET /sellers/new',
  'GET /sellers/:id/onboarding-return',
  // Subscriptions (issue 13): plans and checkout are open; a member's own routes need the member's manage token
  // (Settle-Manage-Token), checked in core, never the subscription id alone.
  'GET /api/plans',
  'POST /api/subscriptions/checkout',
  'POST /api/subscriptions/verify',
  'POST /api/subscriptions/:id/checkout/cancel',
  'GET /api/subscriptions/:id',
  'POST /api/subscriptions/:id/cancel',
  'POST /api/subscriptions/:id/resume',
  'POST /api/subscriptions/:id/portal',
  'POST /api/bookings/:id/cancel',
  'GET /subscriptions/return',
  'GET /subscriptions/manage',
]);

/** The operator surface as docs/security.md states it. */
function isOperator(r: RouteEntry): boolean {
  return (
    r.path.startsWith('/api/admin') ||
    (r.method === 'POST' && (r.path === '/api/sellers' || r.path.startsWith('/api/sellers/'))) ||
    (r.method === 'POST' && r.path.startsWith('/api/listings'))
  );
}

describe('authorization matrix', () => {
  let h: Harness;
  let routes: RouteEntry[];
  let ids: { order: string; slot: string; seller: string; listing: string };
  const tried = { operatorRoutes: 0, refusals: 0, leaks: 0, buyerChecks: 0 };

  beforeAll(async () => {
    h = await startLoggedHarness('embedded', {
      adminToken: TOKEN,
      env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' },
    });
    routes = routeTable(h.settle);
    const m = await setupMarket(h, { chargeType: 'direct' });
    const c = await checkout(h, m.slotId);
    ids = { order: c.orderId, slot: m.slotId, seller: m.sellerId, listing: m.listingId };
  });
  afterAll(async () => {
    record({
      property:
        'Operator routes refuse every credential but the bearer header; buyers see only their own data',
      method:
        'route table from Fastify printRoutes(): each operator route called without a token, with wrong tokens, and with the token in the query, a cookie or another header; buyer routes scanned for another buyer’s data',
      figures: tried,
      held: tried.leaks === 0,
    });
    await h?.close();
  });

  it('every route is classified: operator, or on the public allow-list', () => {
    const unknown = routes
      .map((r) => `${r.method} ${r.path}`)
      .filter((k, i) => !isOperator(routes[i]!) && !PUBLIC.has(k));
    expect(unknown, 'routes neither operator nor on the public allow-list').toEqual([]);
    expect(routes.filter(isOperator).length).toBeGreaterThanOrEqual(15);
  });

  it('each operator route: 401 without the token, with wrong tokens, and with the token outside the Authorization header', async () => {
    const operator = routes.filter(isOperator);
    const variants: { name: string; headers: Record<string, string | string[]>; query: string }[] = [
      { name: 'no token', headers: {}, query: '' },
      {
        name: 'wrong token',
        headers: { authorization: `Bearer ${randomBytes(32).toString('base64url')}` },
        query: '',
      },
      { name: 'token with a suffix', headers: { authorization: `Bearer ${TOKEN}x` }, query: '' },
      { name: 'token prefix', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, query: '' },
      { name: 'lower-case scheme', headers: { authorization: `bearer ${TOKEN}` }, query: '' },
      { name: 'bare token', headers: { authorization: TOKEN }, query: '' },
      {
        name: 'basic scheme',
        headers: { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
        query: '',
      },
      { name: 'empty bearer', headers: { authorization: 'Bearer ' }, query: '' },
      { name: 'token in ?token=', headers: {}, query: `?token=${TOKEN}` },
      { name: 'token in ?access_token=', headers: {}, query: `?access_token=${TOKEN}` },
      {
        name: 'token in ?authorization=',
        headers: {},
        query: `?authorization=${encodeURIComponent(`Bearer ${TOKEN}`)}`,
      },
      { name: 'token in a cookie', headers: { cookie: `token=${TOKEN}; admin=${TOKEN}` }, query: '' },
      {
        name: 'token in x-admin-token',
        headers: { 'x-admin-token': TOKEN, 'x-settle-admin-token': TOKEN },
        query: '',
      },
      { name: 'wrong token twice', headers: { authorization: ['Bearer nope', 'Bearer nope2'] }, query: '' },
    ];
    const misses: string[] = [];
    for (const r of operator) {
      tried.operatorRoutes++;
      const path = r.path.replace(
        ':id',
        r.path.includes('webhook-events')
          ? '1'
          : r.path.includes('orders')
            ? ids.order
            : r.path.includes('sellers')
              ? ids.seller
              : ids.listing,
      );
      const body =
        r.method === 'POST'
          ? JSON.stringify(r.path.endsWith('/review') ? { decision: 'close' } : {})
          : undefined;
      for (const v of variants) {
        const res = await rawRequest(h.settle.url, {
          method: r.method,
          path: path + v.query,
          headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...v.headers },
          ...(body !== undefined ? { body } : {}),
        });
        if (res.status === 401) tried.refusals++;
        else {
          tried.leaks++;
          misses.push(`${r.method} ${path}${v.query} (${v.name}) → ${res.status}`);
        }
      }
      // The matrix is meaningful only if the real token is accepted by the same route (not a 401).
      const ok = await rawRequest(h.settle.url, {
        method: r.method,
        path,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: r.method === 'POST' ? '{"x":' : body } : {}), // invalid body: no write
      });
      expect(ok.status, `${r.method} ${path} with the token`).not.toBe(401);
    }
    expect(misses).toEqual([]);
  });

  it('no buyer route returns another buyer’s data; the seller view hides the account id', async () => {
    const a = await h.api<{ orderId: string }>('POST', '/api/checkout', {
      slotId: ids.slot,
      quantity: 1,
      email: 'alice.buyer@example.test',
    });
    const b = await h.api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', {
      slotId: ids.slot,
      quantity: 2,
      email: 'bob.buyer@example.test',
    });
    expect([a.status, b.status]).toEqual([201, 201]);
    const bob = b.body.orderId;
    const bobSession = new URL(b.body.checkoutUrl).pathname.split('/').pop() ?? '';
    await h.settle.emulator!.paySession(bobSession, { card_number: '4242424242424242' });
    await h.settleDown();
    const bobRow = await h.settle.ctx.db
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', bob)
      .executeTakeFirstOrThrow();
    const accountId = (
      await h.settle.ctx.db
        .selectFrom('seller_accounts')
        .select('provider_account_id')
        .executeTakeFirstOrThrow()
    ).provider_account_id;
    const secretsOfBob = [
      bob,
      'bob.buyer@example.test',
      bobSession,
      bobRow.provider_payment_id,
      accountId,
    ].filter((x): x is string => typeof x === 'string' && x.length > 0);

    // Every public GET route of the table, with every id Alice holds.
    const alice = { order: a.body.orderId, slot: ids.slot, seller: ids.seller, listing: ids.listing };
    const leaks: string[] = [];
    for (const r of routes.filter((x) => x.method === 'GET' && PUBLIC.has(`${x.method} ${x.path}`))) {
      const candidates = r.path.includes(':id')
        ? Object.values(alice).map((id) => r.path.replace(':id', id))
        : [r.path];
      for (const path of candidates) {
        const res = await rawRequest(h.settle.url, { method: 'GET', path });
        tried.buyerChecks++;
        for (const s of secretsOfBob) {
          if (res.text.includes(s)) leaks.push(`${path} shows ${s.slice(0, 12)}…`);
        }
        if (path.startsWith('/api/') && /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}/.test(res.text))
          leaks.push(`${path} shows an e-mail address`);
      }
    }
    // Alice's own order: no e-mail, no provider ids.
    const own = await h.api<Record<string, unknown>>('GET', `/api/orders/${alice.order}`);
    expect(own.status).toBe(200);
    expect(JSON.stringify(own.body)).not.toMatch(/@|acct_|cs_|pi_/);
    // Listing orders, or guessing one, gets nothing.
    for (const path of [
      '/api/orders',
      '/api/orders/',
      `/api/orders/${bob.slice(0, -1)}x`,
      '/api/orders/ord_',
    ]) {
      const res = await rawRequest(h.settle.url, { method: 'GET', path });
      tried.buyerChecks++;
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      for (const s of secretsOfBob) if (res.text.includes(s)) leaks.push(`${path} shows ${s.slice(0, 12)}…`);
    }
    // The public seller view: no account id, no e-mail.
    const seller = await h.api<Record<string, unknown>>('GET', `/api/sellers/${ids.seller}`);
    expect(seller.status).toBe(200);
    expect(Object.keys(seller.body).sort()).toEqual(
      [
        'chargeType',
        'chargesEnabled',
        'detailsSubmitted',
        'id',
        'name',
        'payoutsEnabled',
        'providers',
      ].sort(),
    );
    tried.leaks += leaks.length;
    expect(leaks).toEqual([]);
  });
});
