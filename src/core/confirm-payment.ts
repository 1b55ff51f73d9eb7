import { sql, type OperationNodeSource, type RawBuilder } from 'kysely';
import type { Db } from '../db/connect.js';
import { writeTogether } from '../db/write-together.js';
import type { ConfirmedVia, Order, OrderStatus, ProviderId } from '../db/schema.js';
import { enqueueMany, enqueueManyQuery, type EnqueueInput, type Executor } from '../queue/outbox.js';
import { crashPoint, crashPointArmed } from './crash-points.js';
import { SettleError } from './errors.js';
import { newId } from './ids.js';
import { fastTakeQuery, releaseHoldQuery, takeInventory } from './inventory.js';
import { currency, type Money } from './money.js';
import { CONFIRMABLE } from './order-status.js';
import { discountFor, findPromotionCode } from './promotions.js';

/**
 * What a provider says about a completed payment. Adapters build it from data they fetched or verified
 * (a signed webhook or an authenticated API read), never from browser query parameters.
 */
export interface PaymentEvidence {
  via: ConfirmedVia;
  provider: ProviderId;
  sessionId: string | null;
  /** Provider payment id (Stripe PaymentIntent); null for a zero-amount (100 %-off) order. */
  paymentId: string | null;
  /** What was actually charged, in minor units. */
  amount: number;
  currency: string;
  /** Customer-facing promotion code the provider applied, if any. */
  promotionCode: string | null;
  /** Platform fee the provider took (application fee); 0 when none. */
  applicationFee: number;
}

export type ConfirmOutcome =
  /** This call moved the order to paid and queued fulfilment. */
  | 'confirmed'
  /** This call found the slot sold out: order paid_oversold, full refund queued. */
  | 'oversold'
  /** Evidence did not match the order: order needs_review, nothing fulfilled. */
  | 'review'
  /** The order had already left the confirmable states: nothing was done. */
  | 'already_handled'
  /** The caller's `applies` guard refused the order row read in the transaction: nothing was done. */
  | 'not_applicable';

export interface ConfirmResult {
  orderId: string;
  outcome: ConfirmOutcome;
  status: OrderStatus;
}

/**
 * A write made in another step's transaction (built on that transaction, executed with it); with `when`, made only if
 * it holds (the one-statement confirmation writes it only if the order moved).
 */
export type AlsoWrite = (
  trx: Executor,
  when?: RawBuilder<boolean>,
) => OperationNodeSource & { execute(): Promise<unknown> };

/** Test and chaos-harness seam: called at named steps inside the transaction. Throwing rolls it all back. */
export type ConfirmProbe = (
  step: 'status_updated' | 'inventory_taken' | 'effects_queued',
) => Promise<void> | void;

/** Side effects queued for a fulfilled order; handlers live in src/queue/effects.ts. */
export const FULFILMENT_EFFECTS = ['notify.buyer_receipt', 'notify.seller_notice', 'fulfil.booking'] as const;
export const OVERSOLD_EFFECTS = ['refund.oversold', 'notify.buyer_oversold'] as const;
export const REVIEW_EFFECTS = ['notify.operator_review'] as const;

interface Expected {
  amount: number;
  discount: number;
  code: string | null;
  reason: string | null;
}

/** Recomputes what the order should have cost given the promotion code the provider reports. */
async function expectedFor(trx: Executor, order: Order, ev: PaymentEvidence): Promise<Expected> {
  const reported = ev.promotionCode?.trim().toUpperCase() ?? null;
  const ordered = order.promotion_code?.toUpperCase() ?? null;
  // No code reported, or the one chosen at checkout: the order's own price stands.
  if (reported === null || reported === ordered) {
    return { amount: order.total, discount: order.discount, code: order.promotion_code, reason: null };
  }
  // The buyer entered a code on the hosted page: price it with Settle's own copy of the code.
  const promo = await findPromotionCode(trx, order.provider, reported);
  if (promo === undefined || !promo.active) {
    return {
      amount: order.total,
      discount: order.discount,
      code: order.promotion_code,
      reason: `unknown promotion code ${reported}`,
    };
  }
  const subtotal: Money = { amount: order.subtotal, currency: currency(order.currency) };
  try {
    const discount = discountFor(promo, subtotal).amount;
    return { amount: order.subtotal - discount, discount, code: promo.code, reason: null };
  } catch (e) {
    return {
      amount: order.total,
      discount: order.discount,
      code: order.promotion_code,
      reason: (e as Error).message,
    };
  }
}

/**
 * The one confirmation path. Every confirmation source (platform webhook, Connect webhook, frontend verify,
 * reconciliation; later PayPal and Square) calls this. In one transaction:
 *
 * 0. The order row is read once, locked (FOR NO KEY UPDATE), so what is decided from it (the caller's `applies`
 *    guard, the expected amount, the status it leaves) is what the update below changes.
 * 1. `UPDATE orders SET status=… WHERE id=$1 AND status IN (confirmable)`. Zero rows: someone already
 *    handled it; return the current state and run no side effect.
 * 2. Evidence must match the order (amount and currency after discount), else `needs_review`.
 * 3. Inventory is taken here and only here; if the slot cannot take the quantity the order becomes
 *    `paid_oversold` and a full refund is queued.
 * 4. The hold is released, the payment recorded and the side effects queued, all in the same transaction.
 */
export async function confirmPayment(
  db: Db,
  orderId: string,
  evidence: PaymentEvidence,
  options: {
    now?: Date;
    probe?: ConfirmProbe;
    /**
     * Whether the evidence may move this order at all (applyCheckoutState: the order's own checkout session and
     * seller account), decided on the row read and locked in the transaction. False: nothing is done.
     */
    applies?: (order: Order) => boolean;
    /**
     * A write that belongs with this confirmation whatever its outcome, made in its transaction: the webhook inbox
     * marks its row processed here, so an event costs one commit instead of two (src/core/inbox.ts).
     */
    alsoWrite?: AlsoWrite;
    /**
     * The order row as the caller read it before this call (the webhook path reads it before re-reading the
     * checkout). When given, the confirmation is first decided on it and applied in one statement that changes the
     * order only if every column the decision read is still as read; otherwise it goes the locking way below.
     */
    known?: Order;
  } = {},
): Promise<ConfirmResult> {
  const now = options.now ?? new Date();
  const alsoWrite = options.alsoWrite;
  const known = options.known;
  if (
    known !== undefined &&
    known.id === orderId &&
    CONFIRMABLE.includes(known.status) &&
    (options.applies === undefined || options.applies(known))
  ) {
    const decision = await decide(db, known, evidence);
    // A test that stops inside the confirmation (a probe, an armed crash point) gets the statement inside a
    // transaction, so that its steps exist and stopping at one rolls everything back. Otherwise the statement is its
    // own transaction: one round trip for the whole confirmation.
    const stepped = options.probe !== undefined || CONFIRM_STEPS.some((s) => crashPointArmed(s));
    const done = stepped
      ? await db.transaction().execute(async (trx) => {
          const r = await confirmInOneStatement(trx, known, decision, evidence, now, alsoWrite);
          if (r !== null) await walkSteps(r.status, options.probe);
          return r;
        })
      : await confirmInOneStatement(db, known, decision, evidence, now, alsoWrite);
    if (done !== null) {
      crashPoint('confirm.committed');
      return done;
    }
    // Nothing was written: the row changed since it was read (another confirmation, an expiry), or the slot is too
    // full for the fast take. Decided again below on the locked row.
  }
  const result = await db.transaction().execute(async (trx): Promise<ConfirmResult> => {
    // An outcome that changes nothing still records alsoWrite.
    const unchanged = async (r: ConfirmResult): Promise<ConfirmResult> => {
      if (alsoWrite !== undefined) await alsoWrite(trx).execute();
      return r;
    };
    // Locked for the rest of the transaction: a concurrent confirmation waits here and then finds the order paid.
    // This is the lock the status update below takes anyway, taken a few statements earlier (lock order unchanged:
    // the order row, then the slot in takeInventory).
    const order = await trx
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', orderId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (order === undefined) throw new Error(`confirmPayment: order ${orderId} does not exist`);
    if (options.applies !== undefined && !options.applies(order))
      return unchanged({ orderId, outcome: 'not_applicable', status: order.status });
    if (!CONFIRMABLE.includes(order.status))
      return unchanged({ orderId, outcome: 'already_handled', status: order.status });

    const decision = await decide(trx, order, evidence);
    // The idempotency guard: only one caller can move the order out of a confirmable state.
    const updated = await trx
      .updateTable('orders')
      .set(statusUpdate(decision, evidence, now))
      .where('id', '=', orderId)
      .where('status', 'in', CONFIRMABLE)
      .returning(['status'])
      .executeTakeFirst();
    if (updated === undefined) {
      const current = await trx
        .selectFrom('orders')
        .select('status')
        .where('id', '=', orderId)
        .executeTakeFirstOrThrow();
      return unchanged({ orderId, outcome: 'already_handled', status: current.status });
    }
    await probe(options.probe, 'status_updated');
    let status: OrderStatus = decision.target;
    let outcome: ConfirmOutcome = decision.target === 'paid' ? 'confirmed' : 'review';
    if (decision.target === 'paid') {
      status = await fulfilOrTakeBack(trx, order, now);
      if (status === 'paid_oversold') outcome = 'oversold';
      await probe(options.probe, 'inventory_taken');
    }
    // The hold's release, the payment, the order's history, the effects (and alsoWrite): writes that read nothing
    // from each other, made in one statement (one round trip) with the same result as one statement each.
    await writeTogether(trx, confirmationWrites(trx, order, decision, evidence, status, now, alsoWrite));
    await probe(options.probe, 'effects_queued');
    return { orderId, outcome, status };
  });
  crashPoint('confirm.committed');
  return result;
}

/** The steps inside a confirmation where a probe is called and a crash point may be armed. */
const CONFIRM_STEPS = [
  'confirm.status_updated',
  'confirm.inventory_taken',
  'confirm.effects_queued',
] as const;

/** A step inside the confirmation's transaction: the test probe, then the crash point of the same name. */
async function probe(p: ConfirmProbe | undefined, step: Parameters<ConfirmProbe>[0]): Promise<void> {
  await p?.(step);
  crashPoint(`confirm.${step}`);
}

/** The steps of a confirmation made in one statement, passed in order once it is written (not yet committed). */
async function walkSteps(status: OrderStatus, p: ConfirmProbe | undefined): Promise<void> {
  await probe(p, 'status_updated');
  if (status === 'paid') await probe(p, 'inventory_taken');
  await probe(p, 'effects_queued');
}

/** What a confirmation makes of the order, decided on its row and the evidence. */
interface Decision {
  target: OrderStatus;
  reviewReason: string | null;
  expected: Expected;
  /** The platform fee recorded: what the provider took, never more than the order's price. */
  fee: number;
}

async function decide(trx: Executor, order: Order, evidence: PaymentEvidence): Promise<Decision> {
  const expected = await expectedFor(trx, order, evidence);
  const currencyMatches = evidence.currency.toLowerCase() === order.currency;
  const amountMatches = evidence.amount === expected.amount;
  const reviewReason =
    expected.reason ??
    (!currencyMatches
      ? `currency mismatch: paid ${evidence.currency.toLowerCase()}, expected ${order.currency}`
      : !amountMatches
        ? `amount mismatch: paid ${evidence.amount}, expected ${expected.amount}`
        : null);
  const target: OrderStatus = reviewReason === null ? 'paid' : 'needs_review';
  const fee = Math.min(evidence.applicationFee, Math.max(0, expected.amount));
  return { target, reviewReason, expected, fee };
}

/** The order's columns a confirmation sets. */
function statusUpdate(d: Decision, evidence: PaymentEvidence, now: Date) {
  return {
    status: d.target,
    review_reason: d.reviewReason,
    confirmed_via: evidence.via,
    provider_payment_id: evidence.paymentId,
    ...(evidence.sessionId !== null ? { provider_session_id: evidence.sessionId } : {}),
    ...(d.reviewReason === null
      ? {
          discount: d.expected.discount,
          total: d.expected.amount,
          promotion_code: d.expected.code,
          platform_fee: d.fee,
        }
      : {}),
    charged_amount: evidence.amount,
    paid_at: now,
    updated_at: now,
  };
}

/**
 * The columns of an order a confirmation's decision reads: its status (confirmable, and the history's from_status),
 * the checkout and account the caller's `applies` guard compares, the price the evidence is checked against, and the
 * slot and quantity the inventory take uses.
 */
const DECIDING_COLUMNS = [
  'status',
  'provider',
  'provider_session_id',
  'provider_account_id',
  'currency',
  'subtotal',
  'discount',
  'total',
  'promotion_code',
  'slot_id',
  'quantity',
] as const satisfies readonly (keyof Order)[];

/**
 * The whole confirmation as one statement, decided on `known` (the row the caller read before): it locks the order
 * row only if none of DECIDING_COLUMNS changed since it was read (FOR NO KEY UPDATE re-checks them on the row as
 * committed when it had to wait), takes the places with takeInventory()'s fast path (a payment), moves the order, and
 * makes every write of the confirmation, each only if the order moved. Returns the result, or null when nothing was
 * written: the row changed, or the slot is too full for the fast take (the locking path decides those).
 *
 * Lock order is the locking path's: the order row (`locked`), then the slot (`take`); every later part waits for the
 * one before it through `exists (…)`, which PostgreSQL evaluates once, before the part reads or locks anything.
 *
 * The fast take is safe here too. takeInventory() relies on the caller holding the order's row lock so that the own
 * hold cannot change; here the lock is taken by the same statement, whose snapshot may predate a change committed
 * while it waited for that lock. But an order's hold is released only together with a change of its status (expired,
 * canceled, failed, or confirmed), and a changed status fails the guard, so the take never runs on a stale own hold.
 */
async function confirmInOneStatement(
  ex: Executor,
  known: Order,
  d: Decision,
  evidence: PaymentEvidence,
  now: Date,
  alsoWrite: AlsoWrite | undefined,
): Promise<ConfirmResult | null> {
  const unchanged = sql.join(
    DECIDING_COLUMNS.map((c) => sql`${sql.ref(c)} is not distinct from ${known[c]}`),
    sql` and `,
  );
  const locked = ex
    .selectFrom('orders')
    .select('id')
    .where('id', '=', known.id)
    .where(sql<boolean>`${unchanged}`)
    .forNoKeyUpdate();
  const paid = d.target === 'paid';
  const take = fastTakeQuery(ex, { slotId: known.slot_id, orderId: known.id, quantity: known.quantity })
    .where(sql<boolean>`exists (select 1 from locked)`)
    .returning('id');
  const moved = ex
    .updateTable('orders')
    .set(statusUpdate(d, evidence, now))
    .where('id', '=', known.id)
    .where(paid ? sql<boolean>`exists (select 1 from take)` : sql<boolean>`exists (select 1 from locked)`)
    .returning('id');
  const writes = confirmationWrites(
    ex,
    known,
    d,
    evidence,
    d.target,
    now,
    alsoWrite,
    sql<boolean>`exists (select 1 from moved)`,
  );
  const ctes = [
    sql`locked as (${locked})`,
    ...(paid ? [sql`take as (${take})`] : []),
    sql`moved as (${moved})`,
    ...writes.map((w, i) => sql`${sql.raw(`w${i}`)} as (${w})`),
  ];
  const { rows } = await sql<{ applied: boolean }>`with ${sql.join(ctes)}
    select exists (select 1 from moved) as applied`.execute(ex);
  if (rows[0]?.applied !== true) return null;
  return { orderId: known.id, outcome: paid ? 'confirmed' : 'review', status: d.target };
}

/**
 * A confirmation's writes once the order has its status: the hold's release, the payment, the order's history, the
 * effects and alsoWrite. They read nothing from each other. With `when`, each is made only if it holds (the
 * one-statement path makes them only if the order moved).
 */
function confirmationWrites(
  ex: Executor,
  order: Order,
  d: Decision,
  evidence: PaymentEvidence,
  status: OrderStatus,
  now: Date,
  alsoWrite: AlsoWrite | undefined,
  when?: RawBuilder<boolean>,
): OperationNodeSource[] {
  const release = releaseHoldQuery(ex, order.id, status === 'paid' ? 'consumed' : status, now);
  const payment = ex
    .insertInto('payments')
    .columns([
      'id',
      'order_id',
      'provider',
      'provider_payment_id',
      'amount',
      'currency',
      'application_fee',
      'status',
    ])
    .expression(
      selectWhen(
        [
          sql`${newId('pay')}::text`,
          sql`${order.id}::text`,
          sql`${evidence.provider}::text`,
          sql`${evidence.paymentId}::text`,
          sql`${evidence.amount}::bigint`,
          sql`${evidence.currency.toLowerCase()}::text`,
          sql`${d.fee}::bigint`,
          sql`${evidence.amount === 0 ? 'no_payment_required' : 'succeeded'}::text`,
        ],
        when,
      ),
    )
    .onConflict((oc) => oc.column('order_id').doNothing());
  const history = ex
    .insertInto('order_events')
    .columns(['order_id', 'from_status', 'to_status', 'note', 'via'])
    .expression(
      selectWhen(
        [
          sql`${order.id}::text`,
          sql`${order.status}::text`,
          sql`${status}::text`,
          sql`${d.reviewReason}::text`,
          sql`${evidence.via}::text`,
        ],
        when,
      ),
    );
  return [
    when === undefined ? release : release.where(when),
    payment,
    history,
    enqueueManyQuery(ex, effectJobs(order.id, status, d.reviewReason), when),
    ...(alsoWrite !== undefined ? [alsoWrite(ex, when)] : []),
  ];
}

/** `SELECT v1, v2, … [WHERE when]`: one row of typed values for an INSERT … SELECT, made only if `when` holds. */
function selectWhen(values: readonly RawBuilder<unknown>[], when: RawBuilder<boolean> | undefined) {
  return sql`select ${sql.join(values)}${when === undefined ? sql`` : sql` where ${when}`}`;
}

/**
 * Inventory for an order whose payment is accepted (inside the caller's transaction, order row already moved):
 * takes the places and returns `paid`, or, when the slot cannot take them, moves the order to `paid_oversold`.
 */
async function fulfilOrTakeBack(trx: Executor, order: Order, now: Date): Promise<OrderStatus> {
  const took = await takeInventory(trx, {
    slotId: order.slot_id,
    orderId: order.id,
    quantity: order.quantity,
    now,
  });
  if (took) return 'paid';
  await trx
    .updateTable('orders')
    .set({ status: 'paid_oversold', updated_at: now })
    .where('id', '=', order.id)
    .execute();
  return 'paid_oversold';
}

/** The side effects of a confirmation outcome, as jobs (each at most once per order, by its dedupe key). */
function effectJobs(
  orderId: string,
  status: OrderStatus,
  reviewReason: string | null = null,
): EnqueueInput[] {
  const effects =
    status === 'paid' ? FULFILMENT_EFFECTS : status === 'paid_oversold' ? OVERSOLD_EFFECTS : REVIEW_EFFECTS;
  return effects.map((kind) => ({
    kind,
    dedupeKey: `${kind}:${orderId}`,
    payload: reviewReason !== null ? { orderId, reason: reviewReason } : { orderId },
    // An owed refund is retried across provider outages of days, never dead-lettered after minutes.
    ...(kind === 'refund.oversold' ? { maxAttempts: OWED_REFUND_MAX_ATTEMPTS } : {}),
  }));
}

/** With the queue's backoff capped at 15 minutes this keeps retrying an owed refund for about ten days. */
export const OWED_REFUND_MAX_ATTEMPTS = 1000;

/**
 * The operator's decision on an order held for review (docs/api.md). `accept`: the payment is accepted as it is;
 * the order takes its places and is fulfilled exactly as confirmPayment() would have (or becomes paid_oversold
 * and is refunded when the slot is full). `close`: nothing was charged (a 100 %-off code Settle did not know),
 * so the order is canceled. Refunding a review goes through the refund service.
 */
export async function decideReview(
  db: Db,
  orderId: string,
  decision: 'accept' | 'close',
  opts: { note?: string; now?: Date } = {},
): Promise<{ orderId: string; status: OrderStatus }> {
  const now = opts.now ?? new Date();
  return db.transaction().execute(async (trx) => {
    const order = await trx
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', orderId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (order === undefined) throw new SettleError('not_found', `Order ${orderId} does not exist.`);
    if (order.status !== 'needs_review')
      throw new SettleError(
        'review_not_open',
        `Order is ${order.status}, not waiting for a review decision.`,
      );
    const charged = order.charged_amount ?? 0;
    if (decision === 'close' && (charged > 0 || order.refunded_amount > 0)) {
      throw new SettleError(
        'review_not_open',
        `This order was charged ${charged} (minor units): refund it or accept it instead of closing it.`,
      );
    }
    if (decision === 'accept' && (order.refunded_amount > 0 || charged > order.subtotal)) {
      throw new SettleError(
        'review_not_open',
        order.refunded_amount > 0
          ? 'A refund was already started for this order; it cannot be accepted.'
          : `This order was charged ${charged}, more than its price ${order.subtotal}: refund it instead.`,
      );
    }
    let status: OrderStatus = 'canceled';
    if (decision === 'accept') {
      // The operator accepts what was actually charged as the price.
      await trx
        .updateTable('orders')
        .set((eb) => ({
          status: 'paid',
          review_reason: null,
          total: charged,
          discount: eb('subtotal', '-', charged),
          platform_fee: sql<number>`least(platform_fee, ${charged})`,
          updated_at: now,
        }))
        .where('id', '=', orderId)
        .execute();
      status = await fulfilOrTakeBack(trx, order, now);
    } else {
      await trx.updateTable('orders').set({ status, updated_at: now }).where('id', '=', orderId).execute();
    }
    await trx
      .insertInto('order_events')
      .values({
        order_id: orderId,
        from_status: 'needs_review',
        to_status: status,
        note: opts.note ?? `operator: ${decision}`,
        via: 'operator',
      })
      .execute();
    if (status !== 'canceled') await enqueueMany(trx, effectJobs(orderId, status));
    return { orderId, status };
  });
}

/**
 * The slot's sold count minus what paid orders and live membership bookings account for; 0 when inventory, orders and
 * bookings agree.
 */
export async function inventoryDrift(db: Executor, slotId: string): Promise<number> {
  const row = await db
    .selectFrom('slots')
    .select([
      'sold',
      sql<number>`(select coalesce(sum(quantity),0)::int from orders o where o.slot_id = slots.id and o.status in ('paid'))
        + (select coalesce(sum(quantity),0)::int from membership_bookings b where b.slot_id = slots.id and b.status = 'booked')`.as(
        'paid_qty',
      ),
    ])
    .where('id', '=', slotId)
    .executeTakeFirstOrThrow();
  return row.sold - row.paid_qty;
}
