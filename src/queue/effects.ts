import type { Order } from '../db/schema.js';
import { formatMoney, currency } from '../core/money.js';
import type { Executor, JobHandler, QueueWorker } from './outbox.js';

/**
 * Side-effect handlers. Each is idempotent per (order, effect): notifications carry a unique dedupe key and
 * are written in the same transaction that marks the job done, so a retried job never sends twice.
 * In the demo, "sending" means recording in the notifications mailbox the operator can read.
 */

export interface Mail {
  orderId: string | null;
  kind: string;
  recipient: string;
  subject: string;
  body: string;
  dedupeKey: string;
}

export async function recordNotification(trx: Executor, mail: Mail): Promise<void> {
  await trx
    .insertInto('notifications')
    .values({
      order_id: mail.orderId,
      kind: mail.kind,
      recipient: mail.recipient,
      subject: mail.subject,
      body: mail.body,
      dedupe_key: mail.dedupeKey,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .execute();
}

async function loadOrder(trx: Executor, payload: Record<string, unknown>) {
  const orderId = String(payload['orderId']);
  const row = await trx
    .selectFrom('orders')
    .innerJoin('sellers', 'sellers.id', 'orders.seller_id')
    .innerJoin('listings', 'listings.id', 'orders.listing_id')
    .selectAll('orders')
    .select(['sellers.email as seller_email', 'sellers.name as seller_name', 'listings.title'])
    .where('orders.id', '=', orderId)
    .executeTakeFirst();
  if (row === undefined) throw new Error(`order ${orderId} not found`);
  return row;
}

const amount = (o: Pick<Order, 'total' | 'currency'>): string =>
  formatMoney({ amount: o.total, currency: currency(o.currency) });

function mailer(
  kind: string,
  build: (o: Awaited<ReturnType<typeof loadOrder>>) => Omit<Mail, 'kind' | 'dedupeKey' | 'orderId'>,
): JobHandler {
  return async ({ trx, payload }) => {
    const o = await loadOrder(trx, payload);
    await recordNotification(trx, { ...build(o), kind, orderId: o.id, dedupeKey: `${kind}:${o.id}` });
  };
}

export const OPERATOR_RECIPIENT = 'operator@settle.local';

/** Registers the notification and fulfilment handlers. Refund handlers are registered by the refund service. */
export function registerCoreEffects(worker: QueueWorker): void {
  worker
    .register(
      'notify.buyer_receipt',
      mailer('buyer_receipt', (o) => ({
        recipient: o.buyer_email ?? 'buyer@unknown',
        subject: `Receipt: ${o.title}`,
        body: `You paid ${amount(o)} for ${o.quantity} × ${o.title} (order ${o.id}).${o.discount > 0 ? ` Discount: ${o.promotion_code ?? ''}.` : ''}`,
      })),
    )
    .register(
      'notify.seller_notice',
      mailer('seller_notice', (o) => ({
        recipient: o.seller_email,
        subject: `New booking: ${o.title}`,
        body: `Order ${o.id}: ${o.quantity} place(s), ${amount(o)}; platform fee ${formatMoney({ amount: o.platform_fee, currency: currency(o.currency) })}.`,
      })),
    )
    .register(
      'fulfil.booking',
      mailer('booking_confirmed', (o) => ({
        recipient: o.buyer_email ?? 'buyer@unknown',
        subject: `Your booking is confirmed: ${o.title}`,
        body: `${o.quantity} place(s) reserved for you (order ${o.id}).`,
      })),
    )
    .register(
      'notify.buyer_oversold',
      mailer('buyer_oversold', (o) => ({
        recipient: o.buyer_email ?? 'buyer@unknown',
        subject: `Sold out: ${o.title}`,
        body: `The last place was taken while you paid. Your payment of ${amount(o)} is being refunded in full (order ${o.id}).`,
      })),
    )
    .register(
      'notify.operator_review',
      mailer('operator_review', (o) => ({
        recipient: OPERATOR_RECIPIENT,
        subject: `Order ${o.id} needs review`,
        body: `Payment evidence did not match the order: ${o.review_reason ?? 'unknown reason'}.`,
      })),
    )
    .register(
      'notify.dispute',
      mailer('seller_dispute', (o) => ({
        recipient: o.seller_email,
        subject: `Dispute opened on order ${o.id}`,
        body: `The buyer disputed ${amount(o)} for ${o.title}. Status: ${o.dispute_status ?? 'open'}.`,
      })),
    );
}

/** Buyer notice when a refund succeeds (one per refund). */
export function registerRefundNotice(worker: QueueWorker): void {
  worker.register('notify.refund', async ({ trx, payload }) => {
    const o = await loadOrder(trx, payload);
    const refundId = String(payload['refundId']);
    const r = await trx
      .selectFrom('refunds')
      .select(['amount', 'currency'])
      .where('id', '=', refundId)
      .executeTakeFirstOrThrow();
    await recordNotification(trx, {
      orderId: o.id,
      kind: 'buyer_refund',
      recipient: o.buyer_email ?? 'buyer@unknown',
      subject: `Refund for ${o.title}`,
      body: `We refunded ${formatMoney({ amount: r.amount, currency: currency(r.currency) })} for order ${o.id}.`,
      dedupeKey: `buyer_refund:${refundId}`,
    });
  });
}
