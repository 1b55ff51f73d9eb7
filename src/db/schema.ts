import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Kysely's view of the schema created by src/db/migrations. Column names are the SQL names.
 * Money columns are int8 minor units, parsed into JS numbers with a safe-integer check (src/db/connect.ts).
 * docs/schema.md describes every table and index and the query each index serves.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

export const PROVIDER_IDS = ['stripe', 'paypal', 'square'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];
export type ChargeType = 'direct' | 'destination';

/** Order state machine; see src/core/order-status.ts for the allowed transitions. */
export type OrderStatus =
  | 'pending'
  | 'processing'
  | 'paid'
  | 'paid_oversold'
  | 'needs_review'
  | 'failed'
  | 'expired'
  | 'canceled'
  | 'refunded';

export type ConfirmedVia = 'webhook' | 'frontend' | 'reconcile';

export interface SellersTable {
  id: string;
  name: string;
  email: string;
  fee_bps: number;
  fee_fixed: number;
  created_at: CreatedAt;
}

/** What a provider reports of a seller's account there; `capabilities` is the provider's own view (flags, scopes). */
export type AccountCapabilities = Record<string, string | boolean>;

/** One row per seller and provider (migration 0005): the seller's account at that provider and its state. */
export interface SellerAccountsTable {
  seller_id: string;
  provider: ProviderId;
  provider_account_id: string | null;
  /** Stripe: the seller's Connect charge type. PayPal and Square sellers are paid directly: 'direct'. */
  charge_type: ChargeType;
  details_submitted: Generated<boolean>;
  charges_enabled: Generated<boolean>;
  payouts_enabled: Generated<boolean>;
  capabilities: ColumnType<AccountCapabilities, string | undefined, string>;
  /** `created` of the newest provider account event applied; older events are ignored. */
  account_synced_at: Timestamp | null;
  /** When the seller withdrew the platform's access at the provider (OAuth revoked); null while connected. */
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: CreatedAt;
}

/** A seller's OAuth grant at a provider (migration 0006): tokens sealed by src/core/credentials.ts. */
export interface SellerCredentialsTable {
  provider: ProviderId;
  provider_account_id: string;
  seller_id: string;
  access_token_sealed: string;
  refresh_token_sealed: string | null;
  expires_at: Timestamp | null;
  scopes: ColumnType<string[], string, string>;
  location_id: string | null;
  refreshed_at: ColumnType<Date, Date | undefined, Date>;
  created_at: CreatedAt;
}

/** A seller's OAuth connection in progress: the SHA-256 of its single-use `state` (migration 0006). */
export interface OAuthStatesTable {
  state_hash: string;
  seller_id: string;
  provider: ProviderId;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface ListingsTable {
  id: string;
  seller_id: string;
  title: string;
  description: string;
  currency: string;
  unit_amount: number;
  created_at: CreatedAt;
}

export interface SlotsTable {
  id: string;
  listing_id: string;
  starts_at: Timestamp;
  capacity: number;
  sold: Generated<number>;
  /** Quantity of the slot's unreleased holds, kept by a trigger on holds (migration 0008); read-only for Settle. */
  held: Generated<number>;
  created_at: CreatedAt;
}

export interface HoldsTable {
  id: string;
  slot_id: string;
  order_id: string;
  quantity: number;
  expires_at: Timestamp;
  /** null while active; set when consumed by confirmation, expired, or canceled. */
  released_at: Timestamp | null;
  release_reason: string | null;
  created_at: CreatedAt;
}

export interface PromotionCodesTable {
  id: string;
  code: string;
  percent_off: number | null;
  amount_off: number | null;
  currency: string | null;
  active: Generated<boolean>;
  provider: ProviderId;
  provider_promotion_code_id: string | null;
  created_at: CreatedAt;
}

export interface OrdersTable {
  id: string;
  seller_id: string;
  listing_id: string;
  slot_id: string;
  quantity: number;
  currency: string;
  unit_amount: number;
  subtotal: number;
  discount: number;
  total: number;
  platform_fee: number;
  promotion_code: string | null;
  status: OrderStatus;
  review_reason: string | null;
  buyer_email: string | null;
  provider: ProviderId;
  charge_type: ChargeType;
  provider_account_id: string | null;
  provider_session_id: string | null;
  provider_payment_id: string | null;
  confirmed_via: ConfirmedVia | null;
  refunded_amount: Generated<number>;
  /** What the provider actually charged (set on confirmation); refunds are capped by it. */
  charged_amount: number | null;
  /** Digest of the buyer's Idempotency-Key: a re-run of the same checkout finds this order. */
  checkout_key: string | null;
  dispute_status: string | null;
  expires_at: Timestamp;
  paid_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface OrderEventsTable {
  id: Generated<number>;
  order_id: string;
  from_status: string | null;
  to_status: string;
  note: string | null;
  via: string | null;
  created_at: CreatedAt;
}

export interface PaymentsTable {
  id: string;
  order_id: string;
  provider: ProviderId;
  provider_payment_id: string | null;
  amount: number;
  currency: string;
  application_fee: number;
  status: string;
  created_at: CreatedAt;
}

export interface RefundsTable {
  id: string;
  /** The refunded order, or null for a subscription invoice's refund (`period_id`); exactly one is set. */
  order_id: string | null;
  /** The refunded subscription period (its invoice), migration 0007; null for an order's refund. */
  period_id: ColumnType<string | null, string | null | undefined, string | null>;
  amount: number;
  currency: string;
  status: 'pending' | 'succeeded' | 'failed';
  reason: string;
  idempotency_key: string;
  provider_refund_id: string | null;
  failure_reason: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface DisputesTable {
  id: string;
  order_id: string | null;
  provider: ProviderId;
  provider_dispute_id: string;
  provider_payment_id: string | null;
  amount: number;
  currency: string;
  reason: string | null;
  status: string;
  outcome: 'won' | 'lost' | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type InboxStatus = 'received' | 'processed' | 'failed' | 'ignored';

export interface WebhookEventsTable {
  id: Generated<number>;
  provider: ProviderId;
  /** 'platform' or 'connect' (or a provider-specific endpoint name). */
  endpoint: string;
  /** connected account the event came from; '' for platform events. */
  account: string;
  event_id: string;
  type: string;
  livemode: boolean;
  event_created: Timestamp;
  /** The verified event (parsed JSON), kept for replay; never logged. */
  payload: Json<unknown>;
  status: Generated<InboxStatus>;
  attempts: Generated<number>;
  last_error: string | null;
  received_at: CreatedAt;
  processed_at: Timestamp | null;
  /** Lease of the request processing this row; a duplicate delivery waits for it or takes over when it lapses. */
  claimed_until: Timestamp | null;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'dead';

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  /** (order, effect): one job per effect per order, enforced by a unique index. */
  dedupe_key: string;
  payload: Json<Record<string, unknown>>;
  status: Generated<JobStatus>;
  attempts: Generated<number>;
  max_attempts: Generated<number>;
  run_at: Timestamp;
  locked_until: Timestamp | null;
  last_error: string | null;
  created_at: CreatedAt;
  finished_at: Timestamp | null;
}

export interface NotificationsTable {
  id: Generated<number>;
  order_id: string | null;
  kind: string;
  recipient: string;
  subject: string;
  body: string;
  dedupe_key: string;
  created_at: CreatedAt;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status: 'in_flight' | 'done';
  response_status: number | null;
  response_body: Json<unknown> | null;
  created_at: CreatedAt;
}

/** A named, expiring lease (src/core/leases.ts): periodic work runs only in the instance holding it. */
export interface LeasesTable {
  name: string;
  /** The instance holding it (a random id per process). */
  holder: string;
  expires_at: Timestamp;
}

/** The shared rate limiter's counter of one (route, client) key in its current window (src/http/rate-limit-store.ts). */
export interface RateLimitsTable {
  key: string;
  window_start: Timestamp;
  count: number;
}

// ---------------------------------------------------------------- subscriptions (migration 0007, issue 13)

export type PlanInterval = 'month' | 'year';

/** A seller's membership or class pass, billed every `interval`. Its price lives in `plan_prices` (immutable). */
export interface PlansTable {
  id: string;
  seller_id: string;
  /** The listing whose slots a member books; null: any listing of the seller. */
  listing_id: string | null;
  name: string;
  interval: PlanInterval;
  trial_days: Generated<number>;
  /** Bookings included per period; 0 = unlimited. */
  included_bookings: Generated<number>;
  status: Generated<'active' | 'archived'>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** A plan's price. Never changed once created: a new price replaces it (one active per plan), as at Stripe. */
export interface PlanPricesTable {
  id: string;
  plan_id: string;
  currency: string;
  unit_amount: number;
  active: Generated<boolean>;
  created_at: CreatedAt;
}

/** The provider's copy of a plan price on one account ('' = the platform). */
export interface ProviderPricesTable {
  plan_price_id: string;
  provider: ProviderId;
  provider_account: string;
  provider_price_id: string;
  created_at: CreatedAt;
}

/** The provider's subscription statuses (Stripe's vocabulary, which PayPal's and Square's map onto). */
export const PROVIDER_SUBSCRIPTION_STATUSES = [
  'incomplete',
  'incomplete_expired',
  'trialing',
  'active',
  'past_due',
  'unpaid',
  'paused',
  'canceled',
] as const;
export type ProviderSubscriptionStatus = (typeof PROVIDER_SUBSCRIPTION_STATUSES)[number];
/** Settle's subscription status: before the hosted checkout completes `pending`, or `checkout_expired` if it never did. */
export type SubscriptionStatus = 'pending' | 'checkout_expired' | ProviderSubscriptionStatus;

export interface SubscriptionsTable {
  id: string;
  plan_id: string;
  plan_price_id: string;
  seller_id: string;
  buyer_email: string;
  status: SubscriptionStatus;
  provider: ProviderId;
  charge_type: ChargeType;
  provider_account_id: string;
  currency: string;
  unit_amount: number;
  /** The seller's percentage fee rule at purchase, in basis points (the provider takes it on every invoice). */
  fee_bps: number;
  included_bookings: number;
  provider_session_id: string | null;
  checkout_url: string | null;
  checkout_expires_at: Timestamp | null;
  provider_subscription_id: string | null;
  provider_customer_id: string | null;
  cancel_at_period_end: Generated<boolean>;
  current_period_start: Timestamp | null;
  current_period_end: Timestamp | null;
  trial_end: Timestamp | null;
  /** When the subscription last became past_due (the grace period counts from here); null otherwise. */
  past_due_since: Timestamp | null;
  ended_at: Timestamp | null;
  /** SHA-256 of the buyer's manage token (the token itself is only in the buyer's links). */
  manage_token_hash: string;
  checkout_key: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface SubscriptionEventsTable {
  id: Generated<number>;
  subscription_id: string;
  from_status: string | null;
  to_status: string;
  note: string | null;
  via: string | null;
  created_at: CreatedAt;
}

/** One paid invoice = one period (unique per provider invoice): its money and its booking allowance. */
export interface SubscriptionPeriodsTable {
  id: string;
  subscription_id: string;
  provider: ProviderId;
  provider_invoice_id: string;
  billing_reason: string | null;
  period_start: Timestamp;
  period_end: Timestamp;
  amount_paid: number;
  currency: string;
  application_fee: number;
  provider_payment_id: string | null;
  /** Snapshot of the plan's allowance for this period; 0 = unlimited. */
  included_bookings: number;
  used_bookings: Generated<number>;
  refunded_amount: Generated<number>;
  paid_at: Timestamp;
  created_at: CreatedAt;
}

export interface MembershipBookingsTable {
  id: string;
  subscription_id: string;
  period_id: string;
  slot_id: string;
  quantity: number;
  status: 'booked' | 'canceled';
  created_at: CreatedAt;
  canceled_at: Timestamp | null;
}

export interface Database {
  sellers: SellersTable;
  seller_accounts: SellerAccountsTable;
  seller_credentials: SellerCredentialsTable;
  oauth_states: OAuthStatesTable;
  listings: ListingsTable;
  slots: SlotsTable;
  holds: HoldsTable;
  promotion_codes: PromotionCodesTable;
  orders: OrdersTable;
  order_events: OrderEventsTable;
  payments: PaymentsTable;
  refunds: RefundsTable;
  disputes: DisputesTable;
  webhook_events: WebhookEventsTable;
  jobs: JobsTable;
  notifications: NotificationsTable;
  idempotency_keys: IdempotencyKeysTable;
  leases: LeasesTable;
  rate_limits: RateLimitsTable;
  plans: PlansTable;
  plan_prices: PlanPricesTable;
  provider_prices: ProviderPricesTable;
  subscriptions: SubscriptionsTable;
  subscription_events: SubscriptionEventsTable;
  subscription_periods: SubscriptionPeriodsTable;
  membership_bookings: MembershipBookingsTable;
}

export type Seller = Selectable<SellersTable>;
export type SellerAccount = Selectable<SellerAccountsTable>;
export type Listing = Selectable<ListingsTable>;
export type Slot = Selectable<SlotsTable>;
export type Hold = Selectable<HoldsTable>;
export type Order = Selectable<OrdersTable>;
export type NewOrder = Insertable<OrdersTable>;
export type OrderUpdate = Updateable<OrdersTable>;
export type Payment = Selectable<PaymentsTable>;
export type Refund = Selectable<RefundsTable>;
export type Dispute = Selectable<DisputesTable>;
export type WebhookEvent = Selectable<WebhookEventsTable>;
export type Job = Selectable<JobsTable>;
export type Notification = Selectable<NotificationsTable>;
export type PromotionCode = Selectable<PromotionCodesTable>;
export type Plan = Selectable<PlansTable>;
export type PlanPrice = Selectable<PlanPricesTable>;
export type Subscription = Selectable<SubscriptionsTable>;
export type SubscriptionPeriod = Selectable<SubscriptionPeriodsTable>;
export type MembershipBooking = Selectable<MembershipBookingsTable>;
