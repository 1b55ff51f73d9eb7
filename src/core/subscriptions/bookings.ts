import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { MembershipBooking } from '../../db/schema.js';
import { enqueue } from '../../queue/outbox.js';
import { SettleError } from '../errors.js';
import { newId } from '../ids.js';
import { heldQuantity, lockSlot } from '../inventory.js';
import { entitlement, type Entitlement } from './status.js';
import { newestPeriod } from './sync.js';
import { checkManageToken } from './tokens.js';

export interface BookingResult {
  bookingId: string;
  subscriptionId: string;
  slotId: string;
  quantity: number;
  status: MembershipBooking['status'];
  entitlement: Entitlement;
}

/**
 * Books places with a membership, without payment. One transaction, locks in the order every inventory change takes
 * them (the slot first, then the subscription's period): the slot's places (sold + every active hold of a paying
 * buyer ≤ capacity) and the period's allowance (used ≤ included) are checked and taken together, so the last place
 * and the last booking of a period can be raced without overselling or over-using. Guarded UPDATEs back both checks.
 */
export async function bookWithMembership(
  ctx: AppContext,
  req: { slotId: string; quantity: number; subscriptionId: string; token: string | null | undefined },
): Promise<BookingResult> {
  if (!Number.isSafeInteger(req.quantity) || req.quantity < 1 || req.quantity > 100)
    throw new SettleError('validation_failed', 'quantity must be an integer between 1 and 100.');
  const now = ctx.now();
  const graceDays = ctx.config.subscriptions.graceDays;
  const result = await ctx.db.transaction().execute(async (trx) => {
    const slot = await lockSlot(trx, req.slotId);
    if (slot === undefined) throw new SettleError('not_found', `Slot ${req.slotId} does not exist.`);
    const sub = await trx
      .selectFrom('subscriptions')
      .selectAll()
      .where('id', '=', req.subscriptionId)
      .executeTakeFirst();
    if (sub === undefined)
      throw new SettleError('not_found', `Subscription ${req.subscriptionId} does not exist.`);
    checkManageToken(sub, req.token);
    const target = await trx
      .selectFrom('slots')
      .innerJoin('listings', 'listings.id', 'slots.listing_id')
      .select(['slots.starts_at', 'listings.id as listing_id', 'listings.seller_id'])
      .where('slots.id', '=', req.slotId)
      .executeTakeFirstOrThrow();
    const plan = await trx
      .selectFrom('plans')
      .select(['listing_id', 'seller_id'])
      .where('id', '=', sub.plan_id)
      .executeTakeFirstOrThrow();
    if (
      plan.seller_id !== target.seller_id ||
      (plan.listing_id !== null && plan.listing_id !== target.listing_id)
    )
      throw new SettleError('validation_failed', 'This membership does not include this class.');
    if (target.starts_at.getTime() <= now.getTime())
      throw new SettleError('slot_unavailable', 'This slot has already started.');
    // The newest paid period carries the allowance; locked so two bookings of one member queue here.
    const period = await newestPeriod(trx, sub.id).forNoKeyUpdate().executeTakeFirst();
    const ent = entitlement(sub, period ?? null, now, graceDays);
    if (!ent.access || period === undefined)
      throw new SettleError(
        'subscription_not_active',
        `This membership gives no access now (${ent.reason}); pay the open invoice or subscribe again.`,
        { details: { reason: ent.reason } },
      );
    if (ent.bookingsLeft !== null && ent.bookingsLeft < req.quantity)
      throw new SettleError(
        'allowance_exhausted',
        `This membership has ${ent.bookingsLeft} booking(s) left in the current period.`,
        { details: { bookingsLeft: ent.bookingsLeft } },
      );
    const held = await heldQuantity(trx, req.slotId, now);
    const available = slot.capacity - slot.sold - held;
    if (req.quantity > available)
      throw new SettleError(
        'slot_unavailable',
        `Only ${Math.max(0, available)} place(s) left in this slot.`,
        {
          details: { available: Math.max(0, available) },
        },
      );
    const took = await trx
      .updateTable('slots')
      .set((eb) => ({ sold: eb('sold', '+', req.quantity) }))
      .where('id', '=', req.slotId)
      .where(sql<boolean>`sold + ${req.quantity} <= capacity`)
      .executeTakeFirst();
    if (Number(took.numUpdatedRows) !== 1) throw new SettleError('slot_unavailable', 'This slot is full.');
    const used = await trx
      .updateTable('subscription_periods')
      .set((eb) => ({ used_bookings: eb('used_bookings', '+', req.quantity) }))
      .where('id', '=', period.id)
      .where(sql<boolean>`(included_bookings = 0 OR used_bookings + ${req.quantity} <= included_bookings)`)
      .returning(['id', 'included_bookings', 'used_bookings'])
      .executeTakeFirst();
    if (used === undefined) throw new SettleError('allowance_exhausted', 'No bookings left in this period.');
    const bookingId = newId('bkg');
    await trx
      .insertInto('membership_bookings')
      .values({
        id: bookingId,
        subscription_id: sub.id,
        period_id: period.id,
        slot_id: req.slotId,
        quantity: req.quantity,
        status: 'booked',
        canceled_at: null,
      })
      .execute();
    await enqueue(trx, {
      kind: 'notify.membership_booking',
      dedupeKey: `notify.membership_booking:${bookingId}`,
      payload: { bookingId, event: 'booked' },
    });
    return {
      bookingId,
      subscriptionId: sub.id,
      slotId: req.slotId,
      quantity: req.quantity,
      status: 'booked' as const,
      entitlement: entitlement(sub, used, now, graceDays),
    };
  });
  ctx.queue.nudge();
  return result;
}

/**
 * Cancels a membership booking before its class starts: the places go back to the slot and the allowance to the period
 * it was taken from, in one transaction (slot locked first, as when booking). A second cancel changes nothing.
 */
export async function cancelMembershipBooking(
  ctx: AppContext,
  req: { bookingId: string; token: string | null | undefined },
): Promise<BookingResult> {
  const now = ctx.now();
  const booking = await ctx.db
    .selectFrom('membership_bookings')
    .selectAll()
    .where('id', '=', req.bookingId)
    .executeTakeFirst();
  if (booking === undefined) throw new SettleError('not_found', `Booking ${req.bookingId} does not exist.`);
  const result = await ctx.db.transaction().execute(async (trx) => {
    await lockSlot(trx, booking.slot_id);
    const sub = await trx
      .selectFrom('subscriptions')
      .selectAll()
      .where('id', '=', booking.subscription_id)
      .executeTakeFirstOrThrow();
    checkManageToken(sub, req.token);
    const current = await trx
      .selectFrom('membership_bookings')
      .selectAll()
      .where('id', '=', booking.id)
      .forNoKeyUpdate()
      .executeTakeFirstOrThrow();
    const slot = await trx
      .selectFrom('slots')
      .select('starts_at')
      .where('id', '=', booking.slot_id)
      .executeTakeFirstOrThrow();
    if (current.status === 'booked') {
      if (slot.starts_at.getTime() <= now.getTime())
        throw new SettleError(
          'booking_not_cancelable',
          'This class has already started; the booking cannot be canceled.',
        );
      await trx
        .updateTable('membership_bookings')
        .set({ status: 'canceled', canceled_at: now })
        .where('id', '=', booking.id)
        .execute();
      await trx
        .updateTable('slots')
        .set((eb) => ({ sold: eb('sold', '-', booking.quantity) }))
        .where('id', '=', booking.slot_id)
        .execute();
      await trx
        .updateTable('subscription_periods')
        .set(() => ({ used_bookings: sql<number>`greatest(used_bookings - ${booking.quantity}, 0)` }))
        .where('id', '=', booking.period_id)
        .execute();
      await enqueue(trx, {
        kind: 'notify.membership_booking',
        dedupeKey: `notify.membership_booking:${booking.id}:canceled`,
        payload: { bookingId: booking.id, event: 'canceled' },
      });
    }
    const period = await newestPeriod(trx, sub.id).executeTakeFirst();
    return {
      bookingId: booking.id,
      subscriptionId: sub.id,
      slotId: booking.slot_id,
      quantity: booking.quantity,
      status: 'canceled' as const,
      entitlement: entitlement(sub, period ?? null, now, ctx.config.subscriptions.graceDays),
    };
  });
  ctx.queue.nudge();
  return result;
}
