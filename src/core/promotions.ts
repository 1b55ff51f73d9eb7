import type { AppContext } from './context.js';
import type { PromotionCode, ProviderId } from '../db/schema.js';
import { upsertPromotionCode } from './catalog.js';
import { roundHalfUpToStep } from './currency-rules.js';
import type { PromotionSpec } from './provider.js';
import type { Executor } from '../queue/outbox.js';
import { currency, discountAmount, type Discount, type Money } from './money.js';

/** Settle's own copy of the promotion codes it offers, so it can price and verify discounts itself. */
export async function findPromotionCode(
  db: Executor,
  provider: ProviderId,
  code: string,
): Promise<PromotionCode | undefined> {
  return db
    .selectFrom('promotion_codes')
    .selectAll()
    .where('provider', '=', provider)
    .where((eb) => eb(eb.fn('upper', ['code']), '=', code.trim().toUpperCase()))
    .executeTakeFirst();
}

export function toDiscount(p: PromotionCode): Discount {
  if (p.percent_off !== null) return { kind: 'percent', percentOff: Number(p.percent_off) };
  return { kind: 'amount', amountOff: { amount: p.amount_off ?? 0, currency: currency(p.currency ?? '') } };
}

/**
 * Discount a promotion code gives on a subtotal (never more than the subtotal), rounded to what the code's provider
 * can charge (Stripe: three-decimal currencies in steps of 10), so the discounted total is chargeable.
 */
export function discountFor(p: PromotionCode, subtotal: Money): Money {
  return roundHalfUpToStep(p.provider, discountAmount(subtotal, toDiscount(p)));
}

/**
 * Offers a promotion code at every configured provider: Settle's own copy (used to price and verify discounts) and
 * the provider's, on the platform and on every Direct Charge seller account there (their checkouts live there).
 */
export async function offerPromotionCode(ctx: AppContext, spec: PromotionSpec): Promise<void> {
  for (const provider of ctx.providers.all()) {
    // Provider first: if a same-named code there has another discount, this throws before Settle's copy changes.
    const platformId = await provider.ensurePromotionCode(spec, null);
    const direct = await ctx.db
      .selectFrom('seller_accounts')
      .select('provider_account_id')
      .where('provider', '=', provider.id)
      .where('charge_type', '=', 'direct')
      .where('provider_account_id', 'is not', null)
      .execute();
    for (const s of direct)
      if (s.provider_account_id) await provider.ensurePromotionCode(spec, s.provider_account_id);
    await upsertPromotionCode(ctx.db, {
      ...spec,
      provider: provider.id,
      providerPromotionCodeId: platformId,
    });
  }
}

/** Copies every active promotion code onto a Direct Charge seller's new account at that provider. */
export async function mirrorPromotionCodes(
  ctx: AppContext,
  providerId: ProviderId,
  accountId: string,
): Promise<void> {
  const provider = ctx.providers.get(providerId);
  const codes = await ctx.db
    .selectFrom('promotion_codes')
    .selectAll()
    .where('provider', '=', providerId)
    .where('active', '=', true)
    .execute();
  for (const p of codes) {
    await provider.ensurePromotionCode(
      {
        code: p.code,
        ...(p.percent_off !== null ? { percentOff: Number(p.percent_off) } : {}),
        ...(p.amount_off !== null ? { amountOff: p.amount_off } : {}),
        ...(p.currency !== null ? { currency: p.currency } : {}),
      },
      accountId,
    );
  }
}
