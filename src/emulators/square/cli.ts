/**
 * `npm run emulator:square [-- --port 12113 --host 127.0.0.1 --public-url http://… --time-scale 1 --redirect-url …]`
 * Starts the stateful Square emulator on its own and prints how to point the official SDK at it.
 */
import { parseArgs } from 'node:util';
import { print, printError } from '../../cli/output.js';
import { createLogger } from '../../log/logger.js';
import { DEFAULT_SQUARE_EMULATOR_PORT, startSquareEmulator } from './index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: String(DEFAULT_SQUARE_EMULATOR_PORT) },
    host: { type: 'string', default: '127.0.0.1' },
    'public-url': { type: 'string' },
    'time-scale': { type: 'string', default: '1' },
    'application-id': { type: 'string' },
    'application-secret': { type: 'string' },
    'personal-access-token': { type: 'string' },
    'redirect-url': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  print(`Usage: npm run emulator:square -- [--port ${DEFAULT_SQUARE_EMULATOR_PORT}] [--host 127.0.0.1] [--public-url URL]
       [--time-scale 1] [--application-id ID] [--application-secret SECRET] [--personal-access-token TOKEN]
       [--redirect-url URL]
See docs/emulator.md ("Square emulator").`);
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

const emulator = await startSquareEmulator({
  port,
  host: values.host,
  ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
  timeScale,
  ...(values['application-id'] ? { applicationId: values['application-id'] } : {}),
  ...(values['application-secret'] ? { applicationSecret: values['application-secret'] } : {}),
  ...(values['personal-access-token'] ? { personalAccessToken: values['personal-access-token'] } : {}),
  ...(values['redirect-url'] ? { redirectUrl: values['redirect-url'] } : {}),
  logger: createLogger(process.env['LOG_LEVEL'] ?? 'info'),
});

print(`Square emulator listening on ${emulator.url}
Application id:        ${emulator.applicationId}
Application secret:    ${emulator.applicationSecret}
Personal access token: ${emulator.personalAccessToken}  (webhook subscriptions, the developer account)

Point the official SDK at it:
  new SquareClient({ token, baseUrl: '${emulator.url}', maxRetries: 0 })
Seller OAuth: ${emulator.url}/oauth2/authorize?client_id=${emulator.applicationId}&scope=…&session=false&state=…
  (set the redirect URL with --redirect-url or POST ${emulator.url}/_emulator/application {redirect_url})
Test helpers and faults: ${emulator.url}/_emulator/...  (see docs/emulator.md, "Square emulator")`);

const shutdown = (): void => {
  void emulator.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
