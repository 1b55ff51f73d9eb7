import type { Db } from '../../src/db/connect.js';
import { createListing, createSeller, createSlot, upsertPromotionCode } from '../../src/core/catalog.js';
import type { PaymentEvidence } from '../../src/core/confirm-payment.js';
import type { ChargeType, Order } from '../../src/db/schema.js';

let accountCounter = 0;

/** A ready seller (onboarded, charges enabled) with one listing and one slot. */
export async function marketplace(
  db: Db,
  opts: {
    capacity?: number;
    unitAmount?: number;
    currency?: string;
    chargeType?: ChargeType;
    feeBps?: number;
    feeFixed?: number;
  } = {},
) {
  const seller = await createSeller(db, {
    name: 'Yoga Studio',
    email: 'studio@example.test',
    fee: { bps: opts.feeBps ?? 1000, fixed: opts.feeFixed ?? 0 },
  });
  accountCounter += 1;
  await db
    .insertInto('seller_accounts')
    .values({
      seller_id: seller.id,
      provider: 'stripe',
      provider_account_id: `acct_test_${accountCounter}_${seller.id.slice(-6)}`,
      charge_type: opts.chargeType ?? 'direct',
      charges_enabled: true,
      details_submitted: true,
      payouts_enabled: true,
      account_synced_at: null,
    })
    .execute();
  const listing = await createListing(db, {
    sellerId: seller.id,
    title: 'Morning flow',
    currency: opts.currency ?? 'usd',
    unitAmount: opts.unitAmount ?? 2000,
  });
  const slot = await createSlot(db, {
    listingId: listing.id,
    startsAt: new Date(Date.now() + 7 * 86_400_000),
    capacity: opts.capacity ?? 10,
  });
  await upsertPromotionCode(db, { code: 'TENOFF', percentOff: 10 });
  await upsertPromotionCode(db, { code: 'FREE100', percentOff: 100 });
  return { seller, listing, slot };
}

/** Evidence exactly matching the order, as a provider adapter would build it after a successful payment. */
export function evidenceFor(
  order: Order,
  via: PaymentEvidence['via'] = 'webhook',
  over: Partial<PaymentEvidence> = {},
): PaymentEvidence {
  return {
    via,
    provider: 'stripe',
    sessionId: `cs_test_${order.id}`,
    paymentId: order.total === 0 ? null : `pi_${order.id}`,
    amount: order.total,
    currency: order.currency,
    promotionCode: order.promotion_code,
    applicationFee: order.platform_fee,
    ...over,
  };
}
