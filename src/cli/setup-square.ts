import { print, printError } from './output.js';
import { loadConfig, squareConfigured } from '../config/config.js';
import { isSettleError } from '../core/errors.js';
import { SquareClients } from '../providers/square/client.js';
import { SQUARE_EVENT_TYPES, enableSquareEvents, registerSquareWebhook } from '../providers/square/setup.js';

/**
 * `npm run setup:square`: the Square application's one-time setup, with its own access token (SQUARE_ACCESS_TOKEN):
 * turns the Events API on (reconciliation searches it; Square keeps it off by default) and subscribes
 * SQUARE_WEBHOOK_URL to every event Settle handles, or completes an existing subscription to that URL. Prints the
 * subscription's signature key for SQUARE_WEBHOOK_SIGNATURE_KEY. Safe to run again. (docs/going-live.md)
 */
try {
  const config = loadConfig();
  const s = config.square;
  if (!squareConfigured(s))
    throw new Error(
      'Square is not configured: set SQUARE_APPLICATION_ID, SQUARE_APPLICATION_SECRET and the rest first.',
    );
  if (s.accessToken === null)
    throw new Error(
      "SQUARE_ACCESS_TOKEN is not set: the setup runs with the application's own access token (Developer Console → Credentials).",
    );
  if (s.webhookUrl === null) throw new Error('SQUARE_WEBHOOK_URL is not set.');
  const app = new SquareClients(s).forToken(s.accessToken);
  await enableSquareEvents(app);
  print(`Events API enabled (${s.environment}).`);
  const sub = await registerSquareWebhook(app, s.webhookUrl);
  print(`Webhook subscription ${sub.subscriptionId} → ${s.webhookUrl}`);
  print(`  events: ${SQUARE_EVENT_TYPES.join(', ')}`);
  const keys = (s.webhookSignatureKey ?? '').split(',').map((k) => k.trim());
  print(
    keys.includes(sub.signatureKey)
      ? '  SQUARE_WEBHOOK_SIGNATURE_KEY already holds its signature key.'
      : `  set SQUARE_WEBHOOK_SIGNATURE_KEY=${sub.signatureKey} and restart Settle.`,
  );
} catch (err) {
  printError(isSettleError(err) || err instanceof Error ? err.message : String(err));
  process.exit(1);
}
