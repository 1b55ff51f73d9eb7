import { sql } from 'kysely';
import type { Executor } from '../queue/outbox.js';
import { SettleError } from './errors.js';
import { newId } from './ids.js';

/**
 * Slot inventory. `sold` changes only in confirmPayment(); holds reserve quantity for a checkout's lifetime
 * and never touch `sold`. available = capacity − sold − (active, unexpired holds).
 */

export interface Availability {
  slotId: string;
  capacity: number;
  sold: number;
  held: number;
  available: number;
}

/** The one definition of an active hold: not released and not yet expired at `now`. */
function activeHolds(db: Executor, now: Date) {
  return db.selectFrom('holds').where('released_at', 'is', null).where('expires_at', '>', now);
}

/**
 * Quantity held by active holds on a slot, optionally excluding one order's own hold and counting only holds
 * placed before `placedBefore`.
 */
export async function heldQuantity(
  db: Executor,
  slotId: string,
  now: Date,
  exceptOrderId?: string,
  placedBefore?: Date,
): Promise<number> {
  let q = activeHolds(db, now)
    .select(sql<number>`coalesce(sum(quantity), 0)::int`.as('held'))
    .where('slot_id', '=', slotId);
  if (exceptOrderId !== undefined) q = q.where('order_id', '<>', exceptOrderId);
  if (placedBefore !== undefined) q = q.where('created_at', '<', placedBefore);
  const row = await q.executeTakeFirstOrThrow();
  return row.held;
}

/** Held quantity per slot for many slots at once (catalogue pages). Slots without active holds are absent. */
export async function heldBySlot(
  db: Executor,
  slotIds: readonly string[],
  now: Date,
): Promise<Map<string, number>> {
  if (slotIds.length === 0) return new Map();
  const rows = await activeHolds(db, now)
    .select(['slot_id', sql<number>`sum(quantity)::int`.as('held')])
    .where('slot_id', 'in', slotIds)
    .groupBy('slot_id')
    .execute();
  return new Map(rows.map((r) => [r.slot_id, r.held]));
}

/**
 * Locks the slot row for the rest of the transaction: every change to its inventory is serialized here.
 * Lock order: a transaction locks the slot before it writes any row that references it (orders, holds), because
 * such a write takes a KEY SHARE lock on the slot and two transactions would then deadlock upgrading it.
 * FOR NO KEY UPDATE is enough (the slot's key never changes) and does not conflict with those KEY SHARE locks.
 */
export async function lockSlot(
  trx: Executor,
  slotId: string,
): Promise<{ capacity: number; sold: number } | undefined> {
  return trx
    .selectFrom('slots')
    .select(['capacity', 'sold'])
    .where('id', '=', slotId)
    .forNoKeyUpdate()
    .executeTakeFirst();
}

export async function getAvailability(
  db: Executor,
  slotId: string,
  now: Date = new Date(),
): Promise<Availability> {
  const slot = await db
    .selectFrom('slots')
    .select(['id', 'capacity', 'sold'])
    .where('id', '=', slotId)
    .executeTakeFirst();
  if (slot === undefined) throw new SettleError('not_found', `Slot ${slotId} does not exist.`);
  const held = await heldQuantity(db, slotId, now);
  return {
    slotId,
    capacity: slot.capacity,
    sold: slot.sold,
    held,
    available: Math.max(0, slot.capacity - slot.sold - held),
  };
}

/**
 * Places a hold inside the caller's transaction. The slot row is locked first so two checkouts cannot both
 * take the last unit. Throws slot_unavailable when the quantity is not available.
 */
export async function placeHold(
  trx: Executor,
  input: { slotId: string; orderId: string; quantity: number; expiresAt: Date; now: Date },
): Promise<string> {
  const slot = await lockSlot(trx, input.slotId);
  if (slot === undefined) throw new SettleError('not_found', `Slot ${input.slotId} does not exist.`);
  const held = await heldQuantity(trx, input.slotId, input.now);
  const available = slot.capacity - slot.sold - held;
  if (input.quantity > available) {
    throw new SettleError('slot_unavailable', `Only ${Math.max(0, available)} place(s) left in this slot.`, {
      details: { available: Math.max(0, available) },
    });
  }
  const id = newId('hld');
  await trx
    .insertInto('holds')
    .values({
      id,
      slot_id: input.slotId,
      order_id: input.orderId,
      quantity: input.quantity,
      expires_at: input.expiresAt,
    })
    .execute();
  return id;
}

/** Releases an order's active hold (idempotent). Returns true when a hold was released by this call. */
export async function releaseHold(
  trx: Executor,
  orderId: string,
  reason: string,
  now: Date,
): Promise<boolean> {
  const res = await releaseHoldQuery(trx, orderId, reason, now).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** The statement releaseHold() runs, for a caller that writes it together with others (confirmPayment). */
export function releaseHoldQuery(db: Executor, orderId: string, reason: string, now: Date) {
  return db
    .updateTable('holds')
    .set({ released_at: now, release_reason: reason })
    .where('order_id', '=', orderId)
    .where('released_at', 'is', null);
}

/**
 * Takes `quantity` from the slot for a paid order, atomically. The slot row is locked, other orders' active
 * holds are respected (a late payer does not take a place someone else is still paying for), and the final
 * conditional UPDATE guarantees sold ≤ capacity even if everything above were wrong.
 *
 * Who wins when (docs/scenarios.md): first come, first served by hold. A checkout can only be paid while it is
 * open, and it is open exactly as long as its hold, so a confirmed payment was made within its hold even when the
 * confirmation arrives later (a late webhook, a bank debit that settles days after). Only active holds placed
 * before this order's own hold take precedence over it; a checkout started later (perhaps on a place this order's
 * lapsed hold had freed) never does, and is the one oversold and refunded if both pay.
 */
export async function takeInventory(
  trx: Executor,
  input: { slotId: string; orderId: string; quantity: number; now: Date },
): Promise<boolean> {
  // Fast path, one statement: `held` (every unreleased hold of the slot, expired or not; migration 0008) is never less
  // than what the check below sums, so when sold + quantity + held − this order's own unreleased hold fits, the exact
  // check would pass too, and the same `sold` results. Only the slot row's columns decide it: when the UPDATE waits
  // for the slot's lock, PostgreSQL re-checks them on the row as committed by the other transaction. The own hold
  // cannot change meanwhile: it is released only under the order's row lock, which the caller holds.
  const fast = await fastTakeQuery(trx, input).executeTakeFirst();
  if (Number(fast.numUpdatedRows) === 1) return true;
  return takeLocked(trx, input);
}

/**
 * takeInventory()'s fast path as a statement (one UPDATE of the slot row), for a caller that runs it within a larger
 * statement (confirmPayment's optimistic path). Its conditions are explained in takeInventory().
 */
export function fastTakeQuery(db: Executor, input: { slotId: string; orderId: string; quantity: number }) {
  return db
    .updateTable('slots')
    .set((eb) => ({ sold: eb('sold', '+', input.quantity) }))
    .where('id', '=', input.slotId)
    .where(sql<boolean>`sold + ${input.quantity} <= capacity`)
    .where(
      // The own hold is found by its order alone (the unique index); released_at and slot_id are filters on that
      // one row, so the planner cannot pick the slot's index of active holds and read all of them instead.
      sql<boolean>`sold::bigint + ${input.quantity}::bigint + held - (
        select coalesce(sum(quantity) filter (where released_at is null and slot_id = ${input.slotId}), 0)::int
        from holds where order_id = ${input.orderId}
      ) <= capacity`,
    );
}

/**
 * takeInventory()'s exact path, for when the fast path did not fit: locks the slot, then takes the places if the
 * slot can take them counting only earlier active holds of other orders. The caller holds the order's row lock.
 */
export async function takeLocked(
  trx: Executor,
  input: { slotId: string; orderId: string; quantity: number; now: Date },
): Promise<boolean> {
  // The lock is its own statement, taken before anything is read: in READ COMMITTED the statement below then reads
  // the holds as of after every earlier change to this slot's inventory committed. (Folded into one statement, the
  // holds would be read from a snapshot taken before waiting for the lock.)
  const slot = await lockSlot(trx, input.slotId);
  if (slot === undefined) return false;
  // One statement for what used to be three (the order's own hold, the sum of the others' earlier holds, the update),
  // with the same decision: sold + quantity + held by others ≤ capacity, where "held by others" is the active holds
  // of other orders on the slot placed before this order's own hold (all of them when it has none). The own hold's
  // created_at is compared at millisecond precision, as before: the earlier code read it into a JavaScript Date
  // (milliseconds) and passed it back, so a hold placed in the same millisecond never counted as earlier.
  // sold + quantity ≤ capacity stays as the last guard (sold ≤ capacity even if everything above were wrong).
  const res = await trx
    .updateTable('slots')
    .set((eb) => ({ sold: eb('sold', '+', input.quantity) }))
    .where('id', '=', input.slotId)
    .where(sql<boolean>`sold + ${input.quantity} <= capacity`)
    .where(
      sql<boolean>`sold::bigint + ${input.quantity}::bigint + (
        select coalesce(sum(h.quantity), 0)::int
        from holds h
        left join (select date_trunc('milliseconds', created_at) as created_at from holds where order_id = ${input.orderId}) own
          on true
        where h.released_at is null
          and h.expires_at > ${input.now}
          and h.slot_id = ${input.slotId}
          and h.order_id <> ${input.orderId}
          and (own.created_at is null or h.created_at < own.created_at)
      ) <= capacity`,
    )
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * A payment that is processing (bank debit) keeps its place until the provider settles it: the hold is
 * extended (and re-activated if it had lapsed) to `until`. Released holds stay released.
 */
export async function extendHold(trx: Executor, orderId: string, until: Date): Promise<void> {
  await trx
    .updateTable('holds')
    .set({ expires_at: until })
    .where('order_id', '=', orderId)
    .where('released_at', 'is', null)
    .where('expires_at', '<', until)
    .execute();
}
