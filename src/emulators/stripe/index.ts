import Stripe from 'stripe';
import { silentLogger, type Logger } from '../../log/logger.js';
import { Clock, type ClockState } from '../kit/clock.js';
import { Faults, type FaultConfig } from '../kit/faults.js';
import { Tasks } from '../kit/tasks.js';
import { DEFAULT_RETRY, runDueBilling, type RetrySettings } from './billing/cycle.js';
import { Engine, NO_CAUSE } from './engine.js';
import { ApiError } from './errors.js';
import { completeOnboarding } from './resources/accounts.js';
import {
  closeDispute,
  completeDelayedPayment,
  expireSession,
  locateSession,
  paySession,
  type PayForm,
  type PayResult,
} from './resources/payments.js';
import { portalAction, type PortalForm, type PortalResult } from './resources/portal.js';
import { buildServer, type RequestRecord } from './server.js';
import { Store } from './store.js';
import { WebhookDispatcher, type DeliveryRecord } from './webhooks.js';

export type { FaultConfig, ApiFaultRule, EndpointFailureRule, WebhookDropRule } from './faults.js';
export type { DeliveryRecord } from './webhooks.js';
export type { RequestRecord } from './server.js';
export type { ClockState } from '../kit/clock.js';
export type { PayForm, PayResult } from './resources/payments.js';
export type { RetrySettings } from './billing/cycle.js';
export type { PortalForm, PortalResult } from './resources/portal.js';
export { TEST_PAYMENT_METHODS } from './resources/payment-methods.js';
export { TEST_CARDS } from './resources/payments.js';
export { signPayload } from './webhooks.js';
export { parseForm } from './form.js';

export const STRIPE_API_VERSION = '2026-10-28.endive';
export const DEFAULT_EMULATOR_PORT = 12111;

export interface StripeEmulatorOptions {
  /** 0 = random (tests); the CLI defaults to 12111. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Base URL used in session.url / account link url; default http://host:port. */
  publicUrl?: string;
  /** Multiplies every internal delay (dispute delay, retry backoff, session expiry); tests use ~0.01. */
  timeScale?: number;
  /**
   * The emulator's clock: `manual` stands still except through `clock.advance()` (deterministic tests); the default
   * `system` follows the system time plus what was advanced.
   */
  clockMode?: 'system' | 'manual';
  zeroAmountPaymentStatus?: 'no_payment_required' | 'paid';
  /** Delay before the 4000000000000259 card is disputed (before timeScale); default 2000. */
  disputeDelayMs?: number;
  /** Webhook retry policy; delays are multiplied by timeScale. Default {attempts: 5, baseDelayMs: 1000}. */
  webhookRetry?: { attempts: number; baseDelayMs: number };
  /** Timeout of one webhook POST (real ms); default 10 000. */
  webhookTimeoutMs?: number;
  /** Refuse sessions on (or to) connected accounts with charges_enabled=false; default true. */
  requireChargesEnabled?: boolean;
  faults?: Partial<FaultConfig>;
  /**
   * Failed subscription renewals: retried after `retryDays` (each counted from the previous attempt; default
   * [3, 5, 7]), then the subscription is canceled (`afterFinalFailure: 'cancel'`, default) or left `unpaid`.
   */
  billingRetry?: Partial<RetrySettings>;
  logger?: Logger;
}

export interface StripeEmulator {
  readonly url: string;
  readonly port: number;
  readonly faults: { set(f: Partial<FaultConfig>): void; reset(): void; get(): FaultConfig };
  readonly deliveries: ReadonlyArray<DeliveryRecord>;
  /** Every API request seen (method, path, idempotency key, status, injected fault). */
  readonly requests: ReadonlyArray<RequestRecord>;
  /**
   * The emulator's clock (also `GET|POST /_emulator/clock {advanceMs}`): `advance(ms)` moves `created`/`expires_at`
   * time forward and runs what became due (session expiry, disputes, webhook retries) at once.
   */
  readonly clock: {
    now(): number;
    nowSeconds(): number;
    advance(ms: number): ClockState;
    state(): ClockState;
  };
  setZeroAmountPaymentStatus(s: 'no_payment_required' | 'paid'): void;
  paySession(sessionId: string, form: PayForm): Promise<PayResult>;
  completeDelayedPayment(sessionId: string, outcome: 'succeeded' | 'failed'): Promise<void>;
  closeDispute(disputeId: string, outcome: 'won' | 'lost'): Promise<void>;
  expireSession(sessionId: string): Promise<void>;
  /** What the customer portal page (`billing_portal.session.url`) does: cancel/resume a subscription, update the card. */
  portalAction(portalSessionId: string, form: PortalForm): Promise<PortalResult>;
  /** Completes Connect onboarding for an account (same as submitting the account link page). */
  completeOnboarding(accountId: string): Promise<void>;
  /** Resolves when no webhook delivery is pending or in flight (including scheduled retries and scheduled disputes). */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function rethrow(err: unknown): never {
  if (err instanceof ApiError) throw new Error(`${err.type}: ${err.message}`);
  throw err;
}

/**
 * Expires open sessions whose expiry time (on the emulator's clock) has passed, and bills what is due for
 * subscriptions on no test clock.
 */
function sweepExpired(engine: Engine): void {
  const now = engine.clock.now();
  for (const scope of engine.store.allScopes())
    for (const rec of scope.sessions.values())
      if (rec.session.status === 'open' && rec.expireAtMs <= now) expireSession(engine, scope, rec);
  runDueBilling(engine);
}

export async function startStripeEmulator(opts: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const logger = opts.logger ?? silentLogger;
  const timeScale = opts.timeScale ?? 1;
  const host = opts.host ?? '127.0.0.1';
  const onError = (err: unknown): void => logger.error({ err }, 'stripe emulator: scheduled job failed');
  const clock = new Clock({ timeScale, mode: opts.clockMode ?? 'system', onError });
  const tasks = new Tasks(clock, onError, 'stripe emulator');
  const store = new Store(clock);
  const faults = new Faults(opts.faults);
  const webhooks = new WebhookDispatcher(
    store,
    faults,
    opts.webhookRetry ?? { attempts: 5, baseDelayMs: 1000 },
    clock,
    tasks,
    logger,
    opts.webhookTimeoutMs ?? 10_000,
  );
  const engine = new Engine(
    store,
    webhooks,
    faults,
    {
      timeScale,
      zeroAmountPaymentStatus: opts.zeroAmountPaymentStatus ?? 'no_payment_required',
      disputeDelayMs: opts.disputeDelayMs ?? 2000,
      requireChargesEnabled: opts.requireChargesEnabled ?? true,
      publicUrl: opts.publicUrl ?? '',
      billingRetry: { ...DEFAULT_RETRY, ...opts.billingRetry },
    },
    logger,
    clock,
  );
  const { server } = buildServer(engine);
  const { url, port } = await server.listen(opts.port ?? 0, host);
  engine.settings.publicUrl = (opts.publicUrl ?? url).replace(/\/$/, '');

  // Session expiry: swept on a real-time ticker and right after every clock advance.
  const sweep = (): void => clock.run(() => sweepExpired(engine));
  const tickMs = Math.min(1000, Math.max(20, Math.round(1000 * timeScale)));
  const ticker = setInterval(sweep, tickMs);
  ticker.unref();
  clock.onAdvance(() => sweepExpired(engine));
  logger.info({ url }, 'stripe emulator listening');

  /** In-process helpers run on the emulator's clock, like HTTP requests. */
  const onClock = <T>(fn: () => T): T => clock.run(fn);

  return {
    url,
    port,
    faults: {
      set: (f) => faults.set(f),
      reset: () => faults.reset(),
      get: () => faults.get(),
    },
    get deliveries() {
      return webhooks.deliveries;
    },
    get requests() {
      return server.requests;
    },
    clock: {
      now: () => clock.now(),
      nowSeconds: () => clock.nowSeconds(),
      advance: (ms) => clock.advance(ms),
      state: () => clock.state(),
    },
    setZeroAmountPaymentStatus(s) {
      engine.settings.zeroAmountPaymentStatus = s;
    },
    async paySession(sessionId, form) {
      return onClock(() => paySession(engine, sessionId, form));
    },
    async completeDelayedPayment(sessionId, outcome) {
      try {
        onClock(() => completeDelayedPayment(engine, sessionId, outcome));
      } catch (err) {
        rethrow(err);
      }
    },
    async closeDispute(disputeId, outcome) {
      try {
        onClock(() => closeDispute(engine, disputeId, outcome));
      } catch (err) {
        rethrow(err);
      }
    },
    async expireSession(sessionId) {
      const found = locateSession(engine, sessionId);
      if (!found) throw new Error(`No such checkout.session: '${sessionId}'`);
      onClock(() => expireSession(engine, found.scope, found.rec, NO_CAUSE));
    },
    async portalAction(portalSessionId, form) {
      return onClock(() => portalAction(engine, portalSessionId, form));
    },
    async completeOnboarding(accountId) {
      try {
        onClock(() => completeOnboarding(engine, accountId));
      } catch (err) {
        rethrow(err);
      }
    },
    idle: (timeoutMs) => webhooks.idle(timeoutMs),
    async close() {
      clearInterval(ticker);
      webhooks.close();
      clock.close();
      await server.close();
    },
  };
}

/** A Stripe SDK client pointed at the emulator (no telemetry; retries as given, default 0). */
export function stripeClientFor(
  target: Pick<StripeEmulator, 'url'> | string,
  key = 'sk_test_settle',
  extra: Omit<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> = {},
): Stripe {
  const u = new URL(typeof target === 'string' ? target : target.url);
  return new Stripe(key, {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    protocol: u.protocol === 'https:' ? 'https' : 'http',
    maxNetworkRetries: 0,
    telemetry: false,
    ...extra,
  });
}
