import { createHmac, timingSafeEqual } from 'node:crypto';
import { SettleError } from '../../core/errors.js';

/** The header carrying Square's HMAC-SHA256 signature (the legacy `x-square-signature` is SHA-1 and not used). */
export const SQUARE_SIGNATURE_HEADER = 'x-square-hmacsha256-signature';

/**
 * base64(HMAC-SHA256(signature key, notification URL + raw body)), as Square signs deliveries. The URL is the one
 * the subscription was made with (SQUARE_WEBHOOK_URL), never one derived from the request: byte for byte, so a
 * trailing slash or a proxy's host changes it. The body is taken as the bytes received.
 */
export function squareSignature(signatureKey: string, notificationUrl: string, rawBody: Buffer): string {
  return createHmac('sha256', signatureKey).update(notificationUrl, 'utf8').update(rawBody).digest('base64');
}

function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== name) continue;
    if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined;
    return v;
  }
  return undefined;
}

/**
 * The signature keys SQUARE_WEBHOOK_SIGNATURE_KEY names: one, or during a key rotation the new and the old one
 * separated by commas (Square's "regenerate key" takes effect at once; both are accepted until the old one is removed).
 */
export function signatureKeys(configured: string): string[] {
  return configured
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
}

/**
 * Verifies a delivery before anything of it is parsed; throws `webhook_signature_invalid` otherwise. The comparison
 * is constant-time over equal-length buffers (the SDK's WebhooksHelper compares with `===`), against every
 * configured key.
 */
export function verifySquareSignature(input: {
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
  signatureKey: string;
  notificationUrl: string;
}): void {
  const given = headerValue(input.headers, SQUARE_SIGNATURE_HEADER);
  if (given === undefined || given === '')
    throw new SettleError('webhook_signature_invalid', `Missing ${SQUARE_SIGNATURE_HEADER} header`);
  const actual = Buffer.from(given.trim(), 'utf8');
  const matches = (key: string): boolean => {
    const expected = Buffer.from(squareSignature(key, input.notificationUrl, input.rawBody), 'utf8');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  };
  // Every key is tried (no early exit), so the time taken does not say which key matched.
  const results = signatureKeys(input.signatureKey).map(matches);
  if (!results.includes(true))
    throw new SettleError(
      'webhook_signature_invalid',
      'Square webhook signature does not match (check SQUARE_WEBHOOK_SIGNATURE_KEY and that SQUARE_WEBHOOK_URL is the subscription URL exactly)',
    );
}
