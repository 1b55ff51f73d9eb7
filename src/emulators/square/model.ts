/** The Square emulator's stored objects (in memory; timestamps are clock ms). */

export interface Merchant {
  id: string;
  businessName: string;
  country: string;
  currency: string;
  languageCode: string;
  createdAt: number;
  mainLocationId: string;
  locationIds: string[];
  /** The application's own (developer) account, reached with the personal access token. */
  developer: boolean;
}

export interface Location {
  id: string;
  merchantId: string;
  name: string;
  createdAt: number;
  country: string;
  currency: string;
  timezone: string;
}

/** What a seller granted the application (one per merchant; re-authorizing replaces the scopes). */
export interface Grant {
  merchantId: string;
  scopes: string[];
  authorizedAt: number;
  revokedAt: number | null;
}

export interface AccessToken {
  token: string;
  merchantId: string;
  scopes: string[];
  /** Clock ms; null for the personal access token. */
  expiresAt: number | null;
  revoked: boolean;
  shortLived: boolean;
  kind: 'oauth' | 'personal';
}

export interface RefreshToken {
  token: string;
  merchantId: string;
  scopes: string[];
  revoked: boolean;
}

export interface AuthorizationCode {
  code: string;
  merchantId: string;
  scopes: string[];
  expiresAt: number;
  used: boolean;
  redirectUri: string | null;
}

export type OrderState = 'DRAFT' | 'OPEN' | 'COMPLETED' | 'CANCELED';

export interface LineItem {
  uid: string;
  name: string;
  quantity: string;
  note: string | null;
  metadata: Record<string, string> | null;
  basePrice: number;
  total: number;
}

export interface Order {
  id: string;
  merchantId: string;
  locationId: string;
  referenceId: string | null;
  metadata: Record<string, string> | null;
  lineItems: LineItem[];
  currency: string;
  total: number;
  state: OrderState;
  version: number;
  createdAt: number;
  updatedAt: number;
  closedAt: number | null;
  /** The payment that paid it (COMPLETED), shown as its tender. */
  tenderPaymentId: string | null;
  paymentLinkId: string | null;
}

export interface PaymentLink {
  id: string;
  merchantId: string;
  version: number;
  description: string | null;
  orderId: string;
  /** `checkout_options` as the request gave it (wire names), echoed back. */
  checkoutOptions: Record<string, unknown> | null;
  prePopulatedData: Record<string, unknown> | null;
  paymentNote: string | null;
  shortCode: string;
  createdAt: number;
  updatedAt: number | null;
  appFee: number | null;
  redirectUrl: string | null;
  deleted: boolean;
}

export type PaymentStatus = 'APPROVED' | 'PENDING' | 'COMPLETED' | 'CANCELED' | 'FAILED';

export interface Payment {
  id: string;
  merchantId: string;
  locationId: string;
  orderId: string;
  paymentLinkId: string | null;
  amount: number;
  currency: string;
  appFee: number | null;
  status: PaymentStatus;
  sourceType: 'CARD' | 'BANK_ACCOUNT';
  /** card_details.status: AUTHORIZED, CAPTURED, VOIDED, FAILED; bank transfers: null. */
  cardStatus: 'AUTHORIZED' | 'CAPTURED' | 'VOIDED' | 'FAILED' | null;
  /** Why a card was declined (Square's PAYMENT_METHOD_ERROR code). */
  declineCode: string | null;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
  versionToken: string;
  refundIds: string[];
  /** Sum of COMPLETED refunds. */
  refunded: number;
  buyerEmail: string | null;
  note: string | null;
  processingFee: number | null;
}

export type RefundStatus = 'PENDING' | 'COMPLETED' | 'REJECTED' | 'FAILED';

export interface Refund {
  id: string;
  merchantId: string;
  paymentId: string;
  orderId: string;
  locationId: string;
  amount: number;
  appFee: number | null;
  currency: string;
  status: RefundStatus;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

export type DisputeState =
  | 'INQUIRY_EVIDENCE_REQUIRED'
  | 'INQUIRY_PROCESSING'
  | 'INQUIRY_CLOSED'
  | 'EVIDENCE_REQUIRED'
  | 'PROCESSING'
  | 'WON'
  | 'LOST'
  | 'ACCEPTED';

export const OPEN_DISPUTE_STATES: readonly DisputeState[] = [
  'INQUIRY_EVIDENCE_REQUIRED',
  'INQUIRY_PROCESSING',
  'EVIDENCE_REQUIRED',
  'PROCESSING',
];

export interface Dispute {
  id: string;
  merchantId: string;
  paymentId: string;
  locationId: string;
  amount: number;
  currency: string;
  reason: string;
  state: DisputeState;
  dueAt: number;
  createdAt: number;
  updatedAt: number;
  reportedAt: number;
  version: number;
  brandDisputeId: string;
}

export interface Subscription {
  id: string;
  name: string | null;
  enabled: boolean;
  eventTypes: string[];
  /** `notification_url`, byte for byte as configured (it is part of the signed message). */
  url: string;
  apiVersion: string;
  signatureKey: string;
  createdAt: number;
  updatedAt: number;
}

export interface EventRecord {
  id: string;
  type: string;
  merchantId: string;
  locationId: string | null;
  createdAt: number;
  apiVersion: string;
  /** Searchable through SearchEvents (events were enabled when it happened). */
  searchable: boolean;
  /** The event as delivered and searched: `{merchant_id, location_id?, type, event_id, created_at, data}`. */
  envelope: Record<string, unknown>;
}

/** The card outcomes of the hosted payment page. */
export type CardChoice = 'ok' | 'declined' | 'pending';
export const CARD_CHOICES: readonly CardChoice[] = ['ok', 'declined', 'pending'];
