import type { AppContext } from '../app/context.js';
import type { ChargeType, Seller } from '../db/schema.js';
import { createSeller, getSeller } from './catalog.js';
import { SettleError } from './errors.js';
import { mirrorPromotionCodes } from './promotions.js';

/** Creates the seller and its connected account at the provider (idempotent per seller id). */
export async function onboardSeller(
  ctx: AppContext,
  input: { name: string; email: string; chargeType: ChargeType; feeBps?: number; feeFixed?: number },
): Promise<Seller> {
  const seller = await createSeller(ctx.db, {
    name: input.name,
    email: input.email,
    chargeType: input.chargeType,
    fee: {
      bps: input.feeBps ?? ctx.config.defaultFee.bps,
      fixed: input.feeFixed ?? ctx.config.defaultFee.fixed,
    },
    provider: ctx.provider.id,
  });
  return attachAccount(ctx, seller);
}

/** Ensures the seller has a provider account (retries safely: the key is derived from the seller id). */
export async function attachAccount(ctx: AppContext, seller: Seller): Promise<Seller> {
  if (seller.provider_account_id !== null) return seller;
  const account = await ctx.provider.createSellerAccount({
    sellerId: seller.id,
    email: seller.email,
    idempotencyKey: `account:${seller.id}`,
  });
  if (seller.charge_type === 'direct') await mirrorPromotionCodes(ctx, account.accountId);
  return ctx.db
    .updateTable('sellers')
    .set({
      provider_account_id: account.accountId,
      details_submitted: account.detailsSubmitted,
      charges_enabled: account.chargesEnabled,
      payouts_enabled: account.payoutsEnabled,
    })
    .where('id', '=', seller.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function onboardingLink(ctx: AppContext, sellerId: string): Promise<{ url: string }> {
  const seller = await attachAccount(ctx, await getSeller(ctx.db, sellerId));
  if (seller.provider_account_id === null)
    throw new SettleError('seller_not_ready', 'Seller has no provider account.');
  const base = ctx.config.publicUrl;
  return ctx.provider.createOnboardingLink({
    accountId: seller.provider_account_id,
    returnUrl: `${base}/sellers/${seller.id}/onboarding-return`,
    refreshUrl: `${base}/sellers/${seller.id}/onboarding-return?refresh=1`,
  });
}

/** Refreshes the seller's capability state from the provider (the onboarding return page calls this). */
export async function refreshSeller(ctx: AppContext, sellerId: string): Promise<Seller> {
  const seller = await getSeller(ctx.db, sellerId);
  if (seller.provider_account_id === null) return seller;
  const a = await ctx.provider.retrieveSellerAccount(seller.provider_account_id);
  return ctx.db
    .updateTable('sellers')
    .set({
      details_submitted: a.detailsSubmitted,
      charges_enabled: a.chargesEnabled,
      payouts_enabled: a.payoutsEnabled,
      account_synced_at: ctx.now(),
    })
    .where('id', '=', seller.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * What a buyer (or the seller's own onboarding-return page) may see: name, charge type and onboarding state.
 * Never the provider account id, e-mail or fee terms (`GET /api/sellers/:id` is public).
 */
export function publicSeller(s: Seller) {
  return {
    id: s.id,
    name: s.name,
    chargeType: s.charge_type,
    detailsSubmitted: s.details_submitted,
    chargesEnabled: s.charges_enabled,
    payoutsEnabled: s.payouts_enabled,
  };
}

/** The operator's view (operator routes only): the public view plus the provider account id. */
export function adminSeller(s: Seller) {
  return {
    ...publicSeller(s),
    accountId: s.provider_account_id,
  };
}
