/**
 * Settle as it runs in production, for the crash and fault tests: `src/main.ts` (what `npm start` runs) in a child
 * process with a configured environment (STRIPE_SECRET_KEY + STRIPE_API_BASE at a standalone emulator started by
 * the test, a PostgreSQL server database), killed and restarted by the test.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freshDb } from '../helpers/db.js';

const run = promisify(execFile);
const TSX = join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs');

export const CHILD_ADMIN_TOKEN = 'reliability-admin-Zq8vN3kP0xT7wL2m';

/** A fresh, migrated database on the PostgreSQL server; `drop()` removes it (forcing its connections off). */
export async function serverDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const t = await freshDb('server', { poolMax: 2 });
  await t.close();
  const url = t.url ?? '';
  const name = new URL(url).pathname.slice(1);
  return {
    url,
    name,
    drop: async () => {
      const admin = new pg.Client({ connectionString: process.env['DATABASE_URL'] });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SettleProcess {
  url: string;
  child: ChildProcess;
  /** stdout + stderr so far (the log at LOG_LEVEL). */
  output(): string;
  /** Resolves when the process has exited (by itself, a crash point, or stop()). */
  exited: Promise<Exit>;
  /** SIGTERM (graceful shutdown), SIGKILL after 10 s. */
  stop(): Promise<Exit>;
}

/** Starts `src/main.ts` with `env` (plus PATH) and waits until /healthz answers. */
export async function startSettleProcess(env: Record<string, string>): Promise<SettleProcess> {
  // `node --import tsx`, not the tsx CLI: the CLI is a parent process that would turn a SIGKILL into exit code 137.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done: Exit | null = null;
  void exited.then((e) => (done = e));
  const url = `http://127.0.0.1:${env['PORT'] ?? '3000'}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (done !== null) throw new Error(`Settle exited during start (${JSON.stringify(done)}):\n${out}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Settle did not start within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => out,
    exited,
    stop: async () => {
      if (done !== null) return done;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const e = await exited;
      clearTimeout(t);
      return e;
    },
  };
}

/** Resolves with the exit, or null when the process is still running after `ms`. */
export async function exitWithin(p: SettleProcess, ms: number): Promise<Exit | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  const e = await Promise.race([p.exited, timeout]);
  clearTimeout(timer);
  return e;
}

/** `npm run reconcile -- --hours N` as a child process; returns its exit code and output. */
export async function reconcileCli(
  env: Record<string, string>,
  hours = 2,
): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [TSX, 'src/cli/reconcile.ts', '--hours', String(hours)], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : 1,
      out: (err.stdout ?? '') + (err.stderr ?? ''),
    };
  }
}

/** JSON over HTTP against a Settle process; `admin` adds the operator token. */
export async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { admin?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.admin ? { authorization: `Bearer ${CHILD_ADMIN_TOKEN}` } : {}),
      ...opts.headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed as T };
}
