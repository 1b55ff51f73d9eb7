import { startSettle } from './app/create.js';
import { isSettleError } from './core/errors.js';
import { loadConfig } from './config/config.js';
import { createLogger } from './log/logger.js';

/** `npm start`: runs Settle (demo mode without STRIPE_SECRET_KEY). */
let logger = createLogger('info');

try {
  logger = createLogger(loadConfig().logLevel);
  const settle = await startSettle({ logger });
  const demo = settle.emulator !== null;
  logger.info(
    {
      url: settle.url,
      database: settle.ctx.dbKind,
      mode: demo ? 'demo (in-process Stripe emulator)' : `stripe ${settle.ctx.config.stripe.mode ?? ''}`,
      ...(demo ? { emulator: settle.emulator?.url } : {}),
    },
    'Settle is running',
  );
  if (demo) {
    // The operator token of a demo run is random per start; print it once so the console can be opened.
    process.stdout.write(
      `\n  Settle demo: ${settle.url}\n  Operator console: ${settle.url}/admin  (token: ${settle.adminToken})\n  Stripe emulator: ${settle.emulator?.url ?? ''}\n\n`,
    );
  }
  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    settle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
} catch (err) {
  if (isSettleError(err) && err.code === 'config_invalid') {
    process.stderr.write(`${err.message}\n`);
  } else {
    logger.fatal({ err }, 'Settle failed to start');
  }
  process.exit(1);
}
