import { startSettle } from './app/create.js';
import { isSettleError } from './core/errors.js';
import { loadConfig } from './config/config.js';
import { pino } from 'pino';
import { createLogger } from './log/logger.js';

/** Below the usual 30 s grace period of orchestrators (Kubernetes; systemd's default is 90 s). */
const SHUTDOWN_DEADLINE_MS = 25_000;

/** `npm start`: runs Settle (demo mode without STRIPE_SECRET_KEY). */
let logger = createLogger('info');

try {
  // Synchronous writes to stdout: the lines of a shutdown (or a crash) are never left in a buffer at exit.
  logger = createLogger(loadConfig().logLevel, pino.destination({ dest: 1, sync: true }));
  const settle = await startSettle({ logger });
  const demo = settle.emulator !== null;
  logger.info(
    {
      url: settle.url,
      database: settle.ctx.dbKind,
      mode: demo ? 'demo (in-process emulators)' : `stripe ${settle.ctx.config.stripe.mode ?? ''}`,
      providers: settle.ctx.providers.ids,
      ...(demo ? { emulator: settle.emulator?.url } : {}),
      ...(settle.paypalEmulator !== null ? { paypalEmulator: settle.paypalEmulator.url } : {}),
      ...(settle.squareEmulator !== null ? { squareEmulator: settle.squareEmulator.url } : {}),
    },
    'Settle is running',
  );
  if (demo) {
    // The operator token of a demo run is random per start; print it once so the console can be opened.
    process.stdout.write(
      `\n  Settle demo: ${settle.url}\n  Operator console: ${settle.url}/admin  (token: ${settle.adminToken})\n  Stripe emulator: ${settle.emulator?.url ?? ''}${settle.paypalEmulator !== null ? `\n  PayPal emulator: ${settle.paypalEmulator.url}` : ''}${settle.squareEmulator !== null ? `\n  Square emulator: ${settle.squareEmulator.url}` : ''}\n\n`,
    );
  }
  // Graceful shutdown (SIGTERM from an orchestrator, Ctrl-C): stop accepting connections, let the requests in flight
  // finish, stop the queue worker after the job it runs (its other claimed jobs go back to the queue), release the
  // leases of periodic work, close the database, exit 0. A second signal, or a shutdown that takes longer than
  // SHUTDOWN_DEADLINE_MS, exits 1 at once (unfinished work is recovered by other instances: leases lapse).
  let stopping = false;
  const exit = (code: number): void => {
    logger.flush();
    process.exit(code);
  };
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ ms: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time: exiting');
      exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    settle.close().then(
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
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (err) {
  if (isSettleError(err) && err.code === 'config_invalid') {
    process.stderr.write(`${err.message}\n`);
  } else {
    logger.fatal({ err }, 'Settle failed to start');
  }
  process.exit(1);
}
