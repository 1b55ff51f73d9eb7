import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../../src/app/context.js';
import { reconcile } from '../../src/core/reconcile.js';
import type { StripeEmulator } from '../../src/emulators/stripe/index.js';
import type { FaultConfig } from '../../src/emulators/stripe/faults.js';
import {
  checkout,
  fulfilments,
  order,
  setupMarket,
  startHarness,
  type Harness,
  type MarketSetup,
} from '../helpers/settle.js';
import { record, scaled } from './figures.js';

const DATABASE_URL = process.env['DATABASE_URL'];
const CARD = '4242424242424242';

/**
 * Provider, webhook and database faults against Settle on the PostgreSQL server (in-process harness, demo mode
 * with the in-process emulator and its fault injection; see docs/emulator.md).
 */
describe.skipIf(!DATABASE_URL)('faults: provider, webhooks, database', () => {
  let h: Harness;
  let m: MarketSetup;
  const emu = (): StripeEmulator => {
    const e = h.settle.emulator;
    if (e === null) throw new Error('demo mode expected');
    return e;
  };
  const ctx = (): AppContext => h.settle.ctx;

  beforeAll(async () => {
    h = await startHarness('server', { env: { SETTLE_RATE_LIMIT_PER_MINUTE: '0' } });
    m = await setupMarket(h, { chargeType: 'direct', capacity: 1000 });
  });
  afterAll(async () => {
    emu().faults.reset();
    await h?.close();
  });

  /** Provider requests since `mark` (an index into the emulator's request log) on a path prefix and method. */
  const requestsSince = (mark: number, path: string, method: string) =>
    emu()
      .requests.slice(mark)
      .filter((r) => r.method === method && r.path.startsWith(path));

  /** Moves queued jobs' run_at (backoff) to now; returns how much time that skipped. */
  const advanceQueue = async (): Promise<number> => {
    const due = await ctx()
      .db.selectFrom('jobs')
      .select('run_at')
      .where('status', '=', 'queued')
      .orderBy('run_at', 'desc')
      .executeTakeFirst();
    await ctx().db.updateTable('jobs').set({ run_at: new Date() }).where('status', '=', 'queued').execute();
    return due === undefined ? 0 : Math.max(0, due.run_at.getTime() - Date.now());
  };

  async function paidOrder(): Promise<{ orderId: string; sessionId: string }> {
    const c = await checkout(h, m.slotId);
    await emu().paySession(c.sessionId, { card_number: CARD });
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    return c;
  }

  const paymentOf = async (orderId: string): Promise<string> =>
    (
      await ctx()
        .db.selectFrom('orders')
        .select('provider_payment_id')
        .where('id', '=', orderId)
        .executeTakeFirstOrThrow()
    ).provider_payment_id ?? '';

  const refundsAtEmulator = async (orderId: string) =>
    (
      await h.stripe.refunds.list(
        { payment_intent: await paymentOf(orderId), limit: 100 },
        { stripeAccount: m.accountId },
      )
    ).data;

  describe('provider faults', () => {
    const transient: { name: string; faults: Partial<FaultConfig> }[] = [
      { name: '5xx', faults: { api5xx: { next: 2 } } },
      { name: 'dropped connection', faults: { apiTimeout: { next: 1, ms: 200 } } },
    ];

    it('transient 5xx and dropped connections on every POST Settle makes are retried with the same idempotency key', async () => {
      let faultsInjected = 0;
      let retries = 0;
      let keysPerCall = 0;
      let calls = 0;
      for (const t of transient) {
        const scoped = (path: string): Partial<FaultConfig> =>
          t.faults.api5xx !== undefined
            ? { api5xx: { ...t.faults.api5xx, path, method: 'POST' } }
            : { apiTimeout: { ...t.faults.apiTimeout, path, method: 'POST' } };
        const check = (mark: number, path: string) => {
          const rs = requestsSince(mark, path, 'POST');
          const keys = new Set(rs.map((r) => r.idempotencyKey));
          expect(rs.length, `${t.name} on ${path}`).toBeGreaterThanOrEqual(2);
          expect(keys.size, `${t.name} on ${path}: one key across attempts`).toBe(1);
          expect([...keys][0]).not.toBeNull();
          expect(rs.at(-1)?.status).toBe(200);
          faultsInjected += rs.filter((r) => r.fault !== null).length;
          retries += rs.length - 1;
          keysPerCall += keys.size;
          calls += 1;
        };

        // Account creation (operator creates a seller) and the onboarding link.
        let mark = emu().requests.length;
        emu().faults.set(scoped('/v1/accounts'));
        const seller = await h.admin<{ id: string; accountId: string }>('POST', '/api/sellers', {
          name: 'Fault seller',
          email: 'fault@example.test',
          chargeType: 'destination',
        });
        expect(seller.status).toBe(201);
        check(mark, '/v1/accounts');
        mark = emu().requests.length;
        emu().faults.set(scoped('/v1/account_links'));
        const link = await h.admin('POST', `/api/sellers/${seller.body.id}/onboarding-link`, {});
        expect(link.status).toBe(200);
        check(mark, '/v1/account_links');

        // Checkout creation.
        mark = emu().requests.length;
        emu().faults.set(scoped('/v1/checkout/sessions'));
        const c = await checkout(h, m.slotId);
        check(mark, '/v1/checkout/sessions');
        await emu().paySession(c.sessionId, { card_number: CARD });
        await h.settleDown();
        expect((await order(h, c.orderId)).status).toBe('paid');

        // Refund.
        mark = emu().requests.length;
        emu().faults.set(scoped('/v1/refunds'));
        const refund = await h.admin<{ status: string }>(
          'POST',
          `/api/admin/orders/${c.orderId}/refunds`,
          {},
        );
        expect(refund.status).toBe(201);
        expect(refund.body.status).toBe('succeeded');
        check(mark, '/v1/refunds');
        await h.settleDown();
        expect(await refundsAtEmulator(c.orderId)).toHaveLength(1);
        emu().faults.reset();
      }
      record({
        property: 'Provider faults: retried safely with the same idempotency key',
        method:
          '5xx and dropped connections injected by the emulator on account creation, onboarding links, checkout creation and refunds; the emulator request log shows one idempotency key per logical call',
        figures: { calls, faultsInjected, retries, keysPerCall, duplicateEffects: 0 },
        held: keysPerCall === calls,
      });
    });

    it(
      'an unknown outcome is reported as unknown (503 provider_unavailable), never guessed; reconciliation settles it',
      { timeout: 300_000 },
      async () => {
        const outages: { name: string; f: (path: string, method: string) => Partial<FaultConfig> }[] = [
          { name: '5xx', f: (path, method) => ({ api5xx: { probability: 1, path, method, status: 503 } }) },
          { name: '429', f: (path, method) => ({ apiRateLimit: { probability: 1, path, method } }) },
          {
            name: 'timeout',
            f: (path, method) => ({ apiTimeout: { probability: 1, path, method, ms: 100 } }),
          },
        ];
        let unknownAnswers = 0;
        let guessed = 0;
        let settled = 0;
        let refundsMade = 0;
        let outageHours = 0;
        for (const o of outages) {
          // Checkout creation: 503, and the buyer is never sent to a checkout.
          emu().faults.set(o.f('/v1/checkout/sessions', 'POST'));
          const c = await h.api<{ error: { code: string } }>('POST', '/api/checkout', {
            slotId: m.slotId,
            quantity: 1,
          });
          expect(c.status, `${o.name} on checkout creation`).toBe(503);
          expect(c.body.error.code).toBe('provider_unavailable');
          unknownAnswers += 1;
          emu().faults.reset();

          // Retrieval: the buyer's verify cannot read the session; the order stays pending (not paid, not failed).
          emu().faults.set({ webhookDrop: { probability: 1 } });
          const paid = await checkout(h, m.slotId);
          await emu().paySession(paid.sessionId, { card_number: CARD });
          await h.settleDown();
          emu().faults.set(o.f('/v1/checkout/sessions', 'GET'));
          const v = await h.api<{ error: { code: string } }>('POST', '/api/checkout/verify', {
            orderId: paid.orderId,
          });
          expect(v.status, `${o.name} on retrieval`).toBe(503);
          expect(v.body.error.code).toBe('provider_unavailable');
          unknownAnswers += 1;
          const during = await order(h, paid.orderId);
          if (during.status !== 'pending') guessed += 1;
          expect(during.status).toBe('pending');
          emu().faults.reset();
          const r = await reconcile(ctx(), { lookbackHours: 1 });
          expect(r.errors).toEqual([]);
          await h.settleDown();
          expect((await order(h, paid.orderId)).status).toBe('paid');
          expect(await fulfilments(h, paid.orderId)).toBe(1);
          settled += 1;

          // Refund: accepted as pending (reserved), never failed; an outage of hours, then exactly one refund.
          const mark = emu().requests.length;
          emu().faults.set(o.f('/v1/refunds', 'POST'));
          const refund = await h.admin<{ status: string; refundId: string }>(
            'POST',
            `/api/admin/orders/${paid.orderId}/refunds`,
            {},
          );
          expect(refund.status, `${o.name} on refund`).toBe(201);
          expect(refund.body.status).toBe('pending');
          unknownAnswers += 1;
          expect(await order(h, paid.orderId)).toMatchObject({ status: 'paid', refundedAmount: 5000 });
          // An outage of 20 minutes in CI, of hours in the full run (simulated clock: backoffs skipped).
          const outageMs = scaled(20 * 60_000, 3 * 3_600_000);
          let simulated = 0;
          for (let i = 0; i < 40 && simulated < outageMs; i++) {
            simulated += await advanceQueue();
            await h.settleDown();
          }
          expect(simulated).toBeGreaterThanOrEqual(outageMs);
          outageHours = Math.max(outageHours, simulated / 3_600_000);
          expect(await refundsAtEmulator(paid.orderId)).toEqual([]);
          emu().faults.reset();
          await advanceQueue();
          await h.settleDown();
          expect(await order(h, paid.orderId)).toMatchObject({ status: 'refunded', refundedAmount: 5000 });
          const made = await refundsAtEmulator(paid.orderId);
          expect(made).toHaveLength(1);
          refundsMade += made.length;
          const keys = new Set(requestsSince(mark, '/v1/refunds', 'POST').map((q) => q.idempotencyKey));
          expect(keys).toEqual(new Set([`refund:${refund.body.refundId}`]));
          settled += 1;

          // Account calls: creation answers 503 and the next call reuses the seller's key; a read answers 503.
          const accMark = emu().requests.length;
          emu().faults.set(o.f('/v1/accounts', 'POST'));
          const seller = await h.admin<{ error: { code: string } }>('POST', '/api/sellers', {
            name: 'Outage seller',
            email: 'outage@example.test',
            chargeType: 'destination',
          });
          expect(seller.status, `${o.name} on account creation`).toBe(503);
          expect(seller.body.error.code).toBe('provider_unavailable');
          unknownAnswers += 1;
          emu().faults.reset();
          const sellers = await ctx()
            .db.selectFrom('sellers')
            .innerJoin('seller_accounts', 'seller_accounts.seller_id', 'sellers.id')
            .select(['sellers.id', 'seller_accounts.provider_account_id'])
            .where('name', '=', 'Outage seller')
            .where('provider_account_id', 'is', null)
            .execute();
          for (const s of sellers) {
            const link = await h.admin('POST', `/api/sellers/${s.id}/onboarding-link`, {});
            expect(link.status).toBe(200);
            settled += 1;
          }
          const accountKeys = requestsSince(accMark, '/v1/accounts', 'POST').map((q) => q.idempotencyKey);
          expect(new Set(accountKeys).size).toBe(sellers.length);
          emu().faults.set(o.f('/v1/accounts/', 'GET'));
          const read = await h.api<{ error: { code: string } }>('GET', `/api/sellers/${m.sellerId}`);
          expect(read.status, `${o.name} on account retrieval`).toBe(503);
          unknownAnswers += 1;
          emu().faults.reset();
        }
        record({
          property: 'Provider faults: an unknown outcome is reported as unknown; reconciliation settles it',
          method:
            'Persistent 5xx, 429 and timeouts on checkout creation, retrieval, refunds and account calls: Settle answers 503 provider_unavailable (or a pending refund), never a guessed state; after the outage (refunds: hours, simulated clock) reconciliation and the queue settle every case once',
          figures: { unknownAnswers, guessedStates: guessed, settled, refundsMade, outageHours },
          held: guessed === 0,
        });
      },
    );

    it('a provider refusal is reported as refused (422 refund_refused, 502 provider_error at checkout) and changes nothing it should not', async () => {
      const c = await paidOrder();
      emu().faults.set({ api5xx: { next: 1, path: '/v1/refunds', method: 'POST', status: 400 } });
      const refused = await h.admin<{ error: { code: string } }>(
        'POST',
        `/api/admin/orders/${c.orderId}/refunds`,
        {},
      );
      expect(refused.status).toBe(422);
      expect(refused.body.error.code).toBe('refund_refused');
      expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', refundedAmount: 0 });
      emu().faults.set({ api5xx: { next: 1, path: '/v1/checkout/sessions', method: 'POST', status: 400 } });
      const ck = await h.api<{ error: { code: string } }>('POST', '/api/checkout', {
        slotId: m.slotId,
        quantity: 1,
      });
      expect(ck.status).toBe(502);
      emu().faults.reset();
      const again = await h.admin<{ status: string }>('POST', `/api/admin/orders/${c.orderId}/refunds`, {});
      expect(again.body.status).toBe('succeeded');
      expect(await refundsAtEmulator(c.orderId)).toHaveLength(1);
      record({
        property: 'Provider faults: a refusal is reported as refused',
        method:
          "A 400 injected on a refund and on checkout creation: 422 refund_refused (with the provider's reason) and 502 provider_error, reservation released",
        figures: { refusals: 2, reservationsLeft: 0 },
        held: true,
      });
    });
  });

  describe('webhook faults', () => {
    it('drops, duplicates and reordering: reconciliation restores every order, each fulfilled once', async () => {
      const n = scaled(6, 40);
      const mark = emu().deliveries.length;
      emu().faults.set({
        seed: 9,
        webhookDrop: { probability: 0.4 },
        webhookDuplicates: 3,
        webhookReorder: { windowMs: 200, mode: 'shuffle' },
      });
      const orders = [];
      for (let i = 0; i < n; i++) orders.push(await checkout(h, m.slotId));
      await Promise.all(orders.map((o) => emu().paySession(o.sessionId, { card_number: CARD })));
      await h.settleDown();
      emu().faults.reset();
      const before = await Promise.all(orders.map(async (o) => (await order(h, o.orderId)).status));
      const r = await reconcile(ctx(), { lookbackHours: 1 });
      expect(r.errors).toEqual([]);
      await h.settleDown();
      let restored = 0;
      for (const [i, o] of orders.entries()) {
        expect((await order(h, o.orderId)).status).toBe('paid');
        expect(await fulfilments(h, o.orderId)).toBe(1);
        if (before[i] !== 'paid') restored += 1;
      }
      const d = emu().deliveries.slice(mark);
      record({
        property: 'Webhook faults: reconciliation restores every order',
        method:
          'Seeded drops (40 %), every delivery sent 3 times, shuffled within 200 ms; then reconcile; every order paid, one paid transition each',
        figures: {
          orders: n,
          deliveries: d.length,
          dropped: d.filter((x) => x.status === 'dropped').length,
          duplicates: d.length - new Set(d.map((x) => `${x.eventId}:${x.endpointId}:${x.attempt}`)).size,
          restoredByReconcile: restored,
          doubleFulfilments: 0,
        },
        held: true,
      });
    });

    it('an endpoint down for a day, then recovery: the reconciler looking back over the outage restores every order', async () => {
      const n = scaled(4, 20);
      const base = ctx().config.publicUrl;
      emu().faults.set({
        endpointFailures: [
          { endpoint: `${base}/webhooks/stripe`, mode: 'skip' },
          { endpoint: `${base}/webhooks/stripe/connect`, mode: 'skip' },
        ],
      });
      const orders = [];
      for (let i = 0; i < n; i++) orders.push(await checkout(h, m.slotId));
      for (const o of orders) await emu().paySession(o.sessionId, { card_number: CARD });
      await h.settleDown();
      for (const o of orders) expect((await order(h, o.orderId)).status).toBe('pending');
      emu().faults.reset();
      // A day later (simulated clock): the first run after the outage looks back past it.
      const dayLater: AppContext = { ...ctx(), now: () => new Date(Date.now() + 25 * 3_600_000) };
      const r = await reconcile(dayLater, { lookbackHours: 26 });
      expect(r.errors).toEqual([]);
      await h.settleDown();
      for (const o of orders) {
        expect((await order(h, o.orderId)).status).toBe('paid');
        expect(await fulfilments(h, o.orderId)).toBe(1);
      }
      // Recovery: new payments are delivered and confirmed by webhook again.
      const after = await paidOrder();
      expect((await order(h, after.orderId)).confirmedVia).toBe('webhook');
      record({
        property: 'Webhook faults: reconciliation restores every order',
        method:
          'Both endpoints down (every delivery fails) for a simulated day; reconcile with a 26 h look-back after it; then deliveries resume',
        figures: { orders: n, restoredByReconcile: r.eventsApplied > 0 ? n : 0, lost: 0 },
        held: true,
      });
    });
  });

  describe('database faults', () => {
    let admin: pg.Client;
    let dbName = '';
    beforeAll(async () => {
      admin = new pg.Client({ connectionString: DATABASE_URL });
      await admin.connect();
      const row = await sql<{ name: string }>`select current_database() as name`.execute(ctx().db);
      dbName = row.rows[0]?.name ?? '';
      expect(dbName).toMatch(/^settle_test_/);
    });
    afterAll(async () => {
      await admin.query(`ALTER DATABASE ${dbName} RESET statement_timeout`);
      await admin.end();
    });

    /**
     * Regression (fixed in src/db/connect.ts): the pool handled 'error' only on idle clients, so a backend terminated
     * while a transaction had its client checked out emitted 'error' with no listener and the whole process died.
     * Reproduction in a child process: test/reliability/terminated-in-transaction.ts.
     */
    async function poolSurvivesTerminatedTransaction(): Promise<{ survived: boolean; out: string }> {
      try {
        const r = await promisify(execFile)(
          process.execPath,
          ['--import', 'tsx', 'test/reliability/terminated-in-transaction.ts', DATABASE_URL ?? ''],
          { timeout: 30_000 },
        );
        return { survived: r.stdout.includes('survived'), out: r.stdout };
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string };
        return { survived: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
      }
    }
    it('a backend terminated inside a transaction does not kill the process', async () => {
      const r = await poolSurvivesTerminatedTransaction();
      record({
        property: 'Database faults: Settle recovers from killed backends',
        method:
          'pg_terminate_backend on the connection a transaction has checked out, in a child process using Settle’s pool',
        figures: { processesKilledByATerminatedBackend: r.survived ? 0 : 1 },
        held: r.survived,
      });
      expect(r.out).toContain('survived');
    });

    const terminate = async (): Promise<number> => {
      const r = await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
        [dbName],
      );
      return r.rowCount ?? 0;
    };

    /** Every event a webhook endpoint acknowledged (2xx) since `mark` is in the inbox, processed. */
    async function acknowledgedAreStored(mark: number): Promise<{ acked: number; lost: number }> {
      const acked = new Set(
        emu()
          .deliveries.slice(mark)
          .filter((d) => typeof d.status === 'number' && d.status >= 200 && d.status < 300)
          .map((d) => d.eventId),
      );
      const stored = new Set(
        (await ctx().db.selectFrom('webhook_events').select(['event_id', 'status']).execute())
          .filter((e) => e.status === 'processed' || e.status === 'ignored')
          .map((e) => e.event_id),
      );
      return { acked: acked.size, lost: [...acked].filter((e) => !stored.has(e)).length };
    }

    /** Retries a request while the database recovers (the client side of an outage). */
    async function retrying<T>(f: () => Promise<T>): Promise<T> {
      for (let i = 0; ; i++) {
        try {
          return await f();
        } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }

    it('backends killed mid-load: Settle recovers, no acknowledged webhook is lost, every paid order is paid', async () => {
      const n = scaled(8, 60);
      const mark = emu().deliveries.length;
      let statuses5xx = 0;
      let kills = 0;
      let stop = false;
      const killer = (async () => {
        while (!stop) {
          await new Promise((r) => setTimeout(r, 150));
          if (!stop) kills += await terminate();
        }
      })();
      const started: { orderId: string; sessionId: string }[] = [];
      await Promise.all(
        Array.from({ length: n }, async () => {
          // A buyer retries a 5xx (a terminated backend) as the browser client does, until the checkout starts.
          for (let attempt = 0; attempt < 100; attempt++) {
            if (attempt > 0) await new Promise((r) => setTimeout(r, 50));
            const r = await h.api<{ orderId: string; checkoutUrl: string }>(
              'POST',
              '/api/checkout',
              { slotId: m.slotId, quantity: 1 },
              { 'idempotency-key': randomUUID() },
            );
            if (r.status >= 500) statuses5xx += 1;
            if (r.status === 201) {
              const sessionId = new URL(r.body.checkoutUrl).pathname.split('/').pop() ?? '';
              started.push({ orderId: r.body.orderId, sessionId });
              await emu().paySession(sessionId, { card_number: CARD });
              return;
            }
          }
        }),
      );
      await emu().idle(20_000);
      stop = true;
      await killer;
      expect(started.length).toBe(n);
      const health = await retrying(async () => {
        const r = await fetch(`${h.settle.url}/healthz`);
        if (r.status !== 200) throw new Error(`healthz ${r.status}`);
        return r.status;
      });
      expect(health).toBe(200);
      // Simulated clock: a minute passes, so the leases whose holders lost their connection mid-fault lapse — an
      // inbox row's and a claimed job's (a real deployment waits them out; the next delivery, reconcile or worker
      // then takes the work over).
      await retrying(async () => {
        await ctx()
          .db.updateTable('webhook_events')
          .set({ claimed_until: new Date(Date.now() - 1000) })
          .where('status', '=', 'received')
          .execute();
        await ctx()
          .db.updateTable('jobs')
          .set({ locked_until: new Date(Date.now() - 1000) })
          .where('status', '=', 'running')
          .execute();
      });
      await retrying(() => h.settleDown());
      // The first run after the fault may still meet a connection the server closed (it reports it and the pool
      // drops it); recovering means a later run is clean.
      const r = await retrying(async () => {
        const s = await reconcile(ctx(), { lookbackHours: 1 });
        if (s.errors.length > 0) throw new Error(s.errors.join('; '));
        return s;
      });
      expect(r.errors).toEqual([]);
      await h.settleDown();
      const { acked, lost } = await acknowledgedAreStored(mark);
      expect(lost).toBe(0);
      let unpaid = 0;
      for (const o of started) {
        if ((await order(h, o.orderId)).status !== 'paid') unpaid += 1;
        expect(await fulfilments(h, o.orderId)).toBe(1);
      }
      expect(unpaid).toBe(0);
      record({
        property: 'Database faults: no acknowledged webhook is lost',
        method:
          'pg_terminate_backend on every Settle connection every 150 ms while buyers check out and pay; then reconcile; every event answered 2xx is in the inbox, every paid order is paid once',
        figures: {
          orders: n,
          backendsKilled: kills,
          acknowledged: acked,
          lost,
          unpaid,
          answers5xx: statuses5xx,
        },
        held: lost === 0 && unpaid === 0,
      });
    });

    it('a statement timeout behind a lock held by another connection: nothing acknowledged before the inbox commit', async () => {
      // The pool's connections are terminated to pick up the setting (Settle survives that: src/db/connect.ts).
      const n = scaled(3, 10);
      const orders = [];
      for (let i = 0; i < n; i++) orders.push(await checkout(h, m.slotId));
      await admin.query(`ALTER DATABASE ${dbName} SET statement_timeout = '300ms'`);
      await terminate(); // the pool reconnects with the new setting
      await retrying(async () => sql`select 1`.execute(ctx().db));
      const u = new URL(DATABASE_URL ?? '');
      u.pathname = `/${dbName}`;
      const holder = new pg.Client({ connectionString: u.toString() });
      await holder.connect();
      await holder.query('SET statement_timeout = 0');
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE webhook_events IN SHARE MODE');
      const mark = emu().deliveries.length;
      for (const o of orders) await emu().paySession(o.sessionId, { card_number: CARD });
      await new Promise((r) => setTimeout(r, 1500));
      const during = emu().deliveries.slice(mark);
      const ackedWhileLocked = during.filter(
        (d) => typeof d.status === 'number' && d.status >= 200 && d.status < 300,
      ).length;
      await holder.query('COMMIT');
      await holder.end();
      await admin.query(`ALTER DATABASE ${dbName} RESET statement_timeout`);
      await terminate();
      await retrying(() => h.settleDown());
      // The first run after the fault may still meet a connection the server closed (it reports it and the pool
      // drops it); recovering means a later run is clean.
      const r = await retrying(async () => {
        const s = await reconcile(ctx(), { lookbackHours: 1 });
        if (s.errors.length > 0) throw new Error(s.errors.join('; '));
        return s;
      });
      expect(r.errors).toEqual([]);
      await h.settleDown();
      const { acked, lost } = await acknowledgedAreStored(mark);
      expect(ackedWhileLocked).toBe(0);
      expect(lost).toBe(0);
      for (const o of orders) {
        expect((await order(h, o.orderId)).status).toBe('paid');
        expect(await fulfilments(h, o.orderId)).toBe(1);
      }
      record({
        property: 'Database faults: no acknowledged webhook is lost',
        method:
          'statement_timeout 300 ms while another connection holds a SHARE lock on the inbox table: deliveries fail (5xx) instead of being acknowledged; after the lock, retries and reconcile confirm every order',
        figures: {
          orders: n,
          failedDeliveriesWhileLocked: during.filter((d) => d.status !== 200).length,
          acknowledgedWhileLocked: ackedWhileLocked,
          acknowledged: acked,
          lost,
        },
        held: ackedWhileLocked === 0 && lost === 0,
      });
    });
  });
});
