import Stripe from 'stripe';
import { silentLogger, type Logger } from '../../log/logger.js';
import { Engine, NO_CAUSE } from './engine.js';
import { ApiError } from './errors.js';
import { Faults, type FaultConfig } from './faults.js';
import { completeOnboarding } from './resources/accounts.js';
import {
  closeDispute,
  completeDelayedPayment,
  expireDue,
  expireSession,
  locateSession,
  paySession,
  type PayForm,
  type PayResult,
} from './resources/payments.js';
import { buildServer, type RequestRecord } from './server.js';
import { Store } from './store.js';
import { WebhookDispatcher, type DeliveryRecord } from './webhooks.js';

export type { FaultConfig, ApiFaultRule, EndpointFailureRule, WebhookDropRule } from './faults.js';
export type { DeliveryRecord } from './webhooks.js';
export type { RequestRecord } from './server.js';
export type { PayForm, PayResult } from './resources/payments.js';
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
  logger?: Logger;
}

export interface StripeEmulator {
  readonly url: string;
  readonly port: number;
  readonly faults: { set(f: Partial<FaultConfig>): void; reset(): void; get(): FaultConfig };
  readonly deliveries: ReadonlyArray<DeliveryRecord>;
  /** Every API request seen (method, path, idempotency key, status, injected fault). */
  readonly requests: ReadonlyArray<RequestRecord>;
  setZeroAmountPaymentStatus(s: 'no_payment_required' | 'paid'): void;
  paySession(sessionId: string, form: PayForm): Promise<PayResult>;
  completeDelayedPayment(sessionId: string, outcome: 'succeeded' | 'failed'): Promise<void>;
  closeDispute(disputeId: string, outcome: 'won' | 'lost'): Promise<void>;
  expireSession(sessionId: string): Promise<void>;
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

export async function startStripeEmulator(opts: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const logger = opts.logger ?? silentLogger;
  const timeScale = opts.timeScale ?? 1;
  const host = opts.host ?? '127.0.0.1';
  const store = new Store();
  const faults = new Faults(opts.faults);
  const webhooks = new WebhookDispatcher(
    store,
    faults,
    opts.webhookRetry ?? { attempts: 5, baseDelayMs: 1000 },
    timeScale,
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
    },
    logger,
  );
  const { app, requests, closeTimers } = buildServer(engine);
  await app.listen({ port: opts.port ?? 0, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  engine.settings.publicUrl = (opts.publicUrl ?? url).replace(/\/$/, '');

  const tickMs = Math.min(1000, Math.max(20, Math.round(1000 * timeScale)));
  const ticker = setInterval(() => expireDue(engine), tickMs);
  ticker.unref();
  logger.info({ url }, 'stripe emulator listening');

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
      return requests;
    },
    setZeroAmountPaymentStatus(s) {
      engine.settings.zeroAmountPaymentStatus = s;
    },
    async paySession(sessionId, form) {
      return paySession(engine, sessionId, form);
    },
    async completeDelayedPayment(sessionId, outcome) {
      try {
        completeDelayedPayment(engine, sessionId, outcome);
      } catch (err) {
        rethrow(err);
      }
    },
    async closeDispute(disputeId, outcome) {
      try {
        closeDispute(engine, disputeId, outcome);
      } catch (err) {
        rethrow(err);
      }
    },
    async expireSession(sessionId) {
      const found = locateSession(engine, sessionId);
      if (!found) throw new Error(`No such checkout.session: '${sessionId}'`);
      expireSession(engine, found.scope, found.rec, NO_CAUSE);
    },
    async completeOnboarding(accountId) {
      try {
        completeOnboarding(engine, accountId);
      } catch (err) {
        rethrow(err);
      }
    },
    idle: (timeoutMs) => webhooks.idle(timeoutMs),
    async close() {
      clearInterval(ticker);
      webhooks.close();
      closeTimers();
      await app.close();
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
