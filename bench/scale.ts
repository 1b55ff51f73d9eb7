/**
 * Benchmark: webhook ingest at scale (issue 14). The same ingest run as bench/ingest.ts's maximum-rate phase, on two
 * fresh databases: "empty" (Settle's schema and the run's market only) and "seeded" (plus a history of
 * `--seed-orders` orders and `--seed-events` inbox rows, bulk-inserted with SQL: bench/scale/seed.ts). Reports
 * seeded ÷ empty (goal ≥ 0.9×), then EXPLAIN (ANALYZE, BUFFERS) of every hot statement Settle ran on the seeded
 * database (captured from the PostgreSQL statement log: checkout, ingest, queue worker), classified as on an index or
 * a sequential scan. Prints figures; asserts nothing.
 *
 *   npx tsx bench/scale.ts --orders 1000 --slots 20 --concurrency 16 --seed-events 1000000 --seed-orders 1000000
 *
 * Each environment is the standalone Stripe emulator and a Settle server on its own database (bench/scale/env.ts).
 * Orders are made through Settle's API and paid at the emulator (which records but does not deliver
 * `checkout.session.completed`); the events are signed and POSTed to /webhooks/stripe by the load generator
 * (bench/ingest/loadgen.ts) in its own process, closed loop with C in flight. The runs alternate between the two
 * environments (empty, seeded, seeded, empty, … over `--rounds`), each after the queue worker of both has drained,
 * and each environment's figure is the median of its runs.
 */
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { completedEvents, sign } from './ingest/market.js';
import { onCleanup, runBenchMain } from './ingest/procs.js';
import { paidCount } from './ingest/market.js';
import { createMarket, loadgen, paidOrders, startEnv, type Env } from './scale/env.js';
import { BIG_TABLE_ROWS, captureHot, explainAll, shorten, type ExplainedStatement } from './scale/explain.js';
import { seedHistory, type SeedFigures } from './scale/seed.js';

export interface ScaleOptions {
  /** Deliveries (distinct paid orders) per measured run. */
  orders: number;
  slots: number;
  concurrency: number;
  seedEvents: number;
  seedOrders: number;
  /** Measured runs per environment. */
  rounds: number;
  /** Settle's DATABASE_POOL_MAX (default: concurrency). */
  pool?: number;
  logLevel?: string;
  tsx?: boolean;
  /** Skip the EXPLAIN part. */
  noExplain?: boolean;
  databaseUrl?: string;
  /** SQL run on both databases once Settle has migrated them (to try an index before it is in a migration). */
  extraSql?: string;
  log?: (line: string) => void;
}

export interface RunFigures {
  env: 'empty' | 'seeded';
  n: number;
  /** 200s per second of the run's wall time. */
  rate: number;
  p50: number;
  p99: number;
  paid: number;
  status: Record<string, number>;
  errors: number;
}

export interface EnvFigures {
  rate: number;
  p50: number;
  p99: number;
  paid: number;
  n: number;
  runs: number[];
}

export interface ScaleFigures {
  machine: { cores: number; cpu: string; memGiB: number; node: string; postgres: string };
  seed: SeedFigures;
  runs: RunFigures[];
  empty: EnvFigures;
  seeded: EnvFigures;
  /** seeded ÷ empty of the median rates. */
  ratio: number;
  explain: ExplainedStatement[];
  /** The same statements' plans on the empty database. */
  explainEmpty: ExplainedStatement[];
  /** Hot statements that sequentially scan a table of more than BIG_TABLE_ROWS rows. */
  seqScansOfBigTables: ExplainedStatement[];
}

const pct = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the queue has no queued or running job (the worker is idle), at most `timeoutMs`. */
async function drained(env: Env, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await env.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobs WHERE status IN ('queued', 'running')`,
    );
    if ((r.rows[0]?.n ?? 0) === 0 || Date.now() > deadline) return;
    await sleep(250);
  }
}

export async function runScale(opts: ScaleOptions): Promise<ScaleFigures> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const N = Math.max(1, opts.orders);
  const S = Math.max(1, opts.slots);
  const C = Math.max(1, opts.concurrency);
  const rounds = Math.max(1, opts.rounds);
  const baseUrl = opts.databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'settle-scale-'));
  const adminPg = new pg.Client({ connectionString: baseUrl });
  await adminPg.connect();
  onCleanup('admin connection', () => adminPg.end());

  const pgVersion = (await adminPg.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? '?';
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? '?',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: pgVersion.split(' on ')[0] ?? pgVersion,
  };
  log(`Settle ingest at scale — ${new Date().toISOString()}`);
  log(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memGiB} GiB, node ${machine.node}`);
  log(`postgres: ${machine.postgres}`);
  const envOpts = {
    adminPg,
    baseUrl,
    dir,
    pool: Math.max(1, opts.pool ?? C),
    logLevel: opts.logLevel ?? 'info',
    tsx: opts.tsx ?? false,
  };
  const empty = await startEnv({ ...envOpts, label: 'empty' });
  const seeded = await startEnv({ ...envOpts, label: 'seeded' });
  log(
    `settle: ${empty.compiled ? 'compiled (node dist/src/main.js)' : 'tsx src/main.ts'}, LOG_LEVEL ${envOpts.logLevel}, DATABASE_POOL_MAX ${envOpts.pool}`,
  );
  log(
    `measured: ${N} orders over ${S} slots, concurrency ${C}, ${rounds} run(s) per database; history: ${opts.seedOrders} orders, ${opts.seedEvents} inbox events; logs in ${dir}\n`,
  );

  if (opts.extraSql) {
    for (const env of [empty, seeded]) await env.db.query(opts.extraSql);
    log(`extra SQL on both databases: ${opts.extraSql}`);
  }

  // The measured market in each: S slots with room for every run's orders and the capture's.
  const capacity = Math.ceil((N * rounds + Math.min(500, Math.ceil(N / 2)) + 20) / S) + 10;
  const slotsOf = new Map<Env, string[]>();
  for (const env of [empty, seeded]) slotsOf.set(env, await createMarket(env, S, capacity));

  // A real checkout.session.completed of the seeded database's market is the template of the history's payloads;
  // it is delivered too, so its order does not stay pending.
  const tplOrders = await paidOrders(seeded.e, slotsOf.get(seeded)!, 1);
  const [tplBody] = await completedEvents(seeded.e, tplOrders);
  if (tplBody === undefined) throw new Error('no template event');
  const [tplDelivery] = sign([tplBody], seeded.webhookSecret);
  await (
    await fetch(`${seeded.e.settle}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': tplDelivery!.signature },
      body: tplDelivery!.body,
    })
  ).text();

  log(`History (seeded database ${seeded.dbName}):`);
  const seed = await seedHistory({
    dbUrl: seeded.dbUrl,
    orders: opts.seedOrders,
    events: opts.seedEvents,
    templateEvent: tplBody,
    log,
  });
  log(
    `  ${f1(seed.seconds)} s; database ${f0(seed.bytes / 2 ** 20)} MiB; rows: ${Object.entries(seed.rows)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}\n`,
  );

  // Measured runs, alternating (ABBA) so drift of the noisy machine falls on both.
  log('Ingest: signed checkout.session.completed → POST /webhooks/stripe, closed loop');
  const runs: RunFigures[] = [];
  const order: Env[] = [];
  for (let r = 0; r < rounds; r++) order.push(...(r % 2 === 0 ? [empty, seeded] : [seeded, empty]));
  for (const env of order) {
    const orders = await paidOrders(env.e, slotsOf.get(env)!, N);
    const deliveries = sign(await completedEvents(env.e, orders), env.webhookSecret);
    await Promise.all([drained(empty), drained(seeded)]);
    await sleep(500);
    const result = await loadgen(env, dir, deliveries, C);
    const ok = result.status['200'] ?? 0;
    const fig: RunFigures = {
      env: env === empty ? 'empty' : 'seeded',
      n: N,
      rate: (ok / result.wallMs) * 1000,
      p50: pct(result.latencies, 50),
      p99: pct(result.latencies, 99),
      paid: await paidCount(
        env.db,
        orders.map((o) => o.orderId),
      ),
      status: result.status,
      errors: result.errors,
    };
    runs.push(fig);
    const other = Object.entries(fig.status)
      .filter(([k]) => k !== '200')
      .map(([k, v]) => `${k}×${v}`)
      .join(' ');
    log(
      `${fig.env.padEnd(7)} ${String(N).padStart(5)} ev  ${f0(fig.rate).padStart(5)}/s  p50 ${f1(fig.p50).padStart(6)} ms  p99 ${f1(fig.p99).padStart(6)} ms  paid ${fig.paid}/${N}${other ? `  other: ${other}` : ''}${fig.errors ? `  errors ${fig.errors}` : ''}`,
    );
  }
  await Promise.all([drained(empty), drained(seeded)]);
  const summarize = (which: 'empty' | 'seeded'): EnvFigures => {
    const rs = runs.filter((r) => r.env === which);
    return {
      rate: median(rs.map((r) => r.rate)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      paid: rs.reduce((a, r) => a + r.paid, 0),
      n: rs.reduce((a, r) => a + r.n, 0),
      runs: rs.map((r) => r.rate),
    };
  };
  const e = summarize('empty');
  const s = summarize('seeded');
  const ratio = e.rate > 0 ? s.rate / e.rate : 0;

  // EXPLAIN of the hot statements on the seeded database.
  let explain: ExplainedStatement[] = [];
  let explainEmpty: ExplainedStatement[] = [];
  const pending = Math.min(500, Math.ceil(N / 2));
  if (!opts.noExplain) {
    log(
      `\nHot statements on the seeded database: captured from the statement log (3 checkouts, their 3 deliveries one at a time, the queue's jobs) with ${pending} other checkouts pending (active holds, as mid-run), each run again under EXPLAIN (ANALYZE, BUFFERS) in a rolled-back transaction`,
    );
    const captured = await captureHot({
      adminPg,
      env: seeded,
      slots: slotsOf.get(seeded)!,
      deliveries: 3,
      pending,
    });
    explain = await explainAll(seeded.db, captured);
    // The same on the empty database, to tell which plans the history changed.
    explainEmpty = await explainAll(
      empty.db,
      await captureHot({ adminPg, env: empty, slots: slotsOf.get(empty)!, deliveries: 3, pending }),
    );
    printExplain(explain, explainEmpty, log);
  }
  await empty.stop();
  await seeded.stop();

  log('\nSeeded ÷ empty');
  log(
    `empty   median ${f0(e.rate).padStart(5)}/s  p50 ${f1(e.p50)} ms  p99 ${f1(e.p99)} ms  (runs: ${e.runs.map(f0).join(', ')}/s; paid ${e.paid}/${e.n})`,
  );
  log(
    `seeded  median ${f0(s.rate).padStart(5)}/s  p50 ${f1(s.p50)} ms  p99 ${f1(s.p99)} ms  (runs: ${s.runs.map(f0).join(', ')}/s; paid ${s.paid}/${s.n})`,
  );
  // Each round is one empty and one seeded run back to back: their ratio shows the machine's noise.
  const perRound: number[] = [];
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const em = runs.slice(i, i + 2).find((r) => r.env === 'empty');
    const se = runs.slice(i, i + 2).find((r) => r.env === 'seeded');
    if (em && se && em.rate > 0) perRound.push(se.rate / em.rate);
  }
  log(
    `seeded ÷ empty = ${ratio.toFixed(3)}×  (goal ≥ 0.9; per round: ${perRound.map((r) => r.toFixed(2)).join(', ')})`,
  );
  const seqBig = explain.filter((x) => x.verdict === 'seq-big');
  const full = explain.filter((x) => x.verdict === 'index-full');
  const partial = explain.filter((x) => x.verdict === 'index-partial');
  const scansOf = (x: ExplainedStatement) =>
    x.scans.map((sc) => `${sc.node}${sc.index ? ` using ${sc.index}` : ''} on ${sc.relation}`).join(', ');
  if (!opts.noExplain) {
    log(
      seqBig.length === 0
        ? `no hot statement scans a table of over ${BIG_TABLE_ROWS} rows sequentially`
        : `SEQUENTIAL SCAN OF A BIG TABLE in ${seqBig.length} hot statement(s): ${seqBig
            .map((x) => `[${x.phase}] ${shorten(x.sql, 80)} (${scansOf(x)})`)
            .join('; ')}`,
    );
    if (full.length > 0)
      log(
        `WHOLE-INDEX SCAN (no index condition, index not partial) in ${full.length} hot statement(s): ${full
          .map((x) => `[${x.phase}] ${shorten(x.sql, 80)} (${scansOf(x)})`)
          .join('; ')}`,
      );
    if (partial.length > 0)
      log(
        `reads a whole partial index (grows with work in flight, not with history) in ${partial.length}: ${partial
          .map((x) => `[${x.phase}] ${shorten(x.sql, 60)} (${scansOf(x)})`)
          .join('; ')}`,
      );
  }
  log(`\ntotal ${f0((Date.now() - started) / 1000)} s`);
  return {
    machine,
    seed,
    runs,
    empty: e,
    seeded: s,
    ratio,
    explain,
    explainEmpty,
    seqScansOfBigTables: seqBig,
  };
}

const scanKey = (x: ExplainedStatement): string =>
  x.scans
    .map((s) => (s.index ? `${s.index}${s.cond === null ? ' (whole)' : ''}` : `seq ${s.relation}`))
    .join(', ') || '—';

function printExplain(
  xs: readonly ExplainedStatement[],
  onEmpty: readonly ExplainedStatement[],
  log: (line: string) => void,
): void {
  const norm = (sql: string) => sql.replace(/\s+/g, ' ');
  const emptyBySql = new Map(onEmpty.map((x) => [norm(x.sql), x]));
  for (const x of xs) {
    log(`\n[${x.phase}] ×${x.count}  ${x.sql.replace(/\s+/g, ' ').slice(0, 300)}`);
    for (const l of x.plan.slice(0, 8)) log(`    ${l}`);
    if (x.plan.length > 8) log(`    … ${x.plan.length - 8} more node(s)`);
    if (x.note) log(`    (${x.note.slice(0, 200)})`);
  }
  log('');
  const head = `${'phase'.padEnd(8)} ${'statement'.padEnd(64)} ${'plan node'.padEnd(16)} ${'index'.padEnd(40)} ${'rows'.padStart(5)} ${'ms'.padStart(7)}  ${'verdict'.padEnd(13)} empty db`;
  log(head);
  log('-'.repeat(head.length + 4));
  const emptyPlan = (x: ExplainedStatement): string => {
    const e = emptyBySql.get(norm(x.sql));
    if (e === undefined) return '(not captured)';
    return scanKey(e) === scanKey(x)
      ? 'same plan'
      : `${scanKey(e)} (${e.ms === null ? '—' : e.ms.toFixed(3)} ms)`;
  };
  for (const x of xs) {
    const main = x.scans.find((s) => s.node === 'Seq Scan') ?? x.scans[0];
    const node = main?.node ?? (x.plan[0]?.replace(/ on .*$| \(.*$/, '').trim() || '—');
    const idx =
      x.scans
        .map((s) => s.index)
        .filter((i): i is string => i !== null)
        .join(', ') ||
      (main ? `(seq: ${main.relation})` : x.plan[0]?.includes('arbiter') ? '(arbiter index only)' : '—');
    log(
      `${x.phase.padEnd(8)} ${shorten(x.sql, 64).padEnd(64)} ${node.padEnd(16)} ${idx.slice(0, 40).padEnd(40)} ${(x.rows === null ? '—' : String(x.rows)).padStart(5)} ${(x.ms === null ? '—' : x.ms.toFixed(3)).padStart(7)}  ${x.verdict.padEnd(13)} ${emptyPlan(x)}`,
    );
  }
}

async function main(): Promise<void> {
  const { values: opt } = parseArgs({
    options: {
      orders: { type: 'string', default: '1000' },
      slots: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '16' },
      'seed-events': { type: 'string', default: '1000000' },
      'seed-orders': { type: 'string', default: '1000000' },
      rounds: { type: 'string', default: '3' },
      pool: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'no-explain': { type: 'boolean', default: false },
      'extra-sql': { type: 'string' },
      tsx: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (opt.help) {
    process.stdout.write(`Usage: npx tsx bench/scale.ts [options]
  --orders N          deliveries (distinct paid orders) per measured run (1000)
  --slots S           slots the measured orders are spread over (20)
  --concurrency C     requests in flight, closed loop (16)
  --seed-events E     inbox rows of the seeded history (1000000)
  --seed-orders O     orders of the seeded history, with their holds, payments, history and jobs (1000000)
  --rounds R          measured runs per database, alternating (3; each figure is the median)
  --pool P            Settle's DATABASE_POOL_MAX (default C)
  --log-level L       Settle's LOG_LEVEL (info)
  --no-explain        skip the capture and EXPLAIN of the hot statements
  --extra-sql SQL     run SQL on both databases after Settle's migrations (to try an index not yet in a migration)
  --tsx               run Settle and the emulator through tsx even when dist/ exists
`);
    return;
  }
  const num = (s: string | undefined, d: number): number => {
    const v = Number(s);
    return s !== undefined && s !== '' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : d;
  };
  await runScale({
    orders: num(opt.orders, 1000),
    slots: num(opt.slots, 20),
    concurrency: num(opt.concurrency, 16),
    seedEvents: Math.max(1, num(opt['seed-events'], 1_000_000)),
    seedOrders: Math.max(1, num(opt['seed-orders'], 1_000_000)),
    rounds: num(opt.rounds, 3),
    ...(opt.pool !== undefined ? { pool: num(opt.pool, 16) } : {}),
    logLevel: opt['log-level'] ?? 'info',
    tsx: opt.tsx,
    noExplain: opt['no-explain'],
    ...(opt['extra-sql'] ? { extraSql: opt['extra-sql'] } : {}),
    ...(process.env['DATABASE_URL'] ? { databaseUrl: process.env['DATABASE_URL'] } : {}),
  });
}

// The CLI when run directly (not when imported for runScale).
if (process.argv[1] !== undefined && /bench[\\/]scale\.ts$/.test(process.argv[1])) {
  await runBenchMain(main);
}
