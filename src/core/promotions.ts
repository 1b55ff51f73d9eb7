import type { PromotionCode, ProviderId } from '../db/schema.js';
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

/** Discount a promotion code gives on a subtotal (never more than the subtotal). */
export function discountFor(p: PromotionCode, subtotal: Money): Money {
  return discountAmount(subtotal, toDiscount(p));
}
