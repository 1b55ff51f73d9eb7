import type { OrderStatus } from '../db/schema.js';

/**
 * The order state machine. `paid` is reached only through confirmPayment(); every other transition goes
 * through transitionOrder(). Anything not listed here is refused, so out-of-order events never move an
 * order backwards (a late `checkout.session.expired` cannot undo a payment).
 */
export const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending: ['processing', 'paid', 'paid_oversold', 'needs_review', 'failed', 'expired', 'canceled'],
  processing: ['paid', 'paid_oversold', 'needs_review', 'failed', 'expired'],
  // Money arriving after we gave up on the order is still money: confirm it (and refund if the slot is gone).
  failed: ['paid', 'paid_oversold', 'needs_review'],
  expired: ['paid', 'paid_oversold', 'needs_review'],
  canceled: ['paid', 'paid_oversold', 'needs_review'],
  paid: ['refunded'],
  paid_oversold: ['refunded'],
  // The operator decides a review (decideReview): accept (fulfil, or oversold when the slot is full), refund, or
  // close when nothing was charged.
  needs_review: ['paid', 'paid_oversold', 'refunded', 'canceled'],
  refunded: [],
};

/** Statuses from which a payment confirmation is accepted. */
export const CONFIRMABLE: readonly OrderStatus[] = ['pending', 'processing', 'failed', 'expired', 'canceled'];

/** Statuses that will not change without money moving (the verify endpoint stops polling on these). */
export const TERMINAL: readonly OrderStatus[] = [
  'paid',
  'paid_oversold',
  'needs_review',
  'failed',
  'expired',
  'canceled',
  'refunded',
];

export function sourcesFor(to: OrderStatus): OrderStatus[] {
  return (Object.keys(TRANSITIONS) as OrderStatus[]).filter((from) => TRANSITIONS[from].includes(to));
}
