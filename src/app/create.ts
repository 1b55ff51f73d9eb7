import { adminSubscriptionRoutes, subscriptionRoutes } from '../http/routes/subscriptions.js';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import {
  loadConfig,
  paypalConfigured,
  squareConfigured,
  type Config,
  type RawEnv,
} from '../config/config.js';
import { grantStore } from '../core/credentials.js';
import { setCrashPoint } from '../core/crash-points.js';
import { newHolderId, startLeasedTask, type LeasedTask } from '../core/leases.js';
import { reconcile } from '../core/reconcile.js';
import { runRetentionSweep } from '../core/retention.js';
import { openDatabase, type DatabaseTarget, type OpenedDb } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
// The emulators and the PayPal and Square adapters (with their SDKs) are loaded only where they are used (demo mode, a
// configured provider): a Stripe-only production server does not carry about 75 MB of modules it never runs.
import type { StripeEmulator, StripeEmulatorOptions } from '../emulators/stripe/index.js';
import { bindServer, createHttp } from '../http/app.js';
import { openRedis } from '../http/rate-limit-store.js';
import { adminRoutes } from '../http/routes/admin.js';
import { oauthRoutes } from '../http/routes/oauth.js';
import { operatorActionRoutes } from '../http/routes/operator-actions.js';
import { publicRoutes } from '../http/routes/public.js';
import { webhookRoutes } from '../http/routes/webhooks.js';
import { createLogger, silentLogger, type Logger } from '../log/logger.js';
import {
  createStripeClient,
  createStripeProvider,
  DEMO_SECRET_KEY,
  registerWebhookEndpoints,
} from '../providers/stripe/index.js';
import type { PayPalEmulator, PayPalEmulatorOptions } from '../emulators/paypal/index.js';
import type { SquareEmulator, SquareEmulatorOptions } from '../emulators/square/index.js';
import { randomSealingKeys } from '../core/sealed.js';
import type { PaymentProvider } from '../core/provider.js';
import { registerWeb } from '../web/routes.js';
import { createContext, type AppContext } from './context.js';
import { seedDemo } from './seed.js';

export interface StartOptions {
  /** Environment to read configuration from; defaults to process.env. */
  env?: RawEnv;
  /** Overrides PORT; 0 picks a free port. */
  port?: number;
  /** Overrides the database chosen by configuration (tests pass `{kind:'memory'}` or a server URL). */
  database?: DatabaseTarget;
  /** Demo mode only: options for the in-process emulator (port 0 for tests, timeScale…). */
  emulator?: Partial<StripeEmulatorOptions>;
  /**
   * Demo mode only, when PayPal is not configured: run the PayPal emulator in process next to Stripe's (`true` or
   * its options) or not (`false`). Default: on for a plain start (`npm start`), off when the caller tunes the
   * Stripe emulator (`emulator` given, as tests do): such callers opt in to PayPal explicitly.
   */
  paypalEmulator?: boolean | PayPalEmulatorOptions;
  /** Demo mode only, when Square is not configured: the Square emulator in process; defaults as `paypalEmulator`. */
  squareEmulator?: boolean | SquareEmulatorOptions;
  /** Seed the demo marketplace (demo mode); defaults to SETTLE_DEMO_SEED. */
  seed?: boolean;
  /** Run the background queue worker and the periodic reconciler (tests may drive them by hand). */
  background?: boolean;
  /** This instance's lease holder id (default: random per start). */
  holder?: string;
  logger?: Logger;
}

export interface SettleInstance {
  url: string;
  adminToken: string;
  ctx: AppContext;
  http: FastifyInstance;
  /** The in-process emulator in demo mode; null when talking to Stripe (or an external STRIPE_API_BASE). */
  emulator: StripeEmulator | null;
  /** The in-process PayPal emulator in demo mode (when on); null otherwise. */
  paypalEmulator: PayPalEmulator | null;
  /** The in-process Square emulator in demo mode (when on); null otherwise. */
  squareEmulator: SquareEmulator | null;
  /** Demo mode: signing secrets of the endpoints registered at the emulator (tests sign their own deliveries). */
  webhookSecrets: { platform: string[]; connect: string[] } | null;
  /** The random id this instance holds leases under (periodic work runs in one instance at a time). */
  holder: string;
  /**
   * Graceful shutdown: stops the periodic work (waiting for a running pass) and releases its leases, stops
   * accepting connections and lets in-flight requests finish, stops the queue worker after the job it is running
   * (releasing the jobs it claimed but had not started), then closes the emulator, Redis and the database.
   */
  close(): Promise<void>;
}

/** Credentials the demo's PayPal emulator accepts (it accepts any; these name the demo in its logs). */
export const DEMO_PAYPAL_CLIENT_ID = 'settle-demo-client';
export const DEMO_PAYPAL_CLIENT_SECRET = 'settle-demo-secret';
/** The demo's partner attribution (BN) code. */
export const DEMO_PAYPAL_BN_CODE = 'SETTLE_DEMO_MP';

/** Lease names of the periodic work (table `leases`). */
export const LEASE_RECONCILE = 'reconcile';
export const LEASE_RETENTION = 'retention-sweep';

/**
 * Starts Settle: configuration, database (migrated), provider, queue, reconciler and HTTP server.
 * Without STRIPE_SECRET_KEY it runs the demo: the Stripe emulator in-process, both webhook endpoints registered
 * against this server, and (in an empty database) the demo marketplace seeded.
 */
export async function startSettle(opts: StartOptions = {}): Promise<SettleInstance> {
  const env = opts.env ?? process.env;
  const base = loadConfig(env);
  const port = opts.port ?? base.port;
  // Port 0: the system picks a port, held from here on (bound now, served once the routes are registered), because
  // the public URL registered at the emulator names it before the server is ready.
  const bound = port === 0 ? await bindServer(0, base.host) : null;
  const actualPort = bound?.port ?? port;
  const demo = base.stripe.secretKey === null;
  const publicUrl = base.publicUrlConfigured
    ? base.publicUrl
    : `http://${base.host === '0.0.0.0' ? '127.0.0.1' : base.host}:${actualPort}`;
  const adminToken = base.adminToken ?? randomBytes(18).toString('base64url');
  const logger = opts.logger ?? (base.logLevel === 'silent' ? silentLogger : createLogger(base.logLevel));
  setCrashPoint(base.testCrashPoint, logger);

  let emulator: StripeEmulator | null = null;
  const config: Config = {
    ...base,
    port: actualPort,
    publicUrl,
    adminToken,
    stripe: { ...base.stripe },
    paypal: { ...base.paypal },
    square: { ...base.square },
  };
  if (demo) {
    const { startStripeEmulator } = await import('../emulators/stripe/index.js');
    emulator = await startStripeEmulator({
      port: base.emulatorPort,
      logger: logger.child({ component: 'emulator' }),
      ...opts.emulator,
    });
    config.stripe.apiBase = emulator.url;
  }
  // Demo PayPal: the emulator in process, with demo credentials; its webhook is registered once the database is up.
  let paypalEmulator: PayPalEmulator | null = null;
  const paypalDemo =
    demo && !paypalConfigured(base.paypal) && (opts.paypalEmulator ?? opts.emulator === undefined) !== false;
  if (paypalDemo) {
    try {
      const { startPayPalEmulator } = await import('../emulators/paypal/index.js');
      paypalEmulator = await startPayPalEmulator({
        port: base.paypalEmulatorPort,
        logger: logger.child({ component: 'paypal-emulator' }),
        ...(typeof opts.paypalEmulator === 'object' ? opts.paypalEmulator : {}),
      });
    } catch (err) {
      await emulator?.close();
      throw err;
    }
    config.paypal = {
      ...config.paypal,
      clientId: DEMO_PAYPAL_CLIENT_ID,
      clientSecret: DEMO_PAYPAL_CLIENT_SECRET,
      mode: 'sandbox',
      partnerAttributionId: DEMO_PAYPAL_BN_CODE,
      partnerMerchantId: paypalEmulator.partnerMerchantId,
      apiBase: paypalEmulator.url,
    };
  }

  // Demo Square: the emulator in process as the platform's Square application; sellers connect through its OAuth
  // page, which sends them back to this server. Its webhook subscription is made once the database is up.
  let squareEmulator: SquareEmulator | null = null;
  const squareDemo =
    demo && !squareConfigured(base.square) && (opts.squareEmulator ?? opts.emulator === undefined) !== false;
  if (squareDemo) {
    const { SQUARE_WEBHOOK_PATH } = await import('../providers/square/index.js');
    try {
      const { startSquareEmulator } = await import('../emulators/square/index.js');
      squareEmulator = await startSquareEmulator({
        port: base.squareEmulatorPort,
        logger: logger.child({ component: 'square-emulator' }),
        ...(typeof opts.squareEmulator === 'object' ? opts.squareEmulator : {}),
      });
    } catch (err) {
      await emulator?.close();
      await paypalEmulator?.close();
      throw err;
    }
    squareEmulator.setRedirectUrl(`${publicUrl}/oauth/square/callback`);
    config.square = {
      ...config.square,
      applicationId: squareEmulator.applicationId,
      applicationSecret: squareEmulator.applicationSecret,
      accessToken: squareEmulator.personalAccessToken,
      environment: 'sandbox',
      apiBase: squareEmulator.url,
      webhookUrl: `${publicUrl}${SQUARE_WEBHOOK_PATH}`,
    };
    // The demo's sellers' tokens live as long as the demo's database: a key of its own when none is configured.
    if (config.sealingKeys === null) config.sealingKeys = randomSealingKeys();
  }

  // The demo's emulator keeps its state in memory, so the demo's embedded database is recreated with it.
  let target: DatabaseTarget = opts.database ?? config.database;
  if (demo && opts.database === undefined && target.kind === 'embedded') {
    const dataDir = join(target.dataDir, 'demo');
    rmSync(dataDir, { recursive: true, force: true });
    target = { kind: 'embedded', dataDir };
  }
  let opened: OpenedDb | null = null;
  let redis: Redis | null = null;
  const tasks: LeasedTask[] = [];
  try {
    opened = await openDatabase(target, (err) =>
      logger.warn({ err: err.message }, 'idle database connection lost'),
    );
    await migrateToLatest(opened.db);

    let secretsOverride: { platform: string[]; connect: string[] } | undefined;
    if (demo) {
      const secrets = await registerWebhookEndpoints(createStripeClient(config, DEMO_SECRET_KEY), publicUrl);
      secretsOverride = { platform: [secrets.platformSecret], connect: [secrets.connectSecret] };
    }
    const { provider } = createStripeProvider(config, {
      logger,
      ...(secretsOverride ? { secretsOverride } : {}),
    });
    if (paypalEmulator !== null) {
      // Demo: subscribe this server's PayPal endpoint at the emulator; the webhook id is part of every signature.
      const { createPayPalApi, PayPalRest, registerWebhook, WEBHOOK_PATH } =
        await import('../providers/paypal/index.js');
      config.paypal.webhookId = await registerWebhook(
        new PayPalRest(createPayPalApi(config.paypal)),
        `${publicUrl}${WEBHOOK_PATH}`,
      );
    }
    if (squareEmulator !== null) {
      // Demo: subscribe this server's Square endpoint (the signature key covers the URL) and turn events search on.
      const { squareClientFor } = await import('../emulators/square/index.js');
      const { enableSquareEvents, registerSquareWebhook, SQUARE_WEBHOOK_PATH } =
        await import('../providers/square/index.js');
      const app = squareClientFor(squareEmulator, squareEmulator.personalAccessToken);
      const sub = await registerSquareWebhook(app, `${publicUrl}${SQUARE_WEBHOOK_PATH}`);
      config.square.webhookSignatureKey = sub.signatureKey;
      await enableSquareEvents(app);
    }
    // The platform's providers in order of preference: Stripe first, then PayPal and Square (configured, or the
    // demo's emulators).
    const providers: PaymentProvider[] = [provider];
    if (paypalConfigured(config.paypal)) {
      const { createPayPalProvider } = await import('../providers/paypal/index.js');
      providers.push(createPayPalProvider(config, { logger }).provider);
    }
    if (squareConfigured(config.square)) {
      const { createSquareProvider } = await import('../providers/square/index.js');
      providers.push(
        createSquareProvider(config, {
          grants: grantStore(opened.db, config.sealingKeys, 'square'),
          logger,
        }).provider,
      );
    }
    const ctx = createContext({ config, opened, providers, logger });
    const queue = ctx.queue;

    // Rate-limit counters are shared by every instance: in Redis when REDIS_URL is set, else in the database.
    if (config.redisUrl !== null && config.rateLimitPerMinute > 0) {
      redis = await openRedis(config.redisUrl, logger.child({ component: 'redis' }));
    }
    const http = createHttp({
      logLevel: config.logLevel,
      https: publicUrl.startsWith('https://'),
      rateLimitPerMinute: config.rateLimitPerMinute,
      rateLimitStore: redis !== null ? { kind: 'redis', client: redis } : { kind: 'postgres', db: opened.db },
      trustProxy: config.trustProxy,
      logger,
      ...(bound ? { boundServer: bound } : {}),
    });
    await http.register(async (scope) => publicRoutes(scope, ctx));
    await http.register(async (scope) => adminRoutes(scope, ctx));
    await http.register(async (scope) => operatorActionRoutes(scope, ctx));
    await http.register(async (scope) => webhookRoutes(scope, ctx));
    await http.register(async (scope) => oauthRoutes(scope, ctx));
    await http.register(async (scope) => subscriptionRoutes(scope, ctx));
    await http.register(async (scope) => adminSubscriptionRoutes(scope, ctx));
    await http.register(async (scope) =>
      registerWeb(scope, {
        mode:
          demo || config.stripe.apiBase !== null
            ? 'emulator'
            : config.stripe.mode === 'live'
              ? 'live'
              : 'test',
      }),
    );
    if (bound) await http.ready();
    else await http.listen({ port: actualPort, host: config.host });

    const background = opts.background ?? true;
    if (background) queue.start();
    // Periodic work runs in one instance at a time: each tick first takes (or renews) a lease in the database
    // (src/core/leases.ts); the instance holding it runs the work and keeps it, the others skip their ticks until
    // it is released (shutdown) or lapses (the holder died).
    const holder = opts.holder ?? newHolderId();
    const errMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
    if (background) {
      // The retention sweep (done jobs, old inbox events, released holds, notifications, expired idempotency keys;
      // src/core/retention.ts) runs hourly, whether or not the reconciler runs. It logs its counts.
      tasks.push(
        startLeasedTask({
          db: ctx.db,
          name: LEASE_RETENTION,
          holder,
          intervalMs: 3_600_000,
          leaseMs: 5 * 60_000,
          now: ctx.now,
          logger,
          work: async () => {
            try {
              await runRetentionSweep(ctx);
            } catch (err) {
              logger.warn({ err: errMessage(err) }, 'retention sweep failed');
            }
          },
        }),
      );
    }
    if (background && config.reconcileIntervalSeconds > 0) {
      // The first run in an instance looks back 72 h (covers downtime); later runs only overlap the previous one.
      let lookbackHours = 72;
      const steadyLookback = Math.max(1, (2 * config.reconcileIntervalSeconds) / 3600);
      tasks.push(
        startLeasedTask({
          db: ctx.db,
          name: LEASE_RECONCILE,
          holder,
          intervalMs: config.reconcileIntervalSeconds * 1000,
          leaseMs: Math.max(30_000, config.reconcileIntervalSeconds * 1000),
          now: ctx.now,
          logger,
          work: async () => {
            try {
              const s = await reconcile(ctx, { lookbackHours });
              if (s.errors.length === 0) lookbackHours = steadyLookback;
              logger.info({ summary: { ...s, errors: s.errors.length } }, 'periodic reconciliation');
            } catch (err) {
              logger.error({ err: errMessage(err) }, 'reconciliation failed');
            }
          },
        }),
      );
    }

    if (demo && emulator !== null && (opts.seed ?? config.demoSeed)) {
      const emu = emulator;
      const ppEmu = paypalEmulator;
      const sqEmu = squareEmulator;
      await seedDemo(ctx, {
        ...(sqEmu !== null
          ? {
              square: async (sellerName: string) => {
                const { code } = await sqEmu.authorizeSeller({ sellerName });
                return { code };
              },
            }
          : {}),
        stripe: (accountId) => emu.completeOnboarding(accountId),
        ...(ppEmu !== null
          ? {
              paypal: async (sellerId: string) => {
                await ppEmu.completeOnboarding(sellerId);
              },
            }
          : {}),
      });
    }

    const db = opened;
    const redisClient = redis;
    return {
      url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${actualPort}`,
      adminToken,
      ctx,
      http,
      emulator,
      paypalEmulator,
      squareEmulator,
      webhookSecrets: secretsOverride ?? null,
      holder,
      close: async () => {
        logger.info({ holder }, 'shutting down: periodic work and HTTP, then the queue');
        // Periodic work: waits for a running pass, then releases the leases. HTTP: stops listening and waits for
        // the requests in flight (a new request on a kept-alive connection gets 503).
        await Promise.all([...tasks.map((t) => t.stop()), http.close().then(() => bound?.close())]);
        // After the job it is running; its claimed but unstarted jobs go back to the queue for another instance.
        await queue.stop();
        await emulator?.close();
        await paypalEmulator?.close();
        await squareEmulator?.close();
        if (redisClient !== null) await redisClient.quit().catch(() => redisClient.disconnect());
        await db.close();
        logger.info({ holder }, 'closed');
      },
    };
  } catch (err) {
    await Promise.all(tasks.map((t) => t.stop(0)));
    await bound?.close();
    await emulator?.close();
    await paypalEmulator?.close();
    await squareEmulator?.close();
    redis?.disconnect();
    await opened?.close();
    throw err;
  }
}
