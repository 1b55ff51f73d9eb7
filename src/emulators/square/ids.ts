import { randomBytes, randomUUID } from 'node:crypto';
import { BASE62, UPPER_ALNUM, randomString } from '../kit/store.js';

/**
 * Square-looking identifiers (formats observed in Square's docs and sandbox answers; lengths approximate):
 * application ids `sandbox-sq0idb-…`, secrets `sandbox-sq0csb-…`, authorization codes `sandbox-sq0cgb-…`, access
 * tokens `EAAA…`, refresh tokens `EQAA…`, 13-character merchant and location ids, 29-character order and payment
 * ids, refund ids `<payment id>_<suffix>`, 16-character payment link ids, `wbhk_…` subscription ids, UUID event ids.
 */
const B64URL = `${BASE62}-_`;

export const newApplicationId = (): string => `sandbox-sq0idb-${randomString(22, B64URL)}`;
export const newApplicationSecret = (): string => `sandbox-sq0csb-${randomString(43, B64URL)}`;
export const newAuthorizationCode = (): string => `sandbox-sq0cgb-${randomString(22, B64URL)}`;
export const newAccessToken = (): string => `EAAA${randomString(60, B64URL)}`;
export const newRefreshToken = (): string => `EQAA${randomString(60, B64URL)}`;
export const newMerchantId = (): string => `ML${randomString(11, UPPER_ALNUM)}`;
export const newLocationId = (): string => `L${randomString(12, UPPER_ALNUM)}`;
export const newOrderId = (): string => `${randomString(27)}ZY`;
export const newPaymentId = (): string => `${randomString(26)}eZY`;
export const newRefundId = (paymentId: string): string => `${paymentId}_${randomString(43)}`;
export const newPaymentLinkId = (): string => randomString(16, UPPER_ALNUM);
export const newShortCode = (): string => randomString(8);
export const newDisputeId = (): string => randomString(21);
export const newLineItemUid = (): string => randomString(21);
export const newSubscriptionId = (): string => `wbhk_${randomBytes(16).toString('hex')}`;
export const newSignatureKey = (): string => randomBytes(16).toString('base64url');
export const newEventId = (): string => randomUUID();
export const newVersionToken = (): string => randomString(45);
export const newFingerprint = (): string => `sq-1-${randomString(66, B64URL)}`;
export const newRequestId = (): string => randomUUID();
