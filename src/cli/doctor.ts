/**
 * `npm run doctor`: the pre-implementation checklist, executable (docs/doctor.md).
 * Prints one PASS/FAIL line per check with the fix; exits 1 if any check fails.
 */
import { print, printError } from './output.js';
import type Stripe from 'stripe';
import { loadConfig, type Config } from '../config/config.js';
import { isSettleError } from '../core/errors.js';
import { runDoctor } from '../providers/stripe/doctor.js';
import { openDatabase, type OpenedDb } from '../db/connect.js';
import { createStripeClient } from '../providers/stripe/client.js';
import { paypalConfigured } from '../config/config.js';
import { createPayPalApi } from '../providers/paypal/client.js';
import { runPayPalDoctor } from '../providers/paypal/doctor.js';
import { PayPalRest } from '../providers/paypal/rest.js';
import { grantStore } from '../core/credentials.js';
import { runSquareDoctor } from '../providers/square/doctor.js';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  printError(`FAIL config: ${isSettleError(err) ? err.message : String(err)}`);
  printError(
    '     fix: correct the variables listed above (docs/configuration.md), then run npm run doctor again.',
  );
  process.exit(1);
}

let opened: OpenedDb | null = null;
let code = 1;
try {
  opened = await openDatabase(config.database);
  const stripe: Stripe | null = config.stripe.secretKey === null ? null : createStripeClient(config);
  const paypalApi = paypalConfigured(config.paypal) ? createPayPalApi(config.paypal) : null;
  const checks = [
    ...(await runDoctor({ config, stripe, db: opened.db })),
    ...(await runPayPalDoctor({
      config,
      api: paypalApi,
      rest: paypalApi === null ? null : new PayPalRest(paypalApi),
    })),
    ...(await runSquareDoctor({
      config,
      ...(config.sealingKeys !== null ? { grants: grantStore(opened.db, config.sealingKeys, 'square') } : {}),
    })),
  ];
  print(`Settle doctor (${opened.describe}, public URL ${config.publicUrl})`);
  for (const c of checks) {
    print(`${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
    if (!c.ok) print(`     fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  print(
    failed === 0 ? `\nAll ${checks.length} checks passed.` : `\n${failed} of ${checks.length} checks failed.`,
  );
  code = failed === 0 ? 0 : 1;
} catch (err) {
  printError(`FAIL doctor: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await opened?.close();
}
process.exit(code);
