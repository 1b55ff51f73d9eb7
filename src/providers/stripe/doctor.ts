import { sql } from 'kysely';
import type Stripe from 'stripe';
import type { Config } from '../../config/config.js';
import type { Db } from '../../db/connect.js';
import { pendingMigrations } from '../../db/migrate.js';
import { REQUIRED_EVENTS, WEBHOOK_PATHS } from './setup.js';

/**
 * The pre-implementation checklist, executable (`npm run doctor`, docs/doctor.md). Each check says what it found
 * and, when it fails, exactly how to fix it. The doctor only reads: it never creates or changes anything.
 * (It takes the Stripe SDK instance as its one provider dependency; it is operator tooling, not the payment path.)
 */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** How to fix a failed check; empty when ok. */
  fix: string;
}

export interface DoctorInput {
  config: Config;
  /** SDK client built from the configuration; null when no STRIPE_SECRET_KEY is set. */
  stripe: Stripe | null;
  db: Db;
}

const pass = (name: string, detail: string): DoctorCheck => ({ name, ok: true, detail, fix: '' });
const fail = (name: string, detail: string, fix: string): DoctorCheck => ({ name, ok: false, detail, fix });

function message(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/\b(sk|rk|pk)_(test|live)_[A-Za-z0-9_]+|\bwhsec_[A-Za-z0-9_]+/g, '[redacted]');
}

function keyCheck(config: Config): DoctorCheck {
  const name = 'stripe.key';
  const key = config.stripe.secretKey;
  if (key === null)
    return fail(
      name,
      'STRIPE_SECRET_KEY is not set (demo mode: the built-in emulator is used)',
      'Set STRIPE_SECRET_KEY to the secret key from Dashboard → Developers → API keys (sk_test_… first).',
    );
  const m = /^(sk|rk)_(test|live)_/.exec(key);
  if (m === null)
    return fail(
      name,
      'STRIPE_SECRET_KEY does not look like a Stripe secret key',
      'Use an sk_test_… or sk_live_… key.',
    );
  const mode = m[2] === 'live' ? 'live' : 'test';
  if (config.stripe.mode !== mode)
    return fail(
      name,
      `key is ${mode} mode but the configuration says ${String(config.stripe.mode)}`,
      'Use keys and webhook secrets of one mode only.',
    );
  return pass(name, `${mode}-mode ${m[1] === 'rk' ? 'restricted' : 'secret'} key`);
}

type Endpoint = Stripe.WebhookEndpoint & { connect?: boolean };

/** Connect endpoints report the platform's Connect application (`application`); some APIs also echo `connect`. */
function isConnectEndpoint(ep: Endpoint): boolean {
  return ep.connect === true || (ep.connect === undefined && ep.application !== null);
}

function endpointCheck(
  config: Config,
  endpoints: Endpoint[] | null,
  kind: 'platform' | 'connect',
): DoctorCheck {
  const name = kind === 'platform' ? 'stripe.webhook.platform' : 'stripe.webhook.connect';
  const url = `${config.publicUrl}${WEBHOOK_PATHS[kind]}`;
  const wantConnect = kind === 'connect';
  const label = wantConnect
    ? 'Connect endpoint ("Events on connected accounts")'
    : 'platform endpoint ("Events on your account")';
  const create = `Stripe Dashboard → Developers → Webhooks → Add endpoint: URL ${url}, listen to ${wantConnect ? '"Events on connected accounts"' : '"Events on your account"'}, events: ${REQUIRED_EVENTS.join(', ')}; then put its signing secret in ${wantConnect ? 'STRIPE_CONNECT_WEBHOOK_SECRET' : 'STRIPE_WEBHOOK_SECRET'}. (API: webhookEndpoints.create({url, enabled_events, connect: ${String(wantConnect)}}).)`;
  if (endpoints === null) return fail(name, 'could not list webhook endpoints (see stripe.api)', create);
  const atUrl = endpoints.filter((e) => e.url === url);
  const matching = atUrl.filter((e) => isConnectEndpoint(e) === wantConnect);
  if (matching.length === 0) {
    if (atUrl.length > 0)
      return fail(
        name,
        `an endpoint exists at ${url} but it is ${wantConnect ? 'an account (platform) endpoint, not a Connect endpoint' : 'a Connect endpoint, not an account endpoint'}`,
        `Delete it and create the ${label}. ${create}`,
      );
    return fail(
      name,
      wantConnect
        ? `no Connect endpoint at ${url}: direct-charge checkouts, refunds and disputes happen on connected accounts and would never reach Settle`
        : `no platform endpoint at ${url}: destination-charge checkouts, refunds and disputes would never reach Settle`,
      create,
    );
  }
  const enabled = matching.filter((e) => e.status === 'enabled');
  const ep = enabled[0];
  if (ep === undefined)
    return fail(
      name,
      `the ${label} at ${url} is disabled`,
      'Enable it in Dashboard → Developers → Webhooks.',
    );
  const wantLive = config.stripe.mode === 'live';
  if (ep.livemode !== wantLive)
    return fail(
      name,
      `the endpoint ${ep.id} is ${ep.livemode ? 'live' : 'test'} mode but the key is ${wantLive ? 'live' : 'test'} mode`,
      `Create the ${label} in ${wantLive ? 'live' : 'test'} mode. ${create}`,
    );
  const all = ep.enabled_events.includes('*');
  const missing = all ? [] : REQUIRED_EVENTS.filter((e) => !ep.enabled_events.includes(e));
  if (missing.length > 0) {
    const gap =
      wantConnect && missing.includes('checkout.session.completed')
        ? ' — this is the Direct Charge webhook gap: direct-charge sessions complete on the connected account, so without checkout.session.completed on the Connect endpoint paid direct-charge orders are only confirmed by the buyer returning to the site or by reconciliation'
        : '';
    return fail(
      name,
      `${ep.id} at ${url} does not send ${missing.join(', ')}${gap}`,
      `Dashboard → Developers → Webhooks → ${ep.id} → Select events: add ${missing.join(', ')} (API: webhookEndpoints.update('${ep.id}', {enabled_events: [...]})).`,
    );
  }
  const extra =
    enabled.length > 1 ? `; ${enabled.length} enabled endpoints share this URL (duplicate deliveries)` : '';
  return pass(
    name,
    `${ep.id} at ${url}, enabled, ${all ? 'all events' : `all ${REQUIRED_EVENTS.length} required events`}${wantConnect ? ' (incl. checkout.session.completed for direct charges)' : ''}${extra}`,
  );
}

/**
 * `stripe listen --forward-to … --forward-connect-to …` signs both forwards with one secret and registers no
 * endpoint. In test mode, the same secret in both variables is read as that setup.
 */
function usesCliForwarding(config: Config): boolean {
  return (
    config.stripe.mode === 'test' &&
    config.stripe.webhookSecrets.length > 0 &&
    config.stripe.webhookSecrets.some((s) => config.stripe.connectWebhookSecrets.includes(s))
  );
}

function secretsCheck(config: Config): DoctorCheck {
  const name = 'stripe.webhook.secrets';
  const problems: string[] = [];
  const fixes: string[] = [];
  const vars: Array<[string, string[]]> = [
    ['STRIPE_WEBHOOK_SECRET', config.stripe.webhookSecrets],
    ['STRIPE_CONNECT_WEBHOOK_SECRET', config.stripe.connectWebhookSecrets],
  ];
  for (const [v, secrets] of vars) {
    if (secrets.length === 0) {
      problems.push(`${v} is not set`);
      fixes.push(
        `Set ${v} to the endpoint's signing secret (Dashboard → Webhooks → endpoint → Signing secret).`,
      );
    } else if (!secrets.every((s) => s.startsWith('whsec_'))) {
      problems.push(`${v} has a value that does not start with whsec_`);
      fixes.push(`${v} takes the endpoint signing secret (whsec_…), not an API key.`);
    }
  }
  if (usesCliForwarding(config)) {
    if (problems.length > 0) return fail(name, problems.join('; '), fixes.join(' '));
    return pass(name, 'one secret for both endpoints: Stripe CLI forwarding (stripe listen) in test mode');
  }
  const shared = config.stripe.webhookSecrets.filter((s) => config.stripe.connectWebhookSecrets.includes(s));
  if (shared.length > 0) {
    problems.push('the same secret is configured for both endpoints');
    fixes.push(
      'Each endpoint has its own signing secret: copy the Connect endpoint secret into STRIPE_CONNECT_WEBHOOK_SECRET.',
    );
  }
  if (problems.length > 0) return fail(name, problems.join('; '), fixes.join(' '));
  return pass(
    name,
    `platform: ${config.stripe.webhookSecrets.length} secret(s), connect: ${config.stripe.connectWebhookSecrets.length} secret(s)`,
  );
}

/** Runs every check; never throws (a check that cannot run fails with the reason). */
export async function runDoctor(input: DoctorInput): Promise<DoctorCheck[]> {
  const { config, stripe, db } = input;
  const checks: DoctorCheck[] = [keyCheck(config)];

  let endpoints: Endpoint[] | null = null;
  if (stripe === null) {
    checks.push(
      fail(
        'stripe.api',
        'skipped: no STRIPE_SECRET_KEY',
        'Set STRIPE_SECRET_KEY, then run npm run doctor again.',
      ),
    );
  } else {
    try {
      // An authenticated read the next checks need anyway (webhook endpoints live on the platform account).
      const list: Endpoint[] = [];
      for await (const ep of stripe.webhookEndpoints.list({ limit: 100 })) list.push(ep);
      endpoints = list;
      checks.push(
        pass(
          'stripe.api',
          `${config.stripe.apiBase ?? 'api.stripe.com'} answered; ${list.length} webhook endpoint(s)`,
        ),
      );
    } catch (err) {
      checks.push(
        fail(
          'stripe.api',
          `Stripe API call failed: ${message(err)}`,
          'Check STRIPE_SECRET_KEY (a restricted key needs Webhook Endpoints: read), network access to api.stripe.com, and STRIPE_API_BASE if set.',
        ),
      );
    }
  }
  for (const kind of ['platform', 'connect'] as const) {
    const c = endpointCheck(config, endpoints, kind);
    checks.push(
      !c.ok && endpoints !== null && usesCliForwarding(config)
        ? pass(
            c.name,
            `not registered at PUBLIC_URL; accepted for Stripe CLI forwarding in test mode (register it before going live: ${c.fix})`,
          )
        : c,
    );
  }
  checks.push(secretsCheck(config));

  checks.push(
    config.adminToken !== null && config.adminToken.length >= 16
      ? pass('admin.token', 'SETTLE_ADMIN_TOKEN is set')
      : fail(
          'admin.token',
          'SETTLE_ADMIN_TOKEN is not set',
          'Set SETTLE_ADMIN_TOKEN to a random value of at least 16 characters (e.g. `openssl rand -hex 24`).',
        ),
  );

  let reachable = false;
  try {
    await sql`select 1`.execute(db);
    reachable = true;
    checks.push(pass('database.reachable', 'select 1 succeeded'));
  } catch (err) {
    checks.push(
      fail(
        'database.reachable',
        `database query failed: ${message(err)}`,
        'Check DATABASE_URL (host, port, credentials, database name) or, for the embedded database, that SETTLE_DATA_DIR is writable.',
      ),
    );
  }
  if (!reachable) {
    checks.push(
      fail('database.migrated', 'skipped: database not reachable', 'Fix database.reachable first.'),
    );
  } else {
    try {
      const pending = await pendingMigrations(db);
      checks.push(
        pending.length === 0
          ? pass('database.migrated', 'all migrations applied')
          : fail('database.migrated', `pending migrations: ${pending.join(', ')}`, 'Run `npm run migrate`.'),
      );
    } catch (err) {
      checks.push(
        fail('database.migrated', `could not read migrations: ${message(err)}`, 'Run `npm run migrate`.'),
      );
    }
  }

  const https = config.publicUrl.startsWith('https://');
  if (config.stripe.mode === 'live')
    checks.push(
      https
        ? pass('public_url', `${config.publicUrl} (https)`)
        : fail(
            'public_url',
            `${config.publicUrl} is not https with a live key`,
            'Set PUBLIC_URL to the public https:// origin Stripe and buyers reach Settle on.',
          ),
    );
  else
    checks.push(
      pass(
        'public_url',
        `${config.publicUrl}${https ? '' : ' (http is accepted in test mode; Stripe cannot deliver webhooks to localhost — use `stripe listen` or a tunnel)'}`,
      ),
    );
  return checks;
}
