import type { Db } from '../db/connect.js';
import type { OrderStatus } from '../db/schema.js';
import { extendHold, releaseHold } from './inventory.js';
import { sourcesFor } from './order-status.js';

export interface TransitionResult {
  orderId: string;
  changed: boolean;
  status: OrderStatus;
}

/**
 * Moves an order along the state machine with a conditional UPDATE (allowed source states only), records
 * the history row and, for states that end the checkout, releases the hold — all in one transaction.
 * `paid` is not reachable here: that is confirmPayment()'s job.
 */
export async function transitionOrder(
  db: Db,
  orderId: string,
  to: Exclude<OrderStatus, 'paid' | 'paid_oversold'>,
  opts: {
    via?: string;
    note?: string;
    now?: Date;
    /** For `processing`: the order keeps its place until then (see extendHold). */
    holdUntil?: Date;
  } = {},
): Promise<TransitionResult> {
  const now = opts.now ?? new Date();
  const from = sourcesFor(to);
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom('orders')
      .select('status')
      .where('id', '=', orderId)
      .executeTakeFirst();
    if (before === undefined) throw new Error(`transitionOrder: order ${orderId} does not exist`);
    const res = await trx
      .updateTable('orders')
      .set({ status: to, updated_at: now })
      .where('id', '=', orderId)
      .where('status', 'in', from)
      .returning('status')
      .executeTakeFirst();
    if (res === undefined) {
      const current = await trx
        .selectFrom('orders')
        .select('status')
        .where('id', '=', orderId)
        .executeTakeFirstOrThrow();
      return { orderId, changed: false, status: current.status };
    }
    if (to === 'expired' || to === 'canceled' || to === 'failed') await releaseHold(trx, orderId, to, now);
    if (to === 'processing' && opts.holdUntil !== undefined) await extendHold(trx, orderId, opts.holdUntil);
    await trx
      .insertInto('order_events')
      .values({
        order_id: orderId,
        from_status: before.status,
        to_status: to,
        note: opts.note ?? null,
        via: opts.via ?? null,
      })
      .execute();
    return { orderId, changed: true, status: to };
  });
}
