import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config, type RawEnv } from '../config/config.js';
import { setCrashPoint } from '../core/crash-points.js';
import { reconcile } from '../core/reconcile.js';
import { runRetentionSweep } from '../core/retention.js';
import { openDatabase, type DatabaseTarget, type OpenedDb } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import {
  startStripeEmulator,
  type StripeEmulator,
  type StripeEmulatorOptions,
} from '../emulators/stripe/index.js';
import { createHttp } from '../http/app.js';
import { adminRoutes } from '../http/routes/admin.js';
import { operatorActionRoutes } from '../http/routes/operator-actions.js';
import { publicRoutes } from '../http/routes/public.js';
import { stripeWebhookRoutes } from '../http/routes/webhooks.js';
import { createLogger, silentLogger, type Logger } from '../log/logger.js';
import {
  createStripeClient,
  createStripeProvider,
  DEMO_SECRET_KEY,
  registerWebhookEndpoints,
} from '../providers/stripe/index.js';
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
  /** Seed the demo marketplace (demo mode); defaults to SETTLE_DEMO_SEED. */
  seed?: boolean;
  /** Run the background queue worker and the periodic reconciler (tests may drive them by hand). */
  background?: boolean;
  logger?: Logger;
}

export interface SettleInstance {
  url: string;
  adminToken: string;
  ctx: AppContext;
  http: FastifyInstance;
  /** The in-process emulator in demo mode; null when talking to Stripe (or an external STRIPE_API_BASE). */
  emulator: StripeEmulator | null;
  /** Demo mode: signing secrets of the endpoints registered at the emulator (tests sign their own deliveries). */
  webhookSecrets: { platform: string[]; connect: string[] } | null;
  close(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts Settle: configuration, database (migrated), provider, queue, reconciler and HTTP server.
 * Without STRIPE_SECRET_KEY it runs the demo: the Stripe emulator in-process, both webhook endpoints registered
 * against this server, and (in an empty database) the demo marketplace seeded.
 */
export async function startSettle(opts: StartOptions = {}): Promise<SettleInstance> {
  const env = opts.env ?? process.env;
  const base = loadConfig(env);
  const port = opts.port ?? base.port;
  const actualPort = port === 0 ? await freePort(base.host) : port;
  const demo = base.stripe.secretKey === null;
  const publicUrl = base.publicUrlConfigured
    ? base.publicUrl
    : `http://${base.host === '0.0.0.0' ? '127.0.0.1' : base.host}:${actualPort}`;
  const adminToken = base.adminToken ?? randomBytes(18).toString('base64url');
  const logger = opts.logger ?? (base.logLevel === 'silent' ? silentLogger : createLogger(base.logLevel));
  setCrashPoint(base.testCrashPoint, logger);

  let emulator: StripeEmulator | null = null;
  const config: Config = { ...base, port: actualPort, publicUrl, adminToken, stripe: { ...base.stripe } };
  if (demo) {
    emulator = await startStripeEmulator({
      port: base.emulatorPort,
      logger: logger.child({ component: 'emulator' }),
      ...opts.emulator,
    });
    config.stripe.apiBase = emulator.url;
  }

  // The demo's emulator keeps its state in memory, so the demo's embedded database is recreated with it.
  let target: DatabaseTarget = opts.database ?? config.database;
  if (demo && opts.database === undefined && target.kind === 'embedded') {
    const dataDir = join(target.dataDir, 'demo');
    rmSync(dataDir, { recursive: true, force: true });
    target = { kind: 'embedded', dataDir };
  }
  let opened: OpenedDb | null = null;
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
    const ctx = createContext({ config, opened, provider, logger });
    const queue = ctx.queue;

    const http = createHttp({
      logLevel: config.logLevel,
      https: publicUrl.startsWith('https://'),
      rateLimitPerMinute: config.rateLimitPerMinute,
      trustProxy: config.trustProxy,
      logger,
    });
    await http.register(async (scope) => publicRoutes(scope, ctx));
    await http.register(async (scope) => adminRoutes(scope, ctx));
    await http.register(async (scope) => operatorActionRoutes(scope, ctx));
    await http.register(async (scope) => stripeWebhookRoutes(scope, ctx));
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
    await http.listen({ port: actualPort, host: config.host });

    const background = opts.background ?? true;
    if (background) queue.start();
    // The retention sweep (done jobs, old inbox events, released holds, notifications, expired idempotency keys;
    // src/core/retention.ts) runs hourly, whether or not the reconciler runs. It logs its counts.
    let sweeping = false;
    const purgeTimer = background
      ? setInterval(() => {
          if (sweeping) return;
          sweeping = true;
          runRetentionSweep(ctx)
            .catch((err: unknown) =>
              logger.warn(
                { err: err instanceof Error ? err.message : String(err) },
                'retention sweep failed',
              ),
            )
            .finally(() => (sweeping = false));
        }, 3_600_000)
      : null;
    purgeTimer?.unref();
    let reconcileTimer: NodeJS.Timeout | null = null;
    let reconciling = false;
    if (background && config.reconcileIntervalSeconds > 0) {
      // The first run after a start looks back 72 h (covers downtime); later runs only overlap the previous one.
      let lookbackHours = 72;
      const steadyLookback = Math.max(1, (2 * config.reconcileIntervalSeconds) / 3600);
      reconcileTimer = setInterval(() => {
        if (reconciling) return;
        reconciling = true;
        reconcile(ctx, { lookbackHours })
          .then((s) => {
            if (s.errors.length === 0) lookbackHours = steadyLookback;
            logger.info({ summary: { ...s, errors: s.errors.length } }, 'periodic reconciliation');
          })
          .catch((err: unknown) =>
            logger.error({ err: err instanceof Error ? err.message : String(err) }, 'reconciliation failed'),
          )
          .finally(() => (reconciling = false));
      }, config.reconcileIntervalSeconds * 1000);
      reconcileTimer.unref();
    }

    if (demo && emulator !== null && (opts.seed ?? config.demoSeed)) {
      const emu = emulator;
      await seedDemo(ctx, (accountId) => emu.completeOnboarding(accountId));
    }

    const db = opened;
    return {
      url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${actualPort}`,
      adminToken,
      ctx,
      http,
      emulator,
      webhookSecrets: secretsOverride ?? null,
      close: async () => {
        if (reconcileTimer !== null) clearInterval(reconcileTimer);
        if (purgeTimer !== null) clearInterval(purgeTimer);
        await queue.stop();
        await http.close();
        await emulator?.close();
        await db.close();
      },
    };
  } catch (err) {
    await emulator?.close();
    await opened?.close();
    throw err;
  }
}
