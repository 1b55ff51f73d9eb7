import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { loadConfig, type Config } from '../../../src/config/config.js';
import type { AccountContext, CreateCheckoutInput } from '../../../src/core/provider.js';
import {
  startStripeEmulator,
  type StripeEmulator,
  type StripeEmulatorOptions,
} from '../../../src/emulators/stripe/index.js';
import { createStripeProvider, registerWebhookEndpoints } from '../../../src/providers/stripe/index.js';
import type { StripeProvider } from '../../../src/providers/stripe/provider.js';

export interface Delivery {
  path: string;
  raw: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** A tiny local HTTP server standing in for Settle's webhook routes; records raw bytes and headers. */
export interface Receiver {
  publicUrl: string;
  deliveries: Delivery[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ path: req.url ?? '', raw: Buffer.concat(chunks), headers: { ...req.headers } });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    publicUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deliveries,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface ProviderHarness {
  emu: StripeEmulator;
  stripe: Stripe;
  provider: StripeProvider;
  config: Config;
  receiver: Receiver;
  secrets: { platformSecret: string; connectSecret: string };
  direct: AccountContext;
  destination: AccountContext;
  close(): Promise<void>;
}

export const TEST_KEY = 'sk_test_settle_provider';

export function testConfig(emuUrl: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    STRIPE_SECRET_KEY: TEST_KEY,
    STRIPE_API_BASE: emuUrl,
    STRIPE_WEBHOOK_SECRET: 'whsec_placeholder_platform',
    STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_placeholder_connect',
    STRIPE_MAX_NETWORK_RETRIES: '0',
    SETTLE_ADMIN_TOKEN: 'admin-token-0123456789',
    ...extra,
  });
}

/** Emulator + webhook receiver registered as PUBLIC_URL + provider built by the real factory + two onboarded sellers. */
export async function startProviderHarness(opts: StripeEmulatorOptions = {}): Promise<ProviderHarness> {
  const emu = await startStripeEmulator({
    timeScale: 0.01,
    webhookRetry: { attempts: 2, baseDelayMs: 100 },
    ...opts,
  });
  const receiver = await startReceiver();
  const config = testConfig(emu.url, { PUBLIC_URL: receiver.publicUrl });
  const bootstrap = createStripeProvider(config);
  const secrets = await registerWebhookEndpoints(bootstrap.stripe, receiver.publicUrl);
  const { provider, stripe } = createStripeProvider(config, {
    secretsOverride: { platform: [secrets.platformSecret], connect: [secrets.connectSecret] },
  });
  const directSeller = await provider.createSellerAccount({
    sellerId: 'sel_direct',
    email: 'direct@example.com',
    idempotencyKey: 'seller:sel_direct',
  });
  const destSeller = await provider.createSellerAccount({
    sellerId: 'sel_dest',
    email: 'dest@example.com',
    idempotencyKey: 'seller:sel_dest',
  });
  await emu.completeOnboarding(directSeller.accountId);
  await emu.completeOnboarding(destSeller.accountId);
  await emu.idle();
  return {
    emu,
    stripe,
    provider,
    config,
    receiver,
    secrets,
    direct: { accountId: directSeller.accountId, chargeType: 'direct' },
    destination: { accountId: destSeller.accountId, chargeType: 'destination' },
    close: async () => {
      await emu.close();
      await receiver.close();
    },
  };
}

let counter = 0;

/** A checkout input for `account`: 2 × 2500 eur, 10 % fee (500), expires in 40 minutes. */
export function checkoutInput(
  account: AccountContext,
  extra: Partial<CreateCheckoutInput> = {},
): CreateCheckoutInput {
  counter += 1;
  const orderId = `ord_test_${Date.now()}_${counter}`;
  return {
    orderId,
    account,
    lineItem: { name: 'Pottery class', unitAmount: 2500, quantity: 2 },
    currency: 'eur',
    applicationFee: 500,
    expiresAt: new Date(Date.now() + 40 * 60 * 1000),
    successUrl: 'http://shop.test/orders/ok?session_id={CHECKOUT_SESSION_ID}',
    cancelUrl: 'http://shop.test/orders/cancel',
    promotionCodeProviderId: null,
    customerEmail: 'buyer@example.com',
    idempotencyKey: `checkout:${orderId}`,
    ...extra,
  };
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
