import type Stripe from 'stripe';
import type { Config } from '../../config/config.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { createStripeClient } from './client.js';
import { StripeProvider } from './provider.js';

export { StripeProvider, WEBHOOK_TOLERANCE_SECONDS, type StripeProviderOptions } from './provider.js';
export {
  StripeSubscriptions,
  TEST_CLOCK_POLL_MS,
  TEST_CLOCK_TIMEOUT_MS,
  type StripeSubscriptionsOptions,
} from './subscriptions.js';
export { createStripeClient, apiBaseOptions, STRIPE_TIMEOUT_MS } from './client.js';
export { toSettleError, stripeCall, scrubSecrets } from './errors.js';
export {
  checkoutOutcome,
  toCheckoutState,
  refundStatus,
  toSubscriptionCheckoutState,
  toSubscriptionState,
  toInvoiceState,
  invoiceSubscriptionId,
} from './normalize.js';
export {
  REQUIRED_EVENTS,
  WEBHOOK_PATHS,
  ensurePromotionCode,
  registerWebhookEndpoints,
  type RequiredEvent,
  type PromotionCodeSpec,
} from './setup.js';

/** Key the emulator accepts when no STRIPE_SECRET_KEY is configured (demo mode). */
export const DEMO_SECRET_KEY = 'sk_test_settle_demo';

export interface CreateStripeProviderOptions {
  logger?: Logger;
  /** Demo/emulator mode: signing secrets of the endpoints registered at startup, instead of the configured ones. */
  secretsOverride?: { platform: string[]; connect: string[] };
}

/**
 * Builds the SDK client and the provider from configuration. Without STRIPE_SECRET_KEY (demo mode) the client
 * uses DEMO_SECRET_KEY and STRIPE_API_BASE must point at the emulator; pass `secretsOverride` with the secrets
 * returned by registerWebhookEndpoints.
 */
export function createStripeProvider(
  config: Config,
  opts: CreateStripeProviderOptions = {},
): { provider: StripeProvider; stripe: Stripe } {
  const stripe = createStripeClient(config, config.stripe.secretKey ?? DEMO_SECRET_KEY);
  const provider = new StripeProvider({
    stripe,
    livemode: config.stripe.mode === 'live',
    secrets: opts.secretsOverride ?? {
      platform: config.stripe.webhookSecrets,
      connect: config.stripe.connectWebhookSecrets,
    },
    logger: opts.logger ?? silentLogger,
  });
  return { provider, stripe };
}
