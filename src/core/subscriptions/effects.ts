import type { Config } from '../../config/config.js';
import { formatMoney, currency } from '../money.js';
import { recordNotification, type Mail } from '../../queue/effects.js';
import type { Executor, JobHandler, QueueWorker } from '../../queue/outbox.js';

/**
 * Subscription notices, recorded like order notices (src/queue/effects.ts): each under its job's dedupe key, which
 * names the event (an invoice, an attempt, a booking), so a retried job or a duplicate event never mails twice.
 * What a notice says comes from the rows the event is about.
 */

async function loadSubscription(trx: Executor, subscriptionId: string) {
  const row = await trx
    .selectFrom('subscriptions')
    .innerJoin('plans', 'plans.id', 'subscriptions.plan_id')
    .innerJoin('sellers', 'sellers.id', 'subscriptions.seller_id')
    .selectAll('subscriptions')
    .select(['plans.name as plan_name', 'sellers.email as seller_email', 'sellers.name as seller_name'])
    .where('subscriptions.id', '=', subscriptionId)
    .executeTakeFirst();
  if (row === undefined) throw new Error(`subscription ${subscriptionId} not found`);
  return row;
}

type SubscriptionRow = Awaited<ReturnType<typeof loadSubscription>>;

const money = (amount: number, code: string): string => {
  try {
    return formatMoney({ amount, currency: currency(code) });
  } catch {
    return `${amount} ${code.toUpperCase()} (minor units)`;
  }
};

const day = (d: Date | null): string => (d === null ? 'unknown' : d.toISOString().slice(0, 10));

type Notice = Omit<Mail, 'kind' | 'dedupeKey' | 'orderId'> & { kind: string };

/** A handler that records one notice per recipient (the job's key, plus the recipient's role when several). */
function notices(
  build: (
    s: SubscriptionRow,
    payload: Record<string, unknown>,
    trx: Executor,
  ) => Promise<Notice[]> | Notice[],
): JobHandler {
  return async ({ trx, payload, job }) => {
    // A notice about an invoice may name only its period (the refund path queues { periodId, refundId }).
    const subscriptionId =
      typeof payload['subscriptionId'] === 'string'
        ? payload['subscriptionId']
        : (await period(trx, String(payload['periodId']))).subscription_id;
    const s = await loadSubscription(trx, subscriptionId);
    const list = await build(s, payload, trx);
    for (const [i, n] of list.entries())
      await recordNotification(trx, {
        orderId: null,
        kind: n.kind,
        recipient: n.recipient,
        subject: n.subject,
        body: n.body,
        dedupeKey: list.length === 1 ? job.dedupe_key : `${job.dedupe_key}:${i}`,
      });
  };
}

async function period(trx: Executor, periodId: string) {
  return trx
    .selectFrom('subscription_periods')
    .selectAll()
    .where('id', '=', periodId)
    .executeTakeFirstOrThrow();
}

/** The buyer's manage page; the token rides in the fragment, which browsers never send to a server or its logs. */
export function manageLink(config: Pick<Config, 'publicUrl'>, subscriptionId: string, token: string): string {
  return `${config.publicUrl}/subscriptions/manage?subscription=${subscriptionId}#token=${token}`;
}

export function registerSubscriptionEffects(worker: QueueWorker, config: Pick<Config, 'publicUrl'>): void {
  worker
    .register('notify.subscription_welcome', async (jc) => {
      await notices((s, payload) => [
        {
          kind: 'subscription_welcome',
          recipient: s.buyer_email,
          subject: `Welcome to ${s.plan_name}`,
          body:
            `Your ${s.plan_name} membership with ${s.seller_name} has started (subscription ${s.id}). ` +
            `Book classes, cancel or update your card here: ${manageLink(config, s.id, String(payload['token']))} ` +
            '(keep this link private: it is the key to your membership).',
        },
      ])(jc);
      // Sent: the token leaves the queue in the same transaction (only the mail carries it from here on).
      await jc.trx
        .updateTable('jobs')
        .set({ payload: JSON.stringify({ subscriptionId: jc.payload['subscriptionId'] }) })
        .where('id', '=', jc.job.id)
        .execute();
    })
    .register(
      'notify.subscription_receipt',
      notices(async (s, payload, trx) => {
        const p = await period(trx, String(payload['periodId']));
        return [
          {
            kind: 'subscription_receipt',
            recipient: s.buyer_email,
            subject: `Receipt: ${s.plan_name}`,
            body:
              p.amount_paid === 0
                ? `Your ${s.plan_name} trial runs ${day(p.period_start)} to ${day(p.period_end)}; nothing was charged.`
                : `We received ${money(p.amount_paid, p.currency)} for ${s.plan_name}, ${day(p.period_start)} to ${day(p.period_end)} (invoice ${p.provider_invoice_id}).`,
          },
        ];
      }),
    )
    .register(
      'notify.subscription_seller',
      notices(async (s, payload, trx) => {
        const p = await period(trx, String(payload['periodId']));
        return [
          {
            kind: 'subscription_seller_notice',
            recipient: s.seller_email,
            subject: `${s.plan_name}: period ${p.amount_paid === 0 ? 'started (trial)' : 'paid'}`,
            body: `Subscription ${s.id}: ${money(p.amount_paid, p.currency)} paid for ${day(p.period_start)} to ${day(p.period_end)}; platform fee ${money(p.application_fee, p.currency)}.`,
          },
        ];
      }),
    )
    .register(
      'notify.subscription_payment_problem',
      notices((s, payload) => {
        const due = money(Number(payload['amount']), String(payload['currency']));
        const next = typeof payload['nextAttempt'] === 'string' ? payload['nextAttempt'].slice(0, 10) : null;
        const pay = typeof payload['payUrl'] === 'string' ? ` Pay it here: ${payload['payUrl']}.` : '';
        const what = payload['problem'] === 'action_required' ? 'needs your confirmation' : 'failed';
        return [
          {
            kind: 'subscription_payment_problem',
            recipient: s.buyer_email,
            subject: `Payment ${what}: ${s.plan_name}`,
            body:
              `The payment of ${due} for ${s.plan_name} ${what}.` +
              (next !== null ? ` We will try again on ${next}.` : '') +
              pay +
              ' Update your card from your membership link to keep access.',
          },
          {
            kind: 'subscription_payment_problem_seller',
            recipient: s.seller_email,
            subject: `Renewal payment ${what}: ${s.plan_name}`,
            body: `Subscription ${s.id}: the payment of ${due} ${what} (attempt ${String(payload['attempt'])}).`,
          },
        ];
      }),
    )
    .register(
      'notify.subscription_recovered',
      notices((s) => [
        {
          kind: 'subscription_recovered',
          recipient: s.buyer_email,
          subject: `${s.plan_name} is active again`,
          body: `Your payment went through; your ${s.plan_name} membership is active again.`,
        },
        {
          kind: 'subscription_recovered_seller',
          recipient: s.seller_email,
          subject: `${s.plan_name}: renewal recovered`,
          body: `Subscription ${s.id} is paid and active again.`,
        },
      ]),
    )
    .register(
      'notify.subscription_ended',
      notices((s) => [
        {
          kind: 'subscription_ended',
          recipient: s.buyer_email,
          subject: `${s.plan_name} has ended`,
          body: `Your ${s.plan_name} membership ended on ${day(s.ended_at)}.`,
        },
        {
          kind: 'subscription_ended_seller',
          recipient: s.seller_email,
          subject: `${s.plan_name}: subscription ended`,
          body: `Subscription ${s.id} ended on ${day(s.ended_at)} (${s.status}).`,
        },
      ]),
    )
    .register(
      'notify.subscription_trial_ending',
      notices((s, payload) => [
        {
          kind: 'subscription_trial_ending',
          recipient: s.buyer_email,
          subject: `Your ${s.plan_name} trial ends soon`,
          body: `Your trial ends on ${String(payload['trialEnd']).slice(0, 10)}; then ${money(s.unit_amount, s.currency)} is charged every period.`,
        },
      ]),
    )
    .register('notify.membership_booking', async ({ trx, payload, job }) => {
      const b = await trx
        .selectFrom('membership_bookings')
        .innerJoin('slots', 'slots.id', 'membership_bookings.slot_id')
        .innerJoin('listings', 'listings.id', 'slots.listing_id')
        .innerJoin('subscriptions', 'subscriptions.id', 'membership_bookings.subscription_id')
        .select([
          'membership_bookings.id',
          'membership_bookings.quantity',
          'slots.starts_at',
          'listings.title',
          'subscriptions.buyer_email',
        ])
        .where('membership_bookings.id', '=', String(payload['bookingId']))
        .executeTakeFirstOrThrow();
      const canceled = payload['event'] === 'canceled';
      await recordNotification(trx, {
        orderId: null,
        kind: canceled ? 'membership_booking_canceled' : 'membership_booking',
        recipient: b.buyer_email,
        subject: `${canceled ? 'Canceled' : 'Booked'}: ${b.title}`,
        body: `${b.quantity} place(s) for ${b.title} on ${b.starts_at.toISOString()} ${canceled ? 'canceled; the booking is back in your allowance' : 'booked with your membership'} (booking ${b.id}).`,
        dedupeKey: job.dedupe_key,
      });
    })
    .register(
      'notify.subscription_refund',
      notices(async (s, payload, trx) => {
        const r = await trx
          .selectFrom('refunds')
          .select(['amount', 'currency'])
          .where('id', '=', String(payload['refundId']))
          .executeTakeFirstOrThrow();
        return [
          {
            kind: 'subscription_refund',
            recipient: s.buyer_email,
            subject: `Refund: ${s.plan_name}`,
            body: `We refunded ${money(r.amount, r.currency)} of your ${s.plan_name} payment.`,
          },
        ];
      }),
    );
}
