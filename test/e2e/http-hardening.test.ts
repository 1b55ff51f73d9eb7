import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppContext } from '../../src/app/context.js';
import { createHttp, redactUrl } from '../../src/http/app.js';
import { idempotencyDigest, isUnguessableKey } from '../../src/http/idempotency.js';
import { adminRoutes } from '../../src/http/routes/admin.js';
import { publicRoutes } from '../../src/http/routes/public.js';
import { createLogger, serializeError } from '../../src/log/logger.js';
import { newIdempotencyKey } from '../../src/web/client/checkout.js';
import { BACKENDS } from '../helpers/db.js';
import { ADMIN_TOKEN, checkout, setupMarket, startHarness, type Harness } from '../helpers/settle.js';

const BUYER_EMAIL = 'buyer@example.test';

/**
 * A second HTTP front end on the same context and database (what a restart with another configuration looks
 * like), optionally with a capturing logger. Requests go through `inject()`.
 */
async function frontEnd(
  ctx: AppContext,
  opts: { adminToken?: string; lines?: string[]; extra?: (app: FastifyInstance) => void } = {},
): Promise<FastifyInstance> {
  const lines = opts.lines;
  const logger =
    lines === undefined
      ? undefined
      : createLogger('info', { write: (line: string) => void lines.push(line) });
  const scoped: AppContext = {
    ...ctx,
    config: { ...ctx.config, adminToken: opts.adminToken ?? ctx.config.adminToken },
  };
  const app = createHttp({ logLevel: 'silent', https: false, ...(logger ? { logger } : {}) });
  await app.register(async (s) => publicRoutes(s, scoped));
  await app.register(async (s) => adminRoutes(s, scoped));
  opts.extra?.(app);
  await app.ready();
  return app;
}

const count = async (h: Harness, table: 'orders' | 'holds' | 'sellers' | 'listings' | 'idempotency_keys') =>
  Number(
    (
      await h.settle.ctx.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('unguessable idempotency keys (unit)', () => {
  it('accepts UUID v4 and ≥ 128 random bits; refuses short, typed and patterned keys', () => {
    for (const key of [
      randomUUID(),
      randomUUID().toUpperCase(),
      randomBytes(16).toString('hex'),
      randomBytes(16).toString('base64url'), // 22 characters
      randomBytes(64).toString('base64url'),
    ])
      expect(isUnguessableKey(key), key).toBe(true);
    for (const key of [
      'cart-42',
      'double-click-1',
      'r1',
      'a'.repeat(36),
      'aaaaaaaa-aaaa-4aaa-aaaa-aaaaaaaaaaaa',
      '0123456789abcdef0123456789abcdef',
      'cart-42-cart-42-cart-42-cart-42-cart-42',
      'abcdefghijklmnopqrstuvwxyzABCDEF',
      randomBytes(15).toString('hex'), // 30 hex characters: 120 bits
      randomBytes(15).toString('base64url').slice(0, 21), // 21 base64url characters: 126 bits
      `${randomUUID()}!`,
      'x'.repeat(300),
    ])
      expect(isUnguessableKey(key), key).toBe(false);
  });

  it('the embeddable client generates such keys, also where crypto.randomUUID is missing (plain http)', () => {
    for (let i = 0; i < 50; i++) expect(isUnguessableKey(newIdempotencyKey())).toBe(true);
    const real = globalThis.crypto;
    vi.stubGlobal('crypto', {
      getRandomValues: <T extends ArrayBufferView>(a: T) => real.getRandomValues(a),
    });
    try {
      const keys = Array.from({ length: 50 }, () => newIdempotencyKey());
      for (const k of keys) {
        expect(k).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(isUnguessableKey(k)).toBe(true);
      }
      expect(new Set(keys).size).toBe(50);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('log scrubbing (unit)', () => {
  it('logged URLs lose every query value and every order id', () => {
    expect(redactUrl('/api/admin/orders/ord_abc123?token=s3cret&limit=5')).toBe(
      '/api/admin/orders/ord_[redacted]?token=[redacted]&limit=[redacted]',
    );
    expect(redactUrl('/checkout/return?order=ord_abc&session_id=cs_x')).toBe(
      '/checkout/return?order=[redacted]&session_id=[redacted]',
    );
    expect(redactUrl('/api/x?a%40b.c=1&=2')).toBe('/api/x?[param]=[redacted]&[param]=[redacted]');
    expect(redactUrl('/api/listings')).toBe('/api/listings');
  });

  it('database errors lose their query, parameters, quoted values and e-mail addresses', () => {
    const err = Object.assign(new Error(`invalid input syntax for type integer: "${BUYER_EMAIL}"`), {
      code: '23505',
      detail: `Key (buyer_email)=(${BUYER_EMAIL}) already exists.`,
      where: `unnamed portal parameter $1 = '${BUYER_EMAIL}'`,
      query: 'insert into orders (buyer_email) values ($1)',
      params: [BUYER_EMAIL],
      parameters: [BUYER_EMAIL],
      cause: new Error(`while saving ${BUYER_EMAIL}`),
    });
    const out = JSON.stringify(serializeError(err));
    expect(out).not.toContain(BUYER_EMAIL);
    expect(out).not.toContain('insert into');
    expect(out).toContain('"code":"23505"');
    expect(out).toContain('Key (buyer_email)=([redacted]) already exists.');
    expect(serializeError(`lost ${BUYER_EMAIL}`)).toBe('lost [email]');
    // A failing check constraint quotes the whole row.
    expect(
      JSON.stringify(
        serializeError(Object.assign(new Error('x'), { detail: 'Failing row contains (ord_1, a@b.co, 5).' })),
      ),
    ).toContain('Failing row contains ([redacted]).');
  });
});

describe.each(BACKENDS)('HTTP hardening (%s PostgreSQL)', (backend) => {
  let h: Harness;
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
    await h?.close();
  });

  it('a guessable Idempotency-Key (cart-42) is refused with 400 and nothing is written', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination' });
    const body = { slotId: m.slotId, quantity: 1, email: BUYER_EMAIL };
    for (const key of ['cart-42', 'a'.repeat(32), '0123456789abcdef0123456789abcdef']) {
      const r = await h.api<{ error: { code: string; message: string } }>('POST', '/api/checkout', body, {
        'idempotency-key': key,
      });
      expect(r.status, key).toBe(400);
      expect(r.body.error.code).toBe('idempotency_key_invalid');
      expect(r.body.error.message).toContain('UUID v4');
      expect(r.body.error.message).toContain('128 random bits');
    }
    expect(await count(h, 'orders')).toBe(0);
    expect(await count(h, 'holds')).toBe(0);
    expect(await count(h, 'idempotency_keys')).toBe(0);
  });

  it('two buyers with random keys never see each other’s order; a replay resumes the buyer’s own order', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct' });
    const body = { slotId: m.slotId, quantity: 1 };
    const keyA = randomUUID();
    const keyB = randomBytes(16).toString('base64url');
    const a = await h.api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', body, {
      'idempotency-key': keyA,
    });
    const b = await h.api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', body, {
      'idempotency-key': keyB,
    });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.orderId).not.toBe(a.body.orderId);
    expect(b.body.checkoutUrl).not.toBe(a.body.checkoutUrl);
    const againA = await h.api<{ orderId: string }>('POST', '/api/checkout', body, {
      'idempotency-key': keyA,
    });
    const againB = await h.api<{ orderId: string }>('POST', '/api/checkout', body, {
      'idempotency-key': keyB,
    });
    expect(againA.body.orderId).toBe(a.body.orderId);
    expect(againB.body.orderId).toBe(b.body.orderId);
    expect(againA.headers.get('idempotent-replayed')).toBe('true');
    // The order carries the digest of (scope, key), never the key itself: a re-run of the request finds it.
    const rows = await h.settle.ctx.db
      .selectFrom('orders')
      .select(['id', 'checkout_key'])
      .orderBy('created_at')
      .execute();
    expect(rows).toHaveLength(2);
    const byId = new Map(rows.map((r) => [r.id, r.checkout_key]));
    expect(byId.get(a.body.orderId)).toBe(idempotencyDigest('POST /api/checkout', keyA));
    expect(byId.get(b.body.orderId)).toBe(idempotencyDigest('POST /api/checkout', keyB));
    expect(rows.some((r) => r.checkout_key === keyA || r.checkout_key === keyB)).toBe(false);
  });

  it('an operator refund replayed with another operator token does not return the stored result', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination', unitAmount: 10_000 });
    const c = await checkout(h, m.slotId);
    await h.settle.emulator!.paySession(c.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    const key = 'refund-7'; // operator keys are bound to the token, so they need not be random
    const path = `/api/admin/orders/${c.orderId}/refunds`;
    const first = await h.admin<{ refundId: string }>(
      'POST',
      path,
      { amount: 1000 },
      { 'idempotency-key': key },
    );
    expect(first.status).toBe(201);
    const replay = await h.admin<{ refundId: string }>(
      'POST',
      path,
      { amount: 1000 },
      { 'idempotency-key': key },
    );
    expect(replay.body.refundId).toBe(first.body.refundId);

    // The token was rotated (same database): the new token's request with the same key is a new request.
    const otherToken = `rotated-${randomBytes(18).toString('base64url')}`;
    const rotated = await frontEnd(h.settle.ctx, { adminToken: otherToken });
    apps.push(rotated);
    const other = await rotated.inject({
      method: 'POST',
      url: path,
      headers: { authorization: `Bearer ${otherToken}`, 'idempotency-key': key },
      payload: { amount: 1000 },
    });
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    const otherBody = other.json<{ refundId?: string }>();
    expect(other.statusCode).toBe(201);
    expect(otherBody.refundId).not.toBe(first.body.refundId);
    // The old token is refused there, and its stored answer is still its own.
    const old = await rotated.inject({
      method: 'POST',
      url: path,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'idempotency-key': key },
      payload: { amount: 1000 },
    });
    expect(old.statusCode).toBe(401);
    const refunds = await h.settle.ctx.db
      .selectFrom('refunds')
      .select('id')
      .where('order_id', '=', c.orderId)
      .execute();
    expect(refunds).toHaveLength(2);
  });

  it('a NUL (or another control character) in any free-text field is a 400 and nothing is written', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination' });
    const [sellers, listings] = [await count(h, 'sellers'), await count(h, 'listings')];
    const accounts = (await h.stripe.accounts.list({ limit: 100 })).data.length;

    const buyer = [
      { email: 'buyer\u0000@example.test' },
      { email: 'buyer@exa\u0000mple.test' },
      { promotionCode: 'TEN\u0000OFF' },
      { promotionCode: 'TENOFF\u001b' },
    ];
    for (const extra of buyer) {
      const r = await h.api<{ error: { code: string } }>(
        'POST',
        '/api/checkout',
        { slotId: m.slotId, quantity: 1, ...extra },
        { 'idempotency-key': randomUUID() },
      );
      expect(r.status, JSON.stringify(extra)).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
    }
    expect(await count(h, 'orders')).toBe(0);
    expect(await count(h, 'holds')).toBe(0);
    expect(await count(h, 'idempotency_keys')).toBe(0);

    const sellerBase = { name: 'Clay studio', email: 'studio@example.test', chargeType: 'destination' };
    for (const extra of [
      { name: 'Clay\u0000studio' },
      { name: 'Clay\nstudio' },
      { email: 'studio\u0000@example.test' },
    ]) {
      const r = await h.admin('POST', '/api/sellers', { ...sellerBase, ...extra });
      expect(r.status, JSON.stringify(extra)).toBe(400);
    }
    const listingBase = { sellerId: m.sellerId, title: 'Wheel', currency: 'usd', unitAmount: 1000 };
    for (const extra of [
      { title: 'Wh\u0000eel' },
      { description: 'Bring\u0000an apron' },
      { currency: 'us\u0000' },
    ]) {
      const r = await h.admin('POST', '/api/listings', { ...listingBase, ...extra });
      expect(r.status, JSON.stringify(extra)).toBe(400);
    }
    expect(await count(h, 'sellers')).toBe(sellers);
    expect(await count(h, 'listings')).toBe(listings);
    expect((await h.stripe.accounts.list({ limit: 100 })).data.length).toBe(accounts);
    // A description may span lines.
    const ok = await h.admin('POST', '/api/listings', {
      ...listingBase,
      description: 'Bring\nan apron\t(or two)',
    });
    expect(ok.status).toBe(201);
  });

  it('the public seller view has no provider account id; the operator view keeps it', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct' });
    const pub = await h.api<Record<string, unknown>>('GET', `/api/sellers/${m.sellerId}`);
    expect(pub.status).toBe(200);
    expect(Object.keys(pub.body).sort()).toEqual(
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
    expect(JSON.stringify(pub.body)).not.toContain(m.accountId);
    const admin = await h.admin<{ sellers: { id: string; accountId: string }[] }>(
      'GET',
      '/api/admin/sellers',
    );
    expect(admin.body.sellers.find((s) => s.id === m.sellerId)?.accountId).toBe(m.accountId);
  });

  it('request log lines carry neither a ?token= credential, an order id nor an e-mail address', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination' });
    const c = await checkout(h, m.slotId);
    const lines: string[] = [];
    const secret = `leaked-${randomBytes(12).toString('hex')}`;
    const app = await frontEnd(h.settle.ctx, {
      lines,
      extra: (a) => {
        // A database error whose parameters and message carry an e-mail address.
        a.get('/test/db-error', async () => {
          await sql`select ${BUYER_EMAIL}::int as n`.execute(h.settle.ctx.db);
          return {};
        });
      },
    });
    apps.push(app);

    const refused = await app.inject({
      method: 'GET',
      url: `/api/admin/orders/${c.orderId}?token=${secret}`,
    });
    expect(refused.statusCode).toBe(401);
    const allowed = await app.inject({
      method: 'GET',
      url: `/api/admin/orders/${c.orderId}?token=${secret}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(allowed.statusCode).toBe(200);
    const buyer = await app.inject({ method: 'GET', url: `/api/orders/${c.orderId}?order=${c.orderId}` });
    expect(buyer.statusCode).toBe(200);
    const failed = await app.inject({ method: 'GET', url: `/test/db-error?email=${BUYER_EMAIL}` });
    expect(failed.statusCode).toBe(500);
    expect(failed.body).not.toContain(BUYER_EMAIL);

    const log = lines.join('');
    // One line per request (written when it is answered), and the database error's.
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(log).toContain('/api/admin/orders/ord_[redacted]?token=[redacted]');
    expect(log).toContain('/api/orders/ord_[redacted]?order=[redacted]');
    expect(log).not.toContain(secret);
    expect(log).not.toContain(c.orderId);
    expect(log).not.toContain(ADMIN_TOKEN);
    // The database error is logged (with its code, against the request id) without its parameters or the e-mail.
    const errLine = lines.find((l) => l.includes('unhandled error'));
    expect(errLine).toBeDefined();
    const parsed = JSON.parse(errLine ?? '{}') as { reqId?: string; err?: Record<string, unknown> };
    expect(parsed.reqId).toMatch(/^req_/);
    expect(parsed.err?.['code']).toBe('22P02');
    expect(parsed.err).not.toHaveProperty('params');
    expect(parsed.err).not.toHaveProperty('query');
    expect(log).not.toContain(BUYER_EMAIL);
    expect(log).not.toContain('example.test');
  });
});
