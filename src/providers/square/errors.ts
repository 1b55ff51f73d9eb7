import { SquareError, SquareTimeoutError } from 'square';
import { SettleError, type ErrorCode } from '../../core/errors.js';

/**
 * The one mapping from Square failures (the SDK's `SquareError` / `SquareTimeoutError`) to SettleError. Kept: the
 * HTTP status, Square's error codes, category and the first detail (scrubbed). Never kept: the request, headers or
 * body (the SDK's error carries the raw response; it may echo request fields), or any token.
 */

/** Whether the failure is Square's answer to a call made with a seller's token, or the application's own. */
export type CallerKind = 'seller' | 'application';

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** Square's error codes that say what Settle did wrong in terms a seller or operator can act on. */
const CODE_MAP: Readonly<Record<string, ErrorCode>> = {
  REFUND_AMOUNT_INVALID: 'refund_exceeds_payment',
  INVALID_FEES: 'fee_not_supported',
  CURRENCY_MISMATCH: 'currency_unsupported',
  UNSUPPORTED_CURRENCY: 'currency_unsupported',
};

/** Anything shaped like a Square credential (EAAA… access tokens, EQAA… refresh tokens, sq0… secrets, Bearer/Client). */
const SECRETISH =
  /\b(Bearer|Client)\s+[A-Za-z0-9._~+/=-]+|\b(EAAA|EQAA)[A-Za-z0-9_-]{8,}|\b(sandbox-)?sq0[a-z]{3}-[A-Za-z0-9_-]+/g;

/** Removes anything that looks like a credential from a message, and caps its length. */
export function scrubSquareMessage(message: string): string {
  return message.replace(SECRETISH, '[redacted]').slice(0, 500);
}

/** The HTTP status of a Square answer, or null when there was none (network, timeout) or it is not Square's. */
export function squareStatus(err: unknown): number | null {
  return err instanceof SquareError && typeof err.statusCode === 'number' ? err.statusCode : null;
}

/** Every Square error code of a failure (`errors[].code`), SDK error or an already mapped SettleError. */
export function squareCodes(err: unknown): string[] {
  if (err instanceof SquareError) return err.errors.map((e) => String(e.code));
  if (err instanceof SettleError) {
    const codes = err.details?.['squareCodes'];
    return Array.isArray(codes) ? codes.filter((c): c is string => typeof c === 'string') : [];
  }
  return [];
}

/** The HTTP status recorded on a mapped SettleError (or of a raw SquareError). */
export function failureStatus(err: unknown): number | null {
  if (err instanceof SettleError) {
    const s = err.details?.['statusCode'];
    return typeof s === 'number' ? s : null;
  }
  return squareStatus(err);
}

/** A failure that got no answer from Square: the call's outcome is unknown. */
function isNetworkFailure(err: unknown): boolean {
  if (err instanceof SquareTimeoutError) return true;
  if (err instanceof SquareError) return err.statusCode === undefined;
  return (
    err instanceof Error &&
    (err.name === 'AbortError' || /fetch failed|timeout|ECONN|EPIPE|socket hang up/i.test(err.message))
  );
}

/**
 * - a SettleError passes through;
 * - no answer (network, timeout), 408/429/5xx, 409 CONFLICT (same key in flight) → `provider_unavailable` (retry
 *   later with the same idempotency key);
 * - 401 on a seller's token → `provider_account_revoked` (the caller refreshes once before concluding that);
 *   on the application's → `provider_error` naming the variables to check;
 * - 403 INSUFFICIENT_SCOPES on a seller's token → `provider_scopes_missing`;
 * - a code Settle knows (REFUND_AMOUNT_INVALID, INVALID_FEES, CURRENCY_MISMATCH) → its SettleError;
 * - other 4xx → `provider_error` with Square's code and detail;
 * - anything else (a bug, not an outage) is rethrown as is.
 */
export function toSettleError(err: unknown, operation: string, caller: CallerKind = 'seller'): SettleError {
  if (err instanceof SettleError) return err;
  if (isNetworkFailure(err)) {
    return new SettleError(
      'provider_unavailable',
      `Square did not answer ${operation} (${err instanceof Error ? scrubSquareMessage(err.message) : 'no response'}); retry later`,
      { details: { operation } },
    );
  }
  if (!(err instanceof SquareError)) throw err;
  const status = err.statusCode ?? 0;
  const codes = squareCodes(err);
  const first = err.errors[0];
  const detail = first?.detail ? scrubSquareMessage(first.detail) : '';
  const details: Record<string, unknown> = {
    operation,
    statusCode: status,
    squareCodes: codes,
    ...(first?.category !== undefined ? { squareCategory: String(first.category) } : {}),
    ...(first?.field !== undefined && first.field !== null ? { squareField: first.field } : {}),
  };
  const ref = `HTTP ${status}${codes.length > 0 ? ` ${codes.join(', ')}` : ''}`;
  const text = detail === '' ? '' : `: ${detail}`;
  if (RETRY_STATUSES.has(status))
    return new SettleError(
      'provider_unavailable',
      `Square is unavailable for ${operation} (${ref}); retry later`,
      {
        details,
      },
    );
  if (status === 409 && codes.includes('CONFLICT'))
    // The same idempotency key is still being processed (a concurrent retry): the same call later replays it.
    return new SettleError(
      'provider_unavailable',
      `Square is still processing ${operation} with the same idempotency key (${ref}); retry later`,
      { details },
    );
  if (status === 401) {
    return caller === 'seller'
      ? new SettleError(
          'provider_account_revoked',
          'The seller is no longer connected to Square (access revoked); they must reconnect.',
          { details },
        )
      : new SettleError(
          'provider_error',
          `Square refused the application's credentials for ${operation} (${ref})${text}. Check SQUARE_APPLICATION_ID, SQUARE_APPLICATION_SECRET, SQUARE_ACCESS_TOKEN and SQUARE_ENVIRONMENT.`,
          { details },
        );
  }
  if (status === 403 && codes.includes('INSUFFICIENT_SCOPES') && caller === 'seller')
    return new SettleError(
      'provider_scopes_missing',
      `The seller's Square connection lacks a permission Settle needs for ${operation}${text}; ask them to connect again and allow every permission.`,
      { details },
    );
  const mapped = codes.map((c) => CODE_MAP[c]).find((c) => c !== undefined);
  return new SettleError(mapped ?? 'provider_error', `Square rejected ${operation} (${ref})${text}`, {
    details,
  });
}

/** Runs one Square call and maps its failure with `toSettleError`. */
export async function squareCall<T>(
  operation: string,
  fn: () => Promise<T>,
  caller: CallerKind = 'seller',
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toSettleError(err, operation, caller);
  }
}
