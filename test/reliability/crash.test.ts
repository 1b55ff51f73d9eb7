import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CRASH_POINTS, type CrashPointName } from '../../src/core/crash-points.js';
import { openDatabase, type OpenedDb } from '../../src/db/connect.js';
import {
  startStripeEmulator,
  stripeClientFor,
  type StripeEmulator,
} from '../../src/emulators/stripe/index.js';
import { registerWebhookEndpoints } from '../../src/providers/stripe/index.js';
import { busyJobs } from '../helpers/settle.js';
import { record, scaled } from './figures.js';
import {
  call,
  CHILD_ADMIN_TOKEN,
  exitWithin,
  reconcileCli,
  serverDatabase,
  startSettleProcess,
  type SettleProcess,
} from './process.js';
import { childPort } from '../helpers/ports.js';

const DATABASE_URL = process.env['DATABASE_URL'];
const KEY = 'sk_test_reliability_crash';

/**
 * kill -9 at every step boundary of confirmation, refund and side-effect execution: Settle runs as a child process
 * (configured mode, a standalone emulator, the PostgreSQL server) with SETTLE_TEST_CRASH_POINT set, the test drives
 * the flow to the point and sees the process die, restarts it without the variable and lets it converge (the
 * buyer's verify, the queue, `npm run reconcile`), then compares the order with the same flow run without faults.
 */
type Flow = 'confirm' | 'refund' | 'refund_via_queue';

const FLOW_OF: Record<CrashPointName, Flow> = {
  'confirm.status_updated': 'confirm',
  'confirm.inventory_taken': 'confirm',
  'confirm.effects_queued': 'confirm',
  'confirm.committed': 'confirm',
  'refund.reserved': 'refund',
  'refund.provider_answered': 'refund',
  'outbox.handler_ran': 'refund_via_queue',
};

interface Outcome {
  status: string;
  refundedAmount: number;
  paidTransitions: number;
  refundedTransitions: number;
  refundRows: string[];
  emulatorRefunds: number;
  emulatorRefundedAmount: number;
  /** Distinct idempotency keys of refund POSTs for this order's payment that the emulator executed. */
  refundKeysExecuted: number;
  jobs: string[];
  inboxUnprocessed: number;
}

describe.skipIf(!DATABASE_URL)('crash points: kill -9, restart, same state as a fault-free run', () => {
  let emu: StripeEmulator;
  let database: Awaited<ReturnType<typeof serverDatabase>>;
  let opened: OpenedDb;
  let env: Record<string, string>;
  let accountId = '';
  let slotId = '';
  let running: SettleProcess | null = null;
  // Every process a test starts is stopped after it, even when the test fails before its own stop() (a child left
  // running would keep its database connections and CPU for the rest of the suite).
  const started = new Set<SettleProcess>();
  const start = async (e: Record<string, string>): Promise<SettleProcess> => {
    const p = await startSettleProcess(e);
    started.add(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all([...started].map((p) => p.stop()));
    started.clear();
  });

  const stripe = () => stripeClientFor(emu, KEY);
  const db = () => opened.db;

  beforeAll(async () => {
    emu = await startStripeEmulator({
      port: 0,
      timeScale: 0.01,
      webhookRetry: { attempts: 4, baseDelayMs: 1000 },
    });
    const port = await childPort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const secrets = await registerWebhookEndpoints(stripe(), publicUrl);
    database = await serverDatabase();
    opened = await openDatabase({ kind: 'server', url: database.url, poolMax: 3 });
    env = {
      PORT: String(port),
      PUBLIC_URL: publicUrl,
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      DATABASE_POOL_MAX: '5',
      STRIPE_SECRET_KEY: KEY,
      STRIPE_API_BASE: emu.url,
      STRIPE_WEBHOOK_SECRET: secrets.platformSecret,
      STRIPE_CONNECT_WEBHOOK_SECRET: secrets.connectSecret,
      // One attempt per call: an injected 5xx leaves the refund to the queue (the refund_via_queue flow).
      STRIPE_MAX_NETWORK_RETRIES: '0',
      SETTLE_ADMIN_TOKEN: CHILD_ADMIN_TOKEN,
      SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
      SETTLE_QUEUE_POLL_MS: '25',
      SETTLE_RATE_LIMIT_PER_MINUTE: '0',
    };
    const p = await start(env);
    running = p;
    const seller = await call<{ id: string; accountId: string }>(
      p.url,
      'POST',
      '/api/sellers',
      { name: 'Crash Studio', email: 'crash@example.test', chargeType: 'direct' },
      { admin: true },
    );
    expect(seller.status).toBe(201);
    accountId = seller.body.accountId;
    await emu.completeOnboarding(accountId);
    await emu.idle();
    const listing = await call<{ id: string }>(
      p.url,
      'POST',
      '/api/listings',
      { sellerId: seller.body.id, title: 'Kiln night', currency: 'eur', unitAmount: 4200 },
      { admin: true },
    );
    const slot = await call<{ id: string }>(
      p.url,
      'POST',
      `/api/listings/${listing.body.id}/slots`,
      { startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString(), capacity: 100 },
      { admin: true },
    );
    expect(slot.status).toBe(201);
    slotId = slot.body.id;
    await p.stop();
    running = null;
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([...started].map((p) => p.stop()));
    await opened?.close();
    await emu?.close();
    await database?.drop();
  });

  async function orderStatus(p: SettleProcess, orderId: string): Promise<string> {
    const r = await call<{ status: string }>(p.url, 'GET', `/api/admin/orders/${orderId}`, undefined, {
      admin: true,
    });
    return r.body.status;
  }

  async function waitStatus(p: SettleProcess, orderId: string, status: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if ((await orderStatus(p, orderId)) === status) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`order ${orderId} never reached ${status} (is ${await orderStatus(p, orderId)})`);
  }

  /** What a long enough wait does: inbox and job leases lapse, backed-off jobs come due. */
  async function lapseTime(): Promise<void> {
    const past = new Date(Date.now() - 1000);
    await db()
      .updateTable('webhook_events')
      .set({ claimed_until: past })
      .where('claimed_until', 'is not', null)
      .execute();
    await db().updateTable('jobs').set({ locked_until: past }).where('status', '=', 'running').execute();
    await db().updateTable('jobs').set({ run_at: new Date() }).where('status', '=', 'queued').execute();
  }

  /** No job running or due (the process's own worker ran them) and no delivery pending at the emulator. */
  async function quiet(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      await emu.idle(20_000);
      const busy = await busyJobs(db());
      if (busy.length === 0) return;
      if (Date.now() > deadline) throw new Error(`still ${busy.length} job(s) busy after 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Recovery as an operator gets it: the buyer's verify, time passing, the queue, `npm run reconcile`. */
  async function converge(p: SettleProcess, orderId: string): Promise<void> {
    await call(p.url, 'POST', '/api/checkout/verify', { orderId });
    await lapseTime();
    await quiet();
    const r = await reconcileCli(env, 2);
    expect(r.out).toContain('Summary:');
    expect(r.code, r.out).toBe(0);
    await lapseTime();
    await quiet();
  }

  async function pay(p: SettleProcess): Promise<{ orderId: string; sessionId: string }> {
    const r = await call<{ orderId: string; checkoutUrl: string }>(p.url, 'POST', '/api/checkout', {
      slotId,
      quantity: 1,
      email: 'buyer@example.test',
    });
    expect(r.status).toBe(201);
    const sessionId = new URL(r.body.checkoutUrl).pathname.split('/').pop() ?? '';
    const paid = await emu.paySession(sessionId, { card_number: '4242424242424242' });
    expect(paid).toBeTruthy();
    return { orderId: r.body.orderId, sessionId };
  }

  /** An operator refund of the whole order; null when the process died during the request. */
  async function operatorRefund(p: SettleProcess, orderId: string): Promise<string | null> {
    try {
      const r = await call<{ status: string }>(
        p.url,
        'POST',
        `/api/admin/orders/${orderId}/refunds`,
        {},
        { admin: true, headers: { 'idempotency-key': `crash-${randomUUID()}` } },
      );
      expect(r.status).toBe(201);
      return r.body.status;
    } catch {
      return null;
    }
  }

  /** Drives `flow` on a running process until the crash (or, fault-free, to its end). */
  async function drive(p: SettleProcess, flow: Flow): Promise<string> {
    const { orderId } = await pay(p);
    if (flow === 'confirm') return orderId;
    await waitStatus(p, orderId, 'paid');
    if (flow === 'refund') {
      await operatorRefund(p, orderId);
      return orderId;
    }
    // The refund's first provider call fails (outcome unknown): the durable refund.submit job finishes it.
    emu.faults.set({ api5xx: { next: 1, path: '/v1/refunds', method: 'POST', status: 500 } });
    expect(await operatorRefund(p, orderId)).toBe('pending');
    const refund = await db()
      .selectFrom('refunds')
      .select('id')
      .where('order_id', '=', orderId)
      .executeTakeFirstOrThrow();
    await db()
      .updateTable('jobs')
      .set({ run_at: new Date() })
      .where('dedupe_key', '=', `refund.submit:${refund.id}`)
      .execute();
    return orderId;
  }

  async function outcome(orderId: string): Promise<Outcome> {
    const order = await db()
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    const events = await db()
      .selectFrom('order_events')
      .select('to_status')
      .where('order_id', '=', orderId)
      .execute();
    const refunds = await db()
      .selectFrom('refunds')
      .select(['id', 'status'])
      .where('order_id', '=', orderId)
      .execute();
    const refundIds = refunds.map((r) => r.id);
    const jobs = (await db().selectFrom('jobs').select(['kind', 'status', 'payload']).execute())
      .filter((j) => {
        const p = j.payload as Record<string, unknown>;
        return p['orderId'] === orderId || refundIds.includes(String(p['refundId']));
      })
      .map((j) => `${j.kind}:${j.status}`)
      .sort();
    const pi = order.provider_payment_id;
    const atEmulator =
      pi === null
        ? []
        : (await stripe().refunds.list({ payment_intent: pi, limit: 100 }, { stripeAccount: accountId }))
            .data;
    const keys = new Set(
      emu.requests
        .filter(
          (q) =>
            q.method === 'POST' &&
            q.path === '/v1/refunds' &&
            q.status === 200 &&
            q.idempotencyKey !== null &&
            refundIds.some((id) => q.idempotencyKey === `refund:${id}`),
        )
        .map((q) => q.idempotencyKey),
    );
    const inbox = await db()
      .selectFrom('webhook_events')
      .select('id')
      .where('status', 'not in', ['processed', 'ignored'])
      .execute();
    return {
      status: order.status,
      refundedAmount: order.refunded_amount,
      paidTransitions: events.filter((e) => e.to_status === 'paid').length,
      refundedTransitions: events.filter((e) => e.to_status === 'refunded').length,
      refundRows: refunds.map((r) => r.status).sort(),
      emulatorRefunds: atEmulator.length,
      emulatorRefundedAmount: atEmulator.reduce((s, r) => s + r.amount, 0),
      refundKeysExecuted: keys.size,
      jobs,
      inboxUnprocessed: inbox.length,
    };
  }

  const differences = (a: Outcome, b: Outcome): number =>
    (Object.keys(a) as (keyof Outcome)[]).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).length;

  const baseline = new Map<Flow, Outcome>();
  const totals = {
    crashes: 0,
    restarts: 0,
    differencesFromFaultFreeRun: 0,
    extraPaidTransitions: 0,
    extraRefundsAtProvider: 0,
    jobsLeftRunning: 0,
  };

  it('the fault-free run of each flow', { timeout: 180_000 }, async () => {
    const clean = await start(env);
    running = clean;
    for (const flow of ['confirm', 'refund', 'refund_via_queue'] as const) {
      const orderId = await drive(clean, flow);
      await waitStatus(clean, orderId, flow === 'confirm' ? 'paid' : 'refunded');
      await converge(clean, orderId);
      const o = await outcome(orderId);
      expect(o.paidTransitions).toBe(1);
      expect(o.inboxUnprocessed).toBe(0);
      baseline.set(flow, o);
    }
    await clean.stop();
    running = null;
    expect(baseline.get('confirm')).toMatchObject({ status: 'paid', emulatorRefunds: 0 });
    expect(baseline.get('refund')).toMatchObject({
      status: 'refunded',
      emulatorRefunds: 1,
      refundKeysExecuted: 1,
    });
    expect(baseline.get('refund_via_queue')).toEqual(baseline.get('refund'));
  });

  for (const point of CRASH_POINTS) {
    it(
      `kill -9 at ${point}: restarted, it converges to the fault-free outcome`,
      { timeout: 180_000 },
      async () => {
        const flow = FLOW_OF[point];
        const want = baseline.get(flow);
        if (want === undefined) throw new Error(`no fault-free run of ${flow}`);
        for (let round = 0; round < scaled(1, 3); round++) {
          const p = await start({ ...env, SETTLE_TEST_CRASH_POINT: point });
          running = p;
          const orderId = await drive(p, flow);
          const exit = await exitWithin(p, 20_000);
          expect(exit, `${point}: the process should have died there`).toEqual({
            code: null,
            signal: 'SIGKILL',
          });
          expect(p.output()).toContain(point);
          totals.crashes += 1;
          emu.faults.reset();

          const again = await start(env);
          running = again;
          totals.restarts += 1;
          await converge(again, orderId);
          const got = await outcome(orderId);
          totals.differencesFromFaultFreeRun += differences(got, want);
          totals.extraPaidTransitions += Math.max(0, got.paidTransitions - 1);
          totals.extraRefundsAtProvider += Math.max(0, got.emulatorRefunds - want.emulatorRefunds);
          const stuck = await db().selectFrom('jobs').select('id').where('status', '=', 'running').execute();
          totals.jobsLeftRunning += stuck.length;
          await again.stop();
          running = null;
          expect(got, `after a crash at ${point}`).toEqual(want);
          expect(stuck).toEqual([]);
        }
      },
    );
  }

  it('places: every paid order holds exactly one, nothing else does', async () => {
    const slot = await db()
      .selectFrom('slots')
      .select('sold')
      .where('id', '=', slotId)
      .executeTakeFirstOrThrow();
    const paid = await db().selectFrom('orders').select('id').where('status', '=', 'paid').execute();
    expect(slot.sold).toBe(paid.length);
    record({
      property: 'Crash at any step boundary: nothing lost, nothing twice',
      method:
        'Settle as a child process killed with SIGKILL at each crash point (confirmation, refund, side-effect execution), restarted, converged by verify, the queue and npm run reconcile, and compared with a fault-free run of the same flow',
      figures: { crashPoints: CRASH_POINTS.length, ...totals, soldMinusPaidOrders: slot.sold - paid.length },
      held:
        totals.crashes === CRASH_POINTS.length * scaled(1, 3) &&
        totals.differencesFromFaultFreeRun === 0 &&
        totals.extraPaidTransitions === 0 &&
        totals.extraRefundsAtProvider === 0 &&
        totals.jobsLeftRunning === 0 &&
        slot.sold === paid.length,
    });
  });
});
