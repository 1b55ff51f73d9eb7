import Stripe from 'stripe';
import type { AccountContext } from '../../core/provider.js';
import { stripeCall, toSettleError } from './errors.js';

/** Request options that select the account an object lives on (direct charges: the connected account). */
export function onAccount(account: AccountContext): Stripe.RequestOptions {
  return account.chargeType === 'direct' ? { stripeAccount: account.accountId } : {};
}

/**
 * Ends an open Checkout Session (payment or subscription mode) on the account it lives on. A session already complete
 * or expired is left alone, and so is one that stops being open while this runs (a race with payment or expiry:
 * Stripe answers "Only Checkout Sessions with a status in ["open"] can be expired").
 */
export async function expireOpenSession(
  stripe: Stripe,
  sessionId: string,
  account: AccountContext,
): Promise<void> {
  const opts = onAccount(account);
  const session = await stripeCall('checkout.sessions.retrieve', () =>
    stripe.checkout.sessions.retrieve(sessionId, {}, opts),
  );
  if (session.status !== 'open') return;
  try {
    await stripe.checkout.sessions.expire(sessionId, {}, { ...opts, idempotencyKey: `expire:${sessionId}` });
  } catch (err) {
    if (err instanceof Stripe.errors.StripeInvalidRequestError) {
      const again = await stripeCall('checkout.sessions.retrieve', () =>
        stripe.checkout.sessions.retrieve(sessionId, {}, opts),
      );
      if (again.status !== 'open') return;
    }
    throw toSettleError(err, 'checkout.sessions.expire');
  }
}
