/**
 * `npm run emulator:paypal [-- --port 12112 --host 127.0.0.1 --public-url http://… --time-scale 1]`
 * Starts the stateful PayPal emulator on its own and prints how to point the official SDK at it.
 */
import { parseArgs } from 'node:util';
import { print, printError } from '../../cli/output.js';
import { createLogger } from '../../log/logger.js';
import { DEFAULT_PAYPAL_EMULATOR_PORT, startPayPalEmulator } from './index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: String(DEFAULT_PAYPAL_EMULATOR_PORT) },
    host: { type: 'string', default: '127.0.0.1' },
    'public-url': { type: 'string' },
    'time-scale': { type: 'string', default: '1' },
    'partner-merchant-id': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  print(`Usage: npm run emulator:paypal -- [--port ${DEFAULT_PAYPAL_EMULATOR_PORT}] [--host 127.0.0.1] [--public-url URL]
       [--time-scale 1] [--partner-merchant-id 13CHARACTERS]
See docs/emulator.md ("PayPal emulator").`);
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  printError(`Invalid --port: ${values.port}`);
  process.exit(2);
}
const timeScale = Number(values['time-scale']);
if (!Number.isFinite(timeScale) || timeScale < 0) {
  printError(`Invalid --time-scale: ${values['time-scale']}`);
  process.exit(2);
}
const partner = values['partner-merchant-id'];
if (partner !== undefined && !/^[2-9A-HJ-NP-Z]{13}$/.test(partner)) {
  printError(`Invalid --partner-merchant-id: 13 characters of [2-9A-HJ-NP-Z] (PayPal's account id pattern)`);
  process.exit(2);
}

const emulator = await startPayPalEmulator({
  port,
  host: values.host,
  ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
  timeScale,
  ...(partner !== undefined ? { partnerMerchantId: partner } : {}),
  logger: createLogger(process.env['LOG_LEVEL'] ?? 'info'),
});

print(`PayPal emulator listening on ${emulator.url}
Partner (platform) merchant id: ${emulator.partnerMerchantId}
Webhook signing certificate:    ${emulator.certUrl}

Point the official SDK at it (any client id and secret are accepted):
  import { paypalSdkClientFor } from './src/emulators/paypal/index.js';
  const client = paypalSdkClientFor('${emulator.url}');
or pass unstable_httpClientOptions: emulatorHttpClientOptions('${emulator.url}') to new Client({...}).

Webhooks: POST ${emulator.url}/v1/notifications/webhooks {url, event_types:[{name:'*'}]}
Test helpers and faults: ${emulator.url}/_emulator/...  (see docs/emulator.md)`);

const shutdown = (): void => {
  void emulator.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
