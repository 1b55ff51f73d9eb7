import type { Config } from '../../config/config.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { createPayPalApi, type PayPalApi } from './client.js';
import { PayPalProvider } from './provider.js';
import { PayPalRest } from './rest.js';
import { PayPalWebhookVerifier, type CertFetcher } from './webhook-verify.js';

export { PayPalProvider, authAssertion } from './provider.js';
export { neutralReturnUrl, SETTLE_PROMOTION_PREFIX } from '../../core/hosted-checkout.js';
export {
  createPayPalApi,
  apiBaseHttpClientOptions,
  withRetries,
  PAYPAL_TIMEOUT_MS,
  PAYPAL_API_ORIGINS,
} from './client.js';
export { toSettleError, paypalCall, PayPalHttpError } from './errors.js';
export { toPayPalMoney, fromPayPalMoney } from './amounts.js';
export { PayPalRest } from './rest.js';
export { PartnerReferrals } from './partner-referrals.js';
export {
  PayPalWebhookVerifier,
  PAYPAL_CERT_HOSTS,
  WEBHOOK_MAX_AGE_SECONDS,
  fetchCertificate,
  type CertFetcher,
} from './webhook-verify.js';
export { REQUIRED_EVENTS, WEBHOOK_PATH, listWebhooks, registerWebhook } from './setup.js';
export { normalizePayPalEvent, toCheckoutState, orderOutcome, isPayPalEvent } from './normalize.js';

export interface CreatePayPalProviderOptions {
  logger?: Logger;
  /** Demo mode: the id of the webhook registered at the emulator at start-up, instead of PAYPAL_WEBHOOK_ID. */
  webhookIdOverride?: string;
  /** Tests: fetch webhook certificates their own way (and count fetches). */
  fetchCert?: CertFetcher;
  now?: () => Date;
}

/**
 * Builds the SDK client, Settle's REST client over the same token, the webhook verifier and the provider, from
 * configuration (`config.paypal.clientId`/`clientSecret` set; demo mode sets them for its emulator).
 */
export function createPayPalProvider(
  config: Config,
  opts: CreatePayPalProviderOptions = {},
): { provider: PayPalProvider; api: PayPalApi; rest: PayPalRest } {
  const p = config.paypal;
  if (p.clientId === null) throw new Error('createPayPalProvider: PayPal is not configured');
  const api = createPayPalApi(p);
  const rest = new PayPalRest(api);
  const logger = opts.logger ?? silentLogger;
  const verifier = new PayPalWebhookVerifier({
    webhookId: opts.webhookIdOverride ?? p.webhookId,
    emulatorOrigin: p.apiBase,
    ...(opts.fetchCert !== undefined ? { fetchCert: opts.fetchCert } : {}),
    ...(opts.now !== undefined ? { now: opts.now } : {}),
    logger: logger.child({ provider: 'paypal' }),
  });
  const provider = new PayPalProvider({
    api,
    rest,
    verifier,
    livemode: p.mode === 'live',
    clientId: p.clientId,
    partnerAttributionId: p.partnerAttributionId,
    partnerMerchantId: p.partnerMerchantId,
    checkoutLifetimeMs: config.holdMinutes * 60_000,
    logger,
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  });
  return { provider, api, rest };
}
