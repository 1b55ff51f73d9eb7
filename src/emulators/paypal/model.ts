/**
 * The PayPal emulator's records: what it remembers about each object. JSON representations (PayPal's field names and
 * shapes) are built from them in `present.ts`.
 */

/** The test buyers of the approval page. */
export type Buyer = 'normal' | 'declined' | 'pending' | 'instrument_declined';
export const BUYERS: readonly Buyer[] = ['normal', 'declined', 'pending', 'instrument_declined'];

export type OrderStatus = 'CREATED' | 'PAYER_ACTION_REQUIRED' | 'APPROVED' | 'COMPLETED' | 'VOIDED';
export type CaptureStatus =
  'COMPLETED' | 'DECLINED' | 'PARTIALLY_REFUNDED' | 'PENDING' | 'REFUNDED' | 'FAILED';
export type RefundStatus = 'CANCELLED' | 'FAILED' | 'PENDING' | 'COMPLETED';

export interface PayerRecord {
  payerId: string;
  email: string;
  givenName: string;
  surname: string;
  countryCode: string;
}

export interface UnitRecord {
  referenceId: string;
  currency: string;
  amountMinor: bigint;
  payeeMerchantId: string;
  payeeEmail: string;
  /** Platform fee (null when none was given). */
  feeMinor: bigint | null;
  disbursementMode: 'INSTANT';
  description: string | null;
  customId: string | null;
  invoiceId: string | null;
  softDescriptor: string | null;
  captureIds: string[];
}

export interface ExperienceRecord {
  /** `application_context` (rel `approve`, status CREATED) or `payment_source` (rel `payer-action`). */
  kind: 'application_context' | 'payment_source';
  returnUrl: string | null;
  cancelUrl: string | null;
  brandName: string | null;
  locale: string | null;
  landingPage: string | null;
  userAction: string | null;
  shippingPreference: string | null;
  paymentMethodPreference: string | null;
}

export interface OrderRecord {
  id: string;
  status: OrderStatus;
  intent: 'CAPTURE';
  experience: ExperienceRecord;
  units: UnitRecord[];
  payer: PayerRecord | null;
  buyer: Buyer | null;
  partnerAttributionId: string | null;
  clientMetadataId: string | null;
  /** OAuth client that created the order. */
  clientId: string;
  createdAt: number;
  updatedAt: number;
  approvedAt: number | null;
  /** Why the order was voided (expired unapproved, or approval reversed). */
  voidReason: 'expired' | 'approval_reversed' | null;
  timer: { cancel(): void } | null;
}

export interface CaptureRecord {
  id: string;
  orderId: string;
  unitIndex: number;
  status: CaptureStatus;
  /** `status_details.reason` (ECHECK while pending, …). */
  statusReason: string | null;
  currency: string;
  amountMinor: bigint;
  paypalFeeMinor: bigint;
  platformFeeMinor: bigint | null;
  payeeMerchantId: string;
  payeeEmail: string;
  customId: string | null;
  invoiceId: string | null;
  refundedMinor: bigint;
  /** Amount of refunds still PENDING (reserved: not refundable again, not yet refunded). */
  pendingRefundMinor: bigint;
  /** Platform fee returned so far (pending refunds included) through refunds' `payment_instruction.platform_fees`. */
  refundedFeeMinor: bigint;
  refundIds: string[];
  disputeIds: string[];
  createdAt: number;
  updatedAt: number;
}

export interface RefundRecord {
  id: string;
  captureId: string;
  /** `reversal`: a lost dispute (PAYMENT.CAPTURE.REVERSED), not an API refund. */
  kind: 'refund' | 'reversal';
  status: RefundStatus;
  /** `status_details.reason` while PENDING (`ECHECK`). */
  statusReason: string | null;
  currency: string;
  amountMinor: bigint;
  paypalFeeMinor: bigint;
  platformFeeMinor: bigint | null;
  /** Sum of the capture's refunds up to and including this one. */
  totalRefundedMinor: bigint;
  invoiceId: string | null;
  customId: string | null;
  noteToPayer: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface MerchantRecord {
  merchantId: string;
  trackingId: string | null;
  email: string;
  emailConfirmed: boolean;
  paymentsReceivable: boolean;
  consent: 'granted' | 'revoked';
  /** Partner client the seller consented to. */
  partnerClientId: string;
  /** `rest_api_integration.third_party_details.features` granted to the partner. */
  features: string[];
  /** `products` asked for in the referral. */
  products: string[];
  legalName: string;
  createdAt: number;
}

export interface ReferralRecord {
  id: string;
  trackingId: string | null;
  /** The request body as sent (`referral_data`). */
  data: Record<string, unknown>;
  returnUrl: string | null;
  partnerClientId: string;
  createdAt: number;
  merchantId: string | null;
}

export type DisputeStatus =
  | 'OPEN'
  | 'WAITING_FOR_BUYER_RESPONSE'
  | 'WAITING_FOR_SELLER_RESPONSE'
  | 'UNDER_REVIEW'
  | 'RESOLVED'
  | 'OTHER';

export interface DisputeRecord {
  id: string;
  captureId: string;
  reason: string;
  status: DisputeStatus;
  stage: 'INQUIRY' | 'CHARGEBACK' | 'PRE_ARBITRATION' | 'ARBITRATION';
  currency: string;
  amountMinor: bigint;
  outcome: 'RESOLVED_BUYER_FAVOUR' | 'RESOLVED_SELLER_FAVOUR' | null;
  createdAt: number;
  updatedAt: number;
}

export interface WebhookRecord {
  id: string;
  url: string;
  /** Event type names; `*` subscribes to all. */
  eventTypes: string[];
  clientId: string;
  createdAt: number;
}

export interface EventRecord {
  id: string;
  type: string;
  /** The envelope as delivered (also what `GET /v1/notifications/webhooks-events/{id}` answers). */
  envelope: Record<string, unknown>;
  /** Merchant the event concerns (the payee), if any. */
  merchantId: string | null;
  createdAt: number;
  /** Searchable ids: order, capture, refund ids the event's resource names (`transaction_id` filter). */
  relatedIds: string[];
  /** webhook id → delivery state. */
  deliveries: Map<string, 'pending' | 'succeeded' | 'failed'>;
}
