import { silentLogger, type Logger } from '../../log/logger.js';
import type { ClockState } from '../kit/clock.js';
import type { FaultConfig } from '../kit/faults.js';
import type { RequestRecord } from '../kit/server.js';
import { WebhookSender, type DeliveryRecord, type RetryPolicy } from '../kit/webhooks.js';
import { emulatorRuntime } from '../kit/runtime.js';
import { DEFAULT_ENGINE_SETTINGS, PayPalEngine } from './engine.js';
import { newAccountId } from './ids.js';
import { BUYERS, type Buyer, type DisputeRecord, type WebhookRecord } from './model.js';
import { buildPayPalServer } from './server.js';
import { createSigningKey } from './signing.js';
import { WebhookHub } from './webhooks.js';

export { emulatorHttpClientOptions, paypalSdkClientFor } from './sdk.js';
export type { FaultConfig, ApiFaultRule, EndpointFailureRule, WebhookDropRule } from '../kit/faults.js';
export type { DeliveryRecord, RetryPolicy } from '../kit/webhooks.js';
export type { RequestRecord } from '../kit/server.js';
export type { Buyer } from './model.js';
export { AUTH_ALGO, crc32Decimal, signedMessage, verifyTransmission } from './signing.js';

export const DEFAULT_PAYPAL_EMULATOR_PORT = 12112;

/**
 * PayPal's delivery retries: "up to 25 times over 3 days" (https://developer.paypal.com/api/rest/webhooks/rest/).
 * 1 + 25 attempts; the delay doubles from 1 min and is capped at 4 h, which adds up to about 72 h.
 */
export const PAYPAL_WEBHOOK_RETRY: RetryPolicy = {
  attempts: 26,
  baseDelayMs: 60_000,
  maxDelayMs: 4 * 3600_000,
};

export interface PayPalEmulatorOptions {
  /** 0 = random (tests); the CLI defaults to 12112. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Base URL of links, hosted pages and the certificate URL; default http://host:port. */
  publicUrl?: string;
  /** Multiplies internal delays (order expiry, approval window, webhook backoff); tests use ~0.001. */
  timeScale?: number;
  /** `manual`: time moves only through `clock.advance()`; default `system`. */
  clockMode?: 'system' | 'manual';
  logger?: Logger;
  faults?: Partial<FaultConfig>;
  /** The platform's own PayPal merchant id (the partner); default a random 13-character id. */
  partnerMerchantId?: string;
  /** Default PAYPAL_WEBHOOK_RETRY. */
  webhookRetry?: RetryPolicy;
  /** Timeout of one webhook POST, real ms; default 10 000. */
  webhookTimeoutMs?: number;
  /** Indent delivered webhook bodies (spaces; default 0 = compact as PayPal sends them). */
  webhookBodyIndent?: number;
  /** Lifetime of access tokens in seconds (real time, like the SDK's expiry check); default 32 400 (9 h). */
  tokenTtlSeconds?: number;
  /** Unapproved orders are voided after this long (clock ms, scaled); default 3 h. */
  orderExpiryMs?: number;
  /** Approved, uncaptured orders are voided (CHECKOUT.PAYMENT-APPROVAL.REVERSED) after this long (scaled); default 3 h. */
  approvalWindowMs?: number;
  /** How long a PayPal-Request-Id is remembered (clock ms, not scaled); default 6 h. */
  requestIdTtlMs?: number;
}

export interface PayPalEmulator {
  readonly url: string;
  readonly port: number;
  /** The partner's (platform's) merchant id: the `partner_id` of merchant-integrations URLs. */
  readonly partnerMerchantId: string;
  /** URL of the certificate deliveries are signed with (`PAYPAL-CERT-URL`). */
  readonly certUrl: string;
  /** PEM of that certificate. */
  readonly certPem: string;
  readonly faults: { set(f: Partial<FaultConfig>): void; reset(): void; get(): FaultConfig };
  readonly deliveries: ReadonlyArray<DeliveryRecord>;
  readonly requests: ReadonlyArray<RequestRecord>;
  /** Every event emitted so far (envelope as delivered), oldest first. */
  readonly events: ReadonlyArray<{ id: string; type: string; envelope: Record<string, unknown> }>;
  readonly clock: { now(): number; advance(ms: number): ClockState; state(): ClockState };
  /** What the emulator recorded about an order beyond its JSON (headers it was created with, the approving buyer). */
  inspectOrder(orderId: string): OrderInspection;
  /** Revokes every access token issued so far (as PayPal may before their stated expiry); answers how many. */
  revokeAccessTokens(): number;
  /** The buyer approves the order (as on the approval page); answers where the browser would be redirected. */
  approveOrder(orderId: string, buyer?: Buyer): Promise<{ redirectUrl: string | null }>;
  /** The buyer cancels on the approval page; answers the cancel_url redirect. */
  cancelOrder(orderId: string): Promise<{ redirectUrl: string | null }>;
  /** An e-check capture clears or bounces. */
  completePendingCapture(captureId: string, outcome: 'COMPLETED' | 'DENIED'): Promise<void>;
  /** The next API refund gets this status (once): PENDING (later `completePendingRefund`) or FAILED. */
  setNextRefundStatus(status: 'COMPLETED' | 'PENDING' | 'FAILED'): void;
  /** A pending refund completes or fails. */
  completePendingRefund(refundId: string, outcome: 'COMPLETED' | 'FAILED'): Promise<void>;
  /** The seller completes sign-up for a partner referral (by referral id or tracking id). */
  completeOnboarding(
    referralIdOrTrackingId: string,
    opts?: { emailConfirmed?: boolean; paymentsReceivable?: boolean; email?: string },
  ): Promise<{ merchantId: string; redirectUrl: string | null }>;
  revokeConsent(merchantId: string): Promise<void>;
  openDispute(
    captureId: string,
    opts?: { reason?: string; amount?: string; stage?: DisputeRecord['stage'] },
  ): Promise<{ disputeId: string }>;
  escalateDispute(disputeId: string): Promise<void>;
  resolveDispute(disputeId: string, outcome: 'won' | 'lost'): Promise<void>;
  /** Resolves when no delivery is queued, in flight or waiting for a retry. */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface OrderInspection {
  id: string;
  status: string;
  partnerAttributionId: string | null;
  clientMetadataId: string | null;
  buyer: Buyer | null;
  /** OAuth client id that created it. */
  clientId: string;
}

function isOutcome<T extends string>(v: unknown, allowed: readonly T[]): v is T {
  return typeof v === 'string' && (allowed as readonly string[]).includes(v);
}

export async function startPayPalEmulator(opts: PayPalEmulatorOptions = {}): Promise<PayPalEmulator> {
  const logger = opts.logger ?? silentLogger;
  const host = opts.host ?? '127.0.0.1';
  const { clock, faults, tasks } = emulatorRuntime({
    name: 'paypal emulator',
    logger,
    ...(opts.timeScale !== undefined ? { timeScale: opts.timeScale } : {}),
    ...(opts.clockMode !== undefined ? { clockMode: opts.clockMode } : {}),
    ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
  });
  let publicUrl = '';
  const partnerMerchantId = opts.partnerMerchantId ?? newAccountId();
  const key = createSigningKey(clock.now());
  const hub = new WebhookHub({
    clock,
    publicUrl: () => publicUrl,
    key,
    bodyIndent: opts.webhookBodyIndent ?? 0,
  });
  const engine = new PayPalEngine(
    clock,
    { publicUrl: () => publicUrl, partnerMerchantId },
    {
      ...DEFAULT_ENGINE_SETTINGS,
      ...(opts.orderExpiryMs !== undefined ? { orderExpiryMs: opts.orderExpiryMs } : {}),
      ...(opts.approvalWindowMs !== undefined ? { approvalWindowMs: opts.approvalWindowMs } : {}),
    },
    (e) => hub.emit(e),
  );
  const sender = new WebhookSender<WebhookRecord>({
    clock,
    faults,
    tasks,
    logger,
    name: 'paypal emulator',
    endpoint: (id) => hub.webhooks.get(id),
    sign: (input) => hub.sign(input.endpoint.id, input.body, input.timestampMs),
    retry: opts.webhookRetry ?? PAYPAL_WEBHOOK_RETRY,
    headers: { 'content-type': 'application/json' },
    timeoutMs: opts.webhookTimeoutMs ?? 10_000,
  });
  hub.attach(sender);
  const { api, tokens } = buildPayPalServer({
    clock,
    faults,
    logger,
    engine,
    hub,
    tokenTtlSeconds: opts.tokenTtlSeconds ?? 32_400,
    requestIdTtlMs: opts.requestIdTtlMs ?? 6 * 3600_000,
  });

  const idle = (timeoutMs?: number): Promise<void> => tasks.idle(timeoutMs);

  // ---- control routes (no auth, JSON bodies), mirroring the in-process methods ----
  api.registerControlRoutes({ deliveries: () => sender.deliveries, idle: () => idle() });
  api.control('POST', '/_emulator/orders/:id/approve', (req) => {
    const buyer = req.body['buyer'] ?? 'normal';
    if (!isOutcome(buyer, BUYERS)) throw new Error(`buyer must be one of ${BUYERS.join(', ')}`);
    return { redirect_url: engine.approveOrder(req.params['id'] ?? '', buyer).redirect };
  });
  api.control('POST', '/_emulator/orders/:id/cancel', (req) => ({
    redirect_url: engine.cancelOrder(req.params['id'] ?? '').redirect,
  }));
  api.control('POST', '/_emulator/captures/:id/complete', (req) => {
    const outcome = req.body['outcome'];
    if (!isOutcome(outcome, ['COMPLETED', 'DENIED'] as const))
      throw new Error('outcome must be COMPLETED or DENIED');
    return engine.captureJson(engine.completePendingCapture(req.params['id'] ?? '', outcome));
  });
  api.control('POST', '/_emulator/refunds/next', (req) => {
    const status = req.body['status'];
    if (!isOutcome(status, ['COMPLETED', 'PENDING', 'FAILED'] as const))
      throw new Error('status must be COMPLETED, PENDING or FAILED');
    engine.nextRefundStatus = status;
    return { next_refund_status: status };
  });
  api.control('POST', '/_emulator/refunds/:id/complete', (req) => {
    const outcome = req.body['outcome'];
    if (!isOutcome(outcome, ['COMPLETED', 'FAILED'] as const))
      throw new Error('outcome must be COMPLETED or FAILED');
    return engine.refundJson(engine.completePendingRefund(req.params['id'] ?? '', outcome), true);
  });
  api.control('POST', '/_emulator/captures/:id/dispute', (req) => {
    const stage = req.body['stage'];
    const d = engine.openDispute(req.params['id'] ?? '', {
      ...(typeof req.body['reason'] === 'string' ? { reason: req.body['reason'] } : {}),
      ...(typeof req.body['amount'] === 'string' ? { amount: req.body['amount'] } : {}),
      ...(isOutcome(stage, ['INQUIRY', 'CHARGEBACK', 'PRE_ARBITRATION', 'ARBITRATION'] as const)
        ? { stage }
        : {}),
    });
    return engine.disputeJson(d);
  });
  api.control('POST', '/_emulator/disputes/:id/escalate', (req) =>
    engine.disputeJson(engine.escalateDispute(req.params['id'] ?? '')),
  );
  api.control('POST', '/_emulator/disputes/:id/resolve', (req) => {
    const outcome = req.body['outcome'];
    if (!isOutcome(outcome, ['won', 'lost'] as const)) throw new Error('outcome must be won or lost');
    return engine.disputeJson(engine.resolveDispute(req.params['id'] ?? '', outcome));
  });
  api.control('POST', '/_emulator/partner-referrals/:id/complete', (req) => {
    const b = req.body;
    const { merchant, redirect } = engine.completeOnboarding(req.params['id'] ?? '', {
      ...(typeof b['emailConfirmed'] === 'boolean' ? { emailConfirmed: b['emailConfirmed'] } : {}),
      ...(typeof b['paymentsReceivable'] === 'boolean'
        ? { paymentsReceivable: b['paymentsReceivable'] }
        : {}),
      ...(typeof b['email'] === 'string' ? { email: b['email'] } : {}),
    });
    return { merchant_id: merchant.merchantId, redirect_url: redirect };
  });
  api.control('POST', '/_emulator/merchants/:id/revoke', (req) => {
    const m = engine.revokeConsent(req.params['id'] ?? '');
    return { merchant_id: m.merchantId, consent: m.consent };
  });
  const inspect = (id: string): OrderInspection => {
    const o = engine.orders.get(id);
    if (!o) throw new Error(`No such order: ${id}`);
    return {
      id: o.id,
      status: o.status,
      partnerAttributionId: o.partnerAttributionId,
      clientMetadataId: o.clientMetadataId,
      buyer: o.buyer,
      clientId: o.clientId,
    };
  };
  api.control('GET', '/_emulator/orders/:id', (req) => inspect(req.params['id'] ?? ''));
  api.control('GET', '/_emulator/events', () => ({ data: hub.events.all().map((e) => e.envelope) }));
  api.control('GET', '/_emulator/partner', () => ({
    partner_merchant_id: partnerMerchantId,
    cert_url: hub.certUrl(),
  }));

  const { url, port } = await api.listen(opts.port ?? 0, host);
  publicUrl = (opts.publicUrl ?? url).replace(/\/$/, '');
  logger.info({ url, partnerMerchantId }, 'paypal emulator listening');

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
    partnerMerchantId,
    get certUrl() {
      return hub.certUrl();
    },
    certPem: key.certPem,
    faults: {
      set: (f) => faults.set(f),
      reset: () => faults.reset(),
      get: () => faults.get(),
    },
    get deliveries() {
      return sender.deliveries;
    },
    get requests() {
      return api.requests;
    },
    get events() {
      return hub.events.all().map((e) => ({ id: e.id, type: e.type, envelope: e.envelope }));
    },
    clock: {
      now: () => clock.now(),
      advance: (ms) => clock.advance(ms),
      state: () => clock.state(),
    },
    inspectOrder: (orderId) => inspect(orderId),
    revokeAccessTokens: () => {
      const n = tokens.size;
      tokens.clear();
      return n;
    },
    approveOrder: (orderId, buyer = 'normal') =>
      run(() => ({ redirectUrl: engine.approveOrder(orderId, buyer).redirect })),
    cancelOrder: (orderId) => run(() => ({ redirectUrl: engine.cancelOrder(orderId).redirect })),
    completePendingCapture: (captureId, outcome) =>
      run(() => {
        engine.completePendingCapture(captureId, outcome);
      }),
    setNextRefundStatus: (status) => {
      engine.nextRefundStatus = status;
    },
    completePendingRefund: (refundId, outcome) =>
      run(() => {
        engine.completePendingRefund(refundId, outcome);
      }),
    completeOnboarding: (idOrTracking, o = {}) =>
      run(() => {
        const { merchant, redirect } = engine.completeOnboarding(idOrTracking, o);
        return { merchantId: merchant.merchantId, redirectUrl: redirect };
      }),
    revokeConsent: (merchantId) =>
      run(() => {
        engine.revokeConsent(merchantId);
      }),
    openDispute: (captureId, o = {}) => run(() => ({ disputeId: engine.openDispute(captureId, o).id })),
    escalateDispute: (id) =>
      run(() => {
        engine.escalateDispute(id);
      }),
    resolveDispute: (id, outcome) =>
      run(() => {
        engine.resolveDispute(id, outcome);
      }),
    idle,
    async close() {
      engine.close();
      sender.close();
      tasks.close();
      clock.close();
      await api.close();
    },
  };
}
