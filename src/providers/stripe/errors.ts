import Stripe from 'stripe';
import { SettleError } from '../../core/errors.js';

const SECRET_PATTERN = /\b(sk|rk|pk)_(test|live)_[A-Za-z0-9_]+|\bwhsec_[A-Za-z0-9_]+/g;

/** Removes anything that looks like an API key or webhook secret from a provider message. */
export function scrubSecrets(message: string): string {
  return message.replace(SECRET_PATTERN, '[redacted]');
}

/**
 * The one mapping from Stripe SDK errors to SettleError.
 * - connection errors, timeouts, 5xx, 429 / rate_limit, 409 (idempotency key in use) → `provider_unavailable`
 *   (retry later with the same idempotency key);
 * - other 4xx → `provider_error`, with Stripe's own message (secrets scrubbed, never the request body);
 * - a SettleError passes through; anything that is not a Stripe error is rethrown as-is (a bug, not an outage).
 */
export function toSettleError(err: unknown, operation: string): SettleError {
  if (err instanceof SettleError) return err;
  if (!(err instanceof Stripe.errors.StripeError)) throw err;
  const status = err.statusCode;
  const details: Record<string, unknown> = {
    operation,
    stripeType: err.type,
    ...(err.code !== undefined ? { stripeCode: err.code } : {}),
    ...(status !== undefined ? { statusCode: status } : {}),
    ...(err.requestId !== undefined ? { requestId: err.requestId } : {}),
    ...(err.param !== undefined ? { param: err.param } : {}),
  };
  const unavailable =
    err instanceof Stripe.errors.StripeConnectionError ||
    err instanceof Stripe.errors.StripeRateLimitError ||
    err.code === 'rate_limit' ||
    err.code === 'idempotency_key_in_use' ||
    status === undefined ||
    status === 409 ||
    status === 429 ||
    status >= 500;
  if (unavailable) {
    return new SettleError(
      'provider_unavailable',
      `Stripe is unavailable for ${operation} (${err.type}${status !== undefined ? `, HTTP ${status}` : ''}); retry later`,
      { cause: err, details },
    );
  }
  const hint =
    err instanceof Stripe.errors.StripeAuthenticationError
      ? ' Check STRIPE_SECRET_KEY.'
      : err instanceof Stripe.errors.StripePermissionError
        ? ' The key has no access to this account or resource.'
        : err instanceof Stripe.errors.StripeIdempotencyError
          ? ' The idempotency key was already used with different parameters.'
          : '';
  return new SettleError(
    'provider_error',
    `Stripe rejected ${operation}: ${scrubSecrets(err.message)}${hint}`,
    { cause: err, details },
  );
}

/** Runs a Stripe call and maps its failure with `toSettleError`. */
export async function stripeCall<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toSettleError(err, operation);
  }
}
