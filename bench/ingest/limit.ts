/**
 * The limit for the ingest benchmark: what PostgreSQL itself does with pgbench at the same client count, in the same
 * database, in the same run.
 *
 * - The minimal confirm-shaped transaction (bench/confirm-shaped.sql, on its own lim_* tables): inbox insert,
 *   conditional order update, conditional slot update, three job inserts, inbox mark.
 * - Settle's own ingest SQL, captured from the server's statement log (`log_min_duration_statement = 0` around a
 *   short sequential ingest, always reset afterwards) and turned into a pgbench script over pre-inserted rows
 *   (bench/ingest/capture.ts).
 *
 * Every client confirms distinct orders: n = client_id × per_client + k, where k counts the client's transactions
 * (pgbench keeps a client's variables across its transactions) and every run uses `-t per_client`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { captureIngestSql, type CapturedScript } from './capture.js';
import { cpuPerEvent, cpuSnapshot } from './cpu.js';

export interface LimitFigures {
  minimal: { many: number; one: number };
  captured: { many: number; one: number } | null;
  capturedScript: string | null;
}

export interface LimitOptions {
  adminPg: pg.Client;
  db: pg.Client;
  dbUrl: string;
  dbName: string;
  dir: string;
  clients: number;
  /** Settle's slots in the ingest runs (their count is the many-slot spread). */
  slots: readonly string[];
  oneSlot: string;
  transactions: number;
  /** A short sequential ingest to capture, and one more pending order as the template of pre-inserted rows. */
  capture: { run: () => Promise<void>; template: () => Promise<string> } | null;
  /** Called once the capture is done, before pgbench runs: stops Settle (its queue worker would take the jobs). */
  beforePgbench: () => Promise<void>;
  /** Each figure is the median of this many pgbench runs (fresh rows each time). */
  repeat: number;
  /** pgbench's query protocol: `prepared` as Settle's named statements, `extended` as node-pg's unnamed ones. */
  protocol: 'prepared' | 'extended';
}

interface PgbenchResult {
  tps: number;
  /** The machine's busy CPU ms per transaction (PostgreSQL and pgbench; bench/ingest/cpu.ts), to set beside Settle's per event. */
  machineMs: number;
  latencyMs: number;
  failed: number;
  processed: string;
}

export async function pgbench(
  dbUrl: string,
  script: string,
  clients: number,
  perClient: number,
  defines: Record<string, number>,
  protocol: 'prepared' | 'extended',
): Promise<PgbenchResult> {
  const u = new URL(dbUrl);
  const args = [
    '-n',
    '-M',
    protocol,
    '-c',
    String(clients),
    '-j',
    String(Math.min(clients, cpus().length)),
    '-t',
    String(perClient),
    '-D',
    'k=0',
    '-D',
    `per_client=${perClient}`,
    ...Object.entries(defines).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
    '-f',
    script,
    '-h',
    u.hostname,
    '-p',
    u.port || '5432',
    '-U',
    decodeURIComponent(u.username || 'postgres'),
    u.pathname.slice(1),
  ];
  const env = { ...process.env, ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}) };
  const before = cpuSnapshot({});
  const out = await new Promise<string>((res, rej) => {
    const child = spawn('pgbench', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const t = setTimeout(() => child.kill('SIGTERM'), 300_000);
    child.on('error', rej);
    child.on('exit', (code) => {
      clearTimeout(t);
      if (code === 0) res(text);
      else rej(new Error(`pgbench exited ${code}:\n${text.split('\n').slice(-15).join('\n')}`));
    });
  });
  const tps = Number(/tps = ([\d.]+) \(without initial/.exec(out)?.[1] ?? 'NaN');
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1] ?? 'NaN');
  const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? '0');
  const processed = /number of transactions actually processed: (\S+)/.exec(out)?.[1] ?? '?';
  const { machineMs } = cpuPerEvent(before, cpuSnapshot({}), clients * perClient);
  return { tps, machineMs, latencyMs, failed, processed };
}

const MINIMAL_SCHEMA = `
DROP TABLE IF EXISTS lim_inbox, lim_orders, lim_slots, lim_jobs;
CREATE TABLE lim_slots (id int PRIMARY KEY, capacity int NOT NULL, sold int NOT NULL DEFAULT 0);
CREATE TABLE lim_orders (id bigint PRIMARY KEY, slot_id int NOT NULL, status text NOT NULL, paid_at timestamptz);
CREATE TABLE lim_inbox (id bigserial PRIMARY KEY, event_id text NOT NULL UNIQUE, status text NOT NULL DEFAULT 'received',
  payload jsonb NOT NULL, processed_at timestamptz);
CREATE TABLE lim_jobs (id bigserial PRIMARY KEY, kind text NOT NULL, dedupe_key text NOT NULL UNIQUE, payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'queued', run_at timestamptz NOT NULL DEFAULT now());
`;

export async function runLimits(o: LimitOptions): Promise<LimitFigures> {
  const perClient = Math.ceil(o.transactions / o.clients);
  const rows = o.clients * perClient + perClient;
  const S = o.slots.length;
  const median = async (label: string, once: () => Promise<PgbenchResult>): Promise<PgbenchResult> => {
    const runs: PgbenchResult[] = [];
    for (let i = 0; i < Math.max(1, o.repeat); i++) runs.push(await once());
    runs.sort((a, b) => a.tps - b.tps);
    const r = runs[Math.floor(runs.length / 2)]!;
    console.log(
      `${label.padEnd(40)} ${r.tps.toFixed(0).padStart(6)} tx/s  latency avg ${r.latencyMs.toFixed(2)} ms  machine ${r.machineMs.toFixed(2)} ms CPU/tx  (${r.processed}${r.failed ? `, ${r.failed} failed` : ''}; median of ${runs.length}: ${runs.map((x) => x.tps.toFixed(0)).join(', ')})`,
    );
    return r;
  };

  // Capture first: it needs Settle running.
  let script: CapturedScript | null = null;
  let template: string | null = null;
  if (o.capture !== null) {
    try {
      script = await captureIngestSql({ adminPg: o.adminPg, dbName: o.dbName, run: o.capture.run });
      template = await o.capture.template();
    } catch (err) {
      console.log(
        `(capture failed, hand-written baseline only: ${err instanceof Error ? err.message : String(err)})`,
      );
      script = null;
    }
  }
  await o.beforePgbench();

  // The minimal confirm-shaped transaction.
  await o.db.query(MINIMAL_SCHEMA);
  const minimal = async (nslots: number): Promise<PgbenchResult> => {
    await o.db.query('TRUNCATE lim_inbox, lim_orders, lim_slots, lim_jobs RESTART IDENTITY');
    await o.db.query(`INSERT INTO lim_slots SELECT g, 1000000000, 0 FROM generate_series(1, $1) g`, [nslots]);
    await o.db.query(
      `INSERT INTO lim_orders SELECT g, (g % $2) + 1, 'pending' FROM generate_series(1, $1) g`,
      [rows, nslots],
    );
    await o.db.query('VACUUM ANALYZE lim_slots, lim_orders, lim_inbox, lim_jobs');
    return pgbench(
      o.dbUrl,
      resolve('bench/confirm-shaped.sql'),
      o.clients,
      perClient,
      { nslots },
      o.protocol,
    );
  };
  const mMany = await median(`confirm-shaped, ${S} slots, c=${o.clients}`, () => minimal(S));
  const mOne = await median(`confirm-shaped, one slot, c=${o.clients}`, () => minimal(1));
  await o.db.query('DROP TABLE lim_inbox, lim_orders, lim_slots, lim_jobs');

  let captured: LimitFigures['captured'] = null;
  let capturedScript: string | null = null;
  if (script !== null && template !== null) {
    capturedScript = join(o.dir, 'settle-ingest.pgbench.sql');
    writeFileSync(capturedScript, script.text);
    console.log(
      `captured one confirmation from the server log: ${script.statements.length} statements (${script.statements.join(', ')})`,
    );
    const tpl = template;
    const slotId = script.slotId;
    const path = capturedScript;
    const run = async (nslots: number): Promise<PgbenchResult> => {
      await preinsert(o.db, tpl, slotId, rows, nslots);
      return pgbench(o.dbUrl, path, o.clients, perClient, { nslots }, o.protocol);
    };
    const cMany = await median(`Settle's ingest SQL, ${S} slots, c=${o.clients}`, () => run(S));
    const cOne = await median(`Settle's ingest SQL, one slot, c=${o.clients}`, () => run(1));
    await removeLimRows(o.db);
    captured = { many: cMany.tps, one: cOne.tps };
  }
  return { minimal: { many: mMany.tps, one: mOne.tps }, captured, capturedScript };
}

async function columns(db: pg.Client, table: string): Promise<string[]> {
  const r = await db.query<{ c: string }>(
    `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1
     ORDER BY ordinal_position`,
    [table],
  );
  return r.rows.map((x) => x.c);
}

/** Copies of `fromWhere`'s row, with some columns replaced by expressions over g (generate_series). */
async function copyRows(
  db: pg.Client,
  table: string,
  where: string,
  params: unknown[],
  count: number,
  overrides: Record<string, string>,
): Promise<void> {
  const cols = await columns(db, table);
  const list = cols.map((c) => `"${c}"`).join(', ');
  const exprs = cols.map((c) => overrides[c] ?? `t."${c}"`).join(', ');
  const n = params.length + 1;
  await db.query(
    `INSERT INTO ${table} (${list}) SELECT ${exprs} FROM ${table} t, generate_series(1, $${n}) g WHERE ${where}`,
    [...params, count],
  );
}

async function removeLimRows(db: pg.Client): Promise<void> {
  await db.query(`DELETE FROM jobs WHERE dedupe_key LIKE '%ord\\_lim\\_%'`);
  await db.query(`DELETE FROM order_events WHERE order_id LIKE 'ord\\_lim\\_%'`);
  await db.query(`DELETE FROM payments WHERE order_id LIKE 'ord\\_lim\\_%'`);
  await db.query(`DELETE FROM holds WHERE order_id LIKE 'ord\\_lim\\_%'`);
  await db.query(`DELETE FROM orders WHERE id LIKE 'ord\\_lim\\_%'`);
  await db.query(`DELETE FROM webhook_events WHERE event_id LIKE 'evt\\_lim\\_%'`);
  await db.query(`DELETE FROM slots WHERE id LIKE 'slot\\_lim\\_%'`);
}

/**
 * Rows the captured script confirms: slots slot_lim_1…nslots copied from Settle's slot, and orders ord_lim_1…rows
 * (pending, each with its active hold) copied from a pending order Settle made, order g on slot_lim_((g % nslots)+1).
 */
async function preinsert(
  db: pg.Client,
  templateOrder: string,
  templateSlot: string,
  rows: number,
  nslots: number,
): Promise<void> {
  await removeLimRows(db);
  await copyRows(db, 'slots', 't.id = $1', [templateSlot], nslots, {
    id: `'slot_lim_' || g`,
    capacity: '100000',
    sold: '0',
  });
  await copyRows(db, 'orders', 't.id = $1', [templateOrder], rows, {
    id: `'ord_lim_' || g`,
    slot_id: `'slot_lim_' || ((g % ${nslots}) + 1)`,
    provider_session_id: `'cs_lim_' || g`,
    provider_payment_id: 'NULL',
    checkout_key: 'NULL',
  });
  await copyRows(db, 'holds', 't.order_id = $1', [templateOrder], rows, {
    id: `'hld_lim_' || g`,
    order_id: `'ord_lim_' || g`,
    slot_id: `'slot_lim_' || ((g % ${nslots}) + 1)`,
  });
  await db.query('ANALYZE slots, orders, holds, webhook_events, jobs, payments, order_events');
}
