import { print, printError } from './output.js';
import { loadConfig } from '../config/config.js';
import { reconcile } from '../core/reconcile.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import { silentLogger } from '../log/logger.js';
import { createStripeProvider } from '../providers/stripe/index.js';
import { createPayPalProvider } from '../providers/paypal/index.js';
import { paypalConfigured } from '../config/config.js';
import type { PaymentProvider } from '../core/provider.js';
import { createContext } from '../app/context.js';

/**
 * `npm run reconcile`: lists recent events from Stripe (the platform and every connected account) and from PayPal
 * when configured (the platform's webhook events), feeds the unprocessed ones through the webhook path, sweeps
 * pending orders past expiry (an approved PayPal order is captured there), then runs due side effects.
 * Needs STRIPE_SECRET_KEY (and STRIPE_API_BASE for an emulator). `--hours N` sets the look-back (default 72).
 */
try {
  const config = loadConfig();
  if (config.stripe.secretKey === null) {
    printError(
      'STRIPE_SECRET_KEY is not set. Reconciliation reads events from Stripe (or from STRIPE_API_BASE).',
    );
    process.exit(2);
  }
  const hoursArg = process.argv.indexOf('--hours');
  const lookbackHours = hoursArg > 0 ? Number(process.argv[hoursArg + 1]) : 72;
  if (!Number.isFinite(lookbackHours) || lookbackHours <= 0 || lookbackHours > 720) {
    printError('--hours must be a number between 1 and 720 (Stripe keeps events for 30 days).');
    process.exit(2);
  }
  const opened = await openDatabase(config.database);
  await migrateToLatest(opened.db);
  const { provider } = createStripeProvider(config);
  const providers: PaymentProvider[] = [provider];
  if (paypalConfigured(config.paypal)) providers.push(createPayPalProvider(config).provider);
  const ctx = createContext({ config, opened, providers, logger: silentLogger });
  const queue = ctx.queue;
  print(
    `Reconciling ${opened.describe} against Stripe (${config.stripe.mode} mode)${providers.length > 1 ? ` and PayPal (${config.paypal.mode})` : ''}, last ${lookbackHours} h`,
  );
  const summary = await reconcile(ctx, { lookbackHours, onProgress: (line) => print(`  ${line}`) });
  const jobs = await queue.drain();
  print(
    [
      'Summary:',
      `  accounts scanned      ${summary.accountsScanned}`,
      `  events seen           ${summary.eventsSeen}`,
      `  events applied        ${summary.eventsApplied}`,
      `  already handled       ${summary.eventsAlreadyHandled}`,
      `  events failed         ${summary.eventsFailed}`,
      `  orders swept/changed  ${summary.ordersSwept}/${summary.ordersChanged}`,
      `  re-driven             ${summary.refundsRedriven} refund(s), ${summary.jobsRedriven} dead job(s)`,
      `  side effects run      ${jobs.succeeded} (failed ${jobs.failed}, dead ${jobs.dead})`,
      ...summary.errors.map((e) => `  error: ${e}`),
    ].join('\n'),
  );
  await opened.close();
  process.exit(summary.errors.length > 0 ? 1 : 0);
} catch (err) {
  printError(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
