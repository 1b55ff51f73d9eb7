import type { DisputeNoticeEvent } from '../core/payment-events.js';
import type { Job, Order } from '../db/schema.js';
import { formatMoney, currency } from '../core/money.js';
import type { Executor, JobHandler, QueueWorker } from './outbox.js';

/**
 * Side-effect handlers. Each notification is recorded in the same transaction that marks its job done, under a
 * dedupe key that names the event it notifies about: the job's own `dedupe_key`, which is unique per event
 * (`notify.dispute:dp_1:won`, `notify.refund:ref_1`, `notify.buyer_receipt:ord_1`). A retried job never records
 * twice, and two events of one order (a dispute opened, then won; a second dispute) never collide.
 * What a notice says comes from the event (the job payload, or the row the event is about), not from the order's
 * state when the job happens to run. In the demo, "sending" means recording in the notifications mailbox the
 * operator can read.
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

/** Formats an amount the provider reported; a currency Settle does not price in is shown as reported. */
function moneyOrRaw(minor: number, code: string): string {
  try {
    return formatMoney({ amount: minor, currency: currency(code) });
  } catch {
    return `${minor} ${code.toUpperCase()} (minor units)`;
  }
}

/** The notification's dedupe key: the job's, which names the event (one job per event, by its unique key). */
const noticeKey = (job: Pick<Job, 'dedupe_key'>): string => job.dedupe_key;

type OrderRow = Awaited<ReturnType<typeof loadOrder>>;

function mailer(
  kind: string,
  build: (
    o: OrderRow,
    payload: Record<string, unknown>,
    job: Job,
  ) => Omit<Mail, 'kind' | 'dedupeKey' | 'orderId'>,
): JobHandler {
  return async ({ trx, payload, job }) => {
    const o = await loadOrder(trx, payload);
    await recordNotification(trx, {
      ...build(o, payload, job),
      kind,
      orderId: o.id,
      dedupeKey: noticeKey(job),
    });
  };
}

const DISPUTE_EVENTS: readonly DisputeNoticeEvent[] = ['opened', 'won', 'lost'];

/**
 * What a dispute job notifies about: `event` in its payload, or (jobs queued before the payload carried it) the
 * state named by its dedupe key, `notify.dispute:<dispute>:<open|won|lost>`. Never the order's current state.
 */
function disputeEvent(payload: Record<string, unknown>, job: Pick<Job, 'dedupe_key'>): DisputeNoticeEvent {
  const fromPayload = DISPUTE_EVENTS.find((e) => e === payload['event']);
  if (fromPayload !== undefined) return fromPayload;
  const suffix = job.dedupe_key.slice(job.dedupe_key.lastIndexOf(':') + 1);
  const fromKey = suffix === 'open' ? 'opened' : DISPUTE_EVENTS.find((e) => e === suffix);
  if (fromKey === undefined) throw new Error(`dispute job ${job.dedupe_key} does not say what happened`);
  return fromKey;
}

function disputeNotice(
  o: OrderRow,
  payload: Record<string, unknown>,
  job: Job,
): Omit<Mail, 'kind' | 'dedupeKey' | 'orderId'> {
  const event = disputeEvent(payload, job);
  const disputeId = typeof payload['disputeId'] === 'string' ? payload['disputeId'] : 'unknown';
  const disputed =
    typeof payload['amount'] === 'number' && typeof payload['currency'] === 'string'
      ? moneyOrRaw(payload['amount'], payload['currency'])
      : amount(o);
  const reason = typeof payload['reason'] === 'string' ? `, reason: ${payload['reason']}` : '';
  const ref = `dispute ${disputeId}${reason}`;
  switch (event) {
    case 'opened':
      return {
        recipient: o.seller_email,
        subject: `Dispute opened on order ${o.id}`,
        body: `The buyer disputed ${disputed} for ${o.title} (${ref}). Respond with evidence before the deadline.`,
      };
    case 'won':
      return {
        recipient: o.seller_email,
        subject: `Dispute won on order ${o.id}`,
        body: `The dispute of ${disputed} for ${o.title} was closed in your favour (${ref}); the disputed amount is returned to you.`,
      };
    case 'lost':
      return {
        recipient: o.seller_email,
        subject: `Dispute lost on order ${o.id}`,
        body: `The dispute of ${disputed} for ${o.title} was closed in the buyer's favour (${ref}); the disputed amount stays with the buyer.`,
      };
  }
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
      mailer('operator_review', (o, payload) => ({
        recipient: OPERATOR_RECIPIENT,
        subject: `Order ${o.id} needs review`,
        // The reason travels in the job: a decision may have cleared it from the order by the time this runs.
        body: `Payment evidence did not match the order: ${typeof payload['reason'] === 'string' ? payload['reason'] : (o.review_reason ?? 'unknown reason')}.`,
      })),
    )
    .register('notify.dispute', mailer('seller_dispute', disputeNotice));
}

/** Buyer notice when a refund succeeds (one per refund). */
export function registerRefundNotice(worker: QueueWorker): void {
  worker.register('notify.refund', async ({ trx, payload, job }) => {
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
      dedupeKey: noticeKey(job),
    });
  });
}
