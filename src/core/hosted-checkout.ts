/**
 * What providers without Stripe's checkout features share (PayPal, Square): Settle prices promotion codes itself
 * and names them with a marker id, and the return URL drops Stripe's `{CHECKOUT_SESSION_ID}` template.
 */

/** Prefix of the promotion-code "ids" of providers without promotion codes of their own (Settle prices them). */
export const SETTLE_PROMOTION_PREFIX = 'settle:';

/** Settle's marker id for a customer-facing promotion code. */
export function settlePromotionId(code: string): string {
  return `${SETTLE_PROMOTION_PREFIX}${code.trim().toUpperCase()}`;
}

/**
 * The return URL a provider sends the buyer back to: Settle's return page for the order. Core's success URL carries
 * Stripe's `{CHECKOUT_SESSION_ID}` template, which other providers would not fill: it is dropped (they append their
 * own parameters, which Settle never trusts; the page confirms by order id).
 */
export function neutralReturnUrl(successUrl: string): string {
  const u = new URL(successUrl);
  for (const [k, v] of [...u.searchParams.entries()])
    if (v.includes('{CHECKOUT_SESSION_ID}')) u.searchParams.delete(k);
  return u.toString();
}
