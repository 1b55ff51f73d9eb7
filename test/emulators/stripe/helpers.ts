import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { expect } from 'vitest';
import {
  startStripeEmulator,
  stripeClientFor,
  type StripeEmulator,
  type StripeEmulatorOptions,
} from '../../../src/emulators/stripe/index.js';

export interface Received {
  raw: string;
  signature: string;
  event: Stripe.Event;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Decides the HTTP status for the n-th (0-based) request; default 200. */
  respond: (n: number) => number;
  types(): string[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  let count = 0;
  const receiver: Receiver = {
    url: '',
    received,
    respond: () => 200,
    types: () => received.map((r) => r.event.type),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const status = receiver.respond(count++);
      if (status >= 200 && status < 300) {
        received.push({
          raw,
          signature: String(req.headers['stripe-signature'] ?? ''),
          event: JSON.parse(raw) as Stripe.Event,
          at: Date.now(),
        });
      }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
  return receiver;
}

export interface Harness {
  emu: StripeEmulator;
  stripe: Stripe;
  platform: Receiver;
  connect: Receiver;
  platformSecret: string;
  connectSecret: string;
  platformEndpointId: string;
  connectEndpointId: string;
  close(): Promise<void>;
}

/** Emulator + SDK client + one platform and one Connect endpoint, each with its own receiver. */
export async function startHarness(opts: StripeEmulatorOptions = {}): Promise<Harness> {
  const emu = await startStripeEmulator({
    timeScale: 0.01,
    webhookRetry: { attempts: 4, baseDelayMs: 1000 },
    ...opts,
  });
  const stripe = stripeClientFor(emu);
  const platform = await startReceiver();
  const connect = await startReceiver();
  const pe = await stripe.webhookEndpoints.create({ url: platform.url, enabled_events: ['*'] });
  const ce = await stripe.webhookEndpoints.create({ url: connect.url, enabled_events: ['*'], connect: true });
  return {
    emu,
    stripe,
    platform,
    connect,
    platformSecret: pe.secret ?? '',
    connectSecret: ce.secret ?? '',
    platformEndpointId: pe.id,
    connectEndpointId: ce.id,
    close: async () => {
      await emu.close();
      await platform.close();
      await connect.close();
    },
  };
}

/** Creates a connected account and completes onboarding through the account link page (form POST). */
export async function onboardedAccount(stripe: Stripe): Promise<Stripe.Account> {
  const acct = await stripe.accounts.create({ type: 'express', country: 'US', email: 'seller@example.com' });
  const link = await stripe.accountLinks.create({
    account: acct.id,
    refresh_url: 'http://shop.test/refresh',
    return_url: 'http://shop.test/return',
    type: 'account_onboarding',
  });
  const res = await fetch(link.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'business_name=Shop',
    redirect: 'manual',
  });
  if (res.status !== 303) throw new Error(`onboarding answered ${res.status}`);
  return stripe.accounts.retrieve(acct.id);
}

export function sessionParams(
  extra: Partial<Stripe.Checkout.SessionCreateParams> = {},
  unitAmount = 5000,
): Stripe.Checkout.SessionCreateParams {
  return {
    mode: 'payment',
    line_items: [
      {
        price_data: { currency: 'eur', unit_amount: unitAmount, product_data: { name: 'Ticket <b>VIP</b>' } },
        quantity: 2,
      },
    ],
    success_url: 'http://shop.test/success?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'http://shop.test/cancel',
    ...extra,
  };
}

/** Submits the hosted checkout form exactly as a browser would. */
export async function payViaPage(
  url: string,
  fields: Record<string, string>,
): Promise<{ status: number; location: string | null; html: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export { stripeClientFor };

/** The SDK error a refused call raises (the test fails if the call succeeds or throws something else). */
export async function refusal(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  const err: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Stripe.errors.StripeError);
  return err as Stripe.errors.StripeError;
}
