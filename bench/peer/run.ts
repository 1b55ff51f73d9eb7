/**
 * One run of the peer benchmark (issue 14): the same signed `checkout.session.completed` events ingested by Settle
 * (POST /webhooks/stripe) and by `@supabase/stripe-sync-engine` (bench/peer/server.ts), into the same PostgreSQL
 * database, with the same load generator and concurrency. `runPeer()` returns the figures; `formatPeer()` prints them.
 *
 * A run: a fresh database; the standalone emulator for the whole run; a first Settle server, configured as
 * bench/ingest.ts configures it, for the market and N paid orders through Settle's API, then stopped; the events read
 * from the emulator's Events API; the peer's migrations (schema `stripe`, same database). None of that is timed.
 * Then the two phases, Settle's first unless `order` says otherwise. Each starts its server fresh with nothing else
 * connected to the database, sends the N events (closed loop, C in flight) and stops the server; Settle's phase
 * waits for its due jobs before stopping it. The database work of a phase (transactions and rows written per
 * event) is the difference of pg_stat_database's counters, read with no backend connected before the server starts
 * and after it has stopped, less the benchmark's own statements (it includes the server's start-up and, for both,
 * any autovacuum in that window). With `rounds` > 1 every round has its own N orders and the order alternates.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import Stripe from 'stripe';
import { apiBaseOptions } from '../../src/providers/stripe/client.js';
import { createRequire } from 'node:module';
import type { LoadResult } from '../ingest/loadgen.js';
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
import {
  benchEndpoints,
  freePort,
  nodeArgs,
  onCleanup,
  runLoadgen,
  settleServerEnv,
  startProc,
  startStripeEmulatorProc,
  waitReady,
  type Proc,
} from '../ingest/procs.js';

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
  /** Settle's LOG_LEVEL and the peer engine's logger level (info). */
  logLevel?: string;
  /** Run Settle and the emulator through tsx even when dist/ exists. */
  tsx?: boolean;
  /** The PostgreSQL server (a fresh database is made on it and dropped). */
  databaseUrl?: string;
  /** Which side ingests first (settle-first). The first side's server is stopped before the second's phase. */
  order?: 'settle-first' | 'peer-first';
  /**
   * Have the peer re-read each session from the emulator (revalidateObjectsViaStripeApi: ['checkout.session'], a
   * value its 0.48.5 type does not list but its code honours), as Settle does (false).
   */
  peerRevalidate?: boolean;
  /**
   * Rounds (1): each round ingests its own N orders on both sides, the order alternating from round to round; the
   * figures reported are each side's median-rate round (on a shared machine, drift hits both sides alike).
   */
  rounds?: number;
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

/** `jobs`: rows added to Settle's jobs table during its phase; `jobsDrainedMs`: from its last answer until none due. */
export interface SettlePhase extends PhaseFigures {
  paid: number;
  jobs: number;
  jobsDrainedMs: number;
}

export interface PeerPhase extends PhaseFigures {
  /** Stripe API requests the peer made during its phase, `METHOD /path status` → count. */
  apiCalls: Record<string, number>;
}

export interface PeerFigures {
  startedAt: string;
  machine: { cores: number; cpuModel: string; memGiB: number; node: string; postgres: string };
  settleMode: string;
  orders: number;
  slots: number;
  concurrency: number;
  pool: number;
  /** Settle's median-rate round (the only one when rounds = 1). */
  settle: SettlePhase;
  /** The peer's median-rate round, and what it wrote over all rounds. */
  peer: PeerPhase & {
    version: string;
    checkoutSessions: number;
    lineItems: number;
    prices: number;
    /**
     * The prices of the line items were upserted into `stripe.prices` before the phase (with the engine's own
     * upsertPrices), because the emulator answered 404 to GET /v1/prices/:id for the sessions' inline prices.
     */
    pricesSeeded: boolean;
    /** The peer re-read each session from the emulator (revalidateObjectsViaStripeApi). */
    revalidate: boolean;
  };
  /** Settle's median rate ÷ the peer's median rate. */
  ratio: number;
  rounds: { first: 'settle' | 'peer'; settle: SettlePhase; peer: PeerPhase }[];
  order: 'settle-first' | 'peer-first';
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
  return runLoadgen(dir, { url, deliveries, concurrency, rate: 0, timeoutMs: 60_000 });
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

/** A connection for the benchmark's own reads during a phase, counting its statements (each one transaction). */
async function openCounted(url: string) {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  let n = 0;
  return {
    query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]) {
      n++;
      return c.query<R>(sql, params);
    },
    get statements() {
      return n;
    },
    end: () => c.end(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * pg_stat_database's counters once no backend is connected to the database and they have stopped moving: a backend
 * flushes its counters when it exits (and otherwise only now and then), and leaves pg_stat_activity just before.
 */
async function settledCounters(admin: pg.Client, dbName: string): Promise<DbWork> {
  for (let i = 0; i < 200; i++) {
    const r = await admin.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = $1`,
      [dbName],
    );
    if ((r.rows[0]?.n ?? 0) === 0) break;
    await sleep(50);
  }
  let prev = await dbCounters(admin, dbName);
  for (let i = 0; i < 20; i++) {
    await sleep(200);
    const cur = await dbCounters(admin, dbName);
    if (cur.xacts === prev.xacts && cur.rowsWritten === prev.rowsWritten) return cur;
    prev = cur;
  }
  return prev;
}

export async function runPeer(opts: PeerOptions = {}): Promise<PeerFigures> {
  const N = Math.max(1, Math.floor(opts.orders ?? 1000));
  const S = Math.max(1, Math.floor(opts.slots ?? 20));
  const C = Math.max(1, Math.floor(opts.concurrency ?? 16));
  const POOL = Math.max(1, Math.floor(opts.pool ?? C));
  const databaseUrl =
    opts.databaseUrl ?? process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const log = opts.log ?? (() => {});
  const order = opts.order ?? 'settle-first';
  const R = Math.max(1, Math.floor(opts.rounds ?? 1));
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

    // The emulator, in its own process for the whole run, as bench/ingest.ts starts it.
    const { proc: emu, url: emulatorUrl } = await startStripeEmulatorProc({ dir, tsx: !emuArgs.compiled });
    procs.push(emu);

    const settleSecret = `whsec_${randomBytes(24).toString('base64url')}`;
    const peerSecret = `whsec_${randomBytes(24).toString('base64url')}`;
    const connectSecret = `whsec_${randomBytes(24).toString('base64url')}`;
    const e: Endpoints = benchEndpoints(emulatorUrl);
    const settlePort = await freePort();
    e.settle = `http://127.0.0.1:${settlePort}`;

    /** A Settle server on the run's database, configured as bench/ingest.ts configures it; ready when returned. */
    const startSettle = async (label: string): Promise<Proc> => {
      const settleLog = join(dir, `settle-${label}.log`);
      const proc = startProc(
        'settle',
        settleArgs.args,
        settleServerEnv({
          port: settlePort,
          logLevel: opts.logLevel ?? 'info',
          database: { DATABASE_URL: dbUrl.toString(), DATABASE_POOL_MAX: String(POOL) },
          stripeKey: e.stripeKey,
          stripeApiBase: emulatorUrl,
          webhookSecret: settleSecret,
          connectSecret,
          adminToken: e.adminToken,
        }),
        settleLog,
      );
      procs.push(proc);
      await waitReady(proc, `${e.settle}/healthz`, settleLog);
      return proc;
    };

    // The market and the events, through a first Settle process (not timed).
    const t0 = Date.now();
    const marketSettle = await startSettle('market');
    const listings = await createListings(e, 4);
    const slots = await createSlots(e, listings, S, Math.ceil((N * R) / S) + 10);
    const orders = await paidOrders(e, slots, N * R);
    const bodies = await completedEvents(e, orders);
    await marketSettle.stop();
    log(
      `market: ${N * R} paid orders over ${S} slots in ${((Date.now() - t0) / 1000).toFixed(0)} s; logs in ${dir}`,
    );
    const sessionIds = orders.map((o) => o.sessionId);

    // The peer's schema, in the same database (not timed). runMigrations logs and swallows its errors: check.
    await runMigrations({ databaseUrl: dbUrl.toString(), schema: 'stripe' });
    {
      const own = await openCounted(dbUrl.toString());
      const migrated = await own.query<{ t: string | null }>(
        `select to_regclass('stripe.checkout_sessions')::text as t`,
      );
      await own.end();
      if (!migrated.rows[0]?.t)
        throw new Error('the peer migrations did not create stripe.checkout_sessions');
    }

    // Each session's line item has an inline price (price_data); the peer reads it with GET /v1/prices/:id unless it
    // is already in stripe.prices. Stripe serves inline prices by id; where the emulator does not, they are put in
    // stripe.prices beforehand, through the engine's own upsertPrices (not timed), so the peer's phase succeeds.
    const pricesSeeded = await seedPricesIfMissing(dbUrl.toString(), e, sessionIds);
    if (pricesSeeded)
      log('peer: the emulator does not serve inline prices by id; stripe.prices seeded beforehand');

    // Each phase starts its server fresh, with nothing else connected to the database, and stops it at the end;
    // the database counters are read before the start and after the stop, less the benchmark's own statements.

    // Settle: verify → inbox → the session re-read from the emulator → confirmPayment() → jobs → 200.
    const settlePhase = async (round: number): Promise<SettlePhase> => {
      const roundOrders = orders.slice(round * N, (round + 1) * N);
      const roundBodies = bodies.slice(round * N, (round + 1) * N);
      const before = await settledCounters(adminPg, dbName);
      const settle = await startSettle(`round${round + 1}`);
      const own = await openCounted(dbUrl.toString());
      const jobCount = async () =>
        (await own.query<{ n: number }>(`select count(*)::int as n from jobs`)).rows[0]?.n ?? 0;
      const jobsBefore = await jobCount();
      await sleep(1000);
      const result = await loadgen(dir, `${e.settle}/webhooks/stripe`, sign(roundBodies, settleSecret), C);
      const paid =
        (
          await own.query<{ n: number }>(
            `select count(*)::int as n from orders where id = any($1) and status = 'paid'`,
            [roundOrders.map((o) => o.orderId)],
          )
        ).rows[0]?.n ?? 0;
      // Settle's jobs of these confirmations run after the 200; they are its work too: wait for the due ones.
      const drainStart = Date.now();
      while (Date.now() - drainStart < 30_000) {
        const q = await own.query<{ n: number }>(
          `select count(*)::int as n from jobs where status in ('queued','running') and run_at <= now()`,
        );
        if ((q.rows[0]?.n ?? 0) === 0) break;
        await sleep(100);
      }
      const jobsDrainedMs = Date.now() - drainStart;
      const jobs = (await jobCount()) - jobsBefore;
      await own.end();
      await settle.stop();
      const after = await settledCounters(adminPg, dbName);
      const work = minus(after, before);
      work.xacts -= own.statements;
      const fig = { ...phaseOf(N, result, work), paid, jobs, jobsDrainedMs };
      log(`round ${round + 1}, settle: ${fig.rate.toFixed(0)}/s, paid ${paid}/${N}`);
      return fig;
    };

    // The peer, in its own process, the same events signed with its own secret.
    const peerPhase = async (round: number): Promise<PeerPhase> => {
      const roundBodies = bodies.slice(round * N, (round + 1) * N);
      const before = await settledCounters(adminPg, dbName);
      const peerPort = await freePort();
      const peerLog = join(dir, `peer-round${round + 1}.log`);
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
          PEER_REVALIDATE: opts.peerRevalidate ? 'checkout.session' : '',
          LOG_LEVEL: opts.logLevel ?? 'info',
        },
        peerLog,
      );
      procs.push(peer);
      const peerUrl = `http://127.0.0.1:${peerPort}`;
      await waitReady(peer, `${peerUrl}/healthz`, peerLog);
      await sleep(1000);
      const result = await loadgen(dir, `${peerUrl}/webhooks/stripe`, sign(roundBodies, peerSecret), C);
      const stats = (await (await fetch(`${peerUrl}/stats`)).json()) as { apiCalls: Record<string, number> };
      await peer.stop();
      const after = await settledCounters(adminPg, dbName);
      const fig = { ...phaseOf(N, result, minus(after, before)), apiCalls: stats.apiCalls };
      log(`round ${round + 1}, peer: ${fig.rate.toFixed(0)}/s`);
      return fig;
    };

    const rounds: PeerFigures['rounds'] = [];
    for (let r = 0; r < R; r++) {
      const first = (order === 'peer-first') === (r % 2 === 0) ? 'peer' : 'settle';
      if (first === 'peer') {
        const peer = await peerPhase(r);
        rounds.push({ first, peer, settle: await settlePhase(r) });
      } else {
        const settle = await settlePhase(r);
        rounds.push({ first, settle, peer: await peerPhase(r) });
      }
    }
    const median = <T extends PhaseFigures>(xs: T[]): T =>
      [...xs].sort((a, b) => a.rate - b.rate)[Math.floor((xs.length - 1) / 2)]!;
    const settleFig = median(rounds.map((x) => x.settle));
    const peerRun = median(rounds.map((x) => x.peer));

    const own = await openCounted(dbUrl.toString());
    const count = async (sql: string, params: unknown[] = [sessionIds]): Promise<number> =>
      (await own.query<{ n: number }>(sql, params)).rows[0]?.n ?? 0;
    const checkoutSessions = await count(
      `select count(*)::int as n from stripe.checkout_sessions where id = any($1)`,
    );
    const lineItems = await count(
      `select count(*)::int as n from stripe.checkout_session_line_items where checkout_session = any($1)`,
    );
    const prices = await count(`select count(*)::int as n from stripe.prices`, []);
    await own.end();
    const peerFig = {
      ...peerRun,
      version: peerVersion(),
      checkoutSessions,
      lineItems,
      prices,
      pricesSeeded,
      revalidate: opts.peerRevalidate ?? false,
    };

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
      order,
      rounds,
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
    `${f.orders} distinct checkout.session.completed events (orders over ${f.slots} slots), closed loop, concurrency ${f.concurrency}, pool ${f.pool} each; one database; ${f.rounds.length > 1 ? `${f.rounds.length} rounds of ${f.orders} each, alternating, ${f.order.replace('-first', '')} first in round 1` : f.order}; logs in ${f.logDir}`,
    '',
    row('', 'Settle', 'stripe-sync-engine'),
    row('rate (2xx/s)', f0(f.settle.rate), f0(f.peer.rate)),
    row(
      'incl. deferred jobs (/s)',
      f0((f.settle.events / (f.settle.wallMs + f.settle.jobsDrainedMs)) * 1000),
      `${f0(f.peer.rate)} (none)`,
    ),
    row('p50 ms', f1(f.settle.p50), f1(f.peer.p50)),
    row('p99 ms', f1(f.settle.p99), f1(f.peer.p99)),
    row('max ms', f1(f.settle.max), f1(f.peer.max)),
    row('answers', codes(f.settle.status, f.settle.errors), codes(f.peer.status, f.peer.errors)),
    row(
      'outcome',
      `paid ${f.settle.paid}/${f.orders}`,
      `sessions ${f.peer.checkoutSessions}/${f.orders * f.rounds.length}`,
    ),
    row('transactions / event', perEvent(f.settle.db.xacts), perEvent(f.peer.db.xacts)),
    row('rows written / event', perEvent(f.settle.db.rowsWritten), perEvent(f.peer.db.rowsWritten)),
    '',
    `Settle ÷ peer: ${f2(f.ratio)}× (${f0(f.settle.rate)}/s ÷ ${f0(f.peer.rate)}/s)${f.rounds.length > 1 ? ', medians of the rounds' : ''}`,
    ...(f.rounds.length > 1
      ? f.rounds.map(
          (r, i) =>
            `  round ${i + 1} (${r.first} first): Settle ${f0(r.settle.rate)}/s (p99 ${f1(r.settle.p99)} ms), peer ${f0(r.peer.rate)}/s (p99 ${f1(r.peer.p99)} ms), ÷ ${f2(r.peer.rate > 0 ? r.settle.rate / r.peer.rate : Number.NaN)}`,
        )
      : []),
    '',
    `Settle per event: verify the signature, inbox insert (webhook_events), re-read the session from the emulator`,
    `  (GET /v1/checkout/sessions/:id), confirmPayment() with the slot's inventory, jobs queued (${perEvent(f.settle.jobs)}/event)`,
    `  and run by its worker; counted above: the due jobs were drained ${f.settle.jobsDrainedMs} ms after the last answer.`,
    `Peer per event: verify the signature (constructEventAsync), ${f.peer.revalidate ? 're-read the session from the emulator (revalidation on), upsert it' : "upsert the session from the event's own copy"}`,
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
