import { SquareClient } from 'square';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { ClockState } from '../kit/clock.js';
import type { FaultConfig } from '../kit/faults.js';
import type { RequestRecord } from '../kit/server.js';
import { WebhookSender, type DeliveryRecord, type RetryPolicy } from '../kit/webhooks.js';
import { emulatorRuntime } from '../kit/runtime.js';
import { COUNTRIES, MARKETPLACE_SCOPES, SquareEngine } from './engine.js';
import { newAccessToken, newApplicationId, newApplicationSecret } from './ids.js';
import { CARD_CHOICES, type CardChoice, type Subscription } from './model.js';
import { disputeJson, refundJson } from './present.js';
import { buildSquareServer, type ApiCallRecord } from './server.js';
import { SquareEvents } from './webhooks.js';

export type { FaultConfig, ApiFaultRule, EndpointFailureRule, WebhookDropRule } from '../kit/faults.js';
export type { DeliveryRecord, RetryPolicy } from '../kit/webhooks.js';
export type { RequestRecord } from '../kit/server.js';
export type { ApiCallRecord } from './server.js';
export type { CardChoice } from './model.js';
export { MARKETPLACE_SCOPES, DEFAULT_SCOPES } from './engine.js';
export { squareSignature } from './webhooks.js';

export const DEFAULT_SQUARE_EMULATOR_PORT = 12113;

/** The Square-Version the pinned SDK (square@46.0.0) sends; the default `api_version` of subscriptions. */
export const SDK_SQUARE_VERSION = '2026-09-16';

/**
 * Square retries a failed delivery for about 24 hours (https://developer.squareup.com/docs/webhooks/troubleshooting;
 * another version of the page says 72 h). 13 attempts, the delay doubling from 1 min, capped at 4 h: ≈ 24 h.
 */
export const SQUARE_WEBHOOK_RETRY: RetryPolicy = {
  attempts: 13,
  baseDelayMs: 60_000,
  maxDelayMs: 4 * 3600_000,
};

export interface SquareEmulatorOptions {
  /** 0 = random (tests); the CLI defaults to 12113. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Base URL of hosted pages (payment link `url`, `long_url`, receipt URLs); default http://host:port. */
  publicUrl?: string;
  /** Multiplies internal delays (refund completion, webhook backoff); tests use ~0.001. */
  timeScale?: number;
  /** `manual`: time moves only through `clock.advance()`; default `system`. */
  clockMode?: 'system' | 'manual';
  logger?: Logger;
  faults?: Partial<FaultConfig>;
  /** The Square application (`SQUARE_APPLICATION_ID` / `SQUARE_APPLICATION_SECRET`); default random sandbox ones. */
  applicationId?: string;
  applicationSecret?: string;
  /** Shown on the authorize page and as orders' `source.name`; default "Settle". */
  applicationName?: string;
  /** The application's own (developer account's) personal access token; default random. */
  personalAccessToken?: string;
  /** The redirect URL of the application's OAuth page (where the authorize page sends the seller back). */
  redirectUrl?: string;
  /** Before a refund goes PENDING → COMPLETED (clock ms, scaled); default 5000; null: only `completePendingRefund`. */
  refundDelayMs?: number | null;
  /** Default SQUARE_WEBHOOK_RETRY. */
  webhookRetry?: RetryPolicy;
  /** Timeout of one webhook POST, real ms; default 10 000. */
  webhookTimeoutMs?: number;
  /** `square-environment` header of deliveries; default `Sandbox`. */
  environment?: 'Sandbox' | 'Production';
  /** Country of the developer account (US, CA, GB, AU, JP, IE, FR, ES); default US. */
  developerCountry?: string;
}

export interface SquareEmulator {
  readonly url: string;
  readonly port: number;
  readonly applicationId: string;
  readonly applicationSecret: string;
  /** The developer account's token: webhook subscriptions, the application's own calls. */
  readonly personalAccessToken: string;
  /** The developer account's merchant id (where app fees go). */
  readonly developerMerchantId: string;
  readonly faults: { set(f: Partial<FaultConfig>): void; reset(): void; get(): FaultConfig };
  readonly deliveries: ReadonlyArray<DeliveryRecord>;
  readonly requests: ReadonlyArray<RequestRecord>;
  /** Every API request with the `Square-Version` it sent. */
  readonly apiCalls: ReadonlyArray<ApiCallRecord>;
  /** Every event emitted (delivered or not, searchable or not), oldest first. */
  readonly events: ReadonlyArray<{
    id: string;
    type: string;
    merchantId: string;
    envelope: Record<string, unknown>;
  }>;
  readonly clock: { now(): number; advance(ms: number): ClockState; state(): ClockState };
  /** Sets the application's redirect URL (its OAuth page setting). */
  setRedirectUrl(url: string | null): void;
  /** Scopes sellers never grant from now on (e.g. `['PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS']`); [] to reset. */
  withholdScopes(scopes: readonly string[]): void;
  /**
   * What "Allow" on the authorize page does: a seller (new, or `merchantId` reconnecting) grants `scopes`
   * (default MARKETPLACE_SCOPES, minus withheld ones) and gets an authorization code for `POST /oauth2/token`.
   */
  authorizeSeller(opts?: {
    scopes?: readonly string[];
    sellerName?: string;
    merchantId?: string;
    country?: string;
  }): Promise<{ code: string; merchantId: string; locationId: string }>;
  /** The buyer pays a payment link (by link id, short code or order id) on the hosted page. */
  payLink(
    linkIdOrOrderId: string,
    card?: CardChoice,
    opts?: { buyerEmail?: string },
  ): Promise<{ paymentId: string; status: string; redirectUrl: string | null }>;
  /** A PENDING (bank transfer) or APPROVED payment completes or fails. */
  completePendingPayment(paymentId: string, outcome: 'COMPLETED' | 'FAILED'): Promise<void>;
  /** A PENDING refund completes (or fails) now rather than after `refundDelayMs`. */
  completePendingRefund(refundId: string, outcome?: 'COMPLETED' | 'FAILED' | 'REJECTED'): Promise<void>;
  openDispute(paymentId: string, opts?: { reason?: string; amount?: number }): Promise<{ disputeId: string }>;
  resolveDispute(disputeId: string, outcome: 'WON' | 'LOST' | 'ACCEPTED'): Promise<void>;
  /** The seller revokes the application in their dashboard (`oauth.authorization.revoked`, revoker MERCHANT). */
  revoke(merchantId: string): Promise<void>;
  /** Resolves when no delivery, retry or scheduled refund completion is outstanding. */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The official SDK pointed at an emulator, with SDK retries off (tests choose their own). */
export function squareClientFor(
  emu: { url: string },
  token: string,
  opts: { maxRetries?: number } = {},
): SquareClient {
  return new SquareClient({ token, baseUrl: emu.url, maxRetries: opts.maxRetries ?? 0 });
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[]): v is T {
  return typeof v === 'string' && (allowed as readonly string[]).includes(v);
}

export async function startSquareEmulator(opts: SquareEmulatorOptions = {}): Promise<SquareEmulator> {
  const logger = opts.logger ?? silentLogger;
  const host = opts.host ?? '127.0.0.1';
  const { clock, faults, tasks } = emulatorRuntime({
    name: 'square emulator',
    logger,
    ...(opts.timeScale !== undefined ? { timeScale: opts.timeScale } : {}),
    ...(opts.clockMode !== undefined ? { clockMode: opts.clockMode } : {}),
    ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
  });
  let publicUrl = '';
  const developerCountry = opts.developerCountry ?? 'US';
  if (!COUNTRIES[developerCountry]) throw new Error(`Unsupported developerCountry ${developerCountry}`);
  let events: SquareEvents | null = null;
  const engine = new SquareEngine(
    clock,
    tasks,
    {
      applicationId: opts.applicationId ?? newApplicationId(),
      applicationSecret: opts.applicationSecret ?? newApplicationSecret(),
      applicationName: opts.applicationName ?? 'Settle',
      personalAccessToken: opts.personalAccessToken ?? newAccessToken(),
      publicUrl: () => publicUrl,
      redirectUrl: opts.redirectUrl ?? null,
      refundDelayMs: opts.refundDelayMs === undefined ? 5000 : opts.refundDelayMs,
      developerCountry,
    },
    (e) => events?.emit(e),
  );
  events = new SquareEvents(clock, {
    environment: opts.environment ?? 'Sandbox',
    grantedScopes: (m) => engine.grantedScopes(m),
    defaultApiVersion: SDK_SQUARE_VERSION,
  });
  const hub = events;
  const sender = new WebhookSender<Subscription>({
    clock,
    faults,
    tasks,
    logger,
    name: 'square emulator',
    endpoint: (id) => hub.subscriptions.get(id),
    sign: (input) => hub.sign(input),
    retry: opts.webhookRetry ?? SQUARE_WEBHOOK_RETRY,
    headers: { 'content-type': 'application/json', 'user-agent': 'Square Connect v2' },
    timeoutMs: opts.webhookTimeoutMs ?? 10_000,
  });
  hub.attach(sender);
  const { api, apiCalls } = buildSquareServer({
    clock,
    faults,
    logger,
    engine,
    events: hub,
    defaultApiVersion: SDK_SQUARE_VERSION,
  });

  const idle = (timeoutMs?: number): Promise<void> => tasks.idle(timeoutMs);
  const authorize = (o: {
    scopes?: readonly string[];
    sellerName?: string;
    merchantId?: string;
    country?: string;
  }): { code: string; merchantId: string; locationId: string } => {
    const { code, merchantId } = engine.grant({
      scopes: o.scopes ?? MARKETPLACE_SCOPES,
      ...(o.sellerName !== undefined ? { sellerName: o.sellerName } : {}),
      ...(o.merchantId !== undefined ? { merchantId: o.merchantId } : {}),
      ...(o.country !== undefined ? { country: o.country } : {}),
      redirectUri: null,
    });
    return { code, merchantId, locationId: engine.merchantFor(merchantId).mainLocationId };
  };
  const payLink = (
    ref: string,
    card: CardChoice,
    buyerEmail: string | null,
  ): { paymentId: string; status: string; redirectUrl: string | null } => {
    const { payment, redirect } = engine.pay(ref, card, buyerEmail);
    return { paymentId: payment.id, status: payment.status, redirectUrl: redirect };
  };

  // ---- control routes (no auth, JSON bodies), mirroring the in-process methods ----
  api.registerControlRoutes({ deliveries: () => sender.deliveries, idle: () => idle() });
  api.control('GET', '/_emulator/application', () => ({
    application_id: engine.opts.applicationId,
    application_secret: engine.opts.applicationSecret,
    personal_access_token: engine.opts.personalAccessToken,
    developer_merchant_id: engine.developer.id,
    redirect_url: engine.redirectUrl,
    withheld_scopes: [...engine.withheldScopes],
  }));
  api.control('POST', '/_emulator/application', (req) => {
    const url = req.body['redirect_url'];
    if (url !== null && typeof url !== 'string') throw new Error('redirect_url must be a URL or null');
    engine.redirectUrl = url;
    return { redirect_url: engine.redirectUrl };
  });
  api.control('POST', '/_emulator/oauth/withhold', (req) => {
    const scopes = req.body['scopes'];
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string'))
      throw new Error('scopes must be a list');
    engine.withheldScopes = new Set(scopes as string[]);
    return { withheld_scopes: [...engine.withheldScopes] };
  });
  api.control('POST', '/_emulator/oauth/authorize', (req) => {
    const b = req.body;
    const scopes = Array.isArray(b['scopes'])
      ? b['scopes'].filter((s): s is string => typeof s === 'string')
      : undefined;
    const r = authorize({
      ...(scopes ? { scopes } : {}),
      ...(typeof b['seller_name'] === 'string' ? { sellerName: b['seller_name'] } : {}),
      ...(typeof b['merchant_id'] === 'string' ? { merchantId: b['merchant_id'] } : {}),
      ...(typeof b['country'] === 'string' ? { country: b['country'] } : {}),
    });
    return { code: r.code, merchant_id: r.merchantId, location_id: r.locationId };
  });
  api.control('POST', '/_emulator/payment-links/:id/pay', (req) => {
    const card = req.body['card'] ?? 'ok';
    if (!oneOf(card, CARD_CHOICES)) throw new Error(`card must be one of ${CARD_CHOICES.join(', ')}`);
    const email = typeof req.body['buyer_email'] === 'string' ? req.body['buyer_email'] : null;
    const r = payLink(req.params['id'] ?? '', card, email);
    return { payment_id: r.paymentId, status: r.status, redirect_url: r.redirectUrl };
  });
  api.control('POST', '/_emulator/payments/:id/complete', (req) => {
    const outcome = req.body['outcome'];
    if (!oneOf(outcome, ['COMPLETED', 'FAILED'] as const))
      throw new Error('outcome must be COMPLETED or FAILED');
    return { payment: engine.paymentJson(engine.completePendingPayment(req.params['id'] ?? '', outcome)) };
  });
  api.control('POST', '/_emulator/refunds/:id/complete', (req) => {
    const outcome = req.body['outcome'] ?? 'COMPLETED';
    if (!oneOf(outcome, ['COMPLETED', 'FAILED', 'REJECTED'] as const))
      throw new Error('outcome must be COMPLETED, FAILED or REJECTED');
    return { refund: refundJson(engine.completeRefund(req.params['id'] ?? '', outcome)) };
  });
  api.control('POST', '/_emulator/payments/:id/dispute', (req) => {
    const b = req.body;
    const d = engine.openDispute(req.params['id'] ?? '', {
      ...(typeof b['reason'] === 'string' ? { reason: b['reason'] } : {}),
      ...(typeof b['amount'] === 'number' ? { amount: b['amount'] } : {}),
    });
    return { dispute: disputeJson(d) };
  });
  api.control('POST', '/_emulator/disputes/:id/resolve', (req) => {
    const outcome = req.body['outcome'];
    if (!oneOf(outcome, ['WON', 'LOST', 'ACCEPTED'] as const))
      throw new Error('outcome must be WON, LOST or ACCEPTED');
    return { dispute: disputeJson(engine.resolveDispute(req.params['id'] ?? '', outcome)) };
  });
  api.control('POST', '/_emulator/merchants/:id/revoke', (req) => {
    engine.revokeMerchant(req.params['id'] ?? '', 'MERCHANT');
    return { revoked: true };
  });
  api.control('GET', '/_emulator/events', () => ({ data: hub.events.map((e) => e.envelope) }));
  api.control('GET', '/_emulator/api-calls', () => ({ data: apiCalls }));

  const { url, port } = await api.listen(opts.port ?? 0, host);
  publicUrl = (opts.publicUrl ?? url).replace(/\/$/, '');
  logger.info({ url, applicationId: engine.opts.applicationId }, 'square emulator listening');

  const run = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(clock.run(fn));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };

  return {
    url,
    port,
    applicationId: engine.opts.applicationId,
    applicationSecret: engine.opts.applicationSecret,
    personalAccessToken: engine.opts.personalAccessToken,
    developerMerchantId: engine.developer.id,
    faults: { set: (f) => faults.set(f), reset: () => faults.reset(), get: () => faults.get() },
    get deliveries() {
      return sender.deliveries;
    },
    get requests() {
      return api.requests;
    },
    apiCalls,
    get events() {
      return hub.events.map((e) => ({
        id: e.id,
        type: e.type,
        merchantId: e.merchantId,
        envelope: e.envelope,
      }));
    },
    clock: { now: () => clock.now(), advance: (ms) => clock.advance(ms), state: () => clock.state() },
    setRedirectUrl: (u) => {
      engine.redirectUrl = u;
    },
    withholdScopes: (scopes) => {
      engine.withheldScopes = new Set(scopes);
    },
    authorizeSeller: (o = {}) => run(() => authorize(o)),
    payLink: (ref, card = 'ok', o = {}) => run(() => payLink(ref, card, o.buyerEmail ?? null)),
    completePendingPayment: (id, outcome) =>
      run(() => {
        engine.completePendingPayment(id, outcome);
      }),
    completePendingRefund: (id, outcome = 'COMPLETED') =>
      run(() => {
        engine.completeRefund(id, outcome);
      }),
    openDispute: (id, o = {}) => run(() => ({ disputeId: engine.openDispute(id, o).id })),
    resolveDispute: (id, outcome) =>
      run(() => {
        engine.resolveDispute(id, outcome);
      }),
    revoke: (merchantId) =>
      run(() => {
        engine.revokeMerchant(merchantId, 'MERCHANT');
      }),
    idle,
    async close() {
      sender.close();
      tasks.close();
      clock.close();
      await api.close();
    },
  };
}
