import type Stripe from 'stripe';
import type { Clock } from '../kit/clock.js';
import { Sequence, Table } from '../kit/store.js';

/** Key of an account's object space: `''` is the platform, otherwise the connected account id. */
export type ScopeKey = string;

export const API_VERSION = '2026-10-28.endive';

export interface PaymentIntentData {
  application_fee_amount: number | null;
  transfer_destination: string | null;
  transfer_amount: number | null;
  on_behalf_of: string | null;
  transfer_group: string | null;
  description: string | null;
  metadata: Record<string, string>;
}

/** `subscription_data` of a Checkout Session in `mode: 'subscription'`. */
export interface SubscriptionSessionData {
  application_fee_percent: string | null;
  trial_period_days: string | null;
  transfer_destination: string | null;
  on_behalf_of: string | null;
  metadata: Record<string, string>;
}

export interface SessionRecord {
  session: Stripe.Checkout.Session;
  lineItems: Stripe.LineItem[];
  piData: PaymentIntentData;
  /** Set in `mode: 'subscription'`: what the subscription is created with when the session completes. */
  subscriptionData?: SubscriptionSessionData;
  /**
   * Clock ms (engine.clock.now()) at which the emulator expires the session: `(expires_at − created) · timeScale`
   * after it was stored. The store sets it when the session is stored (`Scope.sessions.set`), whatever the creator
   * put there, so it is on the emulator's clock.
   */
  expireAtMs: number;
}

/** What the emulator keeps about a subscription beyond the API object (billing.ts). */
export interface SubscriptionState {
  /** `customer.subscription.trial_will_end` sent for the current trial. */
  trialWillEndSent: boolean;
}

export type DeliveryState = 'pending' | 'succeeded' | 'failed';

export interface EventRecord {
  event: Stripe.EventBase;
  seq: number;
  scope: ScopeKey;
  /** endpoint id → delivery state (set when the event is dispatched). */
  deliveries: Map<string, DeliveryState>;
}

export interface AccountLinkRecord {
  id: string;
  account: string;
  refresh_url: string;
  return_url: string;
  expires_at: number;
  used: boolean;
}

/** Checkout sessions; storing one sets its expiry deadline on the emulator's clock. */
export class SessionTable extends Table<SessionRecord> {
  constructor(private readonly clock: () => Clock | undefined) {
    super();
  }

  override set(id: string, rec: SessionRecord): this {
    const clock = this.clock();
    if (clock && !this.has(id)) {
      const { created, expires_at } = rec.session;
      rec.expireAtMs = clock.now() + clock.scaled((expires_at - created) * 1000);
    }
    return super.set(id, rec);
  }
}

export class Scope {
  readonly sessions: SessionTable;
  readonly paymentIntents = new Table<Stripe.PaymentIntent>();
  readonly charges = new Table<Stripe.Charge>();
  readonly refunds = new Table<Stripe.Refund>();
  readonly disputes = new Table<Stripe.Dispute>();
  readonly applicationFees = new Table<Stripe.ApplicationFee>();
  readonly transfers = new Table<Stripe.Transfer>();
  readonly customers = new Table<Stripe.Customer>();
  readonly coupons = new Table<Stripe.Coupon>();
  readonly promotionCodes = new Table<Stripe.PromotionCode>();
  readonly products = new Table<Stripe.Product>();
  readonly prices = new Table<Stripe.Price>();
  readonly paymentMethods = new Table<Stripe.PaymentMethod>();
  readonly testClocks = new Table<Stripe.TestHelpers.TestClock>();
  readonly subscriptions = new Table<Stripe.Subscription>();
  /** Billing bookkeeping the API never shows (billing.ts). */
  readonly subscriptionState = new Map<string, SubscriptionState>();
  readonly invoices = new Table<Stripe.Invoice>();
  readonly invoicePayments = new Table<Stripe.InvoicePayment>();
  readonly portalSessions = new Table<Stripe.BillingPortal.Session>();
  readonly events: EventRecord[] = [];
  readonly eventIndex = new Map<string, EventRecord>();

  constructor(
    readonly key: ScopeKey,
    clock: () => Clock | undefined = () => undefined,
  ) {
    this.sessions = new SessionTable(clock);
  }

  get account(): string | null {
    return this.key === '' ? null : this.key;
  }
}

/** A webhook endpoint as stored: the API object plus what the API never shows (Connect flag, secret). */
export type StoredWebhookEndpoint = Stripe.WebhookEndpoint & { connect: boolean; secret: string };

export class Store {
  readonly accounts = new Table<Stripe.Account>();
  readonly accountLinks = new Table<AccountLinkRecord>();
  readonly webhookEndpoints = new Table<StoredWebhookEndpoint>();
  /** Global indexes so hosted pages and test helpers find objects without a Stripe-Account header. */
  readonly sessionScope = new Map<string, ScopeKey>();
  readonly disputeScope = new Map<string, ScopeKey>();
  readonly portalScope = new Map<string, ScopeKey>();
  readonly invoiceScope = new Map<string, ScopeKey>();
  private readonly scopes = new Map<ScopeKey, Scope>();
  private readonly eventSeq = new Sequence();

  /** `clock`: the emulator's clock (session expiry deadlines); none in unit tests of the store. */
  constructor(private readonly clock?: Clock) {}

  scope(key: ScopeKey): Scope {
    let s = this.scopes.get(key);
    if (!s) {
      s = new Scope(key, () => this.clock);
      this.scopes.set(key, s);
    }
    return s;
  }

  allScopes(): Scope[] {
    return [...this.scopes.values()];
  }

  nextSeq(): number {
    return this.eventSeq.next();
  }
}
