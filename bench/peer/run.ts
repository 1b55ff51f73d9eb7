/**
 * One run of the peer benchmark (issue 14): the same signed `checkout.session.completed` events ingested by Settle
 * (POST /webhooks/stripe) and by `@supabase/stripe-sync-engine` (bench/peer/server.ts), into the same PostgreSQL
 * database, with the same load generator and concurrency. `runPeer()` returns the figures; `formatPeer()` prints them.
 *
 * Order of a run: a fresh database; the standalone emulator and a configured Settle server (as bench/ingest.ts starts
 * them); the market and N paid orders through Settle's API; the events read from the emulator's Events API; the
 * peer's migrations (schema `stripe`, same database; not timed). Then Settle's phase (closed loop, C in flight), its
 * due jobs drained, Settle stopped; then the peer's phase against its own process, the peer stopped. Each phase's
 * database work is read from pg_stat_database (transactions and rows written per event) after its server has
 * exited, so that every backend has flushed its counters.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import Stripe from 'stripe';
import { apiBaseOptions } from '../../src/providers/stripe/client.js';
import { createRequire } from 'node:module';
import type { LoadJob, LoadResult } from '../ingest/loadgen.js';
import {
  completedEvents,
  createListings,
  createSlots,
  paidOrders,
  pool as inPool,
  sign,
  type Delivery,
  type Endpoints,
} from '../ingest/market.js';
import { freePort, nodeArgs, onCleanup, startProc, waitReady, type Proc } from '../ingest/procs.js';

/**
 * The peer's migrations, from its CommonJS build: the ESM build's runMigrations resolves its migrations directory
 * with `__dirname`, which is undefined in an ES module; the ReferenceError is caught and logged by runMigrations
 * itself, so nothing is migrated and nothing is thrown (0.48.5).
 */
const { runMigrations, StripeSync } = createRequire(import.meta.url)(
  '@supabase/stripe-sync-engine',
) as typeof import('@supabase/stripe-sync-engine');

export interface PeerOptions {
  /** Paid orders, i.e. distinct events each side ingests (1000). */
  orders?: number;
  /** Slots the orders are spread over (20). */
  slots?: number;
  /** Requests in flight, closed loop, for both sides (16). */
  concurrency?: number;
  /** Database pool of each server: Settle's DATABASE_POOL_MAX and the peer's pg pool max (default: concurrency). */
  pool?: number;
  /** Settle's LOG_LEVEL (info). */
  logLevel?: string;
  /** Run Settle and the emulator through tsx even when dist/ exists. */
  tsx?: boolean;
  /** The PostgreSQL server (a fresh database is made on it and dropped). */
  databaseUrl?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface DbWork {
  /** Committed + rolled-back transactions in the database during the phase (pg_stat_database). */
  xacts: number;
  /** Rows inserted, updated and deleted. */
  rowsWritten: number;
}

export interface PhaseFigures {
  events: number;
  /** 2xx answers per second of wall time. */
  rate: number;
  p50: number;
  p99: number;
  max: number;
  wallMs: number;
  status: Record<string, number>;
  errors: number;
  db: DbWork;
}

export interface PeerFigures {
  startedAt: string;
  machine: { cores: number; cpuModel: string; memGiB: number; node: string; postgres: string };
  settleMode: string;
  orders: number;
  slots: number;
  concurrency: number;
  pool: number;
  settle: PhaseFigures & { paid: number; jobsDrainedMs: number };
  peer: PhaseFigures & {
    version: string;
    checkoutSessions: number;
    lineItems: number;
    prices: number;
    /**
     * The prices of the line items were upserted into `stripe.prices` before the phase (with the engine's own
     * upsertPrices), because the emulator answered 404 to GET /v1/prices/:id for the sessions' inline prices.
     */
    pricesSeeded: boolean;
    /** Stripe API requests the peer made during its phase, `METHOD /path status` → count. */
    apiCalls: Record<string, number>;
  };
  /** Settle rate ÷ peer rate. */
  ratio: number;
  logDir: string;
}

const pct = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

function phaseOf(n: number, r: LoadResult, db: DbWork): PhaseFigures {
  let ok = 0;
  for (const [k, v] of Object.entries(r.status)) if (k.startsWith('2')) ok += v;
  return {
    events: n,
    rate: (ok / r.wallMs) * 1000,
    p50: pct(r.latencies, 50),
    p99: pct(r.latencies, 99),
    max: r.latencies[r.latencies.length - 1] ?? 0,
    wallMs: r.wallMs,
    status: r.status,
    errors: r.errors,
    db,
  };
}

async function dbCounters(admin: pg.Client, dbName: string): Promise<DbWork> {
  await admin.query('select pg_stat_clear_snapshot()');
  const r = await admin.query<{ x: string; w: string }>(
    `select (xact_commit + xact_rollback)::text as x, (tup_inserted + tup_updated + tup_deleted)::text as w
       from pg_stat_database where datname = $1`,
    [dbName],
  );
  return { xacts: Number(r.rows[0]?.x ?? 0), rowsWritten: Number(r.rows[0]?.w ?? 0) };
}

const minus = (a: DbWork, b: DbWork): DbWork => ({
  xacts: a.xacts - b.xacts,
  rowsWritten: a.rowsWritten - b.rowsWritten,
});

/** Runs the load generator (bench/ingest/loadgen.ts) in its own process: closed loop, `concurrency` in flight. */
async function loadgen(
  dir: string,
  url: string,
  deliveries: Delivery[],
  concurrency: number,
): Promise<LoadResult> {
  const stamp = `${Date.now()}-${randomBytes(3).toString('hex')}`;
  const jobFile = join(dir, `job-${stamp}.json`);
  const outFile = join(dir, `loadgen-${stamp}.out`);
  const job: LoadJob = { url, deliveries, concurrency, rate: 0, timeoutMs: 60_000 };
  writeFileSync(jobFile, JSON.stringify(job));
  const lg = startProc('loadgen', [...nodeArgs('bench/ingest/loadgen.ts', false).args, jobFile], {}, outFile);
  const code = await lg.exited;
  await lg.stop();
  const lines = readFileSync(outFile, 'utf8').trim().split('\n');
  if (code !== 0)
    throw new Error(`load generator exited ${code}: ${lines.slice(-5).join('\n').slice(0, 500)}`);
  return JSON.parse(lines[lines.length - 1] ?? '{}') as LoadResult;
}

function peerVersion(): string {
  try {
    const p = JSON.parse(
      readFileSync(join('node_modules', '@supabase', 'stripe-sync-engine', 'package.json'), 'utf8'),
    ) as { version?: string };
    return p.version ?? '?';
  } catch {
    return '?';
  }
}

/** The engine, as the peer's server configures it, with its Stripe client pointed at `apiBase`. */
function engineAt(
  databaseUrl: string,
  stripeKey: string,
  webhookSecret: string,
  apiBase: string,
  poolMax: number,
) {
  const sync = new StripeSync({
    poolConfig: { connectionString: databaseUrl, max: poolMax },
    schema: 'stripe',
    stripeSecretKey: stripeKey,
    stripeWebhookSecret: webhookSecret,
  });
  sync.stripe = new Stripe(stripeKey, {
    ...apiBaseOptions(apiBase),
    appInfo: { name: 'Stripe Postgres Sync' },
    telemetry: false,
  });
  return sync;
}

/**
 * If the emulator answers 404 for the first session's line-item price, reads every session's line items and upserts
 * their prices with the engine's upsertPrices. Returns whether it did.
 */
async function seedPricesIfMissing(
  databaseUrl: string,
  e: Endpoints,
  sessionIds: readonly string[],
): Promise<boolean> {
  const sync = engineAt(databaseUrl, e.stripeKey, 'whsec_unused', e.emulator, 4);
  try {
    const lineItemsOf = async (id: string): Promise<Stripe.LineItem[]> => {
      const items: Stripe.LineItem[] = [];
      for await (const li of sync.stripe.checkout.sessions.listLineItems(id, { limit: 100 })) items.push(li);
      return items;
    };
    const first = (await lineItemsOf(sessionIds[0] ?? ''))[0]?.price?.id;
    if (first === undefined) return false;
    try {
      await sync.stripe.prices.retrieve(first);
      return false;
    } catch (err) {
      if (!(err instanceof Stripe.errors.StripeError) || err.statusCode !== 404) throw err;
    }
    const items = (await inPool(sessionIds, 8, lineItemsOf)).flat();
    const prices = items.flatMap((li) => (li.price ? [li.price] : []));
    await sync.upsertPrices(prices, false);
    return true;
  } finally {
    await sync.close();
  }
}

export async function runPeer(opts: PeerOptions = {}): Promise<PeerFigures> {
  const N = Math.max(1, Math.floor(opts.orders ?? 1000));
  const S = Math.max(1, Math.floor(opts.slots ?? 20));
  const C = Math.max(1, Math.floor(opts.concurrency ?? 16));
  const POOL = Math.max(1, Math.floor(opts.pool ?? C));
  const databaseUrl =
    opts.databaseUrl ?? process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const log = opts.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'settle-peer-'));

  // Everything made here is undone in `finally`, last first (and at exit or Ctrl-C through procs.ts).
  const undo: (() => Promise<void>)[] = [];
  const procs: Proc[] = [];
  try {
    const adminPg = new pg.Client({ connectionString: databaseUrl });
    await adminPg.connect();
    undo.push(onCleanup('peer admin connection', () => adminPg.end()));
    const pgVersion = (await adminPg.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?';

    const dbName = `settle_peer_${randomBytes(4).toString('hex')}`;
    await adminPg.query(`CREATE DATABASE ${dbName}`);
    undo.push(
      onCleanup(`database ${dbName}`, async () => {
        await adminPg.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      }),
    );
    const dbUrl = new URL(databaseUrl);
    dbUrl.pathname = `/${dbName}`;

    const settleArgs = nodeArgs('src/main.ts', !opts.tsx);
    const emuArgs = nodeArgs('src/cli/emulator.ts', !opts.tsx);

    // The emulator and Settle, each in its own process, configured as bench/ingest.ts configures them.
    const emuPort = await freePort();
    const emuLog = join(dir, 'emulator.log');
    const emu = startProc(
      'emulator',
      [...emuArgs.args, '--port', String(emuPort), '--time-scale', '1'],
      { LOG_LEVEL: 'warn' },
      emuLog,
    );
    procs.push(emu);
    const emulatorUrl = `http://127.0.0.1:${emuPort}`;
    await waitReady(emu, `${emulatorUrl}/_emulator/clock`, emuLog);

    const settleSecret = `whsec_${randomBytes(24).toString('base64url')}`;
    const peerSecret = `whsec_${randomBytes(24).toString('base64url')}`;
    const e: Endpoints = {
      settle: '',
      emulator: emulatorUrl,
      adminToken: randomBytes(24).toString('hex'),
      stripeKey: `sk_test_bench${randomBytes(8).toString('hex')}`,
    };
    const settlePort = await freePort();
    const settleLog = join(dir, 'settle.log');
    const settle = startProc(
      'settle',
      settleArgs.args,
      {
        NODE_ENV: 'production',
        PORT: String(settlePort),
        HOST: '127.0.0.1',
        LOG_LEVEL: opts.logLevel ?? 'info',
        DATABASE_URL: dbUrl.toString(),
        DATABASE_POOL_MAX: String(POOL),
        STRIPE_SECRET_KEY: e.stripeKey,
        STRIPE_API_BASE: emulatorUrl,
        STRIPE_WEBHOOK_SECRET: settleSecret,
        STRIPE_CONNECT_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64url')}`,
        SETTLE_ADMIN_TOKEN: e.adminToken,
        SETTLE_RATE_LIMIT_PER_MINUTE: '0',
        // Reconciliation would read the undelivered events from the emulator and confirm the orders itself.
        SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
      },
      settleLog,
    );
    procs.push(settle);
    e.settle = `http://127.0.0.1:${settlePort}`;
    await waitReady(settle, `${e.settle}/healthz`, settleLog);

    const db = new pg.Client({ connectionString: dbUrl.toString() });
    await db.connect();
    undo.push(onCleanup('peer benchmark db connection', () => db.end()));

    // The market and the events (not timed).
    const t0 = Date.now();
    const listings = await createListings(e, 4);
    const slots = await createSlots(e, listings, S, Math.ceil(N / S) + 10);
    const orders = await paidOrders(e, slots, N);
    const bodies = await completedEvents(e, orders);
    log(
      `market: ${N} paid orders over ${S} slots in ${((Date.now() - t0) / 1000).toFixed(0)} s; logs in ${dir}`,
    );

    // The peer's schema, in the same database (not timed). runMigrations logs and swallows its errors: check.
    await runMigrations({ databaseUrl: dbUrl.toString(), schema: 'stripe' });
    const migrated = await db.query<{ t: string | null }>(
      `select to_regclass('stripe.checkout_sessions')::text as t`,
    );
    if (!migrated.rows[0]?.t) throw new Error('the peer migrations did not create stripe.checkout_sessions');

    // Each session's line item has an inline price (price_data); the peer reads it with GET /v1/prices/:id unless it
    // is already in stripe.prices. Stripe serves inline prices by id; where the emulator does not, they are put in
    // stripe.prices beforehand, through the engine's own upsertPrices (not timed), so the peer's phase succeeds.
    const pricesSeeded = await seedPricesIfMissing(
      dbUrl.toString(),
      e,
      orders.map((o) => o.sessionId),
    );
    if (pricesSeeded)
      log('peer: the emulator does not serve inline prices by id; stripe.prices seeded beforehand');

    // Settle: verify → inbox → the session re-read from the emulator → confirmPayment() → jobs → 200.
    let before = await dbCounters(adminPg, dbName);
    const settleResult = await loadgen(dir, `${e.settle}/webhooks/stripe`, sign(bodies, settleSecret), C);
    const paid =
      (
        await db.query<{ n: number }>(
          `select count(*)::int as n from orders where id = any($1) and status = 'paid'`,
          [orders.map((o) => o.orderId)],
        )
      ).rows[0]?.n ?? 0;
    // Settle's jobs of these confirmations run after the 200; they are its work too: wait for the due ones.
    const drainStart = Date.now();
    while (Date.now() - drainStart < 30_000) {
      const q = await db.query<{ n: number }>(
        `select count(*)::int as n from jobs where status in ('queued','running') and run_at <= now()`,
      );
      if ((q.rows[0]?.n ?? 0) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const jobsDrainedMs = Date.now() - drainStart;
    await settle.stop();
    const settleDb = minus(await dbCounters(adminPg, dbName), before);
    const settleFig = { ...phaseOf(N, settleResult, settleDb), paid, jobsDrainedMs };
    log(`settle: ${settleFig.rate.toFixed(0)}/s, paid ${paid}/${N}`);

    // The peer, in its own process, the same events signed with its own secret.
    const peerPort = await freePort();
    const peerLog = join(dir, 'peer.log');
    const peer = startProc(
      'peer',
      [...nodeArgs('bench/peer/server.ts', false).args],
      {
        NODE_ENV: 'production',
        PORT: String(peerPort),
        DATABASE_URL: dbUrl.toString(),
        PEER_POOL_MAX: String(POOL),
        STRIPE_SECRET_KEY: e.stripeKey,
        STRIPE_WEBHOOK_SECRET: peerSecret,
        STRIPE_API_BASE: emulatorUrl,
      },
      peerLog,
    );
    procs.push(peer);
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    await waitReady(peer, `${peerUrl}/healthz`, peerLog);
    before = await dbCounters(adminPg, dbName);
    const peerResult = await loadgen(dir, `${peerUrl}/webhooks/stripe`, sign(bodies, peerSecret), C);
    const stats = (await (await fetch(`${peerUrl}/stats`)).json()) as { apiCalls: Record<string, number> };
    await peer.stop();
    const peerDb = minus(await dbCounters(adminPg, dbName), before);
    const sessionIds = orders.map((o) => o.sessionId);
    const count = async (sql: string, params: unknown[] = [sessionIds]): Promise<number> =>
      (await db.query<{ n: number }>(sql, params)).rows[0]?.n ?? 0;
    const checkoutSessions = await count(
      `select count(*)::int as n from stripe.checkout_sessions where id = any($1)`,
    );
    const lineItems = await count(
      `select count(*)::int as n from stripe.checkout_session_line_items where checkout_session = any($1)`,
    );
    const prices = await count(`select count(*)::int as n from stripe.prices`, []);
    const peerFig = {
      ...phaseOf(N, peerResult, peerDb),
      version: peerVersion(),
      checkoutSessions,
      lineItems,
      prices,
      pricesSeeded,
      apiCalls: stats.apiCalls,
    };
    log(`peer: ${peerFig.rate.toFixed(0)}/s, checkout_sessions ${checkoutSessions}/${N}`);

    return {
      startedAt: new Date(t0).toISOString(),
      machine: {
        cores: cpus().length,
        cpuModel: cpus()[0]?.model ?? '?',
        memGiB: totalmem() / 2 ** 30,
        node: process.version,
        postgres: pgVersion.split(' on ')[0] ?? pgVersion,
      },
      settleMode: settleArgs.compiled ? 'compiled (node dist/src/main.js)' : 'tsx src/main.ts',
      orders: N,
      slots: S,
      concurrency: C,
      pool: POOL,
      settle: settleFig,
      peer: peerFig,
      ratio: peerFig.rate > 0 ? settleFig.rate / peerFig.rate : Number.NaN,
      logDir: dir,
    };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (err) {
        process.stderr.write(`peer cleanup: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}

/** The figures as printed lines: the machine, then one table with both sides. */
export function formatPeer(f: PeerFigures): string[] {
  const f0 = (x: number) => x.toFixed(0);
  const f1 = (x: number) => x.toFixed(1);
  const f2 = (x: number) => x.toFixed(2);
  const codes = (s: Record<string, number>, errors: number) =>
    [...Object.entries(s).map(([k, v]) => `${k}×${v}`), ...(errors ? [`errors×${errors}`] : [])].join(' ');
  const perEvent = (x: number) => f2(x / f.orders);
  const api = Object.entries(f.peer.apiCalls)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ×${v} (${perEvent(v)}/event)`);
  const row = (a: string, b: string, c: string) => `${a.padEnd(26)} ${b.padStart(22)}  ${c.padStart(22)}`;
  return [
    `Peer ingest benchmark — ${f.startedAt}`,
    `machine: ${f.machine.cores} cores (${f.machine.cpuModel}), ${f0(f.machine.memGiB)} GiB, node ${f.machine.node}`,
    `postgres: ${f.machine.postgres}`,
    `settle: ${f.settleMode}; peer: @supabase/stripe-sync-engine ${f.peer.version} (tsx bench/peer/server.ts)`,
    `${f.orders} distinct checkout.session.completed events (orders over ${f.slots} slots), closed loop, concurrency ${f.concurrency}, pool ${f.pool} each; one database; logs in ${f.logDir}`,
    '',
    row('', 'Settle', 'stripe-sync-engine'),
    row('rate (2xx/s)', f0(f.settle.rate), f0(f.peer.rate)),
    row('p50 ms', f1(f.settle.p50), f1(f.peer.p50)),
    row('p99 ms', f1(f.settle.p99), f1(f.peer.p99)),
    row('max ms', f1(f.settle.max), f1(f.peer.max)),
    row('answers', codes(f.settle.status, f.settle.errors), codes(f.peer.status, f.peer.errors)),
    row('outcome', `paid ${f.settle.paid}/${f.orders}`, `sessions ${f.peer.checkoutSessions}/${f.orders}`),
    row('transactions / event', perEvent(f.settle.db.xacts), perEvent(f.peer.db.xacts)),
    row('rows written / event', perEvent(f.settle.db.rowsWritten), perEvent(f.peer.db.rowsWritten)),
    '',
    `Settle ÷ peer: ${f2(f.ratio)}× (${f0(f.settle.rate)}/s ÷ ${f0(f.peer.rate)}/s)`,
    '',
    `Settle per event: verify the signature, inbox insert (webhook_events), re-read the session from the emulator`,
    `  (GET /v1/checkout/sessions/:id), confirmPayment() with the slot's inventory, 3 jobs queued and then run by its`,
    `  worker (counted above: due jobs drained ${f.settle.jobsDrainedMs} ms after the last answer, before Settle stopped).`,
    `Peer per event: verify the signature (constructEventAsync), upsert the session from the event's own data`,
    `  (stripe.checkout_sessions, timestamp-protected ON CONFLICT), list its line items from the emulator, look up`,
    `  their prices (select in stripe.prices; each missing price fetched and upserted), upsert the line items;`,
    `  autocommit statements, no transaction. Rows: line items ${f.peer.lineItems}, prices ${f.peer.prices}.`,
    ...(f.peer.pricesSeeded
      ? [
          `  The emulator answers 404 to GET /v1/prices/:id for a session's inline (price_data) price, which Stripe`,
          `  serves: the prices were put in stripe.prices before the phase, so the peer found them and did not fetch them.`,
        ]
      : []),
    `  Its Stripe API requests: ${api.length ? api.join('; ') : 'none'}.`,
  ];
}
