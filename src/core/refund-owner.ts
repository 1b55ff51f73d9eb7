import type { Order, Refund, Subscription, SubscriptionPeriod } from '../db/schema.js';
import type { Executor } from '../queue/outbox.js';
import { accountOf } from './checkout.js';
import type { AccountContext } from './provider.js';

/**
 * What a refund refunds: an order, or a subscription period (one paid invoice, issue 13). A refund row names exactly
 * one of the two (`refunds.order_id` / `refunds.period_id`, CHECK `refunds_one_owner`).
 */
export type RefundOwner = { kind: 'order'; id: string } | { kind: 'period'; id: string };

/** The owner a refund row belongs to. */
export function ownerOfRefund(refund: Pick<Refund, 'order_id' | 'period_id'>): RefundOwner {
  if (refund.order_id !== null) return { kind: 'order', id: refund.order_id };
  if (refund.period_id !== null) return { kind: 'period', id: refund.period_id };
  throw new Error('refund has neither an order nor a subscription period');
}

/** Whether a refund row belongs to this owner. */
export function sameOwner(refund: Pick<Refund, 'order_id' | 'period_id'>, owner: RefundOwner): boolean {
  return owner.kind === 'order' ? refund.order_id === owner.id : refund.period_id === owner.id;
}

/**
 * Locks the owner's row (`FOR NO KEY UPDATE`): every reservation and status change of one owner's refunds is
 * serialized on it. Returns false when the row does not exist.
 */
export async function lockOwner(db: Executor, owner: RefundOwner): Promise<boolean> {
  const rows =
    owner.kind === 'order'
      ? await db.selectFrom('orders').select('id').where('id', '=', owner.id).forNoKeyUpdate().execute()
      : await db
          .selectFrom('subscription_periods')
          .select('id')
          .where('id', '=', owner.id)
          .forNoKeyUpdate()
          .execute();
  return rows.length > 0;
}

/** A period with what its refund needs from its subscription: the provider, the charge type and the account. */
export type PeriodWithSubscription = SubscriptionPeriod &
  Pick<Subscription, 'charge_type' | 'provider_account_id'> & {
    subscription_provider: Subscription['provider'];
  };

/** The period and its subscription's provider/account (the period row is not locked). */
export async function loadPeriod(
  db: Executor,
  periodId: string,
): Promise<PeriodWithSubscription | undefined> {
  return db
    .selectFrom('subscription_periods')
    .innerJoin('subscriptions', 'subscriptions.id', 'subscription_periods.subscription_id')
    .selectAll('subscription_periods')
    .select([
      'subscriptions.provider as subscription_provider',
      'subscriptions.charge_type',
      'subscriptions.provider_account_id',
    ])
    .where('subscription_periods.id', '=', periodId)
    .executeTakeFirst();
}

/** What the provider's refund call needs to know about the refunded payment. */
export interface RefundTarget {
  provider: Order['provider'];
  account: AccountContext;
  paymentId: string;
  currency: string;
  /** Reference sent to the provider as the refund's `orderId` (metadata only): the order id or the period id. */
  reference: string;
}

/**
 * The payment a refund row refunds, and on which account: the order's own provider/charge type/account, or, for a
 * subscription period, its subscription's.
 */
export async function refundTarget(
  db: Executor,
  refund: Pick<Refund, 'order_id' | 'period_id'>,
): Promise<RefundTarget> {
  const owner = ownerOfRefund(refund);
  if (owner.kind === 'order') {
    const order = await db
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', owner.id)
      .executeTakeFirstOrThrow();
    return {
      provider: order.provider,
      account: accountOf(order),
      paymentId: order.provider_payment_id ?? '',
      currency: order.currency,
      reference: order.id,
    };
  }
  const period = await loadPeriod(db, owner.id);
  if (period === undefined) throw new Error(`subscription period ${owner.id} not found`);
  return {
    provider: period.subscription_provider,
    account: { accountId: period.provider_account_id, chargeType: period.charge_type },
    paymentId: period.provider_payment_id ?? '',
    currency: period.currency,
    reference: period.id,
  };
}
