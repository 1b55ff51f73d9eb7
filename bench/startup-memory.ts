/**
 * Benchmark: start-up time and idle memory of the compiled server (`node dist/src/main.js`, what production runs)
 * against the development path (`npx tsx src/main.ts`), in demo mode on the embedded database and, when
 * DATABASE_URL is set, on the PostgreSQL server (a fresh database per run). Prints figures; asserts nothing.
 * Linux (reads /proc).
 *
 *   npx tsx bench/startup-memory.ts [--idle 15] [--runs 1] [--npm-start]
 *
 * "ready" is the first 200 from /healthz; "running" is the `Settle is running` log line (the demo seeded).
 * RSS is sampled every 100 ms from the spawn to the end of the idle window after "running": "peak" is the highest
 * sample of the process Settle runs in (start-up: on the embedded database, initdb runs in a second PGlite
 * instance whose memory V8 frees some seconds later), "idle" the last one, "tree" the last sum over its whole
 * process tree (for `npx tsx`: the npm and tsx wrappers and the esbuild service too).
 * `--npm-start` adds `npm start` (its prestart build up to date) on the embedded database.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { tree } from './memory/rss.js';
import { PRODUCTION_NODE_FLAGS } from './production-flags.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const IDLE_S = arg('idle', 15);
const RUNS = arg('runs', 1);
const NPM_START = process.argv.includes('--npm-start');
const NODE = process.execPath;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

/** RSS in kB of one process (0 when gone). */
function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The process Settle runs in: the deepest process in the tree whose command line names main.ts or main.js. */
function mainPid(root: number): number {
  return (
    tree(root)
      .reverse()
      .find((p) => /main\.(ts|js)\b/.test(cmdline(p)) && !/\bnpm\b|\bsh -c\b/.test(cmdline(p))) ?? root
  );
}

interface Figures {
  readyMs: number;
  runningMs: number;
  peakRssMb: number;
  mainRssMb: number;
  treeRssMb: number;
  processes: number;
  shutdownMs: number;
  exit: string;
}

async function measure(command: string[], extraEnv: Record<string, string>): Promise<Figures> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? tmpdir(),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    SETTLE_EMULATOR_PORT: '0',
    SETTLE_PAYPAL_EMULATOR_PORT: '0',
    SETTLE_SQUARE_EMULATOR_PORT: '0',
    ...extraEnv,
  };
  const t0 = performance.now();
  const [cmd, ...args] = command;
  const child = spawn(cmd ?? NODE, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let runningAt = 0;
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (runningAt === 0 && out.includes('"msg":"Settle is running"')) runningAt = performance.now();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited: string | null = null;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = signal ?? String(code);
      resolve();
    }),
  );
  // Peak RSS of the process Settle runs in (found again while wrappers start it), sampled every 100 ms.
  const root = child.pid ?? 0;
  let main = root;
  let peakRss = 0;
  const sampler = setInterval(() => {
    if (main === root) main = mainPid(root);
    peakRss = Math.max(peakRss, rssKb(main));
  }, 100);
  let readyAt = 0;
  while (readyAt === 0) {
    if (exited !== null)
      throw new Error(`${command.join(' ')}: exited during start (${exited}):\n${out.slice(-4000)}`);
    if (performance.now() - t0 > 120_000) {
      child.kill('SIGKILL');
      throw new Error(`${command.join(' ')}: not ready within 120 s:\n${out.slice(-4000)}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.status === 200) readyAt = performance.now();
    } catch {
      // not listening yet
    }
    if (readyAt === 0) await sleep(25);
  }
  while (runningAt === 0 && exited === null && performance.now() - t0 < 120_000) await sleep(25);
  main = mainPid(root);
  let mainRss = 0;
  let treeRss = 0;
  let processes = 0;
  const idleUntil = performance.now() + IDLE_S * 1000;
  while (performance.now() < idleUntil) {
    await sleep(250);
    const pids = tree(root);
    mainRss = rssKb(main);
    treeRss = pids.reduce((sum, p) => sum + rssKb(p), 0);
    processes = pids.length;
  }
  clearInterval(sampler);
  peakRss = Math.max(peakRss, mainRss);
  // Graceful shutdown as an orchestrator does it: SIGTERM to the process Settle runs in.
  const t1 = performance.now();
  process.kill(main, 'SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  let mainCode: string;
  while (rssKb(main) > 0) await sleep(5);
  const shutdownMs = performance.now() - t1;
  if (main === root) {
    await exit;
    mainCode = exited ?? '?';
  } else {
    // A wrapper (npm, tsx) exits by itself once its child has; give it a moment before stopping it.
    const deadline = performance.now() + 3_000;
    while (exited === null && performance.now() < deadline) await sleep(10);
    mainCode = exited === null ? 'wrapper still running' : `wrapper ${exited}`;
    if (exited === null) child.kill('SIGTERM');
    await exit;
  }
  clearTimeout(killer);
  return {
    readyMs: readyAt - t0,
    runningMs: runningAt > 0 ? runningAt - t0 : NaN,
    peakRssMb: peakRss / 1024,
    mainRssMb: mainRss / 1024,
    treeRssMb: treeRss / 1024,
    processes,
    shutdownMs,
    exit: mainCode,
  };
}

function row(label: string, f: Figures): void {
  console.log(
    `${label.padEnd(46)} ready ${(f.readyMs / 1000).toFixed(2).padStart(5)} s  running ${(f.runningMs / 1000).toFixed(2).padStart(5)} s  RSS peak ${f.peakRssMb.toFixed(0).padStart(4)} MB, idle ${f.mainRssMb.toFixed(0).padStart(4)} MB  tree ${f.treeRssMb.toFixed(0).padStart(4)} MB (${f.processes} proc)  SIGTERM→exit ${f.shutdownMs.toFixed(0).padStart(3)} ms (${f.exit})`,
  );
}

async function postgresVersion(url: string | undefined): Promise<string> {
  if (!url) return 'n/a (DATABASE_URL not set: server runs skipped)';
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    const r = await c.query<{ server_version: string }>('show server_version');
    return r.rows[0]?.server_version ?? '?';
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function withDatabase(url: string, fn: (dbUrl: string) => Promise<void>): Promise<void> {
  const name = `settle_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  try {
    await fn(u.toString());
  } finally {
    const a = new pg.Client({ connectionString: url });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a.end();
  }
}

async function withDataDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'settle-bench-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const databaseUrl = process.env['DATABASE_URL'];
const pgVersion = await postgresVersion(databaseUrl);
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; PostgreSQL ${pgVersion}`,
);
const b0 = performance.now();
execFileSync(NPM, ['run', 'build', '--silent'], { stdio: 'ignore' });
console.log(
  `npm run build (incremental): ${((performance.now() - b0) / 1000).toFixed(1)} s; idle window ${IDLE_S} s; demo mode`,
);
console.log(
  '(the demo recreates its embedded database at every start, so an embedded start includes initdb)\n',
);

const serverUrl = databaseUrl !== undefined && !pgVersion.startsWith('unreachable') ? databaseUrl : null;
const commands: ReadonlyArray<[string, string[]]> = [
  [
    `node ${PRODUCTION_NODE_FLAGS.join(' ')} dist/src/main.js`,
    [NODE, ...PRODUCTION_NODE_FLAGS, 'dist/src/main.js'],
  ],
  ['npx tsx src/main.ts', [NPM, 'exec', '--', 'tsx', 'src/main.ts']],
];
for (let run = 1; run <= RUNS; run++) {
  if (RUNS > 1) console.log(`run ${run}/${RUNS}`);
  for (const [name, command] of commands) {
    await withDataDir(async (dir) =>
      row(`${name}, embedded`, await measure(command, { SETTLE_DATA_DIR: dir })),
    );
    if (serverUrl !== null) {
      await withDatabase(serverUrl, async (url) =>
        row(`${name}, PostgreSQL server`, await measure(command, { DATABASE_URL: url })),
      );
    }
  }
  if (NPM_START) {
    await withDataDir(async (dir) =>
      row(
        'npm start (build up to date), embedded',
        await measure([NPM, 'start', '--silent'], { SETTLE_DATA_DIR: dir }),
      ),
    );
  }
}
