/**
 * Child processes and cleanup for the ingest benchmark: every process and database it creates is registered here and
 * removed on exit, on an error and on Ctrl-C (SIGINT/SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { LoadJob, LoadResult } from './loadgen.js';
import type { Endpoints } from './market.js';
import { PRODUCTION_NODE_FLAGS } from '../production-flags.js';

type Cleanup = { name: string; run: () => Promise<void> };
const cleanups: Cleanup[] = [];
let cleaning: Promise<void> | null = null;

/** Registers work to undo at exit (run last-registered first). Returns a function that runs it now, once. */
export function onCleanup(name: string, run: () => Promise<void>): () => Promise<void> {
  const entry: Cleanup = { name, run };
  cleanups.push(entry);
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i < 0) return;
    cleanups.splice(i, 1);
    await run();
  };
}

/** A benchmark's CLI: runs `main`, prints an error's stack and sets exit code 1, and always cleans up. */
export async function runBenchMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    process.exitCode = 1;
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  } finally {
    await cleanupAll();
  }
}

export async function cleanupAll(): Promise<void> {
  if (cleaning !== null) return cleaning;
  cleaning = (async () => {
    while (cleanups.length > 0) {
      const c = cleanups.pop()!;
      try {
        await c.run();
      } catch (err) {
        process.stderr.write(
          `cleanup ${c.name} failed: ${err instanceof Error ? err.message : String(err)}\n`,
        );
      }
    }
  })();
  return cleaning;
}

let signalled = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (signalled) process.exit(130);
    signalled = true;
    process.stderr.write(`\n${sig}: cleaning up…\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/**
 * How to run one of the project's entry points with `node`: the compiled file under dist/ when a build exists (and
 * `preferDist`), else the TypeScript source through tsx's loader. The compiled server runs as production does, with
 * PRODUCTION_NODE_FLAGS.
 */
export function nodeArgs(srcFile: string, preferDist: boolean): { args: string[]; compiled: boolean } {
  const dist = resolve('dist', srcFile.replace(/\.ts$/, '.js'));
  if (preferDist && existsSync(dist))
    return { args: [...(srcFile === 'src/main.ts' ? PRODUCTION_NODE_FLAGS : []), dist], compiled: true };
  return { args: ['--import', 'tsx', resolve(srcFile)], compiled: false };
}

export interface Proc {
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/** Starts a process whose output goes to `logFile`; it is stopped (SIGTERM, then SIGKILL after 5 s) at cleanup. */
export function startProc(name: string, args: string[], env: Record<string, string>, logFile: string): Proc {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const stop = onCleanup(`process ${name}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  });
  return { name, child, stop, exited };
}

/** Polls `url` until it answers 2xx, the process exits, or `timeoutMs` passes. */
export async function waitReady(proc: Proc, url: string, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${proc.name} exited before it was ready; see ${logFile}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${proc.name} not ready after ${timeoutMs} ms; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The environment of a configured Settle server in the benchmarks: production mode, Stripe at the emulator, the
 * given database (`DATABASE_URL` and `DATABASE_POOL_MAX`, or `SETTLE_DATA_DIR`), rate limit off, and reconciliation
 * off (it would read the emulator's undelivered events and confirm the orders itself). `extra` adds to or overrides
 * it (another provider's configuration).
 */
export function settleServerEnv(o: {
  port: number;
  logLevel: string;
  database: Record<string, string>;
  stripeKey: string;
  stripeApiBase: string;
  webhookSecret: string;
  connectSecret?: string;
  adminToken: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: String(o.port),
    HOST: '127.0.0.1',
    LOG_LEVEL: o.logLevel,
    ...o.database,
    STRIPE_SECRET_KEY: o.stripeKey,
    STRIPE_API_BASE: o.stripeApiBase,
    STRIPE_WEBHOOK_SECRET: o.webhookSecret,
    STRIPE_CONNECT_WEBHOOK_SECRET: o.connectSecret ?? `whsec_${randomBytes(24).toString('base64url')}`,
    SETTLE_ADMIN_TOKEN: o.adminToken,
    SETTLE_RATE_LIMIT_PER_MINUTE: '0',
    SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
    ...o.extra,
  };
}

/**
 * Runs the load generator (bench/ingest/loadgen.ts) in its own process on `job`, its job and output files in `dir`,
 * and returns its result.
 */
export async function runLoadgen(dir: string, job: LoadJob): Promise<LoadResult> {
  const stamp = `${Date.now()}-${randomBytes(3).toString('hex')}`;
  const jobFile = join(dir, `job-${stamp}.json`);
  const outFile = join(dir, `loadgen-${stamp}.out`);
  writeFileSync(jobFile, JSON.stringify(job));
  const lg = startProc('loadgen', [...nodeArgs('bench/ingest/loadgen.ts', false).args, jobFile], {}, outFile);
  const code = await lg.exited;
  await lg.stop();
  // The job file holds signed deliveries: not left behind.
  rmSync(jobFile, { force: true });
  const lines = readFileSync(outFile, 'utf8').trim().split('\n');
  if (code !== 0)
    throw new Error(`load generator exited ${code}: ${lines.slice(-5).join('\n').slice(0, 500)}`);
  return JSON.parse(lines[lines.length - 1] ?? '{}') as LoadResult;
}

/** The standalone Stripe emulator (src/cli/emulator.ts) in its own process, ready when returned; its log in `dir`. */
export async function startStripeEmulatorProc(o: {
  dir: string;
  tsx: boolean;
  /** Names the process and its log file (`<label>.log`). */
  label?: string;
}): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const label = o.label ?? 'emulator';
  const log = join(o.dir, `${label}.log`);
  const proc = startProc(
    label,
    [...nodeArgs('src/cli/emulator.ts', !o.tsx).args, '--port', String(port), '--time-scale', '1'],
    { LOG_LEVEL: 'warn' },
    log,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(proc, `${url}/_emulator/clock`, log);
  return { proc, url };
}

/** Fresh credentials of a benchmark's Settle server against the emulator at `emulatorUrl` (`settle` set once it listens). */
export function benchEndpoints(emulatorUrl: string): Endpoints {
  return {
    settle: '',
    emulator: emulatorUrl,
    adminToken: randomBytes(24).toString('hex'),
    stripeKey: `sk_test_bench${randomBytes(8).toString('hex')}`,
  };
}
