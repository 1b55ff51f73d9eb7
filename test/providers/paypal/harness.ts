import { Client, Environment, OrdersController, PaymentsController } from '@paypal/paypal-server-sdk';
import { DEMO_PAYPAL_CLIENT_ID, DEMO_PAYPAL_CLIENT_SECRET } from '../../../src/app/create.js';
import { emulatorHttpClientOptions, type PayPalEmulator } from '../../../src/emulators/paypal/index.js';
import type { Logger } from '../../../src/log/logger.js';
import type { Backend } from '../../helpers/db.js';
import { setupMarket, startHarness, type Harness, type MarketSetup } from '../../helpers/settle.js';

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

/** The official PayPal SDK on the emulator, with Settle's demo credentials (reads what Settle created). */
export function paypalSdkFor(paypal: PayPalEmulator): PayPalHarness['pp'] {
  const client = new Client({
    clientCredentialsAuthCredentials: {
      oAuthClientId: DEMO_PAYPAL_CLIENT_ID,
      oAuthClientSecret: DEMO_PAYPAL_CLIENT_SECRET,
    },
    environment: Environment.Sandbox,
    timeout: 10_000,
    unstable_httpClientOptions: emulatorHttpClientOptions(paypal.url),
  });
  return { orders: new OrdersController(client), payments: new PaymentsController(client) };
}

/** The PayPal emulator's options in the harnesses (fast retries). */
export const PAYPAL_HARNESS_EMULATOR = {
  port: 0,
  webhookRetry: { attempts: 5, baseDelayMs: 200, maxDelayMs: 1000 },
} as const;

export async function startPayPalHarness(
  backend: Backend,
  opts: { env?: Record<string, string>; logger?: Logger } = {},
): Promise<PayPalHarness> {
  const h = await startHarness(backend, { ...opts, paypal: PAYPAL_HARNESS_EMULATOR });
  const paypal = h.settle.paypalEmulator;
  if (paypal === null) {
    await h.close();
    throw new Error('the PayPal harness expects demo mode with both emulators');
  }
  return { ...h, paypal, pp: paypalSdkFor(paypal) };
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
