/**
 * Memory of the compiled server under sustained webhook ingest (issue 14), on the PostgreSQL server and on the
 * embedded database. See bench/memory-ingest.ts for the command line.
 *
 * Per database kind: the standalone Stripe emulator and `node dist/src/main.js` (configured as in bench/ingest.ts),
 * each in its own process; the market made through Settle's API; a short closed loop to find the rate the server
 * sustains (unless a rate is given); paid orders for rate × seconds deliveries; then the load generator
 * (bench/ingest/loadgen.ts, its own process) posts the signed `checkout.session.completed` events at that steady
 * open-loop rate. The server's RSS (VmRSS of /proc/<pid>/status, and the sum over its process tree) is sampled every
 * 250 ms through every phase: start, idle, prepare (market and orders through the API), calibrate, ingest, after.
 * VmHWM is reset (clear_refs) when ingest starts, so the exact peak of the ingest phase is read too, not only the
 * sampled one. The server runs with `node --trace-gc` (its code untouched), from whose lines the V8 heap is read.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { LoadResult } from '../ingest/loadgen.js';
import {
  completedEvents,
  createListings,
  createSlots,
  paidOrders,
  sign,
  type Endpoints,
  type PaidOrder,
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
import { gcEvents, type GcEvent } from './gc.js';
import { percentile, resetHwm, Sampler, type Sample } from './rss.js';

export type Kind = 'server' | 'embedded';

export interface RunSpec {
  kind: Kind;
  /** Extra node flags for the server (e.g. --max-semi-space-size=2); the row's label names them. */
  nodeFlags: string[];
}

export interface MemoryOptions {
  runs: RunSpec[];
  /** Sustained ingest per run, seconds. */
  seconds: number;
  /** Offered rate (deliveries/s); 0: `fraction` of a short closed loop's rate, measured per database kind. */
  rate: number;
  /**
   * Share of the closed-loop rate offered, per database kind. A short closed loop overstates what is sustained: the
   * queue worker's jobs of each confirmation run later, and on the embedded database (one connection) they compete
   * with the ingest for it.
   */
  fraction: Record<Kind, number>;
  /** Closed-loop concurrency of the calibration. */
  concurrency: number;
  /** Deliveries of the calibration. */
  calibrationOrders: number;
  /** Idle window after ready, and the window after ingest, seconds. */
  idleSeconds: number;
  afterSeconds: number;
  sampleMs: number;
  /** Settle's DATABASE_POOL_MAX (undefined: Settle's default). */
  poolMax: number | undefined;
  logLevel: string;
  slots: number;
  traceGc: boolean;
  /** Another compiled entry point to measure instead of dist/src/main.js (e.g. an experimental build). */
  mainJs?: string;
  /** The PostgreSQL server's maintenance database (a fresh database is made next to it per run). */
  databaseUrl: string;
  log: (line: string) => void;
}

export interface Machine {
  cores: number;
  cpu: string;
  memGiB: number;
  node: string;
  postgres: string;
  load: string;
}

export interface HeapFigures {
  /** Highest heap in use after a collection, and highest committed heap, during ingest (MB). */
  ingestUsedMax: number;
  ingestCommittedMax: number;
  /** Heap in use after the last collection of the run (MB); NaN when none in the after window. */
  afterUsed: number;
  /** Collections during ingest: scavenges and full (mark-compact) ones. */
  ingestScavenges: number;
  ingestFull: number;
}

export interface RunFigures {
  label: string;
  kind: Kind;
  nodeFlags: string[];
  /** Highest RSS from the spawn to the end of the idle window (VmHWM then): the start-up peak, MB. */
  startPeakMb: number;
  /** RSS at the end of the idle window, MB. */
  idleMb: number;
  /** Highest sampled RSS while the market and orders were made through the API (and the calibration), MB. */
  preparePeakMb: number;
  ingest: {
    peakMb: number;
    /** VmHWM after the reset at ingest start (exact peak); NaN when the reset was not permitted. */
    hwmMb: number;
    p50Mb: number;
    p95Mb: number;
    /** RSS at the end of the ingest window, MB. */
    endMb: number;
    /** Anonymous and file-backed RSS at the peak sample, MB. */
    peakAnonMb: number;
    peakFileMb: number;
    treePeakMb: number;
    processes: number;
    samples: number;
  };
  /** RSS `afterSeconds` after ingest ended, MB. */
  afterMb: number;
  /** VmHWM at the end: the lifetime peak, MB. */
  lifetimeHwmMb: number;
  heap: HeapFigures | null;
  load: {
    calibratedRate: number | null;
    offeredRate: number;
    deliveries: number;
    ok: number;
    other: Record<string, number>;
    errors: number;
    /** 200s per second of the load generator's wall time. */
    rate: number;
    wallS: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** Orders paid in the database afterwards (PostgreSQL server only; the embedded one is in the server). */
    paid: number | null;
    prepareS: number;
  };
  logDir: string;
}

export interface MemoryReport {
  machine: Machine;
  settle: string;
  runs: RunFigures[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number): number => kb / 1024;

export function runLabel(r: RunSpec): string {
  const db = r.kind === 'server' ? 'PostgreSQL server' : 'embedded (PGlite)';
  return r.nodeFlags.length > 0 ? `${db}, ${r.nodeFlags.join(' ')}` : db;
}

export async function machine(databaseUrl: string): Promise<Machine> {
  let postgres: string;
  const c = new pg.Client({ connectionString: databaseUrl });
  try {
    await c.connect();
    postgres =
      (await c.query<{ server_version: string }>('show server_version')).rows[0]?.server_version ?? '?';
  } catch (err) {
    postgres = `unreachable (${err instanceof Error ? err.message : String(err)})`;
  } finally {
    await c.end().catch(() => undefined);
  }
  let load = '?';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    // not Linux
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? '?',
    memGiB: totalmem() / 2 ** 30,
    node: process.version,
    postgres,
    load,
  };
}

async function loadgen(
  dir: string,
  url: string,
  deliveries: ReturnType<typeof sign>,
  concurrency: number,
  rate: number,
): Promise<LoadResult> {
  return runLoadgen(dir, { url, deliveries, concurrency, rate, timeoutMs: 60_000 });
}

/** Several load generator results as one (latencies merged, wall times added). */
function merge(results: readonly LoadResult[]): LoadResult {
  const status: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.status)) status[k] = (status[k] ?? 0) + v;
  return {
    sent: results.reduce((s, r) => s + r.sent, 0),
    answered: results.reduce((s, r) => s + r.answered, 0),
    status,
    errors: results.reduce((s, r) => s + r.errors, 0),
    wallMs: results.reduce((s, r) => s + r.wallMs, 0),
    cpuMs: results.reduce((s, r) => s + r.cpuMs, 0),
    latencies: results.flatMap((r) => r.latencies).sort((a, b) => a - b),
  };
}

function heapFigures(
  events: readonly GcEvent[],
  sampler: Sampler,
  spawnOffsetMs: number,
): HeapFigures | null {
  if (events.length === 0) return null;
  const phaseOf = (e: GcEvent): string => sampler.phaseAt(e.t + spawnOffsetMs);
  const ingest = events.filter((e) => phaseOf(e) === 'ingest');
  const after = events.filter((e) => phaseOf(e) === 'after');
  const max = (xs: readonly number[]): number => (xs.length > 0 ? Math.max(...xs) : NaN);
  return {
    ingestUsedMax: max(ingest.map((e) => e.usedAfter)),
    ingestCommittedMax: max(ingest.map((e) => e.committedAfter)),
    afterUsed: after[after.length - 1]?.usedAfter ?? ingest[ingest.length - 1]?.usedAfter ?? NaN,
    ingestScavenges: ingest.filter((e) => e.kind === 'Scavenge' || e.kind.startsWith('Minor')).length,
    ingestFull: ingest.filter((e) => e.kind === 'Mark-Compact' || e.kind === 'Mark-sweep').length,
  };
}

const maxOf = (xs: readonly Sample[], f: (s: Sample) => number): number =>
  xs.reduce((m, s) => Math.max(m, f(s)), 0);

/** One run: one database kind (and node flags), its own emulator, server and database. */
async function runOne(o: MemoryOptions, spec: RunSpec, rateIn: number): Promise<RunFigures> {
  const log = o.log;
  const label = runLabel(spec);
  const dir = mkdtempSync(join(tmpdir(), 'settle-memory-'));
  const undo: (() => Promise<void>)[] = [];
  try {
    // The database: a fresh one on the PostgreSQL server, or a fresh data directory for PGlite.
    const dbEnv: Record<string, string> = {};
    let db: pg.Client | null = null;
    if (spec.kind === 'server') {
      const admin = new pg.Client({ connectionString: o.databaseUrl });
      await admin.connect();
      const dbName = `settle_memory_${randomBytes(4).toString('hex')}`;
      await admin.query(`CREATE DATABASE ${dbName}`);
      const drop = onCleanup(`database ${dbName}`, async () => {
        await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await admin.end();
      });
      undo.push(drop);
      const u = new URL(o.databaseUrl);
      u.pathname = `/${dbName}`;
      dbEnv['DATABASE_URL'] = u.toString();
      if (o.poolMax !== undefined) dbEnv['DATABASE_POOL_MAX'] = String(o.poolMax);
      db = new pg.Client({ connectionString: u.toString() });
    } else {
      const dataDir = join(dir, 'data');
      dbEnv['SETTLE_DATA_DIR'] = dataDir;
      undo.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    }

    const { proc: emu, url: emulatorUrl } = await startStripeEmulatorProc({ dir, tsx: false });
    undo.push(() => emu.stop());
    const webhookSecret = `whsec_${randomBytes(24).toString('base64url')}`;
    const e: Endpoints = benchEndpoints(emulatorUrl);
    const settlePort = await freePort();
    const settleLog = join(dir, 'settle.log');
    const main =
      o.mainJs !== undefined ? { args: [resolve(o.mainJs)], compiled: true } : nodeArgs('src/main.ts', true);
    if (!main.compiled) throw new Error('dist/src/main.js is missing: run `npm run build` first');
    const settle: Proc = startProc(
      'settle',
      [...(o.traceGc ? ['--trace-gc'] : []), ...spec.nodeFlags, ...main.args],
      settleServerEnv({
        port: settlePort,
        logLevel: o.logLevel,
        database: dbEnv,
        stripeKey: e.stripeKey,
        stripeApiBase: emulatorUrl,
        webhookSecret,
        adminToken: e.adminToken,
      }),
      settleLog,
    );
    undo.push(() => settle.stop());
    const pid = settle.child.pid ?? 0;
    const sampler = new Sampler(pid, o.sampleMs);
    undo.push(async () => sampler.stop());
    e.settle = `http://127.0.0.1:${settlePort}`;
    await waitReady(settle, `${e.settle}/healthz`, settleLog, 120_000);
    const readyS = sampler.now() / 1000;

    sampler.phase('idle');
    await sleep(o.idleSeconds * 1000);
    const idle = sampler.take();
    const startPeakKb = Math.max(
      idle.hwm,
      maxOf(sampler.samples, (s) => s.rss),
    );
    log(
      `  ${label}: ready in ${readyS.toFixed(1)} s, start peak ${mb(startPeakKb).toFixed(0)} MB, idle ${mb(idle.rss).toFixed(0)} MB`,
    );

    // The market, and the calibration.
    sampler.phase('prepare');
    const p0 = Date.now();
    if (db !== null) {
      const client = db;
      await client.connect();
      undo.push(() => client.end());
    }
    const listings = await createListings(e, 4);
    let rate = rateIn;
    let calibratedRate: number | null = null;
    // Capacity enough for every order of the run (createSlots caps a slot at 100 000).
    const capacity = Math.ceil((rate > 0 ? rate * o.seconds : 100_000) / o.slots) + o.calibrationOrders + 100;
    const slots = await createSlots(e, listings, o.slots, capacity);
    const prepared = async (n: number): Promise<{ orders: PaidOrder[]; bodies: string[] }> => {
      const orders = await paidOrders(e, slots, n);
      return { orders, bodies: await completedEvents(e, orders) };
    };
    const url = `${e.settle}/webhooks/stripe`;
    if (rate <= 0) {
      const cal = await prepared(o.calibrationOrders);
      sampler.phase('calibrate');
      const r = await loadgen(dir, url, sign(cal.bodies, webhookSecret), o.concurrency, 0);
      sampler.phase('prepare');
      calibratedRate = ((r.status['200'] ?? 0) / r.wallMs) * 1000;
      rate = Math.max(1, Math.round(calibratedRate * o.fraction[spec.kind]));
      log(
        `  ${label}: closed loop c=${o.concurrency}: ${calibratedRate.toFixed(0)}/s (${r.status['200'] ?? 0}/${r.sent} 200) → offered rate ${rate}/s`,
      );
    }
    const deliveries = Math.max(1, Math.round(rate * o.seconds));
    const ordersT0 = Date.now();
    const orders = await paidOrders(e, slots, deliveries);
    const bodies = await completedEvents(e, orders);
    const prepareS = (Date.now() - p0) / 1000;
    log(
      `  ${label}: ${deliveries} paid orders in ${((Date.now() - ordersT0) / 1000).toFixed(0)} s; ingest ${o.seconds} s at ${rate}/s`,
    );

    // Sustained ingest: batches of at most 120 s (a signature is valid for 300 s), each signed just before.
    const batch = Math.max(1, Math.round(rate * 120));
    const beforeReset = sampler.take();
    const hwmReset = resetHwm(pid);
    sampler.phase('ingest');
    const results: LoadResult[] = [];
    for (let i = 0; i < bodies.length; i += batch) {
      results.push(await loadgen(dir, url, sign(bodies.slice(i, i + batch), webhookSecret), 512, rate));
    }
    const end = sampler.take();
    sampler.phase('after');
    await sleep(o.afterSeconds * 1000);
    const after = sampler.take();
    sampler.stop();
    const result = merge(results);

    let paid: number | null = null;
    if (db !== null) {
      const r = await db.query<{ n: number }>(
        `select count(*)::int as n from orders where id = any($1) and status = 'paid'`,
        [orders.map((x) => x.orderId)],
      );
      paid = r.rows[0]?.n ?? 0;
    }
    await settle.stop();
    // The isolate starts a few ms after the spawn; --trace-gc times count from there.
    const heap = o.traceGc ? heapFigures(gcEvents(settleLog), sampler, 30) : null;

    const ing = sampler.of('ingest');
    const rss = ing.map((s) => s.rss);
    const peak = ing.reduce<Sample | null>((m, s) => (m === null || s.rss > m.rss ? s : m), null);
    const ok = result.status['200'] ?? 0;
    const other = Object.fromEntries(Object.entries(result.status).filter(([k]) => k !== '200'));
    return {
      label,
      kind: spec.kind,
      nodeFlags: spec.nodeFlags,
      startPeakMb: mb(startPeakKb),
      idleMb: mb(idle.rss),
      preparePeakMb: mb(maxOf([...sampler.of('prepare'), ...sampler.of('calibrate')], (s) => s.rss)),
      ingest: {
        peakMb: mb(peak?.rss ?? NaN),
        hwmMb: hwmReset ? mb(end.hwm) : NaN,
        p50Mb: mb(percentile(rss, 50)),
        p95Mb: mb(percentile(rss, 95)),
        endMb: mb(end.rss),
        peakAnonMb: mb(peak?.anon ?? NaN),
        peakFileMb: mb(peak?.file ?? NaN),
        treePeakMb: mb(maxOf(ing, (s) => s.treeRss)),
        processes: maxOf(ing, (s) => s.processes),
        samples: ing.length,
      },
      afterMb: mb(after.rss),
      lifetimeHwmMb: mb(Math.max(beforeReset.hwm, after.hwm)),
      heap,
      load: {
        calibratedRate,
        offeredRate: rate,
        deliveries,
        ok,
        other,
        errors: result.errors,
        rate: (ok / result.wallMs) * 1000,
        wallS: result.wallMs / 1000,
        p50Ms: percentile(result.latencies, 50),
        p99Ms: percentile(result.latencies, 99),
        maxMs: result.latencies[result.latencies.length - 1] ?? NaN,
        paid,
        prepareS,
      },
      logDir: dir,
    };
  } finally {
    for (const u of undo.reverse()) await u().catch(() => undefined);
  }
}

/** Runs every spec in turn; a run with node flags reuses the offered rate of its kind's first run. */
export async function runMemory(o: MemoryOptions): Promise<MemoryReport> {
  const m = await machine(o.databaseUrl);
  const main = nodeArgs('src/main.ts', true);
  const runs: RunFigures[] = [];
  const rates = new Map<Kind, number>();
  for (const spec of o.runs) {
    if (spec.kind === 'server' && m.postgres.startsWith('unreachable')) {
      o.log(`  ${runLabel(spec)}: skipped, PostgreSQL ${m.postgres}`);
      continue;
    }
    const r = await runOne(o, spec, o.rate > 0 ? o.rate : (rates.get(spec.kind) ?? 0));
    if (!rates.has(spec.kind)) rates.set(spec.kind, r.load.offeredRate);
    runs.push(r);
  }
  return {
    machine: m,
    settle:
      o.mainJs !== undefined
        ? `node ${o.mainJs}`
        : main.compiled
          ? 'node dist/src/main.js'
          : 'tsx src/main.ts',
    runs,
  };
}
