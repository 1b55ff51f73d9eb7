import { OPERATIONS } from './spec/operations.generated.js';

/**
 * PayPal's error shapes. Three families answer differently, as PayPal's do:
 *
 * - `v2` (Orders v2, Payments v2, Partner Referrals v2, Disputes): `{name, message, debug_id, details[{field, value,
 *   location, issue, description}], links[{href, rel: 'information_link', method}]}` (spec `error_400`, `error_422`, …).
 * - `v1` (Notifications/webhooks v1, Partner merchant integrations v1): `{name, message, debug_id, information_link,
 *   details[{field, issue}]}` (spec `error`, as the webhooks API answers, e.g. `VALIDATION_ERROR`).
 * - `oauth` (`/v1/oauth2/token` and refused bearer tokens): `{error, error_description}`.
 */
export interface ErrorDetail {
  field?: string;
  value?: string;
  location?: 'body' | 'path' | 'query' | 'header';
  issue: string;
  description?: string;
}

export type ErrorStyle = 'v2' | 'v1' | 'oauth';

/** PayPal's name and message per status for v2 APIs (spec `error_400` … `error_500`). */
const V2_NAMES: Readonly<Record<number, readonly [string, string]>> = {
  400: ['INVALID_REQUEST', 'Request is not well-formed, syntactically incorrect, or violates schema.'],
  401: [
    'AUTHENTICATION_FAILURE',
    'Authentication failed due to missing authorization header, or invalid authentication credentials.',
  ],
  403: ['NOT_AUTHORIZED', 'Authorization failed due to insufficient permissions.'],
  404: ['RESOURCE_NOT_FOUND', 'The specified resource does not exist.'],
  409: ['RESOURCE_CONFLICT', 'The server has detected a conflict while processing this request.'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'The server does not support the request payload’s media type.'],
  422: [
    'UNPROCESSABLE_ENTITY',
    'The requested action could not be performed, semantically incorrect, or failed business validation.',
  ],
  429: ['RATE_LIMIT_REACHED', 'Too many requests. Blocked due to rate limiting.'],
  500: ['INTERNAL_SERVER_ERROR', 'An internal server error has occurred.'],
  503: ['SERVICE_UNAVAILABLE', 'Service Unavailable.'],
};

/** Descriptions for issues an operation's catalog does not list (wording of the Orders v2 catalog). */
const GENERIC_ISSUES: Readonly<Record<string, string>> = {
  MISSING_REQUIRED_PARAMETER: 'A required field / parameter is missing.',
  INVALID_PARAMETER_SYNTAX: 'The value of a field does not conform to the expected format.',
  INVALID_PARAMETER_VALUE: 'A parameter value is not valid.',
  INVALID_STRING_LENGTH: 'The value of a field is either too short or too long.',
  INVALID_ARRAY_MAX_ITEMS: 'The number of items in an array parameter is too large.',
  INVALID_ARRAY_MIN_ITEMS: 'The number of items in an array parameter is too small.',
  MALFORMED_REQUEST_JSON: 'The request JSON is not well formed.',
  NOT_SUPPORTED: 'This field is not currently supported.',
  INVALID_RESOURCE_ID: 'Specified resource ID does not exist. Please check the resource ID and try again.',
  PERMISSION_DENIED: 'You do not have permission to access or perform operations on this resource.',
};

/** PayPal's description of `issue` for an operation (its catalog for `status`, then any status, then generic). */
export function describeIssue(operation: string | null, status: number, issue: string): string {
  const op = operation ? OPERATIONS[operation] : undefined;
  const own = op?.errors[String(status)]?.issues[issue];
  if (own) return own;
  if (op) for (const entry of Object.values(op.errors)) if (entry.issues[issue]) return entry.issues[issue];
  for (const other of Object.values(OPERATIONS))
    for (const entry of Object.values(other.errors)) if (entry.issues[issue]) return entry.issues[issue];
  return GENERIC_ISSUES[issue] ?? issue;
}

/** Where PayPal's reference documents an API's errors, for `information_link` links. */
function docsFor(operation: string | null): string {
  if (!operation) return 'https://developer.paypal.com/api/rest/reference/orders/v2/errors/';
  if (operation.startsWith('orders.')) return 'https://developer.paypal.com/docs/api/orders/v2/';
  if (operation.startsWith('captures.') || operation.startsWith('refunds.'))
    return 'https://developer.paypal.com/docs/api/payments/v2/';
  if (operation.startsWith('partner-referrals.'))
    return 'https://developer.paypal.com/docs/api/partner-referrals/v2/';
  if (operation.startsWith('disputes.')) return 'https://developer.paypal.com/docs/api/customer-disputes/v1/';
  if (operation.startsWith('merchant-integration.'))
    return 'https://developer.paypal.com/docs/api/partner-referrals/v1/';
  return 'https://developer.paypal.com/docs/api/webhooks/v1/';
}

export class PayPalApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
    readonly details: ErrorDetail[],
    readonly style: ErrorStyle,
    readonly operation: string | null,
    /** For `oauth` errors: the `error` code. */
    readonly oauthError?: string,
  ) {
    super(message);
    this.name = 'PayPalApiError';
  }

  /** The response body, with the request's `debug_id`. */
  body(debugId: string): Record<string, unknown> {
    if (this.style === 'oauth')
      return { error: this.oauthError ?? this.errorName, error_description: this.message };
    if (this.style === 'v1') {
      const out: Record<string, unknown> = {
        name: this.errorName,
        message: this.message,
        debug_id: debugId,
        information_link: `${docsFor(this.operation)}#errors`,
      };
      if (this.details.length > 0)
        out['details'] = this.details.map((d) => ({
          field: d.field ?? '',
          issue: d.description ?? d.issue,
        }));
      return out;
    }
    const issue = this.details[0]?.issue ?? this.errorName;
    const out: Record<string, unknown> = { name: this.errorName, message: this.message, debug_id: debugId };
    if (this.details.length > 0) out['details'] = this.details;
    out['links'] = [
      { href: `${docsFor(this.operation)}#error-${issue}`, rel: 'information_link', method: 'GET' },
    ];
    return out;
  }
}

/** A v2 error with PayPal's name and message for `status` and one or more issues. */
export function v2Error(
  status: number,
  operation: string | null,
  details: Array<Omit<ErrorDetail, 'description'> & { description?: string }>,
): PayPalApiError {
  const [name, message] = V2_NAMES[status] ?? [
    'INTERNAL_SERVER_ERROR',
    'An internal server error has occurred.',
  ];
  return new PayPalApiError(
    status,
    name,
    message,
    details.map((d) => ({ ...d, description: d.description ?? describeIssue(operation, status, d.issue) })),
    'v2',
    operation,
  );
}

/** 422 UNPROCESSABLE_ENTITY with one issue (`field` a JSON pointer, PayPal's `@reference_id=='…'` form for units). */
export function unprocessable(
  operation: string,
  issue: string,
  opts: { field?: string; value?: string; location?: ErrorDetail['location']; description?: string } = {},
): PayPalApiError {
  return v2Error(422, operation, [{ ...opts, issue }]);
}

/** 404 RESOURCE_NOT_FOUND / INVALID_RESOURCE_ID for a path id. */
export function notFound(operation: string, field: string, value: string): PayPalApiError {
  return v2Error(404, operation, [{ field, value, location: 'path', issue: 'INVALID_RESOURCE_ID' }]);
}

/** A v1 (webhooks, merchant integrations) error. */
export function v1Error(
  status: number,
  name: string,
  message: string,
  operation: string,
  details: Array<{ field: string; issue: string }> = [],
): PayPalApiError {
  return new PayPalApiError(
    status,
    name,
    message,
    details.map((d) => ({ field: d.field, issue: d.issue, description: d.issue })),
    'v1',
    operation,
  );
}

export function oauthError(status: number, error: string, description: string): PayPalApiError {
  return new PayPalApiError(status, error, description, [], 'oauth', null, error);
}
