import { ApiError } from '@paypal/paypal-server-sdk';
import { isAxiosError } from 'axios';
import { SettleError } from '../../core/errors.js';

/**
 * The one mapping from PayPal failures (the SDK's `ApiError`/`CustomError`, Settle's own REST calls, network
 * errors) to SettleError. What is kept: the HTTP status, PayPal's error `name`, the first `details[].issue` and
 * the `debug_id` PayPal support asks for. What never is: the request (the SDK's `ApiError.request` holds the
 * `Authorization` header and the body), the response body beyond those fields, or the credentials.
 */

/** PayPal's error body (`{name, message, debug_id, details[{issue, description}]}`); OAuth errors use `error`. */
export interface PayPalErrorBody {
  name?: string;
  message?: string;
  debug_id?: string;
  details?: { issue?: string; description?: string; field?: string }[];
  error?: string;
  error_description?: string;
}

/** A non-2xx answer to one of Settle's own REST calls (endpoints the SDK has no controller for). */
export class PayPalHttpError extends Error {
  readonly statusCode: number;
  readonly result: PayPalErrorBody | undefined;
  constructor(statusCode: number, result: PayPalErrorBody | undefined, operation: string) {
    super(`PayPal answered HTTP ${statusCode} to ${operation}`);
    this.name = 'PayPalHttpError';
    this.statusCode = statusCode;
    this.result = result;
  }
}

/** HTTP statuses worth a retry (with the same PayPal-Request-Id): timeouts, rate limits, 5xx, a call in progress. */
const RETRY_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504]);

function asBody(v: unknown): PayPalErrorBody | undefined {
  return typeof v === 'object' && v !== null ? (v as PayPalErrorBody) : undefined;
}

/** Status and body of a PayPal HTTP error (SDK or Settle's REST client), or null when it is not one. */
export function paypalHttpFailure(
  err: unknown,
): { status: number; body: PayPalErrorBody | undefined } | null {
  if (err instanceof PayPalHttpError) return { status: err.statusCode, body: err.result };
  if (err instanceof ApiError) return { status: err.statusCode, body: asBody(err.result) };
  return null;
}

/** The first `details[].issue` (e.g. ORDER_ALREADY_CAPTURED), else the error `name`, else null. */
export function paypalIssue(err: unknown): string | null {
  const f = paypalHttpFailure(err);
  if (f === null) return null;
  return f.body?.details?.find((d) => typeof d.issue === 'string')?.issue ?? f.body?.name ?? null;
}

/** Every `details[].issue` of a PayPal error. */
export function paypalIssues(err: unknown): string[] {
  const f = paypalHttpFailure(err);
  return (f?.body?.details ?? []).flatMap((d) => (typeof d.issue === 'string' ? [d.issue] : []));
}

/** A connection failure or timeout: no answer from PayPal, so the outcome of the call is unknown. */
export function isNetworkFailure(err: unknown): boolean {
  if (isAxiosError(err)) return err.response === undefined;
  if (
    err instanceof Error &&
    (err.name === 'AbortError' || /timeout|ECONN|EPIPE|socket hang up/i.test(err.message))
  )
    return true;
  return false;
}

/** Whether the same call (same PayPal-Request-Id) may be sent again. */
export function isRetryable(err: unknown): boolean {
  if (isNetworkFailure(err)) return true;
  const f = paypalHttpFailure(err);
  return f !== null && RETRY_STATUSES.has(f.status);
}

/** Caller-side mistakes PayPal reports as business errors: refused as invalid input, not as an outage. */
const VALIDATION_ISSUES = new Set([
  'DECIMAL_PRECISION',
  'DECIMALS_NOT_SUPPORTED',
  'CURRENCY_NOT_SUPPORTED',
  'INVALID_CURRENCY_CODE',
  'AMOUNT_MISMATCH',
  'ITEM_TOTAL_MISMATCH',
  'PLATFORM_FEE_EXCEEDED',
  'CANNOT_BE_ZERO_OR_NEGATIVE',
  'MAX_VALUE_EXCEEDED',
]);

const SECRETISH = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

/** Removes anything that looks like a credential from a message. */
export function scrubPayPalMessage(message: string): string {
  return message.replace(SECRETISH, '$1 [redacted]').slice(0, 500);
}

/**
 * - a SettleError passes through;
 * - no answer (connection, timeout), 408/409/429/5xx → `provider_unavailable` (retry later, same request id);
 * - a PayPal error naming a caller-side input problem (decimal precision, currency, amounts) → `validation_failed`
 *   (except for refunds, whose refusal is final: `provider_error`, recorded as failed);
 * - other 4xx → `provider_error` with PayPal's name, issue and debug_id;
 * - anything else (a bug, not an outage) is rethrown as is.
 */
export function toSettleError(err: unknown, operation: string): SettleError {
  if (err instanceof SettleError) return err;
  if (isNetworkFailure(err)) {
    return new SettleError(
      'provider_unavailable',
      `PayPal did not answer ${operation} (${err instanceof Error ? scrubPayPalMessage(err.message) : 'no response'}); retry later`,
      { details: { operation } },
    );
  }
  const f = paypalHttpFailure(err);
  if (f === null) throw err;
  const issue = paypalIssue(err);
  const debugId = f.body?.debug_id;
  const details: Record<string, unknown> = {
    operation,
    statusCode: f.status,
    ...(f.body?.name !== undefined ? { paypalName: f.body.name } : {}),
    ...(issue !== null ? { paypalIssue: issue } : {}),
    paypalIssues: paypalIssues(err),
    ...(debugId !== undefined ? { debugId } : {}),
  };
  const ref = `HTTP ${f.status}${issue !== null ? ` ${issue}` : ''}${debugId !== undefined ? `, debug_id ${debugId}` : ''}`;
  if (RETRY_STATUSES.has(f.status)) {
    return new SettleError(
      'provider_unavailable',
      `PayPal is unavailable for ${operation} (${ref}); retry later`,
      {
        details,
      },
    );
  }
  const description =
    f.body?.details?.find((d) => d.issue === issue)?.description ??
    f.body?.message ??
    f.body?.error_description ??
    f.body?.error ??
    '';
  const text = description === '' ? '' : `: ${scrubPayPalMessage(description)}`;
  if (f.status === 401 || f.body?.error === 'invalid_client') {
    return new SettleError(
      'provider_error',
      `PayPal refused the credentials for ${operation} (${ref})${text}. Check PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_MODE.`,
      { details },
    );
  }
  const validation = paypalIssues(err).some((i) => VALIDATION_ISSUES.has(i)) && !operation.includes('refund');
  return new SettleError(
    validation ? 'validation_failed' : 'provider_error',
    `PayPal rejected ${operation} (${ref})${text}`,
    { details },
  );
}

/** Runs a PayPal call once and maps its failure with `toSettleError`. */
export async function paypalCall<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toSettleError(err, operation);
  }
}

/** The HTTP status and PayPal issues a mapped error carries (from toSettleError's details). */
export function failureOf(err: unknown): { status: number | null; issues: string[] } {
  if (!(err instanceof SettleError)) return { status: null, issues: [] };
  const status = err.details?.['statusCode'];
  const issues = err.details?.['paypalIssues'];
  return {
    status: typeof status === 'number' ? status : null,
    issues: Array.isArray(issues) ? issues.filter((i): i is string => typeof i === 'string') : [],
  };
}
