/**
 * Benchmark: RSS of the compiled server (`node dist/src/main.js`) under sustained webhook ingest, on the PostgreSQL
 * server (issue 14's goal: ≤ 200 MB) and on the embedded database (PGlite, in-process). Prints figures; asserts
 * nothing. Linux (reads /proc). DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/postgres; a fresh
 * database is made per run and dropped at the end.
 *
 *   npx tsx bench/memory-ingest.ts [--seconds 45] [--rate R] [--kinds server,embedded]
 *                                  [--node-flags="--max-semi-space-size=2"]
 *
 * How it runs and what is sampled: bench/memory/run.ts. `runMemory()` is exported for other scripts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runBenchMain } from './ingest/procs.js';
import { PRODUCTION_NODE_FLAGS } from './production-flags.js';
import {
  machine,
  runLabel,
  runMemory,
  type Kind,
  type MemoryOptions,
  type MemoryReport,
  type RunSpec,
} from './memory/run.js';

export { runMemory, type MemoryOptions, type MemoryReport, type RunFigures } from './memory/run.js';

/** The issue's goal for the PostgreSQL server, MB. */
export const GOAL_MB = 200;

const USAGE = `Usage: npx tsx bench/memory-ingest.ts [options]
  --seconds S        sustained ingest per run (45)
  --rate R           offered deliveries/s (default: --fraction of a short closed loop, per database kind)
  --fraction F       share of the closed-loop rate offered, PostgreSQL server (0.7)
  --embedded-fraction F   the same on the embedded database (0.5: its one connection also runs the queue's jobs,
                     which a short closed loop leaves for later)
  --kinds K          server,embedded (default both; server needs the PostgreSQL server)
  --node-flags="F"   one more run per database kind with these node flags for the server (e.g.
                     "--max-semi-space-size=4"); repeat for more rows; each reuses its kind's offered rate
  --idle S           idle window after ready (8), --after S window after ingest (10)
  --concurrency C    closed-loop concurrency of the calibration (16), --calibration N its deliveries (400)
  --pool P           Settle's DATABASE_POOL_MAX (Settle's default: 10)
  --log-level L      Settle's LOG_LEVEL (info, as in production)
  --no-trace-gc      do not run the server with --trace-gc (no V8 heap figures)
  --main FILE        measure this compiled entry point instead of dist/src/main.js (an experimental build)
  --build            npm run build first (also done when dist/ is missing)
`;

const num = (s: string | undefined, d: number): number => {
  const v = Number(s);
  return s !== undefined && s !== '' && Number.isFinite(v) && v >= 0 ? v : d;
};
const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '–');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');

export function printReport(rep: MemoryReport, seconds: number, afterSeconds: number): void {
  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  const W = Math.max(30, ...rep.runs.map((r) => r.label.length + 8));
  out('');
  out(
    `${'run'.padEnd(W)} ${'start peak'.padStart(10)} ${'idle'.padStart(6)} ${'prepare'.padStart(8)} │ ${'ingest: peak'.padStart(12)} ${'HWM'.padStart(6)} ${'p95'.padStart(6)} ${'p50'.padStart(6)} │ ${`+${afterSeconds} s`.padStart(6)}  (MB)`,
  );
  for (const r of rep.runs) {
    out(
      `${r.label.padEnd(W)} ${f0(r.startPeakMb).padStart(10)} ${f0(r.idleMb).padStart(6)} ${f0(r.preparePeakMb).padStart(8)} │ ${f0(r.ingest.peakMb).padStart(12)} ${f0(r.ingest.hwmMb).padStart(6)} ${f0(r.ingest.p95Mb).padStart(6)} ${f0(r.ingest.p50Mb).padStart(6)} │ ${f0(r.afterMb).padStart(6)}`,
    );
  }
  out('');
  out('Load (open loop, latency from the scheduled send time):');
  for (const r of rep.runs) {
    const l = r.load;
    const other = Object.entries(l.other)
      .map(([k, v]) => `${k}×${v}`)
      .join(' ');
    out(
      `${r.label.padEnd(W)} offered ${f0(l.offeredRate).padStart(4)}/s${l.calibratedRate !== null ? ` (${f0(l.calibratedRate)}/s closed loop)` : ''}  confirmed ${l.ok}/${l.deliveries} in ${f1(l.wallS)} s = ${f0(l.rate)}/s  p50 ${f1(l.p50Ms)} ms  p99 ${f1(l.p99Ms)} ms  max ${f0(l.maxMs)} ms${l.paid !== null ? `  paid in db ${l.paid}` : ''}${other ? `  other ${other}` : ''}${l.errors ? `  errors ${l.errors}` : ''}`,
    );
    if (l.rate < 0.9 * l.offeredRate)
      out(
        `${''.padEnd(W)} OVERLOADED: the server fell behind the offered rate (requests queued; the ingest RSS includes that backlog). Rerun with a lower --rate or --fraction.`,
      );
  }
  out('');
  out('Detail:');
  for (const r of rep.runs) {
    const i = r.ingest;
    const h = r.heap;
    out(
      `${r.label.padEnd(W)} at the ingest peak: anon ${f0(i.peakAnonMb)} MB + file ${f0(i.peakFileMb)} MB; tree peak ${f0(i.treePeakMb)} MB (${i.processes} proc); end of ingest ${f0(i.endMb)} MB; lifetime VmHWM ${f0(r.lifetimeHwmMb)} MB; ${i.samples} samples`,
    );
    if (h !== null)
      out(
        `${''.padEnd(W)} V8 heap (--trace-gc) during ingest: used ≤ ${f1(h.ingestUsedMax)} MB after a GC, committed ≤ ${f1(h.ingestCommittedMax)} MB; ${h.ingestScavenges} scavenges, ${h.ingestFull} full GCs; used ${f1(h.afterUsed)} MB at the last GC`,
      );
    out(`${''.padEnd(W)} logs: ${r.logDir}`);
  }
  out('');
  for (const r of rep.runs) {
    if (r.kind !== 'server') continue;
    const worst = Math.max(r.ingest.peakMb, Number.isFinite(r.ingest.hwmMb) ? r.ingest.hwmMb : 0);
    out(
      `${`goal: ${r.label}`.padEnd(W)} peak RSS during ${seconds} s of ingest ${f0(worst)} MB, p95 ${f0(r.ingest.p95Mb)} MB  (goal ≤ ${GOAL_MB} MB: ${worst <= GOAL_MB ? 'met' : 'NOT met'})`,
    );
  }
  for (const r of rep.runs) {
    if (r.kind !== 'embedded') continue;
    out(
      `${`no goal: ${r.label}`.padEnd(W)} start-up peak ${f0(r.startPeakMb)} MB (initdb in a second PGlite instance), ingest peak ${f0(Math.max(r.ingest.peakMb, Number.isFinite(r.ingest.hwmMb) ? r.ingest.hwmMb : 0))} MB`,
    );
  }
}

async function main(): Promise<void> {
  const { values: opt } = parseArgs({
    options: {
      seconds: { type: 'string', default: '45' },
      rate: { type: 'string' },
      fraction: { type: 'string', default: '0.7' },
      'embedded-fraction': { type: 'string', default: '0.5' },
      kinds: { type: 'string', default: 'server,embedded' },
      'node-flags': { type: 'string', multiple: true, default: [] },
      idle: { type: 'string', default: '8' },
      after: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '16' },
      calibration: { type: 'string', default: '400' },
      pool: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'no-trace-gc': { type: 'boolean', default: false },
      build: { type: 'boolean', default: false },
      main: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (opt.help) {
    process.stdout.write(USAGE);
    return;
  }
  const kinds = (opt.kinds ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k): k is Kind => k === 'server' || k === 'embedded');
  const runs: RunSpec[] = [];
  for (const kind of kinds) {
    runs.push({ kind, nodeFlags: [] });
    for (const f of opt['node-flags'] ?? [])
      runs.push({ kind, nodeFlags: f.split(/\s+/).filter((x) => x !== '') });
  }
  if (opt.build || !existsSync(resolve('dist/src/main.js'))) {
    process.stdout.write('npm run build …\n');
    execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  }
  const seconds = Math.max(1, num(opt.seconds, 45));
  const afterSeconds = num(opt.after, 10);
  const o: MemoryOptions = {
    runs,
    seconds,
    rate: num(opt.rate, 0),
    fraction: {
      server: Math.min(1, Math.max(0.05, num(opt.fraction, 0.7))),
      embedded: Math.min(1, Math.max(0.05, num(opt['embedded-fraction'], 0.5))),
    },
    concurrency: Math.max(1, num(opt.concurrency, 16)),
    calibrationOrders: Math.max(50, num(opt.calibration, 400)),
    idleSeconds: num(opt.idle, 8),
    afterSeconds,
    sampleMs: 250,
    poolMax: opt.pool !== undefined ? Math.max(1, num(opt.pool, 10)) : undefined,
    logLevel: opt['log-level'] ?? 'info',
    slots: 20,
    traceGc: !opt['no-trace-gc'],
    databaseUrl: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    log: (s) => void process.stdout.write(`${s}\n`),
    ...(opt.main !== undefined ? { mainJs: opt.main } : {}),
  };
  const m = await machine(o.databaseUrl);
  process.stdout.write(`Settle memory under sustained ingest — ${new Date().toISOString()}\n`);
  process.stdout.write(
    `machine: ${m.cores} cores (${m.cpu}), ${m.memGiB.toFixed(0)} GiB, load average ${m.load}; node ${m.node}; PostgreSQL ${m.postgres}\n`,
  );
  process.stdout.write(
    `settle: node ${o.mainJs ?? `${PRODUCTION_NODE_FLAGS.join(' ')} dist/src/main.js`}${o.traceGc ? ' --trace-gc' : ''}, LOG_LEVEL ${o.logLevel}, DATABASE_POOL_MAX ${o.poolMax ?? 'default'}; ingest ${seconds} s per run at ${o.rate > 0 ? `${o.rate}/s` : `${Math.round(o.fraction.server * 100)} % (PostgreSQL server) / ${Math.round(o.fraction.embedded * 100)} % (embedded) of a closed loop (c=${o.concurrency}, ${o.calibrationOrders} deliveries)`}; RSS of /proc/<pid>/status every ${o.sampleMs} ms\n`,
  );
  process.stdout.write(`runs: ${runs.map(runLabel).join('; ')}\n\n`);
  const rep = await runMemory(o);
  printReport(rep, seconds, afterSeconds);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await runBenchMain(main);
}
