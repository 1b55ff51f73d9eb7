/**
 * `npm run bench`: every benchmark of issue 14, one after the other, in one run, so every figure in
 * docs/performance.md comes from the same run on the same machine. It builds first (the benchmarks run the compiled
 * server from dist/, which must be the code being measured), then runs each benchmark as its own process and writes
 * the whole output to a file as well as to the terminal. Prints figures; asserts nothing.
 *
 *   npm run bench                      # all of them (about 11 minutes on the 2-core machine)
 *   npm run bench -- --only ingest,scale
 *
 * DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/postgres (the benchmarks that need the server).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const BENCHES: { name: string; file: string; args: string[]; what: string }[] = [
  {
    name: 'startup',
    file: 'bench/startup-memory.ts',
    args: ['--npm-start'],
    what: 'start-up time and idle memory (and npm start)',
  },
  {
    name: 'confirm',
    file: 'bench/confirm-payment.ts',
    args: [],
    what: 'confirmPayment() in process, one-buyer loop',
  },
  {
    name: 'ingest',
    file: 'bench/ingest.ts',
    args: [],
    what: 'Stripe webhook ingest and its PostgreSQL limit',
  },
  {
    name: 'scale',
    file: 'bench/scale.ts',
    args: [],
    what: 'ingest with 10⁶ orders and events stored; EXPLAIN',
  },
  { name: 'memory', file: 'bench/memory-ingest.ts', args: [], what: 'RSS under sustained ingest' },
  { name: 'peer', file: 'bench/peer.ts', args: [], what: '@supabase/stripe-sync-engine on the same events' },
  {
    name: 'providers',
    file: 'bench/ingest-providers.ts',
    args: [],
    what: 'PayPal and Square webhook ingest',
  },
];

const { values: opt } = parseArgs({
  options: { only: { type: 'string' }, 'no-build': { type: 'boolean', default: false } },
});
const only = opt.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const unknown = only?.filter((n) => !BENCHES.some((b) => b.name === n)) ?? [];
if (unknown.length > 0) {
  console.error(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`,
  );
  process.exit(2);
}
const selected = BENCHES.filter((b) => only === undefined || only.includes(b.name));

// Every benchmark that can use the PostgreSQL server gets the same one (bench/startup-memory.ts skips it unset).
const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dir = mkdtempSync(join(tmpdir(), 'settle-bench-'));
const logPath = join(dir, 'bench.txt');
const log = createWriteStream(logPath);
const out = (s: string): void => {
  process.stdout.write(s);
  log.write(s);
};

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DATABASE_URL },
    });
    child.stdout.on('data', (b: Buffer) => out(b.toString()));
    child.stderr.on('data', (b: Buffer) => out(b.toString()));
    child.once('exit', (code, signal) => resolve(code ?? (signal !== null ? 128 : 1)));
  });
}

let interrupted = false;
process.on('SIGINT', () => {
  // The running benchmark gets the same Ctrl-C (same process group) and cleans up after itself.
  interrupted = true;
});

out(`Settle benchmarks — ${new Date().toISOString()}\n`);
out(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}\n`,
);
out(`output also in ${logPath}\n\n`);
const results: { name: string; code: number; seconds: number }[] = [];
if (!opt['no-build']) {
  out('== build (npm run build): the benchmarks run the compiled server ==\n');
  const code = await run('npm', ['run', 'build', '--silent']);
  if (code !== 0) {
    out(`build failed (exit ${code}); nothing measured\n`);
    process.exit(1);
  }
}
for (const b of selected) {
  if (interrupted) break;
  out(`\n== ${b.name}: ${b.what} (${b.file}) ==\n`);
  const t0 = Date.now();
  const code = await run(process.execPath, ['--import', 'tsx', b.file, ...b.args]);
  results.push({ name: b.name, code, seconds: (Date.now() - t0) / 1000 });
}
out('\n== summary ==\n');
for (const r of results)
  out(
    `${r.name.padEnd(10)} ${r.code === 0 ? 'ok    ' : `exit ${r.code}`} ${r.seconds.toFixed(0).padStart(5)} s\n`,
  );
out(`whole output: ${logPath}\n`);
log.end();
process.exitCode = results.every((r) => r.code === 0) && !interrupted ? 0 : 1;
