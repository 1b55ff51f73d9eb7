/**
 * One provider's ingest run (issue 14, PayPal and Square): a fresh database on the PostgreSQL server, the Stripe
 * emulator (Settle's first provider: POST /api/sellers creates each seller's Stripe account), the provider's
 * standalone emulator and a configured Settle server, each in its own process; a market made through Settle's API;
 * orders paid at the emulator whose confirming events were not delivered to Settle; then the load generator (own
 * process) POSTs them, signed as the provider signs them, to /webhooks/<provider>: verify → inbox → re-read from the
 * provider → confirmPayment() → jobs → 200. Closed loop at C in flight (the maximum rate), an open loop at a share of
 * that rate, and a duplicate storm. Everything it starts is stopped and the database dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { LoadJob, LoadResult } from '../ingest/loadgen.js';
import { paidCount, pool } from '../ingest/market.js';
import {
  freePort,
  nodeArgs,
  onCleanup,
  runLoadgen,
  startProc,
  startStripeEmulatorProc,
  waitReady,
} from '../ingest/procs.js';
import {
  adminCall,
  json,
  type HeaderDelivery,
  type PaidOrder,
  type ProviderDriver,
  type ProviderName,
  type RunCtx,
} from './driver.js';
import { paypalDriver } from './paypal.js';
import { squareDriver } from './square.js';

export interface ProviderIngestOptions {
  provider: ProviderName;
  /** Deliveries (distinct paid orders) in the closed-loop run. */
  orders: number;
  /** Slots the orders are spread over. */
  slots: number;
  /** Requests in flight in the closed loop. */
  concurrency: number;
  /** Sellers the slots belong to (default 4). */
  sellers?: number;
  /** Open-loop rate in % of the measured maximum (default 50; 0 skips it). */
  openLoopPct?: number;
  /** Copies of one event sent at once (default 200; 0 skips it). */
  storm?: number;
  /** Settle's DATABASE_POOL_MAX (default the concurrency). */
  poolMax?: number;
  /** Settle's LOG_LEVEL (default info, as in production). */
  logLevel?: string;
  /** Run Settle and the emulators through tsx even when dist/ exists. */
  tsx?: boolean;
  /** The PostgreSQL server (a database is created on it and dropped). */
  databaseUrl?: string;
  /** Progress lines (default: none). */
  print?: (line: string) => void;
}

export interface PhaseFigures {
  label: string;
  events: number;
  /** Offered rate of an open loop (events/s); null for the closed loop. */
  offered: number | null;
  /** 2xx answers per second of wall time. */
  rate: number;
  p50: number;
  p99: number;
  maxMs: number;
  /** Orders of the phase paid in the database afterwards. */
  paid: number;
  status: Record<string, number>;
  errors: number;
  /** Jobs queued or running (not yet done) when the load generator finished: the queue worker's backlog. */
  jobsBacklog: number;
}

export interface StormFigures {
  copies: number;
  wallMs: number;
  p50: number;
  p99: number;
  status: Record<string, number>;
  errors: number;
  /** order_events with to_status 'paid' for the order (goal 1). */
  fulfilments: number;
}

export interface ProviderFigures {
  provider: ProviderName;
  event: string;
  verification: string;
  settle: 'compiled' | 'tsx';
  orders: number;
  slots: number;
  concurrency: number;
  poolMax: number;
  marketSeconds: number;
  max: PhaseFigures;
  open: PhaseFigures | null;
  storm: StormFigures | null;
  /** Requests the emulator answered during the closed-loop run, per delivery, by method and route. */
  apiCallsPerEvent: Record<string, number>;
  /** Requests the emulator answered during the storm, per copy, by method and route. */
  apiCallsPerStormCopy: Record<string, number>;
  /**
   * Per table, during the closed-loop run, per delivery: scans started (sequential + index, a nested loop's rescans
   * included), rows read (seq_tup_read + idx_tup_fetch) and rows written (inserted + updated + deleted).
   */
  tablesPerEvent: TableStat[];
  logDir: string;
}

const DRIVERS: Record<ProviderName, () => ProviderDriver> = { paypal: paypalDriver, square: squareDriver };

export const pct = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

const okCount = (r: LoadResult): number =>
  Object.entries(r.status)
    .filter(([k]) => k.startsWith('2'))
    .reduce((a, [, v]) => a + v, 0);

/** A request path with its ids replaced by `:id` (a segment of 10 characters or more, not a lower-case word). */
function route(path: string): string {
  return path
    .split('?')[0]!
    .split('/')
    .map((s) => (s.length >= 10 && !/^[a-z-]+$/.test(s) ? ':id' : s))
    .join('/');
}

export interface TableStat {
  table: string;
  scans: number;
  rows: number;
  writes: number;
}

/** Scans and row writes per table since the server started (the statistics collector's counters). */
async function tableStats(db: pg.Pool): Promise<Map<string, TableStat>> {
  const client = await db.connect();
  try {
    await client.query('select pg_stat_clear_snapshot()');
    const r = await client.query<{ t: string; scans: string; rows: string; writes: string }>(
      `select relname as t, (seq_scan + coalesce(idx_scan, 0))::text as scans,
              (seq_tup_read + coalesce(idx_tup_fetch, 0))::text as rows,
              (n_tup_ins + n_tup_upd + n_tup_del)::text as writes
         from pg_stat_user_tables`,
    );
    return new Map(
      r.rows.map((x) => [
        x.t,
        { table: x.t, scans: Number(x.scans), rows: Number(x.rows), writes: Number(x.writes) },
      ]),
    );
  } finally {
    client.release();
  }
}

/**
 * PostgreSQL 15 backends report their table counters at most once a second while busy and within 10 s of going idle
 * (PGSTAT_IDLE_INTERVAL): wait that long around the measured run so its counters are complete.
 */
const statsSettle = (): Promise<void> => new Promise((r) => setTimeout(r, 11_000));

interface RequestRecord {
  method: string;
  path: string;
  status: number;
}

export async function runProviderIngest(opts: ProviderIngestOptions): Promise<ProviderFigures> {
  const print = opts.print ?? (() => undefined);
  const N = Math.max(1, opts.orders);
  const S = Math.max(1, opts.slots);
  const C = Math.max(1, opts.concurrency);
  const POOL = Math.max(1, opts.poolMax ?? C);
  const SELLERS = Math.max(1, Math.min(S, opts.sellers ?? 4));
  const OPEN = opts.openLoopPct ?? 50;
  const STORM = opts.storm ?? 200;
  const tsx = opts.tsx ?? false;
  const databaseUrl = opts.databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const driver = DRIVERS[opts.provider]();
  const dir = mkdtempSync(join(tmpdir(), `settle-ingest-${opts.provider}-`));
  const undo: (() => Promise<void>)[] = [];

  try {
    const adminPg = new pg.Client({ connectionString: databaseUrl });
    await adminPg.connect();
    undo.push(onCleanup('admin connection', () => adminPg.end()));
    const dbName = `settle_ingest_${opts.provider}_${randomBytes(4).toString('hex')}`;
    await adminPg.query(`CREATE DATABASE ${dbName}`);
    undo.push(
      onCleanup(`database ${dbName}`, async () => {
        await adminPg.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      }),
    );
    const dbUrl = new URL(databaseUrl);
    dbUrl.pathname = `/${dbName}`;

    // The Stripe emulator: only the market touches it (each seller's account at Settle's first provider).
    const { proc: stripeEmu, url: stripeUrl } = await startStripeEmulatorProc({
      dir,
      tsx,
      label: 'stripe-emulator',
    });
    undo.push(stripeEmu.stop);

    const settlePort = await freePort();
    const settleUrl = `http://127.0.0.1:${settlePort}`;
    const emu = await driver.start({ dir, tsx, settleUrl });
    undo.push(emu.stop);

    const adminToken = randomBytes(24).toString('hex');
    const settleArgs = nodeArgs('src/main.ts', !tsx);
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
        STRIPE_SECRET_KEY: `sk_test_bench${randomBytes(8).toString('hex')}`,
        STRIPE_API_BASE: stripeUrl,
        STRIPE_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64url')}`,
        STRIPE_CONNECT_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64url')}`,
        SETTLE_ADMIN_TOKEN: adminToken,
        SETTLE_RATE_LIMIT_PER_MINUTE: '0',
        // Reconciliation would read the undelivered events from the emulator and confirm the orders itself.
        SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
        ...emu.env,
      },
      settleLog,
    );
    undo.push(settle.stop);
    await waitReady(settle, `${settleUrl}/healthz`, settleLog);
    const db = new pg.Pool({ connectionString: dbUrl.toString(), max: 4 });
    undo.push(onCleanup('benchmark db pool', () => db.end()));
    const c: RunCtx = { settle: settleUrl, adminToken, emulator: emu.url, db, dir, tsx };

    // The market: sellers connected to the provider, one listing each, S slots round-robin over them.
    const t0 = Date.now();
    const listings: string[] = [];
    for (let i = 0; i < SELLERS; i++) {
      const name = `Bench ${opts.provider} seller ${i + 1}`;
      const s = await adminCall<{ id: string }>(c, 'POST', '/api/sellers', {
        name,
        email: `seller${i + 1}@example.test`,
        chargeType: 'direct',
        feeBps: 1000,
      });
      await driver.connectSeller(c, s.id, name);
      const l = await adminCall<{ id: string }>(c, 'POST', '/api/listings', {
        sellerId: s.id,
        title: `Bench class ${i + 1}`,
        currency: 'usd',
        unitAmount: 5000,
      });
      listings.push(l.id);
    }
    const capacity = Math.min(100_000, Math.ceil((2 * N + 10) / S) + 10);
    const slots: string[] = [];
    for (let i = 0; i < S; i++) {
      const s = await adminCall<{ id: string }>(
        c,
        'POST',
        `/api/listings/${listings[i % listings.length]}/slots`,
        {
          startsAt: new Date(Date.now() + (3 + i) * 86_400_000).toISOString(),
          capacity,
        },
      );
      slots.push(s.id);
    }
    const marketSeconds = (Date.now() - t0) / 1000;
    print(
      `${opts.provider}: market ready in ${marketSeconds.toFixed(1)} s (${SELLERS} sellers, ${S} slots); logs in ${dir}`,
    );

    let made = 0;
    const paidOrders = async (n: number): Promise<PaidOrder[]> =>
      pool(
        Array.from({ length: n }, () => made++),
        8,
        async (i) => {
          const r = await json<{ orderId: string }>(
            await fetch(`${settleUrl}/api/checkout`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                slotId: slots[i % slots.length],
                quantity: 1,
                provider: opts.provider,
                email: `buyer${i}@example.test`,
              }),
            }),
            'checkout',
          );
          const row = await db.query<{ s: string | null }>(
            'select provider_session_id as s from orders where id = $1',
            [r.orderId],
          );
          const sessionId = row.rows[0]?.s ?? null;
          if (sessionId === null) throw new Error(`order ${r.orderId} has no provider session`);
          return { orderId: r.orderId, sessionId, ref: await driver.pay(c, sessionId) };
        },
      );

    const prepare = async (n: number): Promise<{ orders: PaidOrder[]; deliveries: HeaderDelivery[] }> => {
      const t = Date.now();
      const orders = await paidOrders(n);
      const deliveries = await driver.deliveries(c, orders);
      print(
        `${opts.provider}: ${n} orders paid at the emulator in ${((Date.now() - t) / 1000).toFixed(1)} s`,
      );
      return { orders, deliveries };
    };

    const loadgen = async (
      deliveries: HeaderDelivery[],
      concurrency: number,
      rate: number,
    ): Promise<LoadResult> => {
      const job: LoadJob = {
        url: `${settleUrl}/webhooks/${opts.provider}`,
        deliveries,
        concurrency,
        rate,
        timeoutMs: 60_000,
      };
      return runLoadgen(dir, job);
    };

    const requests = async (): Promise<RequestRecord[]> =>
      (await json<{ data: RequestRecord[] }>(await fetch(`${emu.url}/_emulator/requests`), 'requests')).data;

    /** Requests the emulator answered while the load generator ran, per delivery, by method and route. */
    const callsPerEvent = (during: readonly RequestRecord[], n: number): Record<string, number> => {
      const counts = new Map<string, number>();
      for (const r of during) {
        if (r.path.startsWith('/_emulator')) continue;
        const k = `${r.method} ${route(r.path)}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      return Object.fromEntries([...counts].map(([k, v]) => [k, v / n]));
    };

    let apiCallsPerEvent: Record<string, number> = {};
    let tablesPerEvent: TableStat[] = [];
    const phase = async (
      label: string,
      n: number,
      rate: number,
      countCalls: boolean,
    ): Promise<PhaseFigures> => {
      const { orders, deliveries } = await prepare(n);
      if (countCalls) await statsSettle();
      const before = countCalls ? (await requests()).length : 0;
      const statsBefore = countCalls ? await tableStats(db) : null;
      const result = await loadgen(deliveries, C, rate);
      const backlog = await db.query<{ n: number }>(
        `select count(*)::int as n from jobs where status in ('queued', 'running')`,
      );
      if (countCalls) apiCallsPerEvent = callsPerEvent((await requests()).slice(before), n);
      if (statsBefore !== null) {
        await statsSettle();
        tablesPerEvent = [...(await tableStats(db)).values()]
          .map((t) => {
            const b = statsBefore.get(t.table);
            return {
              table: t.table,
              scans: (t.scans - (b?.scans ?? 0)) / n,
              rows: (t.rows - (b?.rows ?? 0)) / n,
              writes: (t.writes - (b?.writes ?? 0)) / n,
            };
          })
          .filter((t) => t.scans > 0 || t.writes > 0)
          .sort((a, b) => b.rows + b.writes - (a.rows + a.writes));
      }
      const f: PhaseFigures = {
        label,
        events: n,
        offered: rate > 0 ? rate : null,
        rate: (okCount(result) / result.wallMs) * 1000,
        p50: pct(result.latencies, 50),
        p99: pct(result.latencies, 99),
        maxMs: result.latencies[result.latencies.length - 1] ?? 0,
        paid: await paidCount(
          db,
          orders.map((o) => o.orderId),
        ),
        status: result.status,
        errors: result.errors,
        jobsBacklog: backlog.rows[0]?.n ?? 0,
      };
      print(`${opts.provider}: ${phaseLine(f)}`);
      return f;
    };

    const max = await phase(`max (closed loop, ${C} in flight)`, N, 0, true);

    let open: PhaseFigures | null = null;
    if (OPEN > 0) {
      const rate = (max.rate * OPEN) / 100;
      const n = Math.max(C * 4, Math.min(N, Math.round(rate * 8)));
      open = await phase(`${OPEN} % of max (open loop)`, n, rate, false);
    }

    let storm: StormFigures | null = null;
    let apiCallsPerStormCopy: Record<string, number> = {};
    if (STORM > 0) {
      const { orders, deliveries } = await prepare(1);
      const one = deliveries[0]!;
      const before = (await requests()).length;
      const result = await loadgen(
        Array.from({ length: STORM }, () => one),
        STORM,
        0,
      );
      apiCallsPerStormCopy = callsPerEvent((await requests()).slice(before), STORM);
      const f = await db.query<{ n: number }>(
        `select count(*)::int as n from order_events where order_id = $1 and to_status = 'paid'`,
        [orders[0]!.orderId],
      );
      storm = {
        copies: STORM,
        wallMs: result.wallMs,
        p50: pct(result.latencies, 50),
        p99: pct(result.latencies, 99),
        status: result.status,
        errors: result.errors,
        fulfilments: f.rows[0]?.n ?? -1,
      };
    }

    return {
      provider: opts.provider,
      event: driver.event,
      verification: driver.verification,
      settle: settleArgs.compiled ? 'compiled' : 'tsx',
      orders: N,
      slots: S,
      concurrency: C,
      poolMax: POOL,
      marketSeconds,
      max,
      open,
      storm,
      apiCallsPerEvent,
      apiCallsPerStormCopy,
      tablesPerEvent,
      logDir: dir,
    };
  } finally {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (err) {
        process.stderr.write(`cleanup failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}

const f0 = (x: number): string => x.toFixed(0);
const f1 = (x: number): string => x.toFixed(1);
const codes = (s: Record<string, number>): string =>
  Object.entries(s)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');

export function phaseLine(p: PhaseFigures): string {
  const other = Object.entries(p.status).filter(([k]) => !k.startsWith('2'));
  return `${p.label.padEnd(32)} ${String(p.events).padStart(5)} ev  ${p.offered !== null ? `offered ${f0(p.offered).padStart(4)}/s` : 'max rate      '}  ${f0(p.rate).padStart(5)}/s  p50 ${f1(p.p50).padStart(6)} ms  p99 ${f1(p.p99).padStart(6)} ms  max ${f1(p.maxMs).padStart(6)} ms  paid ${p.paid}/${p.events}  jobs backlog ${p.jobsBacklog}${other.length > 0 ? `  other: ${other.map(([k, v]) => `${k}×${v}`).join(' ')}` : ''}${p.errors ? `  errors ${p.errors}` : ''}`;
}

/** The table of one provider's run. */
export function providerTable(f: ProviderFigures): string[] {
  const lines = [
    `${f.provider === 'paypal' ? 'PayPal' : 'Square'}: signed ${f.event} → POST /webhooks/${f.provider}  (${f.orders} orders over ${f.slots} slots, ${f.concurrency} in flight, DATABASE_POOL_MAX ${f.poolMax}, settle ${f.settle})`,
    `  verification: ${f.verification}`,
    `  ${phaseLine(f.max)}`,
  ];
  if (f.open) lines.push(`  ${phaseLine(f.open)}`);
  if (f.storm)
    lines.push(
      `  ${'duplicate storm'.padEnd(32)} ${String(f.storm.copies).padStart(5)} copies of one event at once: all answered in ${f0(f.storm.wallMs)} ms (p50 ${f1(f.storm.p50)} ms, p99 ${f1(f.storm.p99)} ms), ${codes(f.storm.status)}${f.storm.errors ? `, errors ${f.storm.errors}` : ''}; fulfilments ${f.storm.fulfilments} (goal 1)`,
    );
  const calls = (m: Record<string, number>): string =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ×${v.toFixed(2)}`)
      .join(', ') || '(none)';
  lines.push(`  provider API calls per event (max run): ${calls(f.apiCallsPerEvent)}`);
  if (f.storm) lines.push(`  provider API calls per storm copy: ${calls(f.apiCallsPerStormCopy)}`);
  lines.push(
    `  database per event (max run; table scans/rows read/rows written): ${f.tablesPerEvent
      .slice(0, 10)
      .map((t) => `${t.table} ${t.scans.toFixed(1)}/${t.rows.toFixed(1)}/${t.writes.toFixed(1)}`)
      .join(', ')}`,
  );
  return lines;
}
