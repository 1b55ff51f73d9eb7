import Stripe from 'stripe';
import { startSettle, type SettleInstance } from '../../src/app/create.js';
import type { Db, DatabaseTarget } from '../../src/db/connect.js';
import type { Logger } from '../../src/log/logger.js';
import { stripeClientFor } from '../../src/emulators/stripe/index.js';
import type { PayPalEmulatorOptions } from '../../src/emulators/paypal/index.js';
import type { SquareEmulatorOptions } from '../../src/emulators/square/index.js';
import type { StripeEmulatorOptions } from '../../src/emulators/stripe/index.js';
import { embeddedTemplate, freshDb, type Backend } from './db.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Harness {
  settle: SettleInstance;
  stripe: Stripe;
  api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: T; headers: Headers }>;
  admin<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: T; headers: Headers }>;
  /** Waits until webhook deliveries are done and the side-effect queue is drained. */
  settleDown(): Promise<void>;
  close(): Promise<void>;
}

/** Starts Settle in demo mode (in-process emulator, fast time scale) on the given database backend. */
export async function startHarness(
  backend: Backend,
  opts: {
    seed?: boolean;
    env?: Record<string, string>;
    /** Every line Settle logs goes here (the log scan); LOG_LEVEL still applies. */
    logger?: Logger;
    /** The operator token (default ADMIN_TOKEN). */
    adminToken?: string;
    /** Run the PayPal emulator in process too, with these options (default: off). */
    paypal?: PayPalEmulatorOptions;
    /** Run the Square emulator in process too, with these options (default: off). */
    square?: SquareEmulatorOptions;
    /** Stripe emulator options over the harness defaults (e.g. `billingRetry`); the defaults stay as they are. */
    emulator?: Partial<StripeEmulatorOptions>;
  } = {},
): Promise<Harness> {
  const adminToken = opts.adminToken ?? ADMIN_TOKEN;
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
      const name = new URL(t.url ?? '').pathname.slice(1);
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    };
  } else {
    database = { kind: 'memory', from: await embeddedTemplate() };
  }
  let settle: SettleInstance;
  try {
    settle = await startSettle({
      env: {
        LOG_LEVEL: 'silent',
        HOST: '127.0.0.1',
        SETTLE_ADMIN_TOKEN: adminToken,
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
        ...opts.emulator,
      },
      paypalEmulator: opts.paypal ?? false,
      squareEmulator: opts.square ?? false,
      seed: opts.seed ?? false,
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const emulator = settle.emulator;
  if (emulator === null) throw new Error('harness expects demo mode');
  // Every emulator running in process: their deliveries, retries and scheduled completions.
  const emulatorsIdle = () =>
    Promise.all([
      emulator.idle(20_000),
      settle.paypalEmulator?.idle(20_000),
      settle.squareEmulator?.idle(20_000),
    ]);
  const stripe = stripeClientFor(emulator);
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
    stripe,
    api: (method, path, body, headers = {}) => call(method, path, body, headers),
    admin: (method, path, body, headers = {}) =>
      call(method, path, body, { authorization: `Bearer ${adminToken}`, ...headers }),
    settleDown: async () => {
      // Quiet means: no webhook delivery pending at the emulator and no side-effect job due or running
      // (the background worker may hold a job that drain() cannot claim).
      const deadline = Date.now() + 30_000;
      for (;;) {
        await emulatorsIdle();
        await settle.ctx.queue.drain();
        const busy = await busyJobs(settle.ctx.db);
        if (busy.length === 0) {
          await emulatorsIdle();
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

/** Jobs running or due now: the queue is quiet when there are none. */
export async function busyJobs(db: Db): Promise<{ id: number }[]> {
  return db
    .selectFrom('jobs')
    .select('id')
    .where((eb) =>
      eb.or([
        eb('status', '=', 'running'),
        eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', new Date())]),
      ]),
    )
    .execute();
}

export interface MarketSetup {
  sellerId: string;
  accountId: string;
  listingId: string;
  slotId: string;
}

/** Creates an onboarded seller with one listing and one slot through the public API, plus promotion codes. */
export async function setupMarket(
  h: Harness,
  opts: {
    chargeType: 'direct' | 'destination';
    capacity?: number;
    unitAmount?: number;
    currency?: string;
    feeBps?: number;
    /** A fixed part of the seller's fee (minor units); none by default. */
    feeFixed?: number;
  },
): Promise<MarketSetup> {
  const seller = await h.admin<{ id: string; accountId: string }>('POST', '/api/sellers', {
    name: `Seller ${opts.chargeType}`,
    email: 'seller@example.test',
    chargeType: opts.chargeType,
    feeBps: opts.feeBps ?? 1000,
    ...(opts.feeFixed !== undefined ? { feeFixed: opts.feeFixed } : {}),
  });
  if (seller.status !== 201) throw new Error(`seller: ${JSON.stringify(seller.body)}`);
  await h.settle.emulator?.completeOnboarding(seller.body.accountId);
  await h.settleDown();
  const listing = await h.admin<{ id: string }>('POST', '/api/listings', {
    sellerId: seller.body.id,
    title: 'Pottery taster',
    currency: opts.currency ?? 'usd',
    unitAmount: opts.unitAmount ?? 5000,
  });
  const slot = await h.admin<{ id: string }>('POST', `/api/listings/${listing.body.id}/slots`, {
    startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
    capacity: opts.capacity ?? 10,
  });
  // Through the operator API: Settle's copy, the platform's and the Direct Charge seller's account.
  for (const p of [
    { code: 'FREE100', percentOff: 100 },
    { code: 'TENOFF', percentOff: 10 },
  ]) {
    const r = await h.admin('POST', '/api/admin/promotion-codes', p);
    if (r.status !== 201) throw new Error(`promotion code: ${JSON.stringify(r.body)}`);
  }
  return {
    sellerId: seller.body.id,
    accountId: seller.body.accountId,
    listingId: listing.body.id,
    slotId: slot.body.id,
  };
}

export async function checkout(
  h: Harness,
  slotId: string,
  extra: { quantity?: number; promotionCode?: string } = {},
) {
  const r = await h.api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', {
    slotId,
    quantity: extra.quantity ?? 1,
    ...(extra.promotionCode ? { promotionCode: extra.promotionCode } : {}),
    email: 'buyer@example.test',
  });
  if (r.status !== 201) throw new Error(`checkout: ${r.status} ${JSON.stringify(r.body)}`);
  const sessionId = new URL(r.body.checkoutUrl).pathname.split('/').pop() ?? '';
  return { orderId: r.body.orderId, checkoutUrl: r.body.checkoutUrl, sessionId };
}

/** As if the order's hold had run out a second ago (the checkout itself is left as it is). */
export async function lapseHold(h: Harness, orderId: string): Promise<void> {
  await h.settle.ctx.db
    .updateTable('holds')
    .set({ expires_at: new Date(Date.now() - 1000) })
    .where('order_id', '=', orderId)
    .execute();
}

export async function order(h: Harness, orderId: string) {
  return (
    await h.admin<
      Record<string, unknown> & { status: string; history: { to: string; via: string | null }[] }
    >('GET', `/api/admin/orders/${orderId}`)
  ).body;
}

/**
 * How many times the order was fulfilled, counted as transitions to `paid` in its history: nothing caps that
 * count (unlike the booking notification, whose dedupe key is unique), so a double confirmation shows as 2.
 */
export async function fulfilments(h: Harness, orderId: string): Promise<number> {
  const rows = await h.settle.ctx.db
    .selectFrom('order_events')
    .select('id')
    .where('order_id', '=', orderId)
    .where('to_status', '=', 'paid')
    .execute();
  return rows.length;
}
