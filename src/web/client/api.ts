import { CheckoutError, newIdempotencyKey, postJson } from './checkout.js';

/** JSON helpers for the demo pages (the embeddable client is checkout.ts). */

/**
 * A random UUID v4 for an `Idempotency-Key` header (works on plain http too, where `crypto.randomUUID()` is
 * missing). Public routes accept only such unguessable keys.
 */
export { newIdempotencyKey };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: 'application/json', ...headers },
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new CheckoutError('network_error', 'Could not reach the server; check your connection.', 0, {
      cause: err,
    });
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const e = isRecord(body) && isRecord(body.error) ? body.error : {};
    throw new CheckoutError(
      typeof e.code === 'string' ? e.code : 'http_error',
      typeof e.message === 'string' ? e.message : `Request failed with HTTP ${res.status}.`,
      res.status,
    );
  }
  return body as T;
}

export function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  return postJson((input, init) => fetch(input, init), url, body, headers);
}

export function errorText(err: unknown): string {
  if (err instanceof CheckoutError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

// Shapes of the API answers the pages read (docs/api.md). Optional where the API may omit a field.

export interface SlotView {
  id: string;
  startsAt: string;
  capacity: number;
  sold: number;
  held: number;
  available: number;
}

export interface ListingView {
  id: string;
  title: string;
  description?: string;
  currency: string;
  unitAmount: number;
  seller: {
    id: string;
    name: string;
    chargeType: 'direct' | 'destination' | null;
    ready: boolean;
    /** Providers the buyer can pay this seller through; the first is the default. */
    providers: string[];
  };
  slots: SlotView[];
}

export interface OrderView {
  id: string;
  status: string;
  quantity: number;
  currency: string;
  subtotal: number;
  discount: number;
  total: number;
  promotionCode: string | null;
  refundedAmount: number;
  disputeStatus: string | null;
  listing: { id: string; title: string };
  slot: { id: string; startsAt: string };
  seller: { name: string };
  createdAt: string;
  paidAt: string | null;
  expiresAt: string;
}

/** One provider account of a seller (`GET /api/sellers/:id` → `providers`), in the platform's order of preference. */
export interface SellerProviderView {
  provider: string;
  chargeType: string;
  detailsSubmitted: boolean;
  chargesEnabled: boolean;
  payoutsEnabled: boolean;
  /** The seller withdrew (or the operator revoked) the platform's access; checkout there is refused. */
  revoked: boolean;
  /** Buyers can pay this seller through this provider. */
  ready: boolean;
}

export interface SellerView {
  id: string;
  name: string;
  chargeType: string | null;
  /** The first provider's account state (kept for older clients; `providers` has each one). */
  detailsSubmitted: boolean;
  chargesEnabled: boolean;
  payoutsEnabled: boolean;
  providers: SellerProviderView[];
}

/** A plan on sale (`GET /api/plans`). `includedBookings` 0 = unlimited. */
export interface PlanView {
  id: string;
  name: string;
  interval: 'month' | 'year';
  trialDays: number;
  includedBookings: number;
  price: { unitAmount: number; currency: string } | null;
  seller: { id: string; name: string | null };
  listing: { id: string; title: string | null } | null;
}

export interface EntitlementView {
  access: boolean;
  reason: string;
  graceUntil: string | null;
  /** Null: unlimited. */
  bookingsIncluded: number | null;
  bookingsUsed: number;
  /** Null: unlimited. */
  bookingsLeft: number | null;
}

export interface MembershipBookingView {
  id: string;
  slotId: string;
  title: string;
  startsAt: string;
  quantity: number;
  status: 'booked' | 'canceled' | string;
}

/** A subscription as its member sees it (`GET /api/subscriptions/:id` with the manage token). */
export interface MemberSubscriptionView {
  id: string;
  status: string;
  plan: {
    id: string;
    name: string;
    interval: string;
    listingId: string | null;
    includedBookings: number;
  };
  seller: { name: string };
  email: string;
  currency: string;
  unitAmount: number;
  cancelAtPeriodEnd: boolean;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  trialEnd: string | null;
  endedAt: string | null;
  entitlement: EntitlementView;
  bookings: MembershipBookingView[];
}
