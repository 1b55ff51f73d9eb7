import { paypalConfigured, type Config } from '../../config/config.js';
import type { DoctorCheck } from '../stripe/doctor.js';
import type { PayPalApi } from './client.js';
import { scrubPayPalMessage } from './errors.js';
import type { PayPalRest } from './rest.js';
import { REQUIRED_EVENTS, WEBHOOK_PATH, listWebhooks, type PayPalWebhook } from './setup.js';

/**
 * The PayPal part of `npm run doctor` (docs/doctor.md): credentials get a token, the webhook named by
 * PAYPAL_WEBHOOK_ID exists at PUBLIC_URL/webhooks/paypal and subscribes every event Settle handles, the BN code and
 * the partner merchant id are set. Read-only, like the Stripe checks; never throws.
 */
export interface PayPalDoctorInput {
  config: Config;
  /** The SDK client and Settle's REST client; null when PayPal is not configured. */
  api: PayPalApi | null;
  rest: PayPalRest | null;
}

const pass = (name: string, detail: string): DoctorCheck => ({ name, ok: true, detail, fix: '' });
const fail = (name: string, detail: string, fix: string): DoctorCheck => ({ name, ok: false, detail, fix });

function message(err: unknown): string {
  return scrubPayPalMessage(err instanceof Error ? err.message : String(err));
}

export async function runPayPalDoctor(input: PayPalDoctorInput): Promise<DoctorCheck[]> {
  const { config, api, rest } = input;
  const p = config.paypal;
  if (!paypalConfigured(p) || api === null || rest === null)
    return [
      pass(
        'paypal',
        'not configured (optional: set PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET to take PayPal)',
      ),
    ];
  const checks: DoctorCheck[] = [];
  const where = p.apiBase ?? api.origin;
  let authenticated = false;
  try {
    await api.accessToken();
    authenticated = true;
    checks.push(pass('paypal.credentials', `${p.mode} credentials got an OAuth token from ${where}`));
  } catch (err) {
    checks.push(
      fail(
        'paypal.credentials',
        `no OAuth token from ${where}: ${message(err)}`,
        `Set PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET to the REST app's credentials (developer.paypal.com → Apps & Credentials, ${p.mode === 'live' ? 'Live' : 'Sandbox'}), and PAYPAL_MODE to the app's mode.`,
      ),
    );
  }
  checks.push(await webhookCheck(config, authenticated ? rest : null));
  checks.push(
    p.partnerAttributionId !== null
      ? pass(
          'paypal.attribution',
          `PAYPAL_PARTNER_ATTRIBUTION_ID is set (sent as PayPal-Partner-Attribution-Id)`,
        )
      : fail(
          'paypal.attribution',
          'PAYPAL_PARTNER_ATTRIBUTION_ID (BN code) is not set: orders carry no partner attribution',
          'Set PAYPAL_PARTNER_ATTRIBUTION_ID to the BN code PayPal assigned to the platform (your partner manager, or the onboarding e-mail).',
        ),
  );
  checks.push(
    p.partnerMerchantId !== null
      ? pass(
          'paypal.partner',
          'PAYPAL_PARTNER_MERCHANT_ID is set (sellers’ onboarding status is read under it)',
        )
      : fail(
          'paypal.partner',
          'PAYPAL_PARTNER_MERCHANT_ID is not set',
          "Set PAYPAL_PARTNER_MERCHANT_ID to the platform's PayPal merchant ID (PayPal business account → Account settings → Business information).",
        ),
  );
  if (p.mode === 'live')
    checks.push(
      config.publicUrl.startsWith('https://')
        ? pass('paypal.public_url', `${config.publicUrl} (https)`)
        : fail(
            'paypal.public_url',
            `${config.publicUrl} is not https with PAYPAL_MODE=live`,
            'Set PUBLIC_URL to the https:// origin PayPal and buyers reach Settle on (PayPal delivers webhooks to port 443 only).',
          ),
    );
  return checks;
}

async function webhookCheck(config: Config, rest: PayPalRest | null): Promise<DoctorCheck> {
  const name = 'paypal.webhook';
  const url = `${config.publicUrl}${WEBHOOK_PATH}`;
  const create = `developer.paypal.com → Apps & Credentials → your app → Webhooks → Add webhook: URL ${url}, events ${REQUIRED_EVENTS.join(', ')}; then set PAYPAL_WEBHOOK_ID to its Webhook ID.`;
  const id = config.paypal.webhookId;
  if (id === null) return fail(name, 'PAYPAL_WEBHOOK_ID is not set: no PayPal event can be verified', create);
  if (rest === null)
    return fail(name, 'skipped: no OAuth token (see paypal.credentials)', 'Fix paypal.credentials first.');
  let hooks: PayPalWebhook[];
  try {
    hooks = await listWebhooks(rest);
  } catch (err) {
    return fail(
      name,
      `could not list the app's webhooks: ${message(err)}`,
      'Check the credentials and network access to PayPal.',
    );
  }
  const hook = hooks.find((h) => h.id === id);
  if (hook === undefined) {
    const atUrl = hooks.find((h) => h.url === url);
    return fail(
      name,
      `the app has no webhook ${id}${atUrl !== undefined ? ` (the webhook at ${url} is ${atUrl.id})` : ''}`,
      atUrl !== undefined ? `Set PAYPAL_WEBHOOK_ID=${atUrl.id}.` : create,
    );
  }
  if (hook.url !== url)
    return fail(
      name,
      `webhook ${id} delivers to ${hook.url}, not to ${url}`,
      `Edit webhook ${id} in the developer dashboard: URL ${url} (or set PUBLIC_URL to the origin it delivers to).`,
    );
  const all = hook.events.includes('*');
  const missing = all ? [] : REQUIRED_EVENTS.filter((e) => !hook.events.includes(e));
  if (missing.length > 0)
    return fail(
      name,
      `webhook ${id} does not subscribe ${missing.join(', ')}`,
      `Edit webhook ${id} in the developer dashboard and add ${missing.join(', ')}.`,
    );
  return pass(
    name,
    `${id} at ${url}, ${all ? 'all events' : `all ${REQUIRED_EVENTS.length} required events`}`,
  );
}
