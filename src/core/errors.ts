/**
 * One error type with a stable code. HTTP handlers map `httpStatus`; messages say how to fix the problem.
 * 5xx errors never leave the process with their message: the HTTP layer answers a generic body.
 */
export type ErrorCode =
  | 'config_invalid'
  | 'validation_failed'
  | 'not_found'
  | 'unauthorized'
  | 'seller_not_ready'
  | 'provider_not_configured'
  | 'provider_not_available'
  | 'provider_account_revoked'
  | 'provider_scopes_missing'
  | 'fee_not_supported'
  | 'oauth_state_invalid'
  | 'slot_unavailable'
  | 'currency_unsupported'
  | 'money_invalid'
  | 'amount_not_supported'
  | 'promotion_code_invalid'
  | 'idempotency_key_invalid'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_flight'
  | 'refund_exceeds_payment'
  | 'refund_refused'
  | 'order_not_refundable'
  | 'checkout_not_open'
  | 'review_not_open'
  | 'webhook_in_progress'
  | 'webhook_signature_invalid'
  | 'webhook_livemode_mismatch'
  | 'webhook_payload_invalid'
  | 'plan_not_available'
  | 'subscriptions_not_supported'
  | 'subscription_exists'
  | 'subscription_not_active'
  | 'subscription_token_invalid'
  | 'allowance_exhausted'
  | 'booking_not_cancelable'
  | 'provider_error'
  | 'provider_unavailable'
  | 'internal_error';

const STATUS: Record<ErrorCode, number> = {
  config_invalid: 500,
  validation_failed: 400,
  not_found: 404,
  unauthorized: 401,
  seller_not_ready: 409,
  // The platform has no credentials for that provider.
  provider_not_configured: 409,
  // The seller is not connected to (or not ready on) the provider the buyer chose.
  provider_not_available: 409,
  // The seller withdrew the platform's access at the provider (Square OAuth revoked): reconnect to sell there.
  provider_account_revoked: 409,
  // The seller's OAuth grant lacks a permission Settle needs (e.g. Square PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS).
  provider_scopes_missing: 409,
  // A fee rule the provider cannot apply (Square caps the app fee at 90 % of the payment).
  fee_not_supported: 409,
  // The OAuth return does not carry a live, unused state issued for this connection.
  oauth_state_invalid: 400,
  slot_unavailable: 409,
  currency_unsupported: 400,
  money_invalid: 400,
  amount_not_supported: 400,
  promotion_code_invalid: 400,
  idempotency_key_invalid: 400,
  idempotency_key_reused: 422,
  idempotency_key_in_flight: 409,
  refund_exceeds_payment: 409,
  // The provider refused the refund (an open dispute, a payment it cannot refund): recorded failed, reason given.
  refund_refused: 422,
  order_not_refundable: 409,
  checkout_not_open: 409,
  review_not_open: 409,
  // A concurrent delivery of the same event is still being processed: not acknowledged, so the provider retries.
  webhook_in_progress: 503,
  webhook_signature_invalid: 400,
  webhook_livemode_mismatch: 400,
  webhook_payload_invalid: 400,
  // The plan is archived (or its seller cannot sell it any more): new subscriptions are refused.
  plan_not_available: 409,
  // The provider (or this seller's setup there) cannot bill subscriptions: a fixed fee rule, or no billing support.
  subscriptions_not_supported: 409,
  // The buyer already has a live subscription to this plan.
  subscription_exists: 409,
  // The subscription does not give access now (canceled, unpaid, past its grace period…), or cannot do that action.
  subscription_not_active: 409,
  // The buyer's manage token is missing or does not belong to this subscription.
  subscription_token_invalid: 403,
  // No bookings left in the membership's current period.
  allowance_exhausted: 409,
  booking_not_cancelable: 409,
  provider_error: 502,
  provider_unavailable: 503,
  internal_error: 500,
};

export class SettleError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SettleError';
    this.code = code;
    this.httpStatus = STATUS[code];
    this.details = options?.details;
  }
}

export function isSettleError(e: unknown): e is SettleError {
  return e instanceof SettleError;
}
