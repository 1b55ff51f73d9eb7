/**
 * Benchmark: webhook ingest end to end, next to PostgreSQL's own limit, in one run (issue 14). Prints figures; asserts
 * nothing. Run: `npm run bench:ingest` (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/postgres).
 *
 *   npm run bench:ingest -- --orders 1000 --slots 20 --concurrency 16 --latency-ms 0
 *
 * Processes: the standalone Stripe emulator, a configured Settle server (STRIPE_API_BASE at the emulator, a fresh
 * database on the PostgreSQL server), and the load generator (bench/ingest/loadgen.ts), each in its own process.
 * Orders are made through Settle's API and paid at the emulator, which records `checkout.session.completed` but
 * delivers nothing (no endpoint is registered there). The events are then signed with Settle's configured secret
 * and POSTed to /webhooks/stripe: verify → inbox → the session re-read from the emulator → confirmPayment() → jobs →
 * 200. The limit: pgbench, same client count, on the same database (bench/ingest/limit.ts). Options: see `--help`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runLimits, type LimitFigures } from './ingest/limit.js';
import { cpuPerEvent, cpuSnapshot, formatCpu, type CpuPerEvent } from './ingest/cpu.js';
import type { LoadJob, LoadResult } from './ingest/loadgen.js';
import {
  completedEvents,
  createListings,
  createSlots,
  paidCount,
  paidOrders,
  sign,
  type Endpoints,
  type PaidOrder,
} from './ingest/market.js';
import {
  benchEndpoints,
  runBenchMain,
  freePort,
  nodeArgs,
  onCleanup,
  runLoadgen,
  settleServerEnv,
  startProc,
  startStripeEmulatorProc,
  waitReady,
} from './ingest/procs.js';

const { values: opt } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000' },
    slots: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    pool: { type: 'string' },
    'latency-ms': { type: 'string', default: '0' },
    'log-level': { type: 'string', default: 'info' },
    'one-slot': { type: 'boolean', default: true },
    'no-one-slot': { type: 'boolean', default: false },
    rates: { type: 'string', default: '25,50,100' },
    storm: { type: 'string', default: '1000' },
    'pgbench-tx': { type: 'string' },
    'pgbench-repeat': { type: 'string', default: '3' },
    unprepared: { type: 'boolean', default: false },
    capture: { type: 'boolean', default: true },
    'no-capture': { type: 'boolean', default: false },
    'no-limit': { type: 'boolean', default: false },
    tsx: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  process.stdout.write(`Usage: npm run bench:ingest -- [options]
  --orders N         deliveries for distinct orders in the maximum-rate runs (1000)
  --slots S          slots the orders are spread over (20)
  --concurrency C    requests in flight (closed loop) and pgbench clients (16)
  --pool P           Settle's DATABASE_POOL_MAX (default C)
  --latency-ms L     added latency of the emulator's checkout-session API (the re-read) (0)
  --log-level L      Settle's LOG_LEVEL (info, as in production)
  --rates a,b,c      open-loop rates in % of the measured maximum (25,50,100; empty to skip)
  --no-one-slot      skip the one-slot run
  --storm K          copies of one event sent at once (1000; 0 to skip)
  --pgbench-tx T     pgbench transactions per run, all clients together (default N: the same pending holds per
                     slot as the ingest run, which Settle's inventory query reads)
  --pgbench-repeat R each pgbench figure is the median of R runs (3)
  --unprepared       Settle with DATABASE_PREPARED_STATEMENTS=false and pgbench -M extended (default: Settle's named
                     statements, pgbench -M prepared: the same protocol on both sides)
  --no-capture       do not capture Settle's SQL from the server log (hand-written baseline only)
  --no-limit         skip pgbench
  --tsx              run Settle and the emulator through tsx even when dist/ exists
  --cpu-prof         write a V8 CPU profile of the Settle server to the run's directory (node --cpu-prof)
`);
  process.exit(0);
}
const num = (s: string | undefined, d: number): number => {
  const v = Number(s);
  return s !== undefined && s !== '' && Number.isFinite(v) && v >= 0 ? v : d;
};
const N = num(opt.orders, 1000);
const S = Math.max(1, num(opt.slots, 20));
const C = Math.max(1, num(opt.concurrency, 16));
const POOL = Math.max(1, num(opt.pool, C));
const LATENCY = num(opt['latency-ms'], 0);
const RATES = (opt.rates ?? '')
  .split(',')
  .map((x) => Number(x.trim()))
  .filter((x) => Number.isFinite(x) && x > 0);
const STORM = num(opt.storm, 1000);
const PGBENCH_TX = Math.max(C, num(opt['pgbench-tx'], N));
const PGBENCH_REPEAT = Math.max(1, num(opt['pgbench-repeat'], 3));
const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The process groups of the CPU line, in print order. */
const CPU_GROUPS = ['settle', 'postgres', 'pg-background', 'emulator', 'loadgen', 'bench', 'other'] as const;

const pct = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);

interface Phase {
  label: string;
  n: number;
  rate: number;
  result: LoadResult;
  paid: number;
  /** Closed-loop runs: CPU per event by process. */
  cpu?: CpuPerEvent;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'settle-ingest-'));
  const adminPg = new pg.Client({ connectionString: DATABASE_URL });
  await adminPg.connect();
  onCleanup('admin connection', () => adminPg.end());
  const pgVersion = (await adminPg.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?';
  const settleArgs = nodeArgs('src/main.ts', !opt.tsx);
  const emuArgs = nodeArgs('src/cli/emulator.ts', !opt.tsx);
  console.log(`Settle ingest benchmark — ${new Date().toISOString()}`);
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${f0(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  console.log(`postgres: ${pgVersion.split(' on ')[0] ?? pgVersion}`);
  console.log(
    `settle: ${settleArgs.compiled ? 'compiled (node dist/src/main.js)' : 'tsx src/main.ts'}, LOG_LEVEL ${opt['log-level']}, DATABASE_POOL_MAX ${POOL}, prepared statements ${opt.unprepared ? 'off (pgbench -M extended)' : 'on (pgbench -M prepared)'}; emulator: own process, re-read latency ${LATENCY} ms`,
  );
  console.log(`orders ${N} over ${S} slots, concurrency ${C}; logs in ${dir}\n`);

  // A fresh database for the run, dropped at the end.
  const dbName = `settle_ingest_${randomBytes(4).toString('hex')}`;
  await adminPg.query(`CREATE DATABASE ${dbName}`);
  onCleanup(`database ${dbName}`, async () => {
    await adminPg.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });
  const dbUrl = new URL(DATABASE_URL);
  dbUrl.pathname = `/${dbName}`;
  const db = new pg.Client({ connectionString: dbUrl.toString() });

  // The emulator and Settle, each in its own process.
  const { proc: emu, url: emulatorUrl } = await startStripeEmulatorProc({ dir, tsx: !emuArgs.compiled });
  const webhookSecret = `whsec_${randomBytes(24).toString('base64url')}`;
  const e: Endpoints = benchEndpoints(emulatorUrl);
  const settlePort = await freePort();
  const settleLog = join(dir, 'settle.log');
  const settle = startProc(
    'settle',
    [...(opt['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), ...settleArgs.args],
    settleServerEnv({
      port: settlePort,
      logLevel: opt['log-level'] ?? 'info',
      database: {
        DATABASE_URL: dbUrl.toString(),
        DATABASE_POOL_MAX: String(POOL),
        DATABASE_PREPARED_STATEMENTS: opt.unprepared ? 'false' : 'true',
      },
      stripeKey: e.stripeKey,
      stripeApiBase: emulatorUrl,
      webhookSecret,
      adminToken: e.adminToken,
    }),
    settleLog,
  );
  e.settle = `http://127.0.0.1:${settlePort}`;
  await waitReady(settle, `${e.settle}/healthz`, settleLog);
  await db.connect();
  onCleanup('benchmark db connection', () => db.end());

  // The market.
  const t0 = Date.now();
  const listings = await createListings(e, 4);
  // An open-loop run lasts about 8 s (bounded by N deliveries).
  const rateN = (rate: number) => Math.max(C * 4, Math.min(N, Math.round(rate * 8)));
  const totalOrders = N * (1 + RATES.length) + 50;
  const slots = await createSlots(e, listings, S, Math.ceil(totalOrders / S) + 10);
  const [oneSlot] = await createSlots(e, listings, 1, N + 10);

  const setLatency = async (ms: number): Promise<void> => {
    await fetch(`${emulatorUrl}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        ms > 0 ? { apiLatencyMs: ms, apiLatencyPath: '/v1/checkout/sessions' } : { apiLatencyMs: 0 },
      ),
    });
  };

  const prepare = async (
    slotIds: readonly string[],
    n: number,
  ): Promise<{ orders: PaidOrder[]; bodies: string[] }> => {
    await setLatency(0);
    const orders = await paidOrders(e, slotIds, n);
    const bodies = await completedEvents(e, orders);
    return { orders, bodies };
  };

  const loadgen = async (
    deliveries: ReturnType<typeof sign>,
    concurrency: number,
    rate: number,
  ): Promise<LoadResult> => {
    const job: LoadJob = {
      url: `${e.settle}/webhooks/stripe`,
      deliveries,
      concurrency,
      rate,
      timeoutMs: 60_000,
    };
    return runLoadgen(dir, job);
  };

  const phases: Phase[] = [];
  const line = (p: Phase): void => {
    const r = p.result;
    const ok = r.status['200'] ?? 0;
    const rate = (ok / r.wallMs) * 1000;
    const other = Object.entries(r.status)
      .filter(([k]) => k !== '200')
      .map(([k, v]) => `${k}×${v}`)
      .join(' ');
    console.log(
      `${p.label.padEnd(34)} ${String(p.n).padStart(5)} ev  ${p.rate > 0 ? `offered ${f0(p.rate).padStart(4)}/s` : 'closed loop   '}  ${f0(rate).padStart(5)}/s  p50 ${f1(pct(r.latencies, 50)).padStart(6)} ms  p99 ${f1(pct(r.latencies, 99)).padStart(6)} ms  max ${f1(r.latencies[r.latencies.length - 1] ?? 0).padStart(6)} ms  paid ${p.paid}/${p.n}${other ? `  other: ${other}` : ''}${r.errors ? `  errors ${r.errors}` : ''}`,
    );
  };

  const runPhase = async (
    label: string,
    slotIds: readonly string[],
    n: number,
    rate: number,
  ): Promise<Phase> => {
    const { orders, bodies } = await prepare(slotIds, n);
    await setLatency(LATENCY);
    const signed = sign(bodies, webhookSecret);
    const pids = { settle: settle.child.pid, emulator: emu.child.pid, bench: process.pid };
    const before = cpuSnapshot(pids);
    const result = await loadgen(signed, C, rate);
    const cpu = rate === 0 ? cpuPerEvent(before, cpuSnapshot(pids), n, result.cpuMs) : undefined;
    const p: Phase = {
      label,
      n,
      rate,
      result,
      paid: await paidCount(
        db,
        orders.map((o) => o.orderId),
      ),
      ...(cpu ? { cpu } : {}),
    };
    phases.push(p);
    line(p);
    if (cpu) console.log(`${''.padEnd(34)} ${formatCpu(cpu, CPU_GROUPS)}`);
    return p;
  };

  console.log(`market ready in ${f0((Date.now() - t0) / 1000)} s (orders are made per run, not timed)\n`);
  console.log('Ingest: signed checkout.session.completed → POST /webhooks/stripe');
  const max = await runPhase(`max, ${S} slots`, slots, N, 0);
  const maxRate = ((max.result.status['200'] ?? 0) / max.result.wallMs) * 1000;
  for (const r of RATES) {
    const rate = (maxRate * r) / 100;
    await runPhase(`${r} % of max, ${S} slots`, slots, rateN(rate), rate);
  }
  let oneSlotPhase: Phase | null = null;
  if (!opt['no-one-slot'] && oneSlot !== undefined)
    oneSlotPhase = await runPhase('max, one slot', [oneSlot], N, 0);

  if (STORM > 0) {
    const { orders, bodies } = await prepare(slots, 1);
    await setLatency(LATENCY);
    const one = sign(bodies, webhookSecret)[0]!;
    const result = await loadgen(
      Array.from({ length: STORM }, () => one),
      STORM,
      0,
    );
    const f = await db.query<{ n: number }>(
      `select count(*)::int as n from order_events where order_id = $1 and to_status = 'paid'`,
      [orders[0]!.orderId],
    );
    const codes = Object.entries(result.status)
      .map(([k, v]) => `${k}×${v}`)
      .join(' ');
    console.log(
      `${'duplicate storm'.padEnd(34)} ${String(STORM).padStart(5)} copies of one event at once: all answered in ${f0(result.wallMs)} ms (p50 ${f1(pct(result.latencies, 50))} ms, p99 ${f1(pct(result.latencies, 99))} ms), ${codes}${result.errors ? `, errors ${result.errors}` : ''}; fulfilments ${f.rows[0]?.n ?? '?'} (goal 1)`,
    );
  }
  await setLatency(0);

  // The limit, on the same database: Settle's SQL is captured first, then Settle and the emulator stop.
  let limits: LimitFigures | null = null;
  if (!opt['no-limit']) {
    console.log('\nThe limit: pgbench, same client count, same database');
    limits = await runLimits({
      adminPg,
      db,
      dbUrl: dbUrl.toString(),
      dbName,
      dir,
      clients: C,
      slots,
      oneSlot: oneSlot ?? slots[0]!,
      transactions: PGBENCH_TX,
      repeat: PGBENCH_REPEAT,
      protocol: opt.unprepared ? 'extended' : 'prepared',
      beforePgbench: async () => {
        await settle.stop();
        await emu.stop();
      },
      capture:
        opt.capture && !opt['no-capture']
          ? {
              // Five deliveries one at a time, 300 ms apart, so the queue worker's jobs of one confirmation are done
              // before the next starts (its statements are told apart and left out of the capture).
              run: async () => {
                const { bodies } = await prepare(slots, 5);
                await setLatency(LATENCY);
                for (const d of sign(bodies, webhookSecret)) {
                  const r = await fetch(`${e.settle}/webhooks/stripe`, {
                    method: 'POST',
                    headers: { 'content-type': 'application/json', 'stripe-signature': d.signature },
                    body: d.body,
                  });
                  await r.text();
                  await new Promise((res) => setTimeout(res, 300));
                }
                await setLatency(0);
              },
              template: async () => (await paidOrders(e, slots, 1))[0]!.orderId,
            }
          : null,
    });
  }

  // Settle ÷ limit.
  console.log('\nSettle ÷ limit (this run)');
  const rateOf = (p: Phase) => ((p.result.status['200'] ?? 0) / p.result.wallMs) * 1000;
  const half = phases.find((p) => p.label.startsWith('50 %'));
  const rows: [string, number | null, number | null, string][] = [
    ['many slots ÷ pgbench Settle SQL', rateOf(max), limits?.captured?.many ?? null, '≥ 0.7'],
    ['many slots ÷ pgbench confirm-shaped', rateOf(max), limits?.minimal.many ?? null, '≥ 0.35'],
    [
      'one slot ÷ pgbench Settle SQL',
      oneSlotPhase ? rateOf(oneSlotPhase) : null,
      limits?.captured?.one ?? null,
      '≥ 0.7',
    ],
    [
      'one slot ÷ pgbench confirm-shaped',
      oneSlotPhase ? rateOf(oneSlotPhase) : null,
      limits?.minimal.one ?? null,
      '≥ 0.35',
    ],
  ];
  for (const [label, settleRate, limit, goal] of rows) {
    if (settleRate === null || limit === null) {
      console.log(`${label.padEnd(38)} (not measured)`);
      continue;
    }
    console.log(
      `${label.padEnd(38)} ${f0(settleRate).padStart(5)}/s ÷ ${f0(limit).padStart(5)}/s = ${(settleRate / limit).toFixed(3)}×  (goal ${goal})`,
    );
  }
  if (half)
    console.log(`${'p99 at half load'.padEnd(38)} ${f1(pct(half.result.latencies, 99))} ms  (goal ≤ 25 ms)`);
  if (limits?.capturedScript)
    console.log(`\nCaptured Settle SQL as a pgbench script: ${limits.capturedScript}`);
}

await runBenchMain(main);
