import type { SquareClient } from 'square';
import { squareConfigured, type Config } from '../../config/config.js';
import type { GrantStore } from '../../core/provider.js';
import type { DoctorCheck } from '../stripe/doctor.js';
import { SquareClients } from './client.js';
import { scrubSquareMessage, squareCall } from './errors.js';
import { signatureKeys } from './webhook-verify.js';
import {
  SQUARE_EVENT_TYPES,
  SQUARE_WEBHOOK_PATH,
  listSquareSubscriptions,
  missingEventTypes,
} from './setup.js';

/**
 * The Square part of `npm run doctor` (docs/doctor.md): the environment, the application's personal access token,
 * the webhook subscription at SQUARE_WEBHOOK_URL (enabled, every event Settle handles, the configured signature
 * key), the Events API, the sealing key for sellers' tokens and, given the grant store, sellers' expired tokens.
 * Read-only, like the other checks; never throws.
 */
export interface SquareDoctorInput {
  config: Config;
  /** The Square grant store (core's `grantStore(db, keys, 'square')`), to report sellers' expired tokens. */
  grants?: GrantStore;
  now?: () => Date;
}

const pass = (name: string, detail: string): DoctorCheck => ({ name, ok: true, detail, fix: '' });
const fail = (name: string, detail: string, fix: string): DoctorCheck => ({ name, ok: false, detail, fix });

function message(err: unknown): string {
  return scrubSquareMessage(err instanceof Error ? err.message : String(err));
}

const CONSOLE = 'developer.squareup.com → Applications → your application';
const TOKEN_FIX = `Set SQUARE_ACCESS_TOKEN to the application's personal access token (${CONSOLE} → Credentials), then run the doctor again.`;

export async function runSquareDoctor(input: SquareDoctorInput): Promise<DoctorCheck[]> {
  const { config } = input;
  const s = config.square;
  if (!squareConfigured(s))
    return [
      pass(
        'square',
        'not configured (optional: set SQUARE_APPLICATION_ID and SQUARE_APPLICATION_SECRET to take Square)',
      ),
    ];
  const checks: DoctorCheck[] = [];
  try {
    checks.push(
      pass(
        'square.environment',
        `${s.environment}${s.apiBase !== null ? ` (emulator at ${s.apiBase})` : ''}, application ${s.applicationId}`,
      ),
    );
    const app = s.accessToken === null ? null : new SquareClients(s).forToken(s.accessToken);
    const tokenOk = await credentialsCheck(checks, s.applicationId, app, s.environment);
    checks.push(await webhookCheck(config, tokenOk ? app : null));
    checks.push(await eventsCheck(tokenOk ? app : null));
    checks.push(
      config.sealingKeys !== null
        ? pass('square.encryption', "SETTLE_ENCRYPTION_KEY is set (sellers' OAuth tokens are sealed with it)")
        : fail(
            'square.encryption',
            "SETTLE_ENCRYPTION_KEY is not set: sellers' Square tokens cannot be stored",
            'Set SETTLE_ENCRYPTION_KEY to 32 random bytes in base64 (`openssl rand -base64 32`); keep it with your secrets.',
          ),
    );
    if (input.grants !== undefined)
      checks.push(await grantsCheck(input.grants, input.now ?? (() => new Date())));
  } catch (err) {
    checks.push(
      fail('square', `the Square checks failed: ${message(err)}`, 'Check the Square configuration.'),
    );
  }
  return checks;
}

async function credentialsCheck(
  checks: DoctorCheck[],
  applicationId: string,
  app: SquareClient | null,
  environment: string,
): Promise<boolean> {
  const name = 'square.credentials';
  if (app === null) {
    checks.push(
      fail(
        name,
        'SQUARE_ACCESS_TOKEN is not set: the webhook subscription and the Events API cannot be checked, and reconciliation cannot read Square events',
        `Set SQUARE_ACCESS_TOKEN to the application's ${environment === 'production' ? 'production' : 'sandbox'} personal access token (${CONSOLE} → Credentials).`,
      ),
    );
    return false;
  }
  try {
    const status = await squareCall(
      'oauth.retrieveTokenStatus',
      () => app.oAuth.retrieveTokenStatus(),
      'application',
    );
    if (status.clientId !== undefined && status.clientId !== applicationId) {
      checks.push(
        fail(
          name,
          `SQUARE_ACCESS_TOKEN belongs to application ${status.clientId}, not ${applicationId}`,
          `Use the personal access token of application ${applicationId} (${CONSOLE} → Credentials).`,
        ),
      );
      return false;
    }
    checks.push(
      pass(
        name,
        `the personal access token is accepted (merchant ${status.merchantId ?? 'unknown'}); the application secret is checked at the first seller connection`,
      ),
    );
    return true;
  } catch (err) {
    checks.push(
      fail(
        name,
        `Square refused SQUARE_ACCESS_TOKEN: ${message(err)}`,
        `Set SQUARE_ACCESS_TOKEN to the application's personal access token for SQUARE_ENVIRONMENT=${environment} (${CONSOLE} → Credentials).`,
      ),
    );
    return false;
  }
}

async function webhookCheck(config: Config, app: SquareClient | null): Promise<DoctorCheck> {
  const name = 'square.webhook';
  const s = config.square;
  const url = s.webhookUrl ?? `${config.publicUrl}${SQUARE_WEBHOOK_PATH}`;
  const create = `${CONSOLE} → Webhooks → Subscriptions → Add subscription: URL ${url}, events ${SQUARE_EVENT_TYPES.join(', ')}; then set SQUARE_WEBHOOK_SIGNATURE_KEY to its signature key.`;
  if (s.webhookUrl === null)
    return fail(name, 'SQUARE_WEBHOOK_URL is not set: no Square event can be verified', create);
  if (s.environment === 'production' && !s.webhookUrl.startsWith('https://'))
    return fail(name, `${s.webhookUrl} is not https`, 'Square delivers webhooks to https:// URLs only.');
  if (app === null)
    return fail(
      name,
      'not checked: it needs the application’s personal access token (see square.credentials)',
      TOKEN_FIX,
    );
  try {
    const subs = await listSquareSubscriptions(app);
    const atUrl = subs.filter((x) => x.notificationUrl === s.webhookUrl);
    const sub = atUrl.find((x) => x.enabled === true) ?? atUrl[0];
    if (sub?.id === undefined) {
      const samePath = subs.find((x) => x.notificationUrl?.endsWith(SQUARE_WEBHOOK_PATH));
      return fail(
        name,
        `no subscription delivers to ${s.webhookUrl}${samePath ? ` (one delivers to ${samePath.notificationUrl ?? ''}; the URL must match byte for byte)` : ''}`,
        create,
      );
    }
    const id = sub.id;
    if (sub.enabled !== true)
      return fail(
        name,
        `subscription ${id} at ${s.webhookUrl} is disabled`,
        `Enable subscription ${id} (${CONSOLE} → Webhooks).`,
      );
    const missing = missingEventTypes(sub);
    if (missing.length > 0)
      return fail(
        name,
        `subscription ${id} does not subscribe ${missing.join(', ')}`,
        `Edit subscription ${id} (${CONSOLE} → Webhooks) and add ${missing.join(', ')}.`,
      );
    const full = await squareCall(
      'webhooks.subscriptions.get',
      () => app.webhooks.subscriptions.get({ subscriptionId: id }),
      'application',
    );
    const key = full.subscription?.signatureKey;
    if (s.webhookSignatureKey === null)
      return fail(
        name,
        'SQUARE_WEBHOOK_SIGNATURE_KEY is not set: no delivery can be verified',
        `Set SQUARE_WEBHOOK_SIGNATURE_KEY to the signature key of subscription ${id}.`,
      );
    if (key !== undefined && !signatureKeys(s.webhookSignatureKey).includes(key))
      return fail(
        name,
        `SQUARE_WEBHOOK_SIGNATURE_KEY is not the signature key of subscription ${id}: every delivery would be refused`,
        `Set SQUARE_WEBHOOK_SIGNATURE_KEY to the signature key shown for subscription ${id} (${CONSOLE} → Webhooks).`,
      );
    return pass(
      name,
      `${id} at ${s.webhookUrl}, enabled, all ${SQUARE_EVENT_TYPES.length} event types${key !== undefined ? ', signature key matches' : ''}`,
    );
  } catch (err) {
    return fail(
      name,
      `could not read the webhook subscriptions: ${message(err)}`,
      'Check SQUARE_ACCESS_TOKEN and network access to Square.',
    );
  }
}

async function eventsCheck(app: SquareClient | null): Promise<DoctorCheck> {
  const name = 'square.events';
  if (app === null)
    return fail(
      name,
      'not checked: it needs the application’s personal access token (see square.credentials)',
      TOKEN_FIX,
    );
  try {
    const res = await squareCall(
      'events.search',
      () => app.events.searchEvents({ limit: 1, query: { filter: { eventTypes: [...SQUARE_EVENT_TYPES] } } }),
      'application',
    );
    const any = (res.events ?? []).length > 0;
    return pass(
      name,
      any
        ? 'the Events API answers with recent events (reconciliation reads them)'
        : 'the Events API answers, with no event of the last 28 days: if the application never enabled it, do so (events are searchable only from then on)',
    );
  } catch (err) {
    return fail(
      name,
      `the Events API refused the search: ${message(err)}`,
      "Enable events for the application: PUT /v2/events/enable with the personal access token (the SDK's events.enableEvents()); Settle's reconciliation reads them.",
    );
  }
}

async function grantsCheck(grants: GrantStore, now: () => Date): Promise<DoctorCheck> {
  const name = 'square.sellers';
  try {
    const expired = await grants.expiring(now());
    return expired.length === 0
      ? pass(name, "no seller's Square access token has expired")
      : fail(
          name,
          `${expired.length} seller${expired.length === 1 ? "'s" : "s'"} Square access token${expired.length === 1 ? ' has' : 's have'} expired`,
          'Run `npm run reconcile` (it refreshes expiring grants); a seller whose refresh is refused must connect again.',
        );
  } catch (err) {
    return fail(
      name,
      `could not read the sellers' grants: ${message(err)}`,
      'Check the database and SETTLE_ENCRYPTION_KEY.',
    );
  }
}
