import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSettle, type SettleInstance } from '../../src/app/create.js';
import {
  startStripeEmulator,
  stripeClientFor,
  type StripeEmulator,
} from '../../src/emulators/stripe/index.js';
import { registerWebhookEndpoints } from '../../src/providers/stripe/index.js';
import { childPort } from '../helpers/ports.js';

const run = promisify(execFile);
const TSX = join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Runs one of the npm CLIs (`src/cli/*.ts`) as a child process, like `npm run …` would, and returns its output. */
async function cli(
  script: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [TSX, `src/cli/${script}.ts`, ...args], {
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

/**
 * A real deployment's configuration path: STRIPE_SECRET_KEY set (no in-process emulator, no demo seed), the
 * Stripe API at STRIPE_API_BASE (a standalone emulator standing in for api.stripe.com), webhook secrets from
 * registered endpoints, the embedded database on disk under SETTLE_DATA_DIR; then the operator CLIs.
 */
describe('configured deployment against STRIPE_API_BASE, with the migrate, doctor and reconcile commands', () => {
  let emu: StripeEmulator;
  let settle: SettleInstance;
  let env: Record<string, string>;
  let dataDir: string;

  beforeAll(async () => {
    emu = await startStripeEmulator({ port: 0, timeScale: 0.01 });
    const port = await childPort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const secrets = await registerWebhookEndpoints(stripeClientFor(emu, 'sk_test_deployment'), publicUrl);
    dataDir = mkdtempSync(join(tmpdir(), 'settle-deploy-'));
    env = {
      PORT: String(port),
      PUBLIC_URL: publicUrl,
      LOG_LEVEL: 'silent',
      SETTLE_DATA_DIR: dataDir,
      STRIPE_SECRET_KEY: 'sk_test_deployment',
      STRIPE_API_BASE: emu.url,
      STRIPE_WEBHOOK_SECRET: secrets.platformSecret,
      STRIPE_CONNECT_WEBHOOK_SECRET: secrets.connectSecret,
      SETTLE_ADMIN_TOKEN: 'deployment-admin-token-0123456789',
      SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
      SETTLE_QUEUE_POLL_MS: '25',
    };
    settle = await startSettle({ env });
  });

  afterAll(async () => {
    await settle?.close();
    await emu?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs without the demo: a seller onboards, a buyer pays, the Connect webhook confirms', async () => {
    expect(settle.emulator).toBeNull();
    expect(settle.ctx.dbKind).toBe('embedded');
    const admin = {
      authorization: `Bearer ${env['SETTLE_ADMIN_TOKEN']}`,
      'content-type': 'application/json',
    };
    const post = async (path: string, body: unknown, headers: Record<string, string> = admin) =>
      fetch(`${settle.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    expect(
      ((await (await fetch(`${settle.url}/api/listings`)).json()) as { listings: unknown[] }).listings,
    ).toEqual([]);
    const seller = (await (
      await post('/api/sellers', { name: 'Dock Studio', email: 'dock@example.test', chargeType: 'direct' })
    ).json()) as {
      id: string;
      accountId: string;
    };
    const link = (await (await post(`/api/sellers/${seller.id}/onboarding-link`, {})).json()) as {
      url: string;
    };
    // The seller submits the provider's onboarding form (a form POST to the link's URL).
    const onboard = await fetch(link.url, {
      method: 'POST',
      body: new URLSearchParams({}),
      redirect: 'manual',
    });
    expect(onboard.status).toBe(303);
    expect(onboard.headers.get('location')).toBe(
      `${env['PUBLIC_URL']}/sellers/${seller.id}/onboarding-return`,
    );
    await emu.idle();
    const state = (await (await fetch(`${settle.url}/api/sellers/${seller.id}`)).json()) as {
      chargesEnabled: boolean;
    };
    expect(state.chargesEnabled).toBe(true);
    const listing = (await (
      await post('/api/listings', {
        sellerId: seller.id,
        title: 'Clay night',
        currency: 'eur',
        unitAmount: 4200,
      })
    ).json()) as { id: string };
    const slot = (await (
      await post(`/api/listings/${listing.id}/slots`, {
        startsAt: new Date(Date.now() + 86_400_000).toISOString(),
        capacity: 4,
      })
    ).json()) as { id: string };
    const started = (await (
      await post('/api/checkout', { slotId: slot.id, quantity: 1 }, { 'content-type': 'application/json' })
    ).json()) as {
      orderId: string;
      checkoutUrl: string;
    };
    const paid = await fetch(started.checkoutUrl, {
      method: 'POST',
      body: new URLSearchParams({ card_number: '4242424242424242' }),
      redirect: 'manual',
    });
    expect(paid.status).toBe(303);
    await emu.idle();
    for (let i = 0; i < 100; i++) {
      const o = (await (await fetch(`${settle.url}/api/orders/${started.orderId}`)).json()) as {
        status: string;
      };
      if (o.status === 'paid') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const order = (await (
      await fetch(`${settle.url}/api/admin/orders/${started.orderId}`, { headers: admin })
    ).json()) as Record<string, unknown>;
    expect(order).toMatchObject({
      status: 'paid',
      total: 4200,
      platformFee: 420,
      confirmedVia: 'webhook',
      currency: 'eur',
    });
  });

  it('npm run doctor passes on this deployment, and fails (exit 1, with the fix) when the Connect endpoint is gone', async () => {
    await settle.close();
    const ok = await cli('doctor', env);
    expect(ok.out).toContain('PASS stripe.webhook.connect');
    expect(ok.out).toContain('PASS database.migrated');
    expect(ok.out).toMatch(/All \d+ checks passed/);
    expect(ok.code).toBe(0);

    const stripe = stripeClientFor(emu, 'sk_test_deployment');
    const endpoints = await stripe.webhookEndpoints.list();
    const connect = endpoints.data.find((e) => e.url.endsWith('/webhooks/stripe/connect'));
    await stripe.webhookEndpoints.del(connect!.id);
    const bad = await cli('doctor', env);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('FAIL stripe.webhook.connect');
    expect(bad.out).toContain('fix:');
    expect(bad.out).not.toContain(env['STRIPE_WEBHOOK_SECRET']);
  });

  it('npm run migrate reports an up-to-date database; npm run reconcile prints progress and a summary', async () => {
    const m = await cli('migrate', env);
    expect(m.code).toBe(0);
    expect(m.out).toContain('Already up to date.');
    const r = await cli('reconcile', env, ['--hours', '2']);
    expect(r.out).toContain('events stripe platform:');
    expect(r.out).toContain('Summary:');
    expect(r.out).toMatch(/accounts scanned\s+2/);
    expect(r.code).toBe(0);
    const bad = await cli('reconcile', env, ['--hours', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--hours must be a number');
  });

  it('bad configuration stops the start with every problem named', async () => {
    const r = await cli('migrate', { ...env, PORT: 'eighty', STRIPE_SECRET_KEY: 'pk_test_wrong' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('PORT');
    expect(r.out).toContain('STRIPE_SECRET_KEY');
  });
});
