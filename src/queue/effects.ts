import type { DisputeNoticeEvent } from '../core/payment-events.js';
import type { Job, Order } from '../db/schema.js';
import { formatMoney, currency } from '../core/money.js';
import type { BatchHandler, Executor, JobHandler, QueueWorker } from './outbox.js';

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

const notificationRow = (mail: Mail) => ({
  order_id: mail.orderId,
  kind: mail.kind,
  recipient: mail.recipient,
  subject: mail.subject,
  body: mail.body,
  dedupe_key: mail.dedupeKey,
});

export async function recordNotification(trx: Executor, mail: Mail): Promise<void> {
  await recordNotifications(trx, [mail]);
}

/**
 * Records several notifications in one statement (one multi-row INSERT … ON CONFLICT (dedupe_key) DO NOTHING): the same
 * rows, in the same order, as one recordNotification() per mail.
 */
async function recordNotifications(trx: Executor, mails: readonly Mail[]): Promise<void> {
  if (mails.length === 0) return;
  await trx
    .insertInto('notifications')
    .values(mails.map(notificationRow))
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .execute();
}

/** An order with what its notices name (seller, listing); loadOrder() and loadOrders() read the same columns. */
function orderQuery(trx: Executor) {
  return trx
    .selectFrom('orders')
    .innerJoin('sellers', 'sellers.id', 'orders.seller_id')
    .innerJoin('listings', 'listings.id', 'orders.listing_id')
    .selectAll('orders')
    .select(['sellers.email as seller_email', 'sellers.name as seller_name', 'listings.title']);
}

const payloadOrderId = (payload: Record<string, unknown>): string => String(payload['orderId']);

async function loadOrder(trx: Executor, payload: Record<string, unknown>) {
  const orderId = payloadOrderId(payload);
  const row = await orderQuery(trx).where('orders.id', '=', orderId).executeTakeFirst();
  if (row === undefined) throw new Error(`order ${orderId} not found`);
  return row;
}

/** The orders of several jobs' payloads in one query, by id; fails as loadOrder() does if any is missing. */
async function loadOrders(trx: Executor, payloads: readonly Record<string, unknown>[]) {
  const ids = [...new Set(payloads.map(payloadOrderId))];
  const rows = ids.length === 0 ? [] : await orderQuery(trx).where('orders.id', 'in', ids).execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const id of ids) if (!byId.has(id)) throw new Error(`order ${id} not found`);
  return byId;
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

type BuildMail = (
  o: OrderRow,
  payload: Record<string, unknown>,
  job: Job,
) => Omit<Mail, 'kind' | 'dedupeKey' | 'orderId'>;

interface Mailer {
  /** The notification's kind. */
  kind: string;
  build: BuildMail;
}

/** The mail a mailer job records, given its order: the same for the single and the batch form. */
function mailFor(m: Mailer, o: OrderRow, payload: Record<string, unknown>, job: Job): Mail {
  return { ...m.build(o, payload, job), kind: m.kind, orderId: o.id, dedupeKey: noticeKey(job) };
}

/** The single form: loads the job's order and records its notice. */
function mailer(m: Mailer): JobHandler {
  return async ({ trx, payload, job }) => {
    const o = await loadOrder(trx, payload);
    await recordNotification(trx, mailFor(m, o, payload, job));
  };
}

/**
 * The batch form shared by every mailer (one function object, so the worker runs all of a batch's mailer jobs, of any
 * kind, in one call): the jobs' orders in one query, their notices in one insert — the same rows as each job's single
 * handler would record.
 */
const mailBatch: BatchHandler = async ({ trx, jobs }) => {
  const orders = await loadOrders(
    trx,
    jobs.map((j) => j.payload),
  );
  const mails = jobs.map((job) => {
    const m = MAILERS.get(job.kind);
    if (m === undefined) throw new Error(`job kind '${job.kind}' is not a mailer`);
    const o = orders.get(payloadOrderId(job.payload));
    // loadOrders() has thrown for a missing order.
    if (o === undefined) throw new Error(`order ${payloadOrderId(job.payload)} not found`);
    return mailFor(m, o, job.payload, job);
  });
  await recordNotifications(trx, mails);
};

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

/** The mailers by the job kind they run (mailBatch finds a job's builder here by `job.kind`). */
const MAILERS: ReadonlyMap<string, Mailer> = new Map<string, Mailer>([
  [
    'notify.buyer_receipt',
    {
      kind: 'buyer_receipt',
      build: (o) => ({
        recipient: o.buyer_email ?? 'buyer@unknown',
        subject: `Receipt: ${o.title}`,
        body: `You paid ${amount(o)} for ${o.quantity} × ${o.title} (order ${o.id}).${o.discount > 0 ? ` Discount: ${o.promotion_code ?? ''}.` : ''}`,
      }),
    },
  ],
  [
    'notify.seller_notice',
    {
      kind: 'seller_notice',
      build: (o) => ({
        recipient: o.seller_email,
        subject: `New booking: ${o.title}`,
        body: `Order ${o.id}: ${o.quantity} place(s), ${amount(o)}; platform fee ${formatMoney({ amount: o.platform_fee, currency: currency(o.currency) })}.`,
      }),
    },
  ],
  [
    'fulfil.booking',
    {
      kind: 'booking_confirmed',
      build: (o) => ({
        recipient: o.buyer_email ?? 'buyer@unknown',
        subject: `Your booking is confirmed: ${o.title}`,
        body: `${o.quantity} place(s) reserved for you (order ${o.id}).`,
      }),
    },
  ],
  [
    'notify.buyer_oversold',
    {
      kind: 'buyer_oversold',
      build: (o) => ({
        recipient: o.buyer_email ?? 'buyer@unknown',
        subject: `Sold out: ${o.title}`,
        body: `The last place was taken while you paid. Your payment of ${amount(o)} is being refunded in full (order ${o.id}).`,
      }),
    },
  ],
  [
    'notify.operator_review',
    {
      kind: 'operator_review',
      build: (o, payload) => ({
        recipient: OPERATOR_RECIPIENT,
        subject: `Order ${o.id} needs review`,
        // The reason travels in the job: a decision may have cleared it from the order by the time this runs.
        body: `Payment evidence did not match the order: ${typeof payload['reason'] === 'string' ? payload['reason'] : (o.review_reason ?? 'unknown reason')}.`,
      }),
    },
  ],
  ['notify.dispute', { kind: 'seller_dispute', build: disputeNotice }],
]);

/**
 * Registers the notification and fulfilment handlers, each with its single form and the batch form all mailers share.
 * Refund handlers are registered by the refund service.
 */
export function registerCoreEffects(worker: QueueWorker): void {
  for (const [jobKind, m] of MAILERS) worker.register(jobKind, mailer(m), { batch: mailBatch });
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
