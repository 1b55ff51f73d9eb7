/**
 * The production build: `npm run build` compiles the server, the CLIs and the browser bundle into dist/, and
 * `node dist/src/main.js` runs it with plain node (no tsx, no esbuild at run time), answers /healthz, serves the
 * prebuilt bundle and shuts down cleanly on SIGTERM. Builds into the repository's dist/ (incremental: fast when
 * up to date).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childPort } from '../helpers/ports.js';

const run = promisify(execFile);
const ROOT = process.cwd();
const DIST_MAIN = join(ROOT, 'dist', 'src', 'main.js');

/** The child processes of `pid` (Linux; empty elsewhere). */
function childrenOf(pid: number): string[] {
  if (process.platform !== 'linux') return [];
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe('production build: npm run build, then node dist/src/main.js', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'settle-prod-'));
    dirs.push(d);
    return d;
  };
  const baseEnv = (): Record<string, string> => ({ PATH: process.env['PATH'] ?? '', HOME: tmpdir() });

  beforeAll(async () => {
    await run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build', '--silent'], {
      cwd: ROOT,
      timeout: 110_000,
    });
  }, 120_000);

  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs the demo with plain node: ready, prebuilt assets, no esbuild, graceful SIGTERM', async () => {
    const port = await childPort();
    const child = spawn(process.execPath, [DIST_MAIN], {
      cwd: ROOT,
      env: {
        ...baseEnv(),
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        SETTLE_DATA_DIR: tempDir(),
        SETTLE_EMULATOR_PORT: '0',
        SETTLE_PAYPAL_EMULATOR_PORT: '0',
        SETTLE_SQUARE_EMULATOR_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let gone = false;
    void exited.then(() => (gone = true));
    const url = `http://127.0.0.1:${port}`;
    try {
      const deadline = Date.now() + 45_000;
      for (;;) {
        if (gone) throw new Error(`exited during start:\n${out}`);
        try {
          if ((await fetch(`${url}/healthz`)).status === 200) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`not ready within 45 s:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({
        status: 'ok',
        database: 'embedded',
      });

      // The page names the prebuilt bundle's hash; the bundle and stylesheet served are the files in dist/.
      const page = await (await fetch(`${url}/`)).text();
      const v = /app\.js\?v=([0-9a-f]{12})/.exec(page)?.[1];
      expect(v).toBeDefined();
      const js = await fetch(`${url}/assets/app.js?v=${v ?? ''}`);
      expect(js.status).toBe(200);
      expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(await js.text()).toBe(
        readFileSync(join(ROOT, 'dist', 'src', 'web', 'assets', 'app.js'), 'utf8'),
      );
      const css = await fetch(`${url}/assets/app.css`);
      expect(await css.text()).toBe(readFileSync(join(ROOT, 'src', 'web', 'assets', 'app.css'), 'utf8'));

      // No esbuild service (the bundle was not built at run time) and no other child process.
      if (child.pid !== undefined) expect(childrenOf(child.pid)).toEqual([]);

      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const exit = await exited;
      clearTimeout(killer);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(out).toContain('shutdown complete');
    } finally {
      if (!gone) child.kill('SIGKILL');
    }
  }, 60_000);

  it('runs the compiled CLIs with plain node', async () => {
    const env = { ...baseEnv(), SETTLE_DATA_DIR: tempDir(), LOG_LEVEL: 'silent' };
    const migrate = await run(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'migrate.js')], {
      env,
      timeout: 45_000,
    });
    expect(migrate.stdout).toContain('applied 0001-initial');
    for (const cli of ['src/cli/emulator.js', 'src/emulators/paypal/cli.js', 'src/emulators/square/cli.js']) {
      const r = await run(process.execPath, [join(ROOT, 'dist', cli), '--help'], { env, timeout: 30_000 });
      expect(r.stdout).toContain('Usage: npm run emulator');
    }
  }, 60_000);
});
