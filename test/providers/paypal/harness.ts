import { Client, Environment, OrdersController, PaymentsController } from '@paypal/paypal-server-sdk';
import {
  DEMO_PAYPAL_CLIENT_ID,
  DEMO_PAYPAL_CLIENT_SECRET,
  startSettle,
  type SettleInstance,
} from '../../../src/app/create.js';
import type { DatabaseTarget } from '../../../src/db/connect.js';
import { emulatorHttpClientOptions, type PayPalEmulator } from '../../../src/emulators/paypal/index.js';
import { stripeClientFor } from '../../../src/emulators/stripe/index.js';
import type { Logger } from '../../../src/log/logger.js';
import { embeddedTemplate, freshDb, type Backend } from '../../helpers/db.js';
import { ADMIN_TOKEN, busyJobs, setupMarket, type Harness, type MarketSetup } from '../../helpers/settle.js';

/**
 * Settle in demo mode with both emulators in process (Stripe's and PayPal's), on one database backend: the
 * official SDKs over real HTTP, webhooks signed and delivered by the emulators. `settleDown` waits for both
 * emulators' deliveries and the side-effect queue.
 */
export interface PayPalHarness extends Harness {
  paypal: PayPalEmulator;
  /** The official SDK against the emulator, with Settle's demo credentials (reads what Settle created). */
  pp: { orders: OrdersController; payments: PaymentsController };
}

export async function startPayPalHarness(
  backend: Backend,
  opts: { env?: Record<string, string>; logger?: Logger } = {},
): Promise<PayPalHarness> {
  let database: DatabaseTarget;
  let cleanup: () => Promise<void> = async () => undefined;
  if (backend === 'server') {
    const t = await freshDb('server', { poolMax: 20 });
    await t.close();
    database = { kind: 'server', url: t.url ?? '', poolMax: 20 };
    cleanup = async () => {
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: process.env['DATABASE_URL'] });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${new URL(t.url ?? '').pathname.slice(1)} WITH (FORCE)`);
      await admin.end();
    };
  } else {
    database = { kind: 'memory', from: await embeddedTemplate() };
  }
  const settle: SettleInstance = await startSettle({
    env: {
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      SETTLE_ADMIN_TOKEN: ADMIN_TOKEN,
      SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
      SETTLE_QUEUE_POLL_MS: '25',
      ...opts.env,
    },
    port: 0,
    database,
    emulator: {
      port: 0,
      timeScale: 0.01,
      disputeDelayMs: 500,
      webhookRetry: { attempts: 4, baseDelayMs: 1000 },
    },
    paypalEmulator: { port: 0, webhookRetry: { attempts: 5, baseDelayMs: 200, maxDelayMs: 1000 } },
    seed: false,
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
  });
  const emulator = settle.emulator;
  const paypal = settle.paypalEmulator;
  if (emulator === null || paypal === null)
    throw new Error('the PayPal harness expects demo mode with both emulators');
  const client = new Client({
    clientCredentialsAuthCredentials: {
      oAuthClientId: DEMO_PAYPAL_CLIENT_ID,
      oAuthClientSecret: DEMO_PAYPAL_CLIENT_SECRET,
    },
    environment: Environment.Sandbox,
    timeout: 10_000,
    unstable_httpClientOptions: emulatorHttpClientOptions(paypal.url),
  });
  const call = async <T>(method: string, path: string, body: unknown, headers: Record<string, string>) => {
    const res = await fetch(`${settle.url}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
  };
  return {
    settle,
    stripe: stripeClientFor(emulator),
    paypal,
    pp: { orders: new OrdersController(client), payments: new PaymentsController(client) },
    api: (method, path, body, headers = {}) => call(method, path, body, headers),
    admin: (method, path, body, headers = {}) =>
      call(method, path, body, { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers }),
    settleDown: async () => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        await Promise.all([emulator.idle(20_000), paypal.idle(20_000)]);
        await settle.ctx.queue.drain();
        const busy = await busyJobs(settle.ctx.db);
        if (busy.length === 0) {
          await Promise.all([emulator.idle(20_000), paypal.idle(20_000)]);
          const again = await settle.ctx.queue.drain();
          if (again.claimed === 0) return;
        }
        if (Date.now() > deadline) throw new Error(`settleDown: still busy after 30 s (${busy.length} jobs)`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: async () => {
      await settle.close();
      await cleanup();
    },
  };
}

export interface BothSetup extends MarketSetup {
  /** The seller's PayPal merchant id. */
  merchantId: string;
}

/**
 * A seller ready on Stripe (through `setupMarket`) and on PayPal: the operator connects PayPal (a partner referral
 * tracked by the seller id), the seller signs up at the emulator, and the onboarding return page reads the
 * merchant back from PayPal.
 */
export async function setupBoth(
  h: PayPalHarness,
  opts: { capacity?: number; unitAmount?: number; currency?: string; feeBps?: number } = {},
): Promise<BothSetup> {
  const m = await setupMarket(h, { chargeType: 'destination', ...opts });
  const link = await h.admin<{ url: string }>('POST', `/api/sellers/${m.sellerId}/providers/paypal`, {});
  if (link.status !== 200) throw new Error(`connect paypal: ${link.status} ${JSON.stringify(link.body)}`);
  const { merchantId } = await h.paypal.completeOnboarding(m.sellerId);
  await h.settleDown();
  const view = await h.admin<{ providers: { provider: string; ready: boolean; accountId: string | null }[] }>(
    'GET',
    `/api/admin/sellers/${m.sellerId}`,
  );
  const pp = view.body.providers.find((p) => p.provider === 'paypal');
  if (pp?.ready !== true || pp.accountId !== merchantId)
    throw new Error(`paypal not ready: ${JSON.stringify(view.body)}`);
  return { ...m, merchantId };
}

/** Starts a PayPal checkout for the slot; answers Settle's order id and the PayPal order id (the session). */
export async function paypalCheckout(
  h: PayPalHarness,
  slotId: string,
  extra: { quantity?: number; promotionCode?: string; key?: string } = {},
): Promise<{ orderId: string; checkoutUrl: string; paypalOrderId: string }> {
  const r = await h.api<{ orderId: string; checkoutUrl: string }>(
    'POST',
    '/api/checkout',
    {
      slotId,
      quantity: extra.quantity ?? 1,
      provider: 'paypal',
      email: 'buyer@example.test',
      ...(extra.promotionCode !== undefined ? { promotionCode: extra.promotionCode } : {}),
    },
    extra.key !== undefined ? { 'idempotency-key': extra.key } : {},
  );
  if (r.status !== 201) throw new Error(`paypal checkout: ${r.status} ${JSON.stringify(r.body)}`);
  const row = await h.settle.ctx.db
    .selectFrom('orders')
    .select('provider_session_id')
    .where('id', '=', r.body.orderId)
    .executeTakeFirstOrThrow();
  if (row.provider_session_id === null) throw new Error('paypal checkout without a session');
  return { orderId: r.body.orderId, checkoutUrl: r.body.checkoutUrl, paypalOrderId: row.provider_session_id };
}

/** Capture calls the emulator answered by capturing (not a replay, not an error). */
export function captures(h: PayPalHarness, paypalOrderId: string): number {
  return h.paypal.requests.filter(
    (r) =>
      r.method === 'POST' &&
      r.path === `/v2/checkout/orders/${paypalOrderId}/capture` &&
      r.status < 300 &&
      !r.replayed,
  ).length;
}

/** The capture id PayPal recorded on the order. */
export async function captureIdOf(h: PayPalHarness, paypalOrderId: string): Promise<string> {
  const o = (await h.pp.orders.getOrder({ id: paypalOrderId })).result;
  const id = o.purchaseUnits?.[0]?.payments?.captures?.[0]?.id;
  if (id === undefined) throw new Error(`order ${paypalOrderId} has no capture`);
  return id;
}
