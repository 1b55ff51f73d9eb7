/**
 * Square's error shape: `{errors: [{category, code, detail?, field?}]}` with an HTTP status
 * (https://developer.squareup.com/docs/build-basics/handling-errors). Categories and codes are Square's enums
 * (`ErrorCategory`, `ErrorCode` in api.json); the `detail` texts are the emulator's unless noted.
 */
export type ErrorCategory =
  | 'API_ERROR'
  | 'AUTHENTICATION_ERROR'
  | 'INVALID_REQUEST_ERROR'
  | 'RATE_LIMIT_ERROR'
  | 'PAYMENT_METHOD_ERROR'
  | 'REFUND_ERROR';

export interface SquareErrorEntry {
  category: ErrorCategory;
  code: string;
  detail?: string;
  field?: string;
}

export class SquareApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: SquareErrorEntry[],
  ) {
    super(errors.map((e) => `${e.code}: ${e.detail ?? ''}`).join('; '));
  }

  get code(): string {
    return this.errors[0]?.code ?? '';
  }

  body(): { errors: SquareErrorEntry[] } {
    return { errors: this.errors };
  }
}

function entry(category: ErrorCategory, code: string, detail?: string, field?: string): SquareErrorEntry {
  return {
    category,
    code,
    ...(detail !== undefined ? { detail } : {}),
    ...(field !== undefined ? { field } : {}),
  };
}

/** 400 INVALID_REQUEST_ERROR with `code`. */
export function badRequest(code: string, detail: string, field?: string): SquareApiError {
  return new SquareApiError(400, [entry('INVALID_REQUEST_ERROR', code, detail, field)]);
}

export function notFound(detail: string, field?: string): SquareApiError {
  return new SquareApiError(404, [entry('INVALID_REQUEST_ERROR', 'NOT_FOUND', detail, field)]);
}

/** Square's answer to a missing or malformed `Authorization` header (text as Square sends it). */
export const MALFORMED_AUTHORIZATION =
  'The `Authorization` http header of your request was malformed. The header value is expected to be of the format "Bearer TOKEN" (without quotation marks), where TOKEN is to be replaced with your access token (e.g. "Bearer ABC123def456GHI789jkl0"). For more information, see https://developer.squareup.com/docs/build-basics/access-tokens. If you are seeing this error message while using one of our officially supported SDKs, please report this to developers@squareup.com.';

export function unauthorized(
  detail = 'This request could not be authorized.',
  code = 'UNAUTHORIZED',
): SquareApiError {
  return new SquareApiError(401, [entry('AUTHENTICATION_ERROR', code, detail)]);
}

export function insufficientScopes(missing: readonly string[]): SquareApiError {
  return new SquareApiError(403, [
    entry(
      'AUTHENTICATION_ERROR',
      'INSUFFICIENT_SCOPES',
      `The merchant has not given your application sufficient permissions to do that. The app must request the ${missing.join(', ')} permission${missing.length > 1 ? 's' : ''}.`,
    ),
  ]);
}

export function forbidden(detail: string): SquareApiError {
  return new SquareApiError(403, [entry('AUTHENTICATION_ERROR', 'FORBIDDEN', detail)]);
}

/** A documented field, parameter or operation the emulator does not implement (400, so SDK retries do not repeat it). */
export function notEmulated(what: string, field?: string): SquareApiError {
  return badRequest(
    'NOT_IMPLEMENTED',
    `${what} is documented by Square but not emulated by the Settle Square emulator.`,
    field,
  );
}

export function apiError(status: number): SquareApiError {
  const code =
    status === 502
      ? 'BAD_GATEWAY'
      : status === 503
        ? 'SERVICE_UNAVAILABLE'
        : status === 504
          ? 'GATEWAY_TIMEOUT'
          : 'INTERNAL_SERVER_ERROR';
  return new SquareApiError(status, [entry('API_ERROR', code, 'An internal error has occurred.')]);
}

export function rateLimited(): SquareApiError {
  return new SquareApiError(429, [entry('RATE_LIMIT_ERROR', 'RATE_LIMITED', 'Rate limit exceeded.')]);
}
