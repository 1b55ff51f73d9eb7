/**
 * `npm run emulator [-- --port 12111 --host 127.0.0.1 --time-scale 1 --public-url http://… --zero-amount-paid]`
 * Starts the stateful Stripe emulator and prints how to point the SDK at it.
 */
import { print, printError } from './output.js';
import { parseArgs } from 'node:util';
import { createLogger } from '../log/logger.js';
import { DEFAULT_EMULATOR_PORT, startStripeEmulator } from '../emulators/stripe/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: String(DEFAULT_EMULATOR_PORT) },
    host: { type: 'string', default: '127.0.0.1' },
    'public-url': { type: 'string' },
    'time-scale': { type: 'string', default: '1' },
    'dispute-delay-ms': { type: 'string' },
    'zero-amount-paid': { type: 'boolean', default: false },
    'no-require-onboarding': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  print(`Usage: npm run emulator -- [--port ${DEFAULT_EMULATOR_PORT}] [--host 127.0.0.1] [--public-url URL]
       [--time-scale 1] [--dispute-delay-ms 2000] [--zero-amount-paid] [--no-require-onboarding]
See docs/emulator.md.`);
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  printError(`Invalid --port: ${values.port}`);
  process.exit(2);
}

const emulator = await startStripeEmulator({
  port,
  host: values.host,
  ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
  timeScale: Number(values['time-scale']),
  ...(values['dispute-delay-ms'] ? { disputeDelayMs: Number(values['dispute-delay-ms']) } : {}),
  zeroAmountPaymentStatus: values['zero-amount-paid'] ? 'paid' : 'no_payment_required',
  requireChargesEnabled: !values['no-require-onboarding'],
  logger: createLogger(process.env.LOG_LEVEL ?? 'info'),
});

const u = new URL(emulator.url);
print(`Stripe emulator listening on ${emulator.url}

Point the official SDK at it:
  new Stripe('sk_test_anything', { host: '${u.hostname}', port: ${emulator.port}, protocol: 'http' })

Webhooks: POST ${emulator.url}/v1/webhook_endpoints (url, enabled_events[]=*, connect=true|false)
Test helpers and faults: ${emulator.url}/_emulator/...  (see docs/emulator.md)`);

const shutdown = (): void => {
  void emulator.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
