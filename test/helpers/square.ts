import type { OrdersController, PaymentsController } from '@paypal/paypal-server-sdk';
import type { SquareClient } from 'square';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { grantStore } from '../../src/core/credentials.js';
import type { SellerGrant } from '../../src/core/provider.js';
import type { PayPalEmulator } from '../../src/emulators/paypal/index.js';
import {
  squareClientFor,
  squareSignature,
  type SquareEmulator,
  type SquareEmulatorOptions,
} from '../../src/emulators/square/index.js';
import type { Logger } from '../../src/log/logger.js';
import { PAYPAL_HARNESS_EMULATOR, paypalSdkFor, type PayPalHarness } from '../providers/paypal/harness.js';
import type { Backend } from './db.js';
import { startHarness, type Harness } from './settle.js';

/**
 * Settle in demo mode with the Square emulator in process (and Stripe's, always; PayPal's when asked), on one
 * database backend: the official SDKs over real HTTP, sellers connected through Settle's own OAuth routes, webhooks
 * signed and delivered by the emulators. `settleDown` waits for every emulator's deliveries and the queue.
 */
export interface SquareHarness extends Harness {
  square: SquareEmulator;
  /** The PayPal emulator and the official SDK on it, when started with `paypal: true` (else null). */
  paypal: PayPalEmulator | null;
  pp: { orders: OrdersController; payments: PaymentsController } | null;
}

export interface SquareHarnessOptions {
  env?: Record<string, string>;
  /** Run the PayPal emulator too (a seller on all three providers). */
  paypal?: boolean;
  /** Overrides of the Square emulator's options (e.g. `refundDelayMs: null`). */
  square?: Partial<SquareEmulatorOptions>;
  logger?: Logger;
}

export async function startSquareHarness(
  backend: Backend,
  opts: SquareHarnessOptions = {},
): Promise<SquareHarness> {
  const h = await startHarness(backend, {
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    ...(opts.paypal === true ? { paypal: PAYPAL_HARNESS_EMULATOR } : {}),
    square: {
      port: 0,
      timeScale: 0.001,
      webhookRetry: { attempts: 4, baseDelayMs: 1000, maxDelayMs: 5000 },
      ...opts.square,
    },
  });
  const square = h.settle.squareEmulator;
  const paypal = h.settle.paypalEmulator;
  if (square === null || (opts.paypal === true && paypal === null)) {
    await h.close();
    throw new Error('the Square harness expects demo mode with the Square emulator');
  }
  return { ...h, square, paypal, pp: paypal === null ? null : paypalSdkFor(paypal) };
}

/**
 * One harness for the whole describe block (started once: a Settle start costs seconds), each test on its own
 * sellers and slots. After each test the emulators' faults and withheld scopes are reset and everything in flight
 * settles, so no test sees another's deliveries arrive.
 */
export function useSquareHarness(backend: Backend, opts: SquareHarnessOptions = {}): () => SquareHarness {
  let h: SquareHarness | undefined;
  // The first start of a worker also migrates the embedded template: slow on a busy machine.
  beforeAll(async () => {
    h = await startSquareHarness(backend, opts);
  }, 180_000);
  afterEach(async () => {
    if (h === undefined) return;
    h.square.faults.reset();
    h.square.withholdScopes([]);
    h.paypal?.faults.reset();
    h.settle.emulator?.faults.reset();
    await h.settleDown();
  });
  afterAll(async () => {
    await h?.close();
    h = undefined;
  });
  return () => {
    if (h === undefined) throw new Error('the Square harness did not start');
    return h;
  };
}

/** The harness as the PayPal helpers (`setupBoth`, `paypalCheckout`) take it; it must run the PayPal emulator. */
export function withPayPal(h: SquareHarness): SquareHarness & PayPalHarness {
  const { paypal, pp } = h;
  if (paypal === null || pp === null) throw new Error('start the Square harness with paypal: true');
  return { ...h, paypal, pp };
}

/** The square webhook URL as subscribed at the emulator (the signature covers it). */
export function squareWebhookUrl(h: SquareHarness): string {
  return `${h.settle.url}/webhooks/square`;
}

/** The operator's "connect Square": the authorize URL and the single-use state it carries. */
export async function beginSquareConnect(
  h: SquareHarness,
  sellerId: string,
): Promise<{ url: URL; state: string }> {
  const r = await h.admin<{ url: string }>('POST', `/api/sellers/${sellerId}/providers/square`, {});
  if (r.status !== 200) throw new Error(`connect square: ${r.status} ${JSON.stringify(r.body)}`);
  const url = new URL(r.body.url);
  if (`${url.origin}${url.pathname}` !== `${h.square.url}/oauth2/authorize`)
    throw new Error(`connect square: not the emulator's authorize page: ${r.body.url}`);
  if (url.searchParams.get('client_id') !== h.square.applicationId)
    throw new Error(`connect square: authorize URL of another application: ${r.body.url}`);
  const state = url.searchParams.get('state');
  if (state === null || state === '') throw new Error(`connect square: no state in ${r.body.url}`);
  return { url, state };
}

/** The seller's browser coming back to Settle's OAuth callback (redirects not followed). */
export async function squareCallback(
  h: SquareHarness,
  query: Record<string, string>,
): Promise<{ status: number; location: URL | null; body: { error?: { code: string; message: string } } }> {
  const res = await fetch(`${h.settle.url}/oauth/square/callback?${new URLSearchParams(query).toString()}`, {
    redirect: 'manual',
  });
  const text = await res.text();
  const location = res.headers.get('location');
  let body: { error?: { code: string; message: string } } = {};
  try {
    body = text ? (JSON.parse(text) as typeof body) : {};
  } catch {
    body = {};
  }
  return { status: res.status, location: location === null ? null : new URL(location, h.settle.url), body };
}

export interface SquareConnection {
  merchantId: string;
  locationId: string;
  /** The state the connection used (spent). */
  state: string;
}

/**
 * Connects the seller to Square through the real path: the operator's connect route (authorize URL with a state),
 * the seller's "Allow" at the emulator (an authorization code), and the browser's return to Settle's callback, which
 * must answer 303 to the seller's onboarding-return page with no error.
 */
export async function connectSquareSeller(
  h: SquareHarness,
  sellerId: string,
  opts: { sellerName?: string; merchantId?: string; country?: string } = {},
): Promise<SquareConnection> {
  const { state } = await beginSquareConnect(h, sellerId);
  const { code, merchantId, locationId } = await h.square.authorizeSeller({
    sellerName: opts.sellerName ?? `Studio ${sellerId}`,
    ...(opts.merchantId !== undefined ? { merchantId: opts.merchantId } : {}),
    ...(opts.country !== undefined ? { country: opts.country } : {}),
  });
  const back = await squareCallback(h, { code, state, response_type: 'code' });
  const expected = `${h.settle.url}/sellers/${sellerId}/onboarding-return?provider=square`;
  if (back.status !== 303 || back.location?.toString() !== expected)
    throw new Error(
      `square callback: ${back.status} ${back.location?.toString() ?? JSON.stringify(back.body)} (expected 303 ${expected})`,
    );
  return { merchantId, locationId, state };
}

export interface SquareSetup extends SquareConnection {
  sellerId: string;
  listingId: string;
  slotId: string;
}

/** A seller (POST /api/sellers) connected to Square through OAuth, with one listing and one slot. */
export async function setupSquare(
  h: SquareHarness,
  opts: {
    unitAmount?: number;
    currency?: string;
    capacity?: number;
    feeBps?: number;
    feeFixed?: number;
    name?: string;
    /** The seller's Square country (its location's currency is the only one it takes); default US. */
    country?: string;
  } = {},
): Promise<SquareSetup> {
  const seller = await h.admin<{ id: string }>('POST', '/api/sellers', {
    name: opts.name ?? 'Square studio',
    email: 'seller@example.test',
    chargeType: 'direct',
    feeBps: opts.feeBps ?? 1000,
    ...(opts.feeFixed !== undefined ? { feeFixed: opts.feeFixed } : {}),
  });
  if (seller.status !== 201) throw new Error(`seller: ${seller.status} ${JSON.stringify(seller.body)}`);
  const connection = await connectSquareSeller(h, seller.body.id, {
    sellerName: opts.name ?? 'Square studio',
    ...(opts.country !== undefined ? { country: opts.country } : {}),
  });
  const ready = await squareAccountView(h, seller.body.id);
  if (ready?.ready !== true) throw new Error(`square not ready: ${JSON.stringify(ready)}`);
  const { listingId, slotId } = await addListing(h, seller.body.id, opts);
  return { sellerId: seller.body.id, listingId, slotId, ...connection };
}

/** A listing with one slot three days ahead. */
export async function addListing(
  h: SquareHarness,
  sellerId: string,
  opts: { unitAmount?: number; currency?: string; capacity?: number } = {},
): Promise<{ listingId: string; slotId: string }> {
  const listing = await h.admin<{ id: string }>('POST', '/api/listings', {
    sellerId,
    title: 'Pottery taster',
    currency: opts.currency ?? 'usd',
    unitAmount: opts.unitAmount ?? 5000,
  });
  if (listing.status !== 201) throw new Error(`listing: ${listing.status} ${JSON.stringify(listing.body)}`);
  const slot = await h.admin<{ id: string }>('POST', `/api/listings/${listing.body.id}/slots`, {
    startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
    capacity: opts.capacity ?? 10,
  });
  if (slot.status !== 201) throw new Error(`slot: ${slot.status} ${JSON.stringify(slot.body)}`);
  return { listingId: listing.body.id, slotId: slot.body.id };
}

export interface ProviderView {
  provider: string;
  ready: boolean;
  revoked?: boolean;
  accountId: string | null;
}

/** The seller's Square account as the operator sees it (GET /api/admin/sellers/:id). */
export async function squareAccountView(
  h: SquareHarness,
  sellerId: string,
): Promise<ProviderView | undefined> {
  const view = await h.admin<{ providers: ProviderView[] }>('GET', `/api/admin/sellers/${sellerId}`);
  if (view.status !== 200) throw new Error(`seller view: ${view.status} ${JSON.stringify(view.body)}`);
  return view.body.providers.find((p) => p.provider === 'square');
}

/** Starts a Square checkout; answers Settle's order id, the payment page and the payment link id (the session). */
export async function squareCheckout(
  h: SquareHarness,
  slotId: string,
  extra: { quantity?: number; promotionCode?: string; key?: string } = {},
): Promise<{ orderId: string; checkoutUrl: string; linkId: string }> {
  const r = await startSquareCheckout(h, slotId, extra);
  if (r.status !== 201) throw new Error(`square checkout: ${r.status} ${JSON.stringify(r.body)}`);
  const { orderId, checkoutUrl } = r.body as { orderId: string; checkoutUrl: string };
  const row = await h.settle.ctx.db
    .selectFrom('orders')
    .select('provider_session_id')
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  if (row.provider_session_id === null) throw new Error('square checkout without a payment link');
  return { orderId, checkoutUrl, linkId: row.provider_session_id };
}

/** POST /api/checkout through Square, whatever the answer. */
export function startSquareCheckout(
  h: SquareHarness,
  slotId: string,
  extra: { quantity?: number; promotionCode?: string; key?: string } = {},
) {
  return h.api<{ orderId?: string; checkoutUrl?: string; error?: { code: string; message: string } }>(
    'POST',
    '/api/checkout',
    {
      slotId,
      quantity: extra.quantity ?? 1,
      provider: 'square',
      email: 'buyer@example.test',
      ...(extra.promotionCode !== undefined ? { promotionCode: extra.promotionCode } : {}),
    },
    extra.key !== undefined ? { 'idempotency-key': extra.key } : {},
  );
}

/** The seller's grant as Settle stored it (opened with the instance's sealing keys); null when none. */
export async function storedGrant(h: SquareHarness, merchantId: string): Promise<SellerGrant | null> {
  return grantStore(h.settle.ctx.db, h.settle.ctx.config.sealingKeys, 'square').load(merchantId);
}

/** The official SDK acting on the seller's account with the token Settle holds (reads what Settle created). */
export async function sellerSquare(h: SquareHarness, merchantId: string): Promise<SquareClient> {
  const grant = await storedGrant(h, merchantId);
  if (grant === null) throw new Error(`no stored Square grant for ${merchantId}`);
  return squareClientFor(h.square, grant.accessToken);
}

/** A Square event as the emulator emitted it, by type and the id of the object it is about. */
export function squareEvent(
  h: SquareHarness,
  type: string,
  match: (object: Record<string, unknown>) => boolean,
): { id: string; body: string } {
  const found = h.square.events.filter((e) => {
    if (e.type !== type) return false;
    const data = e.envelope['data'] as { object?: Record<string, unknown> } | undefined;
    return data?.object !== undefined && match(data.object);
  });
  const first = found[0];
  if (first === undefined) throw new Error(`no ${type} event matching`);
  return { id: first.id, body: JSON.stringify(first.envelope) };
}

/** Posts a Square webhook body to Settle, signed (by default) as the emulator signs it for Settle's subscription. */
export async function postSquareWebhook(
  h: SquareHarness,
  body: string,
  sign: { key?: string; url?: string; signature?: string | null } = {},
): Promise<{ status: number; body: { outcome?: string; error?: { code: string } } }> {
  const key = sign.key ?? h.settle.ctx.config.square.webhookSignatureKey ?? '';
  const signature =
    sign.signature === undefined
      ? squareSignature(key, sign.url ?? squareWebhookUrl(h), body)
      : sign.signature;
  const res = await fetch(squareWebhookUrl(h), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Square Connect v2',
      'square-environment': 'Sandbox',
      ...(signature !== null ? { 'x-square-hmacsha256-signature': signature } : {}),
    },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as { outcome?: string } };
}

/** Inbox rows (`webhook_events`) of Square. */
export async function squareInbox(
  h: SquareHarness,
): Promise<{ id: number; event_id: string; type: string; status: string }[]> {
  return h.settle.ctx.db
    .selectFrom('webhook_events')
    .select(['id', 'event_id', 'type', 'status'])
    .where('provider', '=', 'square')
    .orderBy('id')
    .execute();
}

/** Calls the emulator answered to `method path` (not replayed, not an injected fault, 2xx). */
export function squareCalls(h: SquareHarness, method: string, path: string): number {
  return h.square.requests.filter(
    (r) => r.method === method && r.path === path && r.status < 300 && !r.replayed && r.fault === null,
  ).length;
}
