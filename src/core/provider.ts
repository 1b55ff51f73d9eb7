import type { ChargeType, PlanInterval, ProviderId, ProviderSubscriptionStatus } from '../db/schema.js';

/**
 * The one provider interface. Stripe implements it first (src/providers/stripe); PayPal and Square follow.
 * Core code depends on this file only and never imports a provider SDK. Every call carries the seller's
 * provider account as context, because marketplace objects live on the seller's account for direct charges.
 */

/** Which account an operation runs on. `accountId` is the seller's connected account; `chargeType` picks the flow. */
export interface AccountContext {
  accountId: string;
  chargeType: ChargeType;
}

export interface CreateCheckoutInput {
  orderId: string;
  account: AccountContext;
  lineItem: { name: string; unitAmount: number; quantity: number };
  /**
   * Settle's discount on `unitAmount × quantity` (minor units, 0 when none), already priced by core. A provider
   * with promotion codes of its own applies `promotionCodeProviderId` instead (Stripe); one without (PayPal)
   * charges the discounted total and shows the discount in its breakdown. Absent: 0.
   */
  discount?: number;
  currency: string;
  /** Platform fee in minor units, computed by Settle (0 allowed). */
  applicationFee: number;
  expiresAt: Date;
  successUrl: string;
  cancelUrl: string;
  /** Provider id of a promotion code chosen before checkout; otherwise the hosted page offers a code field. */
  promotionCodeProviderId: string | null;
  customerEmail: string | null;
  /** Derived from Settle's own ids so a retried call cannot create a second checkout. */
  idempotencyKey: string;
}

export interface HostedCheckout {
  sessionId: string;
  url: string;
  expiresAt: Date;
}

/**
 * Normalized state of a hosted checkout, read from the provider.
 * - `succeeded`: paid; confirm.
 * - `zero_amount`: a 100 %-off order completed with nothing to charge; confirm with no payment id.
 * - `processing`: completed with a delayed method; funds not yet available.
 * - `open` | `failed` | `expired`.
 */
export type CheckoutOutcome = 'open' | 'succeeded' | 'zero_amount' | 'processing' | 'failed' | 'expired';

export interface CheckoutState {
  provider: ProviderId;
  sessionId: string;
  /** Settle order id read back from the provider (metadata / client reference), if present. */
  orderId: string | null;
  accountId: string | null;
  outcome: CheckoutOutcome;
  amountTotal: number;
  currency: string;
  paymentId: string | null;
  applicationFee: number;
  promotionCode: string | null;
}

export interface RefundInput {
  account: AccountContext;
  paymentId: string;
  /** Settle minor units of `currency` (the order's). */
  amount: number;
  currency: string;
  idempotencyKey: string;
  orderId: string;
  refundId: string;
}

export interface RefundResult {
  providerRefundId: string;
  status: 'pending' | 'succeeded' | 'failed';
}

export interface SellerAccountState {
  /**
   * The seller's account at the provider. Null while the provider has not assigned one yet: PayPal's merchant id
   * exists only once the seller finished onboarding (found later with `findSellerAccount`).
   */
  accountId: string | null;
  /** The Settle seller id the provider echoes back (PayPal's partner-referral `tracking_id`), when it does. */
  sellerId?: string | null;
  detailsSubmitted: boolean;
  chargesEnabled: boolean;
  payoutsEnabled: boolean;
  /**
   * The only currencies the account can charge in, lowercase, when the provider restricts it (a Square seller takes
   * its location's currency only); absent: whatever the provider's currency rules allow.
   */
  currencies?: string[];
}

/** Normalized webhook/event vocabulary. `ignored` events are acknowledged and not processed. */
export type NormalizedEvent =
  | {
      kind: 'checkout.completed' | 'checkout.async_succeeded' | 'checkout.async_failed' | 'checkout.expired';
      checkout: CheckoutState;
    }
  | {
      kind: 'refund.updated';
      refund: {
        providerRefundId: string;
        paymentId: string | null;
        amount: number;
        status: 'pending' | 'succeeded' | 'failed';
        refundId: string | null;
      };
    }
  | {
      kind: 'dispute.created' | 'dispute.closed';
      dispute: {
        providerDisputeId: string;
        paymentId: string | null;
        amount: number;
        currency: string;
        reason: string | null;
        status: string;
        outcome: 'won' | 'lost' | null;
      };
    }
  | {
      kind: 'account.updated';
      account: SellerAccountState;
      /**
       * The seller withdrew the platform's access at the provider (Square `oauth.authorization.revoked`): its
       * stored grant is dropped and the account can no longer charge.
       */
      revoked?: boolean;
      /**
       * The payload names the account but does not carry its state (PayPal MERCHANT.ONBOARDING.COMPLETED): core
       * reads it back from the provider instead of applying `account`'s flags.
       */
      readBack?: boolean;
    }
  | {
      /** A subscription's hosted checkout completed or expired (Stripe checkout.session.* in mode subscription). */
      kind: 'subscription.checkout_completed' | 'subscription.checkout_expired';
      checkout: SubscriptionCheckoutState;
    }
  | {
      /**
       * Something happened to a subscription (created, updated, deleted, paused, resumed, trial_will_end). Core
       * re-reads the subscription from the provider: the payload may be older than what is already applied.
       */
      kind: 'subscription.changed';
      change: 'created' | 'updated' | 'deleted' | 'paused' | 'resumed' | 'trial_will_end';
      providerSubscriptionId: string;
      /** Settle's subscription id from the provider's metadata, when present. */
      subscriptionId: string | null;
    }
  | {
      /** A subscription invoice was paid, or a payment attempt failed or needs the buyer (3-D Secure). Re-read. */
      kind:
        'subscription.invoice_paid' | 'subscription.invoice_failed' | 'subscription.invoice_action_required';
      providerInvoiceId: string;
      providerSubscriptionId: string | null;
    }
  | { kind: 'ignored' };

export interface VerifiedEvent {
  provider: ProviderId;
  endpoint: 'platform' | 'connect';
  eventId: string;
  type: string;
  /** Connected account the event belongs to; null for platform events. */
  accountId: string | null;
  livemode: boolean;
  createdAt: Date;
  /** The verified event as parsed JSON (stored in the inbox for replay; never logged). */
  raw: unknown;
  event: NormalizedEvent;
}

export interface PromotionSpec {
  code: string;
  /** Exactly one of percentOff / amountOff (with currency). */
  percentOff?: number;
  amountOff?: number;
  currency?: string;
}

export interface ListEventsInput {
  accountId: string | null;
  since: Date;
}

/**
 * A seller's OAuth grant at a provider whose sellers authorize the platform's application (Square). Settle acts on
 * the seller's account with the seller's own access token. Stored sealed (src/core/credentials.ts), never logged.
 */
export interface SellerGrant {
  /** The seller's account at the provider (Square merchant id). */
  accountId: string;
  accessToken: string;
  refreshToken: string | null;
  /** When the access token stops working (null: the provider did not say). */
  expiresAt: Date | null;
  scopes: string[];
  /** Where checkouts are created (Square location id). */
  locationId: string | null;
}

/**
 * Where a provider's seller grants are kept, bound to that provider (core implements it over `seller_credentials`
 * with AES-256-GCM at rest). `load` answers null when the seller has no grant or revoked it.
 */
export interface GrantStore {
  load(accountId: string): Promise<SellerGrant | null>;
  /** After a refresh: the new access token (and refresh token, when the provider rotated it) and expiry. */
  update(
    accountId: string,
    tokens: Pick<SellerGrant, 'accessToken' | 'refreshToken' | 'expiresAt'>,
  ): Promise<void>;
  /** Account ids whose access token expires before `before` (periodic refresh). */
  expiring(before: Date): Promise<string[]>;
}

/**
 * Seller connection through the provider's OAuth (Square). Core owns `state` (single-use, bound to the seller,
 * checked on return) and stores the grant; the provider builds the authorize URL and talks to the token endpoints.
 */
export interface OAuthConnect {
  /** The scopes Settle asks for and needs (a grant missing one is refused at connection). */
  readonly requiredScopes: readonly string[];
  /** The provider's authorize page for one connection attempt. */
  authorizeUrl(input: { state: string; redirectUrl: string }): string;
  /**
   * Exchanges the authorization code from the authorize page's redirect for the seller's grant, and reads the
   * seller's account state and checkout location with it. Throws SettleError `provider_scopes_missing` (naming
   * the scopes) when the seller did not grant every required scope: the grant is revoked at the provider first.
   */
  exchangeCode(input: {
    code: string;
    redirectUrl: string;
  }): Promise<{ grant: SellerGrant; account: SellerAccountState }>;
  /** Revokes the platform's access to the seller's account at the provider (operator action). */
  revoke(accountId: string): Promise<void>;
  /**
   * Refreshes the seller's access token now (normally done by the provider itself before a call, when the token
   * expires within its refresh window). Throws SettleError `provider_account_revoked` when the provider refuses.
   */
  refresh(accountId: string): Promise<void>;
}

// ---------------------------------------------------------------- subscriptions (issue 13)

/** A plan price as the provider needs it to bill (created once per account, cached by core in provider_prices). */
export interface EnsurePriceInput {
  /** Settle's plan price id: also the idempotency root, so concurrent callers get one provider price. */
  planPriceId: string;
  account: AccountContext;
  productName: string;
  /** Settle minor units of `currency`. */
  unitAmount: number;
  currency: string;
  interval: PlanInterval;
}

export interface CreateSubscriptionCheckoutInput {
  /** Settle's subscription id, written to the provider's metadata (session and subscription). */
  subscriptionId: string;
  account: AccountContext;
  providerPriceId: string;
  /** The platform's percentage of every invoice (0–100, up to two decimals); 0: none. */
  feePercent: number;
  trialDays: number;
  customerEmail: string;
  successUrl: string;
  cancelUrl: string;
  expiresAt: Date;
  /**
   * Test mode only: put the buyer's customer on a new provider test clock (Stripe test clocks), so renewals can be
   * advanced from the operator console. Refused in live mode.
   */
  testClock: boolean;
  idempotencyKey: string;
}

/** A subscription checkout as the provider reports it. */
export interface SubscriptionCheckoutState {
  provider: ProviderId;
  sessionId: string;
  /** Settle's subscription id read back from the provider's metadata. */
  subscriptionId: string | null;
  /** The seller's account the session lives on or pays (connected account, or transfer destination). */
  accountId: string | null;
  outcome: 'open' | 'complete' | 'expired';
  providerSubscriptionId: string | null;
  providerCustomerId: string | null;
}

export interface SubscriptionState {
  provider: ProviderId;
  providerSubscriptionId: string;
  subscriptionId: string | null;
  /** The seller's account: the connected account (direct) or the transfer destination (destination). */
  accountId: string | null;
  customerId: string | null;
  status: ProviderSubscriptionStatus;
  cancelAtPeriodEnd: boolean;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  trialEnd: Date | null;
  endedAt: Date | null;
  /** The percentage fee the provider takes on each invoice, if any. */
  feePercent: number | null;
  latestInvoiceId: string | null;
  /** The provider test clock the subscription runs on (test mode), if any. */
  testClockId: string | null;
}

export interface InvoiceState {
  provider: ProviderId;
  providerInvoiceId: string;
  providerSubscriptionId: string | null;
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
  /** subscription_create | subscription_cycle | … as the provider says. */
  billingReason: string | null;
  /** Settle minor units. */
  amountPaid: number;
  amountDue: number;
  currency: string;
  /** The platform's fee taken on this invoice's payment (minor units; 0 when none or not paid). */
  applicationFee: number;
  /** The payment to refund (Stripe PaymentIntent); null when nothing was charged (a trial's zero invoice). */
  paymentId: string | null;
  /** The service period the invoice pays for (Stripe: its line's period). */
  periodStart: Date;
  periodEnd: Date;
  attemptCount: number;
  nextPaymentAttempt: Date | null;
  hostedInvoiceUrl: string | null;
}

/**
 * Recurring billing at a provider (Stripe Billing first). Optional on PaymentProvider: a provider without it cannot
 * sell plans. Every call runs on the account the subscription lives on (AccountContext, as for orders).
 */
export interface SubscriptionBilling {
  /** Creates (idempotently, keyed by planPriceId and account) the provider's recurring price; returns its id. */
  ensurePrice(input: EnsurePriceInput): Promise<string>;
  createCheckout(input: CreateSubscriptionCheckoutInput): Promise<HostedCheckout>;
  retrieveCheckout(sessionId: string, account: AccountContext): Promise<SubscriptionCheckoutState>;
  /** Ends an open subscription checkout; a completed or expired one is left alone. */
  expireCheckout(sessionId: string, account: AccountContext): Promise<void>;
  retrieve(providerSubscriptionId: string, account: AccountContext): Promise<SubscriptionState>;
  retrieveInvoice(providerInvoiceId: string, account: AccountContext): Promise<InvoiceState>;
  /** The subscription's invoices, newest first (at most 100). */
  listInvoices(providerSubscriptionId: string, account: AccountContext): Promise<InvoiceState[]>;
  /** Cancel at the end of the current period (true) or undo that (false). */
  setCancelAtPeriodEnd(
    providerSubscriptionId: string,
    account: AccountContext,
    cancel: boolean,
    idempotencyKey: string,
  ): Promise<SubscriptionState>;
  /** Cancels now (no proration by the provider: Settle refunds what it decides through the refund path). */
  cancelNow(
    providerSubscriptionId: string,
    account: AccountContext,
    idempotencyKey: string,
  ): Promise<SubscriptionState>;
  /** The provider's customer portal (update the card, cancel) for this customer; returns its URL. */
  portalUrl(customerId: string, account: AccountContext, returnUrl: string): Promise<string>;
  /**
   * Test mode: advances the subscription's test clock to `to` and waits until the provider has billed everything due
   * (the clock `ready`). Throws validation_failed when the subscription has no test clock.
   */
  advanceTestClock(
    providerSubscriptionId: string,
    account: AccountContext,
    to: Date,
  ): Promise<{ frozenTime: Date }>;
}

export interface PaymentProvider {
  readonly id: ProviderId;
  /** Present when the provider bills subscriptions for Settle (Stripe). */
  readonly subscriptions?: SubscriptionBilling;
  /** Present when sellers connect through the provider's OAuth instead of an onboarding link (Square). */
  readonly oauth?: OAuthConnect;
  /** 'test' | 'live' as the credentials say; events of the other mode are rejected. */
  readonly livemode: boolean;

  createSellerAccount(input: {
    sellerId: string;
    email: string;
    idempotencyKey: string;
  }): Promise<SellerAccountState>;
  /**
   * The provider's onboarding link. `accountId` is null when the provider assigns the account only at the end of
   * onboarding (PayPal): the link then carries `sellerId` for the provider to echo back (`tracking_id`).
   */
  createOnboardingLink(input: {
    accountId: string | null;
    sellerId: string;
    email: string;
    returnUrl: string;
    refreshUrl: string;
  }): Promise<{ url: string }>;
  retrieveSellerAccount(accountId: string): Promise<SellerAccountState>;
  /**
   * Finds the account a seller created through the onboarding link (by the id the link carried), or null while
   * there is none. Only providers whose accounts are assigned during onboarding implement it (PayPal).
   */
  findSellerAccount?(sellerId: string): Promise<SellerAccountState | null>;

  createCheckout(input: CreateCheckoutInput): Promise<HostedCheckout>;
  retrieveCheckout(sessionId: string, account: AccountContext): Promise<CheckoutState>;
  /** Ends an open checkout (buyer canceled). Already-complete or expired sessions are left alone. */
  expireCheckout(sessionId: string, account: AccountContext): Promise<void>;
  refund(input: RefundInput): Promise<RefundResult>;

  /** Verifies the signature on the raw bytes and normalizes the event. Throws SettleError webhook_* on failure. */
  verifyWebhook(
    endpoint: 'platform' | 'connect',
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<VerifiedEvent>;
  /** Normalizes an already-verified stored event (replay from the inbox, reconciliation). */
  normalizeEvent(endpoint: 'platform' | 'connect', raw: unknown): Promise<VerifiedEvent>;
  /** Recent events for reconciliation (platform when accountId is null). */
  listEvents(input: ListEventsInput): AsyncIterable<VerifiedEvent>;
  /**
   * Makes a promotion code usable where checkouts happen: on the platform (accountId null) or on a Direct Charge
   * seller's account, where its sessions live. Idempotent: an existing active code is reused. Returns its id.
   */
  ensurePromotionCode(spec: PromotionSpec, accountId: string | null): Promise<string>;
  /** Looks up a provider promotion code id by its customer-facing code. */
  findPromotionCodeId(code: string, account: AccountContext): Promise<string | null>;
}
