import { startSettle, type SettleInstance } from './app/create.js';
import { isSettleError } from './core/errors.js';
import { loadConfig } from './config/config.js';
import { pino } from 'pino';
import { createLogger } from './log/logger.js';

/** Below the usual 30 s grace period of orchestrators (Kubernetes; systemd's default is 90 s). */
const SHUTDOWN_DEADLINE_MS = 25_000;

/**
 * Runs Settle (demo mode without STRIPE_SECRET_KEY). Production: `node --max-semi-space-size=4 dist/src/main.js` after `npm run build`;
 * `npm start` builds, then runs the same; `npm run dev` runs this file from source with tsx.
 */
let logger = createLogger('info');
let settle: SettleInstance | null = null;

// Graceful shutdown (SIGTERM from an orchestrator, Ctrl-C): stop accepting connections, let the requests in flight
// finish, stop the queue worker after the job it runs (its other claimed jobs go back to the queue), release the
// leases of periodic work, close the database, exit 0. A signal during start-up (migrations, the demo's seed) waits
// for the start to finish, then shuts down the same way. A second signal, or a shutdown that takes longer than
// SHUTDOWN_DEADLINE_MS, exits 1 at once (unfinished work is recovered by other instances: leases lapse).
// The handlers are installed before anything starts, so plain `node` never dies of a default SIGTERM mid-start.
let stopping = false;
const exit = (code: number): void => {
  logger.flush();
  process.exit(code);
};
const shutdown = (instance: SettleInstance): void => {
  instance.close().then(
    () => {
      logger.info('shutdown complete');
      exit(0);
    },
    (err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      exit(1);
    },
  );
};
const stop = (signal: string): void => {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting without waiting');
    exit(1);
    return;
  }
  stopping = true;
  logger.info({ signal, starting: settle === null }, 'shutting down');
  setTimeout(() => {
    logger.error({ ms: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time: exiting');
    exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  if (settle !== null) shutdown(settle);
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

try {
  // Synchronous writes to stdout: the lines of a shutdown (or a crash) are never left in a buffer at exit.
  logger = createLogger(loadConfig().logLevel, pino.destination({ dest: 1, sync: true }));
  const started = await startSettle({ logger });
  settle = started;
  const demo = started.emulator !== null;
  logger.info(
    {
      url: started.url,
      database: started.ctx.dbKind,
      mode: demo ? 'demo (in-process emulators)' : `stripe ${started.ctx.config.stripe.mode ?? ''}`,
      providers: started.ctx.providers.ids,
      ...(demo ? { emulator: started.emulator?.url } : {}),
      ...(started.paypalEmulator !== null ? { paypalEmulator: started.paypalEmulator.url } : {}),
      ...(started.squareEmulator !== null ? { squareEmulator: started.squareEmulator.url } : {}),
    },
    'Settle is running',
  );
  if (demo) {
    // The operator token of a demo run is random per start; print it once so the console can be opened.
    process.stdout.write(
      `\n  Settle demo: ${started.url}\n  Operator console: ${started.url}/admin  (token: ${started.adminToken})\n  Stripe emulator: ${started.emulator?.url ?? ''}${started.paypalEmulator !== null ? `\n  PayPal emulator: ${started.paypalEmulator.url}` : ''}${started.squareEmulator !== null ? `\n  Square emulator: ${started.squareEmulator.url}` : ''}\n\n`,
    );
  }
  // A signal arrived while starting: shut down now that there is something to close.
  if (stopping) shutdown(started);
} catch (err) {
  if (isSettleError(err) && err.code === 'config_invalid') {
    process.stderr.write(`${err.message}\n`);
  } else {
    logger.fatal({ err }, 'Settle failed to start');
  }
  exit(1);
}
