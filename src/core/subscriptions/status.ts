import {
  PROVIDER_SUBSCRIPTION_STATUSES,
  type Subscription,
  type SubscriptionPeriod,
  type SubscriptionStatus,
} from '../../db/schema.js';

/**
 * The subscription state machine, provider-neutral (Stripe's statuses, which PayPal's and Square's map onto). A
 * status not listed as reachable is refused, so an older read or event never moves a subscription backwards (a
 * canceled membership is never revived, an active one never goes back to trialing).
 */
const PROVIDER_STARTS: readonly SubscriptionStatus[] = PROVIDER_SUBSCRIPTION_STATUSES;

export const SUBSCRIPTION_TRANSITIONS: Readonly<Record<SubscriptionStatus, readonly SubscriptionStatus[]>> = {
  pending: [...PROVIDER_STARTS, 'checkout_expired'],
  // A checkout Settle gave up on that the provider completed after all still becomes the subscription it is.
  checkout_expired: PROVIDER_STARTS,
  incomplete: ['trialing', 'active', 'past_due', 'unpaid', 'paused', 'canceled', 'incomplete_expired'],
  trialing: ['active', 'past_due', 'unpaid', 'paused', 'canceled'],
  active: ['past_due', 'unpaid', 'paused', 'canceled'],
  past_due: ['active', 'unpaid', 'paused', 'canceled'],
  unpaid: ['active', 'past_due', 'paused', 'canceled'],
  paused: ['active', 'trialing', 'past_due', 'canceled'],
  canceled: [],
  incomplete_expired: [],
};

/** Statuses a buyer's one subscription per plan can be in (the partial unique index of migration 0007). */
export const LIVE_STATUSES: readonly SubscriptionStatus[] = [
  'pending',
  'incomplete',
  'trialing',
  'active',
  'past_due',
  'unpaid',
  'paused',
];

export const ENDED_STATUSES: readonly SubscriptionStatus[] = [
  'canceled',
  'incomplete_expired',
  'checkout_expired',
];

export function canMove(from: SubscriptionStatus, to: SubscriptionStatus): boolean {
  return SUBSCRIPTION_TRANSITIONS[from].includes(to);
}

export interface Entitlement {
  /** Whether the member may use the membership now. */
  access: boolean;
  /** Why (or why not): `active`, `trialing`, `grace` (past_due within the grace period), or the status. */
  reason: string;
  /** The end of the grace period while past_due; null otherwise. */
  graceUntil: Date | null;
  /** The period whose allowance bookings use: the newest paid one. */
  periodId: string | null;
  /** Null: unlimited (the plan includes 0 = unlimited bookings). */
  bookingsIncluded: number | null;
  bookingsUsed: number;
  /** Null: unlimited. */
  bookingsLeft: number | null;
}

/**
 * What a subscription gives now. Active or trialing: access and the current period's bookings. past_due: access for
 * `graceDays` from when it became past_due (the provider is still retrying the card). unpaid, canceled, paused,
 * incomplete, incomplete_expired: none.
 *
 * The current period is the newest paid one (by start): periods open only on paid invoices, and a subscription on a
 * provider test clock runs ahead of the wall clock, so comparing period dates with `now` would pick the wrong one.
 */
export function entitlement(
  sub: Pick<Subscription, 'status' | 'past_due_since'>,
  period: Pick<SubscriptionPeriod, 'id' | 'included_bookings' | 'used_bookings'> | null,
  now: Date,
  graceDays: number,
): Entitlement {
  let access = false;
  let reason: string = sub.status;
  let graceUntil: Date | null = null;
  if (sub.status === 'active' || sub.status === 'trialing') access = true;
  if (sub.status === 'past_due') {
    const since = sub.past_due_since ?? now;
    graceUntil = new Date(since.getTime() + graceDays * 86_400_000);
    access = now.getTime() < graceUntil.getTime();
    reason = access ? 'grace' : 'past_due';
  }
  if (access && period === null) {
    access = false;
    reason = 'no_paid_period';
  }
  const included = period === null || period.included_bookings === 0 ? null : period.included_bookings;
  const used = period?.used_bookings ?? 0;
  return {
    access,
    reason,
    graceUntil,
    periodId: period?.id ?? null,
    bookingsIncluded: included,
    bookingsUsed: used,
    bookingsLeft: !access ? 0 : included === null ? null : Math.max(0, included - used),
  };
}
