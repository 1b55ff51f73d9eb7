/**
 * Running Settle as production runs it: several instances on one PostgreSQL server (issue 9).
 *
 * - Periodic work (the reconciler, the retention sweep) runs on one instance at a time, under a lease in the
 *   database; another instance takes over when the holder stops renewing or releases it.
 * - Rate limits are one budget shared by every instance: in PostgreSQL (`rate_limits`), or in Redis with REDIS_URL.
 * - Graceful shutdown: SIGTERM to a Settle process with requests in flight; they complete, the process exits 0, no job
 *   is left running, its leases are released; a queue worker stopped mid-batch gives back the jobs it had not started.
 *
 * Server only: the embedded database is one process's, so "several instances on one database" needs DATABASE_URL.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_RECONCILE, startSettle, type SettleInstance } from '../../src/app/create.js';
import { newHolderId, startLeasedTask, tryLease, type LeasedTask } from '../../src/core/leases.js';
import { openDatabase, type OpenedDb } from '../../src/db/connect.js';
import { startStripeEmulator, stripeClientFor } from '../../src/emulators/stripe/index.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { registerWebhookEndpoints } from '../../src/providers/stripe/index.js';
import { enqueue, QueueWorker } from '../../src/queue/outbox.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { record, scaled } from './figures.js';
import { childPort } from '../helpers/ports.js';

const SERVER = process.env['DATABASE_URL'] !== undefined && process.env['DATABASE_URL'] !== '';
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TSX = join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs');
const ADMIN_TOKEN = 'instances-admin-token-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Is something listening at the Redis URL? (The Redis cases are skipped when not.) */
async function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port || '6379') });
    s.setTimeout(500);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}
const REDIS = await reachable(REDIS_URL);

/** A logger whose messages a test can read back. */
function capturingLogger() {
  const messages: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        const msg = (JSON.parse(line) as { msg?: string }).msg;
        if (msg !== undefined) messages.push(msg);
      }
      cb();
    },
  });
  return { logger: createLogger('info', stream), messages };
}

describe.skipIf(!SERVER)('several instances on one PostgreSQL server', () => {
  let tdb: TestDb;
  let second: OpenedDb;

  beforeAll(async () => {
    tdb = await freshDb('server');
    second = await openDatabase({ kind: 'server', url: tdb.url ?? '', poolMax: 5 });
  });
  afterAll(async () => {
    await second?.close();
    await tdb?.destroy();
  });

  it('tryLease: free, held, renewed by its holder, taken over once expired, released', async () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);
    expect(await tryLease(tdb.db, 'unit', 'a', 1000, t0)).toBe(true);
    expect(await tryLease(second.db, 'unit', 'b', 1000, at(500))).toBe(false);
    expect(await tryLease(tdb.db, 'unit', 'a', 1000, at(900))).toBe(true); // renewed to 1900
    expect(await tryLease(second.db, 'unit', 'b', 1000, at(1500))).toBe(false);
    expect(await tryLease(second.db, 'unit', 'b', 1000, at(1900))).toBe(true); // expired: taken over
    expect(await tryLease(tdb.db, 'unit', 'a', 1000, at(2000))).toBe(false);
    const { releaseLease } = await import('../../src/core/leases.js');
    expect(await releaseLease(tdb.db, 'unit', 'a')).toBe(false); // not a's any more
    expect(await releaseLease(second.db, 'unit', 'b')).toBe(true);
    expect(await tryLease(tdb.db, 'unit', 'a', 1000, at(2000))).toBe(true);
  });

  it('periodic work runs on one instance at a time, and another takes over when the holder stops', async () => {
    const durationMs = scaled(1500, 8000);
    let active = 0;
    let concurrentRuns = 0;
    let ticks = 0;
    const runsBy: Record<string, number> = {};
    const makeTask = (db: OpenedDb, holder: string): LeasedTask => {
      runsBy[holder] = 0;
      return startLeasedTask({
        db: db.db,
        name: 'periodic-test',
        holder,
        intervalMs: 40,
        leaseMs: 300,
        now: () => new Date(),
        logger: silentLogger,
        work: async () => {
          active += 1;
          if (active > 1) concurrentRuns += 1;
          runsBy[holder] = (runsBy[holder] ?? 0) + 1;
          await sleep(10 + randomInt(60));
          active -= 1;
        },
      });
    };
    const holders = [newHolderId(), newHolderId(), newHolderId()];
    const dbs = [tdb, second, tdb];
    const tasks = holders.map((h, i) => makeTask(dbs[i] ?? tdb, h));
    // Extra ticks by hand, racing the timers, so the lease is contended on every interval.
    const racing = (async () => {
      const end = Date.now() + durationMs;
      while (Date.now() < end) {
        await Promise.all(tasks.map((t) => t.tick()));
        ticks += tasks.length;
        await sleep(15);
      }
    })();
    await racing;
    const holderNow = (
      await tdb.db.selectFrom('leases').selectAll().where('name', '=', 'periodic-test').executeTakeFirst()
    )?.holder;
    expect(holders).toContain(holderNow);
    // The holder releases (a graceful shutdown): another instance runs the work from its next tick.
    const idx = holders.indexOf(holderNow ?? '');
    const before = { ...runsBy };
    await tasks[idx]?.stop();
    const releasedAt = Date.now();
    let takeoverMs = -1;
    while (Date.now() - releasedAt < 3000) {
      await Promise.all(tasks.map((t, i) => (i === idx ? Promise.resolve(false) : t.tick())));
      const others = holders.filter((h) => h !== holderNow);
      if (others.some((h) => (runsBy[h] ?? 0) > (before[h] ?? 0))) {
        takeoverMs = Date.now() - releasedAt;
        break;
      }
      await sleep(10);
    }
    await Promise.all(tasks.map((t) => t.stop()));
    const runs = Object.values(runsBy).reduce((a, b) => a + b, 0);
    record({
      property: 'Periodic work runs on one instance at a time',
      method:
        'Three instances (two connection pools on one PostgreSQL database) tick a leased task every 40 ms plus racing manual ticks; the work counts how many runs overlap; then the holder releases and another must take over.',
      figures: { instances: 3, ticks, runs, concurrentRuns, takeoverMs },
      held: concurrentRuns === 0 && takeoverMs >= 0,
    });
    expect(concurrentRuns).toBe(0);
    expect(runs).toBeGreaterThan(5);
    expect(takeoverMs).toBeGreaterThanOrEqual(0);
  });

  it('a holder that stops renewing (crashed) loses the lease once it lapses, never before', async () => {
    const runsBy = { a: 0, b: 0 };
    const make = (holder: 'a' | 'b', db: OpenedDb) =>
      startLeasedTask(
        {
          db: db.db,
          name: 'crash-test',
          holder: `${holder}-${newHolderId()}`,
          intervalMs: 400,
          leaseMs: 300,
          now: () => new Date(),
          logger: silentLogger,
          work: async () => {
            runsBy[holder] += 1;
          },
        },
        false,
      );
    const a = make('a', tdb);
    const b = make('b', second);
    expect(await a.tick()).toBe(true); // a runs, then keeps the lease for one interval (400 ms)
    const crashedAt = Date.now();
    // a "crashes": it never ticks again and never releases. b keeps trying.
    let tookOverAfterMs = -1;
    while (Date.now() - crashedAt < 3000) {
      if (await b.tick()) {
        tookOverAfterMs = Date.now() - crashedAt;
        break;
      }
      await sleep(20);
    }
    expect(runsBy).toEqual({ a: 1, b: 1 });
    expect(tookOverAfterMs).toBeGreaterThanOrEqual(350);
    expect(tookOverAfterMs).toBeLessThan(1500);
    record({
      property: 'Periodic work runs on one instance at a time',
      method:
        'The holder stops renewing without releasing (a crash); the other instance must wait for the lease to lapse and then take over.',
      figures: { instances: 2, leaseKeptMs: 400, takeoverAfterMs: tookOverAfterMs, concurrentRuns: 0 },
      held: tookOverAfterMs >= 350,
    });
    await b.stop();
  });

  it('two Settle instances: one holds the reconciler lease and reconciles; the other takes over when it shuts down', async () => {
    const logs = [capturingLogger(), capturingLogger()];
    const start = (i: number) =>
      startSettle({
        env: {
          LOG_LEVEL: 'info',
          HOST: '127.0.0.1',
          SETTLE_ADMIN_TOKEN: ADMIN_TOKEN,
          SETTLE_RECONCILE_INTERVAL_SECONDS: '1',
          SETTLE_QUEUE_POLL_MS: '50',
        },
        port: 0,
        database: { kind: 'server', url: tdb.url ?? '', poolMax: 5 },
        emulator: { port: 0, timeScale: 0.01 },
        seed: false,
        logger: logs[i]?.logger ?? silentLogger,
      });
    const instances: SettleInstance[] = [await start(0), await start(1)];
    try {
      await sleep(scaled(3500, 6500));
      const reconciled = logs.map((l) => l.messages.filter((m) => m === 'periodic reconciliation').length);
      const lease = await tdb.db
        .selectFrom('leases')
        .selectAll()
        .where('name', '=', LEASE_RECONCILE)
        .executeTakeFirstOrThrow();
      const holderIdx = instances.findIndex((s) => s.holder === lease.holder);
      expect(holderIdx).toBeGreaterThanOrEqual(0);
      expect(reconciled[holderIdx]).toBeGreaterThanOrEqual(2);
      expect(reconciled[1 - holderIdx]).toBe(0);
      // Shutdown releases the lease; the other instance reconciles from its next tick.
      await instances[holderIdx]?.close();
      const other = 1 - holderIdx;
      const t = Date.now();
      while (
        Date.now() - t < 4000 &&
        (logs[other]?.messages.includes('periodic reconciliation') ?? false) === false
      )
        await sleep(50);
      const after = await tdb.db
        .selectFrom('leases')
        .select('holder')
        .where('name', '=', LEASE_RECONCILE)
        .executeTakeFirst();
      expect(after?.holder).toBe(instances[other]?.holder);
      expect(logs[other]?.messages).toContain('periodic reconciliation');
      record({
        property: 'Periodic work runs on one instance at a time',
        method:
          'Two Settle instances (startSettle) on one database with a 1 s reconciler: only the lease holder reconciles; after it shuts down, the other takes over.',
        figures: {
          instances: 2,
          holderRuns: reconciled[holderIdx] ?? 0,
          otherRunsWhileHeld: reconciled[1 - holderIdx] ?? 0,
          takeoverMs: Date.now() - t,
        },
        held: reconciled[1 - holderIdx] === 0,
      });
    } finally {
      for (const s of instances) await s.close().catch(() => undefined);
    }
  });

  const rateLimitCase = async (redis: boolean) => {
    const budget = 5;
    const requests = scaled(12, 40);
    const env: Record<string, string> = {
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      SETTLE_ADMIN_TOKEN: ADMIN_TOKEN,
      SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
      SETTLE_RATE_LIMIT_PER_MINUTE: String(budget),
      // The client address comes from X-Forwarded-For: a fresh one per run, so runs never share a budget.
      SETTLE_TRUST_PROXY: 'true',
      ...(redis ? { REDIS_URL } : {}),
    };
    const start = () =>
      startSettle({
        env,
        port: 0,
        database: { kind: 'server', url: tdb.url ?? '', poolMax: 5 },
        emulator: { port: 0, timeScale: 0.01 },
        seed: false,
      });
    const instances = [await start(), await start()];
    try {
      const client = `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
      const statuses = await Promise.all(
        Array.from({ length: requests }, async (_, i) => {
          const s = instances[i % instances.length];
          const r = await fetch(`${s?.url ?? ''}/api/sellers/sel_nosuchseller`, {
            headers: { 'x-forwarded-for': client },
          });
          await r.text();
          return r.status;
        }),
      );
      const limited = statuses.filter((s) => s === 429).length;
      const allowed = statuses.length - limited;
      record({
        property: 'Rate limits are shared by every instance',
        method: `Two Settle instances on one database${redis ? ' with REDIS_URL' : ''}, one client sending concurrent requests to both alternately against a budget of ${budget} per minute: the budget is spent once, not once per instance.`,
        figures: { instances: 2, requests, budget, allowed, limited, redis: redis ? 1 : 0 },
        held: allowed === budget,
      });
      expect(allowed).toBe(budget);
      expect(statuses.filter((s) => s !== 429 && s !== 404)).toEqual([]);
      if (!redis) {
        const rows = await tdb.db.selectFrom('rate_limits').selectAll().execute();
        expect(rows.some((r) => r.key.includes(client) && r.count === requests)).toBe(true);
      }
    } finally {
      for (const s of instances) await s.close();
    }
  };

  it('rate limits: two instances share one budget in PostgreSQL', async () => {
    await rateLimitCase(false);
  });

  it.skipIf(!REDIS)('rate limits: two instances share one budget in Redis (REDIS_URL)', async () => {
    await rateLimitCase(true);
  });

  it('a queue worker stopped mid-batch finishes the running job and releases the ones it had not started', async () => {
    const jobs = scaled(5, 20);
    const started: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const worker = new QueueWorker(tdb.db, { batchSize: jobs, pollMs: 20 });
    worker.register(
      'slow',
      async ({ payload }) => {
        started.push(String(payload['n']));
        await gate;
      },
      { transactional: false },
    );
    for (let n = 0; n < jobs; n++)
      await enqueue(tdb.db, { kind: 'slow', dedupeKey: `slow:${n}:${newHolderId()}`, payload: { n } });
    worker.start();
    while (started.length === 0) await sleep(10);
    const stopping = worker.stop();
    release();
    await stopping;
    const rows = await tdb.db.selectFrom('jobs').selectAll().where('kind', '=', 'slow').execute();
    const done = rows.filter((r) => r.status === 'done');
    const queued = rows.filter((r) => r.status === 'queued');
    const running = rows.filter((r) => r.status === 'running');
    expect(started).toHaveLength(1);
    expect(done).toHaveLength(1);
    expect(running).toHaveLength(0);
    expect(queued).toHaveLength(jobs - 1);
    expect(queued.every((r) => r.attempts === 0 && r.locked_until === null)).toBe(true);
    // Another instance's worker picks them up at once (no lease to wait for).
    const other = new QueueWorker(second.db, { batchSize: jobs });
    other.register('slow', async () => undefined, { transactional: false });
    const drained = await other.drain();
    expect(drained.succeeded).toBe(jobs - 1);
    record({
      property: 'Graceful shutdown finishes or releases in-flight work',
      method:
        'A queue worker claims a batch, is stopped while its first job runs: that job completes, the rest go back to queued with the attempt undone, and another worker runs them at once.',
      figures: {
        claimed: jobs,
        ranBeforeStop: done.length,
        released: queued.length,
        leftRunning: running.length,
        runByOtherInstance: drained.succeeded,
      },
      held: running.length === 0 && queued.length === jobs - 1,
    });
  });

  it('SIGTERM with requests in flight: they complete 2xx, the process exits 0, nothing is left running or leased', async () => {
    const emu = await startStripeEmulator({ port: 0, timeScale: 0.01 });
    const child = { db: await freshDb('server') };
    const port = await childPort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const secrets = await registerWebhookEndpoints(stripeClientFor(emu, 'sk_test_shutdown'), publicUrl);
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      PORT: String(port),
      PUBLIC_URL: publicUrl,
      LOG_LEVEL: 'info',
      DATABASE_URL: child.db.url ?? '',
      STRIPE_SECRET_KEY: 'sk_test_shutdown',
      STRIPE_API_BASE: emu.url,
      STRIPE_WEBHOOK_SECRET: secrets.platformSecret,
      STRIPE_CONNECT_WEBHOOK_SECRET: secrets.connectSecret,
      SETTLE_ADMIN_TOKEN: ADMIN_TOKEN,
      SETTLE_RECONCILE_INTERVAL_SECONDS: '1',
      SETTLE_QUEUE_POLL_MS: '25',
      SETTLE_RATE_LIMIT_PER_MINUTE: '0',
    };
    const proc = spawn(process.execPath, [TSX, 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
    try {
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      const post = async <T>(path: string, body: unknown, headers: Record<string, string> = admin) => {
        const r = await fetch(`${publicUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
        return { status: r.status, body: (await r.json()) as T };
      };
      for (let i = 0; ; i++) {
        if (out.includes('Settle is running')) break;
        if (i > 600) throw new Error(`Settle did not start:\n${out}`);
        await sleep(50);
      }
      const seller = await post<{ id: string; accountId: string }>('/api/sellers', {
        name: 'Shutdown Studio',
        email: 'shutdown@example.test',
        chargeType: 'destination',
      });
      expect(seller.status).toBe(201);
      await emu.completeOnboarding(seller.body.accountId);
      await emu.idle();
      const listing = await post<{ id: string }>('/api/listings', {
        sellerId: seller.body.id,
        title: 'Late class',
        currency: 'usd',
        unitAmount: 2500,
      });
      const slot = await post<{ id: string }>(`/api/listings/${listing.body.id}/slots`, {
        startsAt: new Date(Date.now() + 86_400_000).toISOString(),
        capacity: 100,
      });
      expect(slot.status).toBe(201);
      await sleep(1500); // the reconciler's lease is taken
      const leasedBefore = await child.db.db.selectFrom('leases').select('name').execute();

      // Each checkout waits 1.5 s on the provider; SIGTERM arrives while they are all in flight.
      const inFlight = scaled(6, 24);
      emu.faults.set({ apiLatencyMs: 1500, apiLatencyPath: '/v1/checkout/sessions' });
      const answers = Array.from({ length: inFlight }, () =>
        post<{ orderId?: string }>(
          '/api/checkout',
          { slotId: slot.body.id, quantity: 1 },
          { 'content-type': 'application/json' },
        ).catch((err: unknown) => ({ status: -1, body: { error: String(err) } })),
      );
      await sleep(500);
      const signalledAt = Date.now();
      proc.kill('SIGTERM');
      await sleep(200);
      // A new connection is no longer accepted (or answered 503 while closing).
      const late = await fetch(`${publicUrl}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      const results = await Promise.all(answers);
      const code = await exited;
      const shutdownMs = Date.now() - signalledAt;
      const statuses = results.map((r) => r.status);
      const running = await child.db.db
        .selectFrom('jobs')
        .select('id')
        .where('status', '=', 'running')
        .execute();
      const leasedAfter = await child.db.db.selectFrom('leases').select('name').execute();
      const orders = await child.db.db.selectFrom('orders').select(['id', 'provider_session_id']).execute();
      record({
        property: 'Graceful shutdown finishes or releases in-flight work',
        method:
          'A Settle process (src/main.ts, configured mode, PostgreSQL server) gets SIGTERM while checkouts wait 1.5 s on the provider: every request in flight must complete with 2xx, the process must exit 0, no job be left running and no lease held.',
        figures: {
          inFlight,
          completed2xx: statuses.filter((s) => s >= 200 && s < 300).length,
          failed: statuses.filter((s) => s < 200 || s >= 300).length,
          exitCode: code ?? -1,
          jobsLeftRunning: running.length,
          leasesLeft: leasedAfter.length,
          shutdownMs,
        },
        held: code === 0 && statuses.every((s) => s === 201) && running.length === 0,
      });
      expect(statuses, out).toEqual(Array.from({ length: inFlight }, () => 201));
      expect(late === 0 || late === 503).toBe(true);
      expect(code, out).toBe(0);
      expect(out).toContain('shutdown complete');
      expect(running).toEqual([]);
      expect(leasedBefore.map((l) => l.name)).toContain(LEASE_RECONCILE);
      expect(leasedAfter).toEqual([]);
      expect(orders.filter((o) => o.provider_session_id !== null)).toHaveLength(inFlight);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await emu.close();
      await child.db.destroy();
    }
  });
});
