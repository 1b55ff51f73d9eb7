/**
 * Child processes and cleanup for the ingest benchmark: every process and database it creates is registered here and
 * removed on exit, on an error and on Ctrl-C (SIGINT/SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
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
