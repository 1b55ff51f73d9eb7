import { squareConfigured, type Config } from '../../config/config.js';
import type { GrantStore } from '../../core/provider.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { SquareProvider } from './provider.js';

export { SquareProvider, type SquareProviderOptions } from './provider.js';
export {
  SquareOAuth,
  SQUARE_REQUIRED_SCOPES,
  pickLocation,
  locationCanCharge,
  missingScopes,
} from './oauth.js';
export { SellerTokens, DEFAULT_REFRESH_WINDOW_MS } from './tokens.js';
export {
  SquareClients,
  squareConnectOrigin,
  SQUARE_CONNECT_ORIGINS,
  SQUARE_TIMEOUT_SECONDS,
} from './client.js';
export { toSettleError, squareCall, scrubSquareMessage, squareCodes, type CallerKind } from './errors.js';
export { toSquareMoney, fromSquareMoney, optionalSquareAmount, safeUnits } from './amounts.js';
export { SETTLE_PROMOTION_PREFIX, neutralReturnUrl } from '../../core/hosted-checkout.js';
export { paymentLinkRequest, checkoutState, assertSquareCharge, squareIdempotencyKey } from './checkout.js';
export {
  isSquareEvent,
  parseSquareEvent,
  paymentOutcome,
  refundStatus,
  type SquareWireEvent,
  type ParsedSquareEvent,
} from './normalize.js';
export {
  verifySquareSignature,
  squareSignature,
  signatureKeys,
  SQUARE_SIGNATURE_HEADER,
} from './webhook-verify.js';
export {
  SQUARE_WEBHOOK_PATH,
  SQUARE_EVENT_TYPES,
  registerSquareWebhook,
  enableSquareEvents,
  listSquareSubscriptions,
  missingEventTypes,
} from './setup.js';
export { runSquareDoctor, type SquareDoctorInput } from './doctor.js';

export interface CreateSquareProviderOptions {
  /** Where sellers' OAuth grants are kept (core: `grantStore(db, config.sealingKeys, 'square')`). */
  grants: GrantStore;
  logger?: Logger;
  now?: () => Date;
  /** Demo mode: the key of the subscription registered at the emulator, instead of SQUARE_WEBHOOK_SIGNATURE_KEY. */
  webhookSignatureKeyOverride?: string;
  /** Demo mode / tests: the notification URL, instead of SQUARE_WEBHOOK_URL. */
  webhookUrlOverride?: string;
}

/**
 * Builds the Square provider from configuration (`config.square` with the application's id and secret, the
 * webhook's signature key and URL; demo mode sets them for its emulator). Throws when Square is not configured.
 */
export function createSquareProvider(
  config: Config,
  opts: CreateSquareProviderOptions,
): { provider: SquareProvider } {
  const s = config.square;
  if (!squareConfigured(s)) throw new Error('createSquareProvider: Square is not configured');
  const webhookSignatureKey = opts.webhookSignatureKeyOverride ?? s.webhookSignatureKey;
  const webhookUrl = opts.webhookUrlOverride ?? s.webhookUrl;
  if (webhookSignatureKey === null || webhookSignatureKey === '')
    throw new Error('createSquareProvider: SQUARE_WEBHOOK_SIGNATURE_KEY is not set');
  if (webhookUrl === null || webhookUrl === '')
    throw new Error('createSquareProvider: SQUARE_WEBHOOK_URL is not set');
  const provider = new SquareProvider({
    config: s,
    grants: opts.grants,
    checkoutLifetimeMs: config.holdMinutes * 60_000,
    logger: opts.logger ?? silentLogger,
    webhookSignatureKey,
    webhookUrl,
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  });
  return { provider };
}
