/**
 * `npm run setup:square` (src/cli/setup-square.ts) against the Square emulator, as an operator runs it: it turns
 * the Events API on, subscribes SQUARE_WEBHOOK_URL to the seven event types, prints the signature key, and a second
 * run reuses the subscription. Without SQUARE_ACCESS_TOKEN it stops with a message saying what to set.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQUARE_EVENT_TYPES } from '../../../src/providers/square/index.js';
import {
  squareClientFor,
  startSquareEmulator,
  type SquareEmulator,
} from '../../../src/emulators/square/index.js';

const run = promisify(execFile);
const TSX = join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs');
const WEBHOOK_URL = 'https://market.example.test/webhooks/square';

async function setup(env: Record<string, string>): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [TSX, 'src/cli/setup-square.ts'], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('npm run setup:square', () => {
  let emu: SquareEmulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startSquareEmulator({ port: 0 });
    env = {
      SQUARE_APPLICATION_ID: emu.applicationId,
      SQUARE_APPLICATION_SECRET: emu.applicationSecret,
      SQUARE_ACCESS_TOKEN: emu.personalAccessToken,
      SQUARE_ENVIRONMENT: 'sandbox',
      SQUARE_API_BASE: emu.url,
      SQUARE_WEBHOOK_URL: WEBHOOK_URL,
      SQUARE_WEBHOOK_SIGNATURE_KEY: 'not-yet-known',
      SETTLE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      SETTLE_ADMIN_TOKEN: 'Zq8vR2mK7xWp4sNc9Lb3Tf6H',
    };
  });
  afterAll(async () => emu?.close());

  it('enables events, subscribes the URL to every event Settle handles, prints the key; a rerun reuses it', async () => {
    const first = await setup(env);
    expect(first.code, first.out).toBe(0);
    const key = /SQUARE_WEBHOOK_SIGNATURE_KEY=(\S+)/.exec(first.out)?.[1];
    expect(key).toBeTruthy();
    const app = squareClientFor(emu, emu.personalAccessToken);
    const subs = (await app.webhooks.subscriptions.list()).data.filter(
      (s) => s.notificationUrl === WEBHOOK_URL,
    );
    expect(subs).toHaveLength(1);
    expect([...(subs[0]?.eventTypes ?? [])].sort()).toEqual([...SQUARE_EVENT_TYPES].sort());
    // The Events API was turned on (Square keeps it off until enabled).
    expect(emu.apiCalls.filter((c) => c.path === '/v2/events/enable').map((c) => c.method)).toEqual(['PUT']);

    const again = await setup({ ...env, SQUARE_WEBHOOK_SIGNATURE_KEY: key ?? '' });
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('already holds its signature key');
    const after = (await app.webhooks.subscriptions.list()).data.filter(
      (s) => s.notificationUrl === WEBHOOK_URL,
    );
    expect(after).toHaveLength(1);
  });

  it('without the application token it says what to set', async () => {
    const { SQUARE_ACCESS_TOKEN: _t, ...rest } = env;
    const r = await setup(rest);
    expect(r.code).toBe(1);
    expect(r.out).toContain('SQUARE_ACCESS_TOKEN is not set');
  });
});
