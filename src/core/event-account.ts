import type { ChargeType, ProviderId } from '../db/schema.js';

/**
 * The account whose events may move an order or a subscription: the seller's connected account for a Stripe Direct
 * Charge (the session, payment, subscription, refunds and disputes live there; their events come from it), the
 * platform (null) for everything else (Stripe destination charges, PayPal and Square platform webhooks).
 */
export function owningAccount(row: {
  provider: ProviderId;
  charge_type: ChargeType;
  provider_account_id: string | null;
}): string | null {
  return row.provider === 'stripe' && row.charge_type === 'direct' ? row.provider_account_id : null;
}
