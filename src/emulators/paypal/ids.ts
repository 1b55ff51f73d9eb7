import { randomBytes, randomUUID } from 'node:crypto';
import { BASE62, UPPER_ALNUM, randomString } from '../kit/store.js';

/** PayPal's id shapes (as its API reference examples show them). */

/** Payer and merchant account ids: 13 characters, spec pattern `^[2-9A-HJ-NP-Z]{13}$`. */
const ACCOUNT_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

export const newOrderId = (): string => randomString(17, UPPER_ALNUM);
export const newCaptureId = (): string => randomString(17, UPPER_ALNUM);
export const newRefundId = (): string => randomString(17, UPPER_ALNUM);
export const newWebhookId = (): string => randomString(17, UPPER_ALNUM);
export const newAccountId = (): string => randomString(13, ACCOUNT_ALPHABET);
export const newEventId = (): string =>
  `WH-${randomString(17, UPPER_ALNUM)}-${randomString(17, UPPER_ALNUM)}`;
export const newTransmissionId = (): string => randomUUID();
/** `debug_id`: 13 hex digits. */
export const newDebugId = (): string => randomBytes(7).toString('hex').slice(0, 13);
/** Access tokens look like `A21AA…` followed by a long base62-ish string. */
export const newAccessToken = (): string => `A21AA${randomString(92, `${BASE62}-_`)}`;
export const newReferralId = (): string => randomBytes(54).toString('base64url');
export const newDisputeId = (): string => `PP-D-${randomString(8, '0123456789')}`;
export const newAppId = (): string => `APP-${randomString(17, UPPER_ALNUM)}`;

export const ACCOUNT_ID_PATTERN = /^[2-9A-HJ-NP-Z]{13}$/;

/** PayPal's timestamps: ISO 8601 UTC without milliseconds (`2024-02-01T10:00:00Z`). */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
