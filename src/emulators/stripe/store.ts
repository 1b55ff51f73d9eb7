import type Stripe from 'stripe';

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

export interface SessionRecord {
  session: Stripe.Checkout.Session;
  lineItems: Stripe.LineItem[];
  piData: PaymentIntentData;
  /** Wall-clock ms at which the emulator expires the session (expires_at scaled by timeScale). */
  expireAtMs: number;
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

export class Scope {
  readonly sessions = new Map<string, SessionRecord>();
  readonly paymentIntents = new Map<string, Stripe.PaymentIntent>();
  readonly charges = new Map<string, Stripe.Charge>();
  readonly refunds = new Map<string, Stripe.Refund>();
  readonly disputes = new Map<string, Stripe.Dispute>();
  readonly applicationFees = new Map<string, Stripe.ApplicationFee>();
  readonly transfers = new Map<string, Stripe.Transfer>();
  readonly customers = new Map<string, Stripe.Customer>();
  readonly coupons = new Map<string, Stripe.Coupon>();
  readonly promotionCodes = new Map<string, Stripe.PromotionCode>();
  readonly events: EventRecord[] = [];
  readonly eventIndex = new Map<string, EventRecord>();

  constructor(readonly key: ScopeKey) {}

  get account(): string | null {
    return this.key === '' ? null : this.key;
  }
}

export class Store {
  readonly accounts = new Map<string, Stripe.Account>();
  readonly accountLinks = new Map<string, AccountLinkRecord>();
  readonly webhookEndpoints = new Map<
    string,
    Stripe.WebhookEndpoint & { connect: boolean; secret: string }
  >();
  /** Global indexes so hosted pages and test helpers find objects without a Stripe-Account header. */
  readonly sessionScope = new Map<string, ScopeKey>();
  readonly disputeScope = new Map<string, ScopeKey>();
  private readonly scopes = new Map<ScopeKey, Scope>();
  private eventSeq = 0;

  scope(key: ScopeKey): Scope {
    let s = this.scopes.get(key);
    if (!s) {
      s = new Scope(key);
      this.scopes.set(key, s);
    }
    return s;
  }

  allScopes(): Scope[] {
    return [...this.scopes.values()];
  }

  nextSeq(): number {
    return ++this.eventSeq;
  }
}
