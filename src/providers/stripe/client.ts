import Stripe from 'stripe';
import type { Config } from '../../config/config.js';

/** Per-request timeout for Stripe API calls (the SDK default is 80 s, too long for a checkout request). */
export const STRIPE_TIMEOUT_MS = 20_000;

/** Splits `STRIPE_API_BASE` (e.g. `http://127.0.0.1:12111`) into the SDK's host/port/protocol options. */
export function apiBaseOptions(
  apiBase: string | null,
): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (apiBase === null) return {};
  const u = new URL(apiBase);
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || (protocol === 'http' ? 80 : 443)),
    protocol,
  };
}

/**
 * Builds the official SDK client from configuration. `key` overrides `config.stripe.secretKey` (demo mode passes
 * the emulator key). Retries come from STRIPE_MAX_NETWORK_RETRIES; the SDK reuses one idempotency key per
 * logical request across its retries, and Settle passes its own key on every POST.
 */
export function createStripeClient(config: Config, key?: string): Stripe {
  const secret = key ?? config.stripe.secretKey;
  if (secret === null || secret === '')
    throw new Error('createStripeClient: no Stripe secret key (set STRIPE_SECRET_KEY)');
  // Demo mode (no STRIPE_SECRET_KEY): talk to the local emulator unless STRIPE_API_BASE says otherwise.
  const apiBase =
    config.stripe.apiBase ??
    (config.stripe.secretKey === null ? `http://127.0.0.1:${config.emulatorPort}` : null);
  return new Stripe(secret, {
    ...apiBaseOptions(apiBase),
    maxNetworkRetries: config.stripe.maxNetworkRetries,
    telemetry: false,
    timeout: STRIPE_TIMEOUT_MS,
  });
}
