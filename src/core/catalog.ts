import type { Db } from '../db/connect.js';
import type { Listing, ProviderId, Seller, Slot } from '../db/schema.js';
import { assertProviderAmount, chargeableThrough } from './currency-rules.js';
import { SettleError } from './errors.js';
import { newId } from './ids.js';
import { assertMinor, currency, type FeePolicy } from './money.js';

/** Sellers, listings, slots and Settle's copy of promotion codes. Validation errors are 4xx SettleErrors. */

export async function createSeller(
  db: Db,
  input: { name: string; email: string; fee: FeePolicy },
): Promise<Seller> {
  if (input.name.trim() === '') throw new SettleError('validation_failed', 'name must not be empty.');
  if (!/^[^@\s]+@[^@\s]+$/.test(input.email))
    throw new SettleError('validation_failed', 'email is not a valid address.');
  return db
    .insertInto('sellers')
    .values({
      id: newId('sel'),
      name: input.name.trim(),
      email: input.email.trim(),
      fee_bps: input.fee.bps,
      fee_fixed: assertMinor(input.fee.fixed, 'fixed fee'),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getSeller(db: Db, sellerId: string): Promise<Seller> {
  const s = await db.selectFrom('sellers').selectAll().where('id', '=', sellerId).executeTakeFirst();
  if (s === undefined) throw new SettleError('not_found', `Seller ${sellerId} does not exist.`);
  return s;
}

export async function createListing(
  db: Db,
  input: { sellerId: string; title: string; description?: string; currency: string; unitAmount: number },
): Promise<Listing> {
  await getSeller(db, input.sellerId);
  if (input.title.trim() === '') throw new SettleError('validation_failed', 'title must not be empty.');
  const unit = { amount: assertMinor(input.unitAmount, 'unitAmount'), currency: currency(input.currency) };
  // A price none of the seller's providers can charge (Stripe: KWD 1.005, last digit not 0; PayPal: no KWD) is
  // refused here, with the first provider's reason. A price only some can charge is sold through those (the
  // listing's `seller.providers`); checkout checks the buyer's provider again (createPendingOrder).
  const providers = await db
    .selectFrom('seller_accounts')
    .select('provider')
    .where('seller_id', '=', input.sellerId)
    .orderBy('created_at')
    .execute();
  const first = providers[0];
  if (first !== undefined && !providers.some((p) => chargeableThrough(p.provider, unit)))
    assertProviderAmount(first.provider, unit, 'The unit price');
  return db
    .insertInto('listings')
    .values({
      id: newId('lst'),
      seller_id: input.sellerId,
      title: input.title.trim(),
      description: input.description ?? '',
      currency: unit.currency,
      unit_amount: unit.amount,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function createSlot(
  db: Db,
  input: { listingId: string; startsAt: Date; capacity: number },
): Promise<Slot> {
  const listing = await db
    .selectFrom('listings')
    .select('id')
    .where('id', '=', input.listingId)
    .executeTakeFirst();
  if (listing === undefined) throw new SettleError('not_found', `Listing ${input.listingId} does not exist.`);
  if (!Number.isSafeInteger(input.capacity) || input.capacity < 0 || input.capacity > 100_000) {
    throw new SettleError('validation_failed', 'capacity must be an integer between 0 and 100000.');
  }
  if (Number.isNaN(input.startsAt.getTime()))
    throw new SettleError('validation_failed', 'startsAt is not a valid date.');
  return db
    .insertInto('slots')
    .values({
      id: newId('slt'),
      listing_id: input.listingId,
      starts_at: input.startsAt,
      capacity: input.capacity,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function upsertPromotionCode(
  db: Db,
  input: {
    code: string;
    percentOff?: number;
    amountOff?: number;
    currency?: string;
    provider?: ProviderId;
    providerPromotionCodeId?: string | null;
  },
): Promise<void> {
  const code = input.code.trim().toUpperCase();
  if (!/^[A-Z0-9_-]{2,40}$/.test(code))
    throw new SettleError('validation_failed', 'code must be 2–40 letters, digits, _ or -.');
  const provider = input.provider ?? 'stripe';
  if (input.amountOff !== undefined) {
    if (input.currency === undefined)
      throw new SettleError('validation_failed', 'currency is required with amountOff.');
    const off = { amount: assertMinor(input.amountOff, 'amountOff'), currency: currency(input.currency) };
    assertProviderAmount(provider, off, 'The amount off');
  }
  const existing = await db
    .selectFrom('promotion_codes')
    .select('id')
    .where('provider', '=', provider)
    .where((eb) => eb(eb.fn('upper', ['code']), '=', code))
    .executeTakeFirst();
  const values = {
    code,
    percent_off: input.percentOff ?? null,
    amount_off: input.amountOff ?? null,
    currency: input.currency !== undefined ? currency(input.currency) : null,
    provider,
    provider_promotion_code_id: input.providerPromotionCodeId ?? null,
  };
  if (existing) await db.updateTable('promotion_codes').set(values).where('id', '=', existing.id).execute();
  else
    await db
      .insertInto('promotion_codes')
      .values({ id: newId('prm'), ...values })
      .execute();
}
