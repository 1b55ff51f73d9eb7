/**
 * The hot queries of the scale benchmark and their plans on the seeded database. Settle's own SQL is captured from
 * PostgreSQL's statement log (bench/ingest/capture.ts) while a few checkouts are made and paid, their
 * `checkout.session.completed` events delivered one at a time, and the queue worker runs their jobs. Every distinct
 * statement is then run again with its logged parameters under `EXPLAIN (ANALYZE, BUFFERS)` inside a transaction that
 * is rolled back, and its plan classified: on an index, or a sequential scan (of a small or of a big table).
 *
 * The statements re-run after the fact, so a conditional update whose row has moved on (an order already paid)
 * matches no row: the plan (the planner's choice of access path) is what is judged, not the row counts.
 */
import type pg from 'pg';
import { captureStatements, type LoggedStatement } from '../ingest/capture.js';
import { completedEvents, sign, type PaidOrder } from '../ingest/market.js';
import type { Env } from './env.js';
import { paidOrders } from './env.js';

export type Phase = 'checkout' | 'ingest' | 'worker';

export interface ScanInfo {
  node: string;
  relation: string;
  index: string | null;
  /** The index condition (null: none, the whole index is read). */
  cond: string | null;
}

export interface ExplainedStatement {
  phase: Phase;
  /** The statement as logged (with $n placeholders). */
  sql: string;
  /** How many times it ran during the capture. */
  count: number;
  /** Text lines of the plan (the first few nodes). */
  plan: string[];
  /** Every scan node of the plan. */
  scans: ScanInfo[];
  /** Rows of the plan's top node (actual), or null when it was not executed. */
  rows: number | null;
  /** Execution time (ms), or null when not executed. */
  ms: number | null;
  /** 'index': every scan on an index with an index condition; 'index-full': on an index, but some index scan has no
   * index condition and the index is not partial (it reads the whole index: grows with the table);
   * 'index-partial': as 'index', but some scan reads a whole partial index (active holds, due jobs: grows with the
   * work in flight, not with history); 'seq-small': a sequential scan, only of small tables; 'seq-big': a sequential
   * scan of a big table; 'none': no scan (an INSERT … VALUES). */
  verdict: 'index' | 'index-partial' | 'index-full' | 'seq-small' | 'seq-big' | 'none';
  /** Why ANALYZE was not possible (the statement then ran as plain EXPLAIN). */
  note: string | null;
}

/** A table with more rows than this is big: a sequential scan of it on a hot path grows with history. */
export const BIG_TABLE_ROWS = 10_000;

const MARK = 'scale-mark:';

/** Captures Settle's statements during a few checkouts, deliveries and the worker's jobs. */
export async function captureHot(o: {
  adminPg: pg.Client;
  env: Env;
  slots: readonly string[];
  deliveries: number;
  /** Checkouts made (paid, not delivered) before the capture: active holds, as in the middle of a measured run. */
  pending: number;
}): Promise<{ phase: Phase; s: LoggedStatement }[]> {
  const { env } = o;
  if (o.pending > 0) await paidOrders(env.e, o.slots, o.pending);
  const mark = (p: string) => env.db.query(`SELECT '${MARK}${p}'`);
  let orders: PaidOrder[] = [];
  const logged = await captureStatements({
    adminPg: o.adminPg,
    dbName: env.dbName,
    run: async () => {
      await mark('checkout');
      orders = await paidOrders(env.e, o.slots, o.deliveries);
      const bodies = await completedEvents(env.e, orders);
      await mark('ingest');
      for (const d of sign(bodies, env.webhookSecret)) {
        const r = await fetch(`${env.e.settle}/webhooks/stripe`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': d.signature },
          body: d.body,
        });
        await r.text();
        await new Promise((res) => setTimeout(res, 250));
      }
      // The queue polls every 500 ms: its claims and the jobs of the last confirmation.
      await new Promise((res) => setTimeout(res, 1200));
      await mark('end');
    },
  });
  // Units: a transaction (begin … commit on one backend) or one autocommit statement. A unit that claims, marks or
  // runs a job (jobs other than inserted, notifications) is the queue worker's; the others belong to the phase
  // (between the marks) in which they began.
  const isWorker = (sql: string) =>
    /^(update "jobs"|delete from "jobs"|select .* from "jobs")/is.test(sql) || /"notifications"/.test(sql);
  const units: { phase: Phase; worker: boolean; stmts: LoggedStatement[] }[] = [];
  const open = new Map<string, { phase: Phase; worker: boolean; stmts: LoggedStatement[] }>();
  let phase: Phase | 'before' | 'end' = 'before';
  for (const s of logged) {
    const m = new RegExp(`^SELECT '${MARK}(\\w+)'$`).exec(s.sql);
    if (m) {
      phase = m[1] as Phase | 'end';
      continue;
    }
    let unit = open.get(s.pid);
    if (unit === undefined) {
      if (phase === 'before' || phase === 'end') continue;
      unit = { phase, worker: false, stmts: [] };
      units.push(unit);
      if (/^begin/i.test(s.sql)) open.set(s.pid, unit);
    }
    if (/^(commit|rollback)$/i.test(s.sql)) open.delete(s.pid);
    if (isWorker(s.sql)) unit.worker = true;
    if (!/^(begin|commit|rollback|set |show |savepoint|release )/i.test(s.sql)) unit.stmts.push(s);
  }
  return units.flatMap((u) => u.stmts.map((s) => ({ phase: u.worker ? ('worker' as const) : u.phase, s })));
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Operation?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Plan Rows'?: number;
  'Actual Total Time'?: number;
  'Index Cond'?: string;
  Filter?: string;
  'Rows Removed by Filter'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  'Conflict Arbiter Indexes'?: string[];
  Plans?: PlanNode[];
}

function walk(n: PlanNode, depth: number, lines: string[], scans: ScanInfo[]): void {
  const rel = n['Relation Name'];
  const idx = n['Index Name'];
  if (/Scan/.test(n['Node Type']) && (rel !== undefined || idx !== undefined))
    scans.push({
      node: n['Node Type'],
      relation: rel ?? '',
      index: idx ?? null,
      cond: n['Index Cond'] ?? null,
    });
  const parts = [`${'  '.repeat(depth)}${depth > 0 ? '-> ' : ''}${n.Operation ?? n['Node Type']}`];
  if (idx !== undefined) parts.push(`using ${idx}`);
  if (rel !== undefined) parts.push(`on ${rel}`);
  if (n['Conflict Arbiter Indexes']) parts.push(`(arbiter ${n['Conflict Arbiter Indexes'].join(', ')})`);
  parts.push(
    n['Actual Rows'] !== undefined
      ? `(rows ${n['Actual Rows']}${(n['Actual Loops'] ?? 1) > 1 ? ` ×${n['Actual Loops']} loops` : ''}, est ${n['Plan Rows'] ?? '?'})`
      : `(est rows ${n['Plan Rows'] ?? '?'})`,
  );
  if (n['Rows Removed by Filter']) parts.push(`removed by filter ${n['Rows Removed by Filter']}`);
  if (n['Shared Hit Blocks'] || n['Shared Read Blocks'])
    parts.push(`buffers hit ${n['Shared Hit Blocks'] ?? 0} read ${n['Shared Read Blocks'] ?? 0}`);
  if (n['Index Cond']) parts.push(`cond ${n['Index Cond']}`);
  else if (n.Filter && n['Node Type'] === 'Seq Scan') parts.push(`filter ${n.Filter}`);
  lines.push(parts.join(' ').slice(0, 200));
  for (const c of n.Plans ?? []) walk(c, depth + 1, lines, scans);
}

/** Runs EXPLAIN on each distinct statement (first logged parameters), in a rolled-back transaction. */
export async function explainAll(
  db: pg.Client,
  captured: readonly { phase: Phase; s: LoggedStatement }[],
): Promise<ExplainedStatement[]> {
  const distinct = new Map<string, { phase: Phase; s: LoggedStatement; count: number }>();
  for (const c of captured) {
    const key = c.s.sql.replace(/\s+/g, ' ');
    const d = distinct.get(key);
    if (d) d.count++;
    else distinct.set(key, { ...c, count: 1 });
  }
  const sizes = new Map<string, number>();
  const rs = await db.query<{ t: string; n: string }>(
    `SELECT relname AS t, greatest(reltuples, 0)::bigint AS n FROM pg_class
     WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`,
  );
  for (const r of rs.rows) sizes.set(r.t, Number(r.n));
  const partial = new Set(
    (
      await db.query<{ i: string }>(
        `SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public' AND indexdef ~ ' WHERE '`,
      )
    ).rows.map((r) => r.i),
  );

  await db.query(`SET statement_timeout = '30s'`);
  const out: ExplainedStatement[] = [];
  for (const { phase, s, count } of distinct.values()) {
    const params = s.kind === 'execute' ? s.params : [];
    let plan: { Plan: PlanNode; 'Execution Time'?: number } | undefined;
    let note: string | null = null;
    for (const analyze of [true, false]) {
      await db.query('BEGIN');
      try {
        const r = await db.query<{ 'QUERY PLAN': { Plan: PlanNode; 'Execution Time'?: number }[] }>(
          `EXPLAIN (${analyze ? 'ANALYZE, BUFFERS, ' : ''}FORMAT JSON) ${s.sql}`,
          params,
        );
        plan = r.rows[0]?.['QUERY PLAN'][0];
        break;
      } catch (err) {
        note = err instanceof Error ? err.message : String(err);
      } finally {
        await db.query('ROLLBACK');
      }
    }
    if (plan === undefined) {
      out.push({
        phase,
        sql: s.sql,
        count,
        plan: [],
        scans: [],
        rows: null,
        ms: null,
        verdict: 'none',
        note: `EXPLAIN failed: ${note ?? '?'}`,
      });
      continue;
    }
    const lines: string[] = [];
    const scans: ScanInfo[] = [];
    walk(plan.Plan, 0, lines, scans);
    const seq = scans.filter((x) => x.node === 'Seq Scan');
    const verdict: ExplainedStatement['verdict'] =
      scans.length === 0
        ? 'none'
        : seq.length === 0
          ? scans.some((x) => x.index !== null && x.cond === null && !partial.has(x.index))
            ? 'index-full'
            : scans.some((x) => x.index !== null && x.cond === null)
              ? 'index-partial'
              : 'index'
          : seq.some((x) => (sizes.get(x.relation) ?? 0) > BIG_TABLE_ROWS)
            ? 'seq-big'
            : 'seq-small';
    out.push({
      phase,
      sql: s.sql,
      count,
      plan: lines,
      scans,
      rows: plan['Execution Time'] !== undefined ? (plan.Plan['Actual Rows'] ?? null) : null,
      ms: plan['Execution Time'] ?? null,
      verdict,
      note: plan['Execution Time'] === undefined && note !== null ? `not executed (${note})` : null,
    });
  }
  return out;
}

/** A short one-line form of a statement: its verb, table and the shape of its WHERE. */
export function shorten(sql: string, width = 64): string {
  const one = sql
    .replace(/\s+/g, ' ')
    .replace(/"/g, '')
    .replace(/select (.{40,}?) from /i, 'select … from ')
    .replace(/\(([a-z_]+, ){3,}[a-z_]+\)/gi, '(…)')
    .replace(/values \(.*?\)( returning|$| on conflict)/i, 'values (…)$1');
  return one.length > width ? `${one.slice(0, width - 1)}…` : one;
}
