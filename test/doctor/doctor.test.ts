import type Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { runDoctor, type DoctorCheck } from '../../src/providers/stripe/doctor.js';
import { openDatabase, type OpenedDb } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { startStripeEmulator, type StripeEmulator } from '../../src/emulators/stripe/index.js';
import {
  REQUIRED_EVENTS,
  createStripeClient,
  registerWebhookEndpoints,
} from '../../src/providers/stripe/index.js';
import { testConfig } from '../providers/stripe/harness.js';

const PUBLIC_URL = 'https://market.example.com';

interface Setup {
  emu: StripeEmulator;
  stripe: Stripe;
  config: Config;
  db: OpenedDb;
}

// The doctor only reads, so one migrated and one empty database serve every test.
let migrated: OpenedDb;
let empty: OpenedDb;
beforeAll(async () => {
  [migrated, empty] = await Promise.all([openDatabase({ kind: 'memory' }), openDatabase({ kind: 'memory' })]);
  await migrateToLatest(migrated.db);
});
afterAll(async () => {
  await migrated?.close();
  await empty?.close();
});

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

async function setup(opts: { migrate?: boolean } = {}): Promise<Setup> {
  const emu = await startStripeEmulator({ timeScale: 0.01 });
  open.push(() => emu.close());
  const db = opts.migrate === false ? empty : migrated;
  const config = testConfig(emu.url, { PUBLIC_URL });
  return { emu, db, config, stripe: createStripeClient(config) };
}

function withSecrets(config: Config, s: { platformSecret: string; connectSecret: string }): Config {
  return {
    ...config,
    stripe: {
      ...config.stripe,
      webhookSecrets: [s.platformSecret],
      connectWebhookSecrets: [s.connectSecret],
    },
  };
}

const byName = (checks: DoctorCheck[], name: string): DoctorCheck => {
  const c = checks.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no check ${name}`);
  return c;
};

describe('runDoctor', () => {
  it('passes every check with both endpoints registered, secrets set and the database migrated', async () => {
    const s = await setup();
    const secrets = await registerWebhookEndpoints(s.stripe, PUBLIC_URL);
    const checks = await runDoctor({ config: withSecrets(s.config, secrets), stripe: s.stripe, db: s.db.db });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual([
      'stripe.key',
      'stripe.api',
      'stripe.webhook.platform',
      'stripe.webhook.connect',
      'stripe.webhook.secrets',
      'admin.token',
      'database.reachable',
      'database.migrated',
      'public_url',
    ]);
    expect(byName(checks, 'stripe.key').detail).toBe('test-mode secret key');
    expect(byName(checks, 'stripe.webhook.connect').detail).toContain(
      `${PUBLIC_URL}/webhooks/stripe/connect`,
    );
  });

  it('fails when the Connect endpoint is missing, with the fix', async () => {
    const s = await setup();
    await s.stripe.webhookEndpoints.create({
      url: `${PUBLIC_URL}/webhooks/stripe`,
      enabled_events: [...REQUIRED_EVENTS],
    });
    const checks = await runDoctor({ config: s.config, stripe: s.stripe, db: s.db.db });
    expect(byName(checks, 'stripe.webhook.platform').ok).toBe(true);
    const connect = byName(checks, 'stripe.webhook.connect');
    expect(connect.ok).toBe(false);
    expect(connect.detail).toContain('no Connect endpoint');
    expect(connect.fix).toContain(`${PUBLIC_URL}/webhooks/stripe/connect`);
    expect(connect.fix).toContain('STRIPE_CONNECT_WEBHOOK_SECRET');
  });

  it('calls out the Direct Charge gap when the Connect endpoint lacks checkout.session.completed', async () => {
    const s = await setup();
    await s.stripe.webhookEndpoints.create({ url: `${PUBLIC_URL}/webhooks/stripe`, enabled_events: ['*'] });
    const ce = await s.stripe.webhookEndpoints.create({
      url: `${PUBLIC_URL}/webhooks/stripe/connect`,
      enabled_events: REQUIRED_EVENTS.filter((e) => e !== 'checkout.session.completed'),
      connect: true,
    });
    const checks = await runDoctor({ config: s.config, stripe: s.stripe, db: s.db.db });
    expect(byName(checks, 'stripe.webhook.platform')).toMatchObject({ ok: true });
    const connect = byName(checks, 'stripe.webhook.connect');
    expect(connect.ok).toBe(false);
    expect(connect.detail).toContain('does not send checkout.session.completed');
    expect(connect.detail).toContain('Direct Charge webhook gap');
    expect(connect.fix).toContain(ce.id);
    expect(connect.fix).toContain('checkout.session.completed');
  });

  it('fails a platform endpoint registered at the Connect URL, and a disabled endpoint', async () => {
    const s = await setup();
    await s.stripe.webhookEndpoints.create({
      url: `${PUBLIC_URL}/webhooks/stripe/connect`,
      enabled_events: [...REQUIRED_EVENTS],
    });
    const pe = await s.stripe.webhookEndpoints.create({
      url: `${PUBLIC_URL}/webhooks/stripe`,
      enabled_events: [...REQUIRED_EVENTS],
    });
    await s.stripe.webhookEndpoints.update(pe.id, { disabled: true });
    const checks = await runDoctor({ config: s.config, stripe: s.stripe, db: s.db.db });
    expect(byName(checks, 'stripe.webhook.connect')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('not a Connect endpoint'),
    });
    expect(byName(checks, 'stripe.webhook.platform')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('disabled'),
    });
  });

  it('fails an unmigrated database with the fix', async () => {
    const s = await setup({ migrate: false });
    await registerWebhookEndpoints(s.stripe, PUBLIC_URL);
    const checks = await runDoctor({ config: s.config, stripe: s.stripe, db: s.db.db });
    expect(byName(checks, 'database.reachable').ok).toBe(true);
    expect(byName(checks, 'database.migrated')).toEqual({
      name: 'database.migrated',
      ok: false,
      detail:
        'pending migrations: 0001-initial, 0002-slot-start-index, 0003-hardening, 0004-leases, 0005-seller-accounts, 0006-seller-credentials, 0007-subscriptions, 0008-slot-held, 0009-hot-table-statistics',
      fix: 'Run `npm run migrate`.',
    });
  });

  it('fails without a key, with an unreachable API, and with shared or missing secrets and admin token', async () => {
    const s = await setup();
    const bare: Config = {
      ...s.config,
      adminToken: null,
      stripe: {
        ...s.config.stripe,
        secretKey: null,
        mode: null,
        webhookSecrets: [],
        connectWebhookSecrets: [],
      },
    };
    const checks = await runDoctor({ config: bare, stripe: null, db: s.db.db });
    for (const n of [
      'stripe.key',
      'stripe.api',
      'stripe.webhook.platform',
      'stripe.webhook.connect',
      'admin.token',
    ])
      expect(byName(checks, n).ok).toBe(false);
    expect(byName(checks, 'stripe.webhook.secrets').detail).toBe(
      'STRIPE_WEBHOOK_SECRET is not set; STRIPE_CONNECT_WEBHOOK_SECRET is not set',
    );

    // One secret for both endpoints: the Stripe CLI forwarding setup in test mode, a mistake in live mode.
    const shared = withSecrets(s.config, { platformSecret: 'whsec_same', connectSecret: 'whsec_same' });
    const cli = await runDoctor({ config: shared, stripe: s.stripe, db: s.db.db });
    expect(byName(cli, 'stripe.webhook.secrets')).toMatchObject({ ok: true });
    expect(byName(cli, 'stripe.webhook.secrets').detail).toContain('stripe listen');
    const liveShared: Config = { ...shared, stripe: { ...shared.stripe, mode: 'live' } };
    expect(
      byName(
        await runDoctor({ config: liveShared, stripe: s.stripe, db: s.db.db }),
        'stripe.webhook.secrets',
      ),
    ).toMatchObject({
      ok: false,
      detail: 'the same secret is configured for both endpoints',
    });

    s.emu.faults.set({ api5xx: { path: '/v1/webhook_endpoints', next: 1, status: 500 } });
    const down = await runDoctor({ config: s.config, stripe: s.stripe, db: s.db.db });
    expect(byName(down, 'stripe.api').ok).toBe(false);
    expect(byName(down, 'stripe.api').detail).not.toContain('sk_test_');
  });

  it('requires https PUBLIC_URL with a live key', async () => {
    const s = await setup();
    const live: Config = {
      ...s.config,
      publicUrl: 'http://market.example.com',
      stripe: { ...s.config.stripe, secretKey: 'sk_live_doctor', mode: 'live' },
    };
    const checks = await runDoctor({ config: live, stripe: null, db: s.db.db });
    expect(byName(checks, 'stripe.key')).toMatchObject({ ok: true, detail: 'live-mode secret key' });
    expect(byName(checks, 'public_url')).toMatchObject({ ok: false });
    expect(byName(checks, 'public_url').fix).toContain('https://');
  });
});
