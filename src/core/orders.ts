import type { Db } from '../db/connect.js';
import type { Order, ProviderId } from '../db/schema.js';
import { SettleError } from './errors.js';
import { newId } from './ids.js';
import { assertProviderAmount, roundDownToStep } from './currency-rules.js';
import { lockSlot, placeHold } from './inventory.js';
import { currency, multiply, platformFee, type Money } from './money.js';
import { discountFor, findPromotionCode } from './promotions.js';
import { accountTakesCurrency } from './sellers.js';

export interface OrderRequest {
  slotId: string;
  quantity: number;
  promotionCode?: string | null;
  buyerEmail?: string | null;
  provider: ProviderId;
  /** Hold lifetime; the provider checkout expires at the same instant. */
  holdMinutes: number;
  /** Digest of the buyer's Idempotency-Key; the same key finds the order it already created. */
  checkoutKey?: string | null;
  now?: Date;
}

/**
 * Prices an order from the catalogue (never from the client), checks the seller can take charges, and
 * creates the pending order with its hold in one transaction. Throws SettleError 404/409/400 with a reason.
 */
export async function createPendingOrder(db: Db, req: OrderRequest): Promise<Order & { resumed: boolean }> {
  const now = req.now ?? new Date();
  if (!Number.isSafeInteger(req.quantity) || req.quantity < 1 || req.quantity > 100) {
    throw new SettleError('validation_failed', 'quantity must be an integer between 1 and 100.');
  }
  return db.transaction().execute(async (trx) => {
    // The slot is locked before the order row that references it is written (see lockSlot): concurrent checkouts
    // for one slot queue here instead of deadlocking.
    if ((await lockSlot(trx, req.slotId)) === undefined)
      throw new SettleError('not_found', `Slot ${req.slotId} does not exist.`);
    if (req.checkoutKey) {
      const existing = await trx
        .selectFrom('orders')
        .selectAll()
        .where('checkout_key', '=', req.checkoutKey)
        .executeTakeFirst();
      if (existing !== undefined) return { ...existing, resumed: true };
    }
    const row = await trx
      .selectFrom('slots')
      .innerJoin('listings', 'listings.id', 'slots.listing_id')
      .innerJoin('sellers', 'sellers.id', 'listings.seller_id')
      .leftJoin('seller_accounts', (j) =>
        j
          .onRef('seller_accounts.seller_id', '=', 'sellers.id')
          .on('seller_accounts.provider', '=', req.provider),
      )
      .select([
        'slots.id as slot_id',
        'slots.starts_at',
        'listings.id as listing_id',
        'listings.currency',
        'listings.unit_amount',
        'sellers.id as seller_id',
        'seller_accounts.provider_account_id',
        'seller_accounts.charge_type',
        'seller_accounts.charges_enabled',
        'seller_accounts.revoked_at',
        'seller_accounts.capabilities',
        'sellers.fee_bps',
        'sellers.fee_fixed',
      ])
      .where('slots.id', '=', req.slotId)
      .executeTakeFirst();
    if (row === undefined) throw new SettleError('not_found', `Slot ${req.slotId} does not exist.`);
    if (row.charge_type === null) {
      throw new SettleError(
        'provider_not_available',
        `This seller does not take payments through ${req.provider}.`,
      );
    }
    if (row.revoked_at !== null) {
      throw new SettleError(
        'provider_account_revoked',
        `This seller withdrew Settle's access to their ${req.provider} account and cannot take payments through ${req.provider} until they reconnect.`,
      );
    }
    if (
      row.capabilities !== null &&
      !accountTakesCurrency({ capabilities: row.capabilities }, row.currency)
    ) {
      throw new SettleError(
        'currency_unsupported',
        `This seller's ${req.provider} account cannot take ${row.currency.toUpperCase()}; choose another way to pay.`,
        { details: { provider: req.provider, currency: row.currency } },
      );
    }
    if (row.provider_account_id === null || !row.charges_enabled) {
      throw new SettleError(
        'seller_not_ready',
        'This seller has not finished onboarding and cannot take payments yet.',
      );
    }
    if (row.starts_at.getTime() <= now.getTime())
      throw new SettleError('slot_unavailable', 'This slot has already started.');

    const unit: Money = { amount: row.unit_amount, currency: currency(row.currency) };
    assertProviderAmount(req.provider, unit, 'The unit price');
    const subtotal = multiply(unit, req.quantity);
    let discount = 0;
    let code: string | null = null;
    if (req.promotionCode) {
      const promo = await findPromotionCode(trx, req.provider, req.promotionCode);
      if (promo === undefined || !promo.active) {
        throw new SettleError(
          'promotion_code_invalid',
          `Promotion code '${req.promotionCode}' is not valid.`,
        );
      }
      discount = discountFor(promo, subtotal).amount;
      code = promo.code;
    }
    const total = subtotal.amount - discount;
    // Rounded down to what the provider can charge (never above the seller's fee rule).
    const fee = roundDownToStep(
      req.provider,
      platformFee({ amount: total, currency: subtotal.currency }, { bps: row.fee_bps, fixed: row.fee_fixed }),
    );
    const id = newId('ord');
    const expiresAt = new Date(now.getTime() + req.holdMinutes * 60_000);
    const order = await trx
      .insertInto('orders')
      .values({
        id,
        seller_id: row.seller_id,
        listing_id: row.listing_id,
        slot_id: row.slot_id,
        quantity: req.quantity,
        currency: subtotal.currency,
        unit_amount: unit.amount,
        subtotal: subtotal.amount,
        discount,
        total,
        platform_fee: fee.amount,
        promotion_code: code,
        status: 'pending',
        review_reason: null,
        buyer_email: req.buyerEmail ?? null,
        provider: req.provider,
        charge_type: row.charge_type,
        provider_account_id: row.provider_account_id,
        provider_session_id: null,
        provider_payment_id: null,
        confirmed_via: null,
        dispute_status: null,
        expires_at: expiresAt,
        paid_at: null,
        checkout_key: req.checkoutKey ?? null,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await placeHold(trx, { slotId: row.slot_id, orderId: id, quantity: req.quantity, expiresAt, now });
    await trx
      .insertInto('order_events')
      .values({ order_id: id, from_status: null, to_status: 'pending', note: null, via: 'checkout' })
      .execute();
    return { ...order, resumed: false };
  });
}

/** Records the provider's hosted checkout session on the order (unique per provider). */
export async function attachSession(db: Db, orderId: string, sessionId: string): Promise<void> {
  await db
    .updateTable('orders')
    .set({ provider_session_id: sessionId, updated_at: new Date() })
    .where('id', '=', orderId)
    .execute();
}

export async function getOrder(db: Db, orderId: string): Promise<Order> {
  const order = await db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (order === undefined) throw new SettleError('not_found', `Order ${orderId} does not exist.`);
  return order;
}
