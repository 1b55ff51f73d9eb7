/**
 * What the provider ingest benchmark needs of each provider: its emulator (own process) and Settle's configuration
 * for it, how a seller connects, how the buyer pays, and the confirming events as the provider delivers them.
 */
import type pg from 'pg';

export type ProviderName = 'paypal' | 'square';

/** A delivery with the provider's own headers (lower-case names), sent verbatim by bench/ingest/loadgen.ts. */
export interface HeaderDelivery {
  body: string;
  headers: Record<string, string>;
}

/** What the drivers may call: Settle (operator token), the emulator, the run's database. */
export interface RunCtx {
  settle: string;
  adminToken: string;
  emulator: string;
  db: pg.Pool;
  dir: string;
  tsx: boolean;
}

export interface PaidOrder {
  orderId: string;
  /** The checkout at the provider (orders.provider_session_id): PayPal order id, Square payment link id. */
  sessionId: string;
  /** What the confirming event names: PayPal order id, Square payment id. */
  ref: string;
}

export interface StartedEmulator {
  url: string;
  /** Settle's environment for this provider. */
  env: Record<string, string>;
  /** Stops the emulator (and whatever the driver started with it). */
  stop(): Promise<void>;
}

export interface ProviderDriver {
  name: ProviderName;
  /** The confirming event, as printed. */
  event: string;
  /** How deliveries are verified by Settle (printed). */
  verification: string;
  /** Starts the emulator in its own process; `settleUrl` is where Settle will listen (known before it starts). */
  start(p: { dir: string; tsx: boolean; settleUrl: string }): Promise<StartedEmulator>;
  /** Connects a seller (already created through POST /api/sellers) to the provider and checks it is ready. */
  connectSeller(c: RunCtx, sellerId: string, name: string): Promise<void>;
  /** The buyer pays the checkout at the emulator; answers what the confirming event names. */
  pay(c: RunCtx, sessionId: string): Promise<string>;
  /** The confirming event of each order, with the headers the provider signs its delivery with. */
  deliveries(c: RunCtx, orders: readonly PaidOrder[]): Promise<HeaderDelivery[]>;
}

export async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

export async function post<T>(url: string, body: unknown, what: string): Promise<T> {
  return json<T>(
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
    what,
  );
}

export function adminCall<T>(c: RunCtx, method: string, path: string, body?: unknown): Promise<T> {
  return fetch(`${c.settle}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${c.adminToken}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  }).then((r) => json<T>(r, `${method} ${path}`));
}

/** The seller's account at `provider` is ready to take payments (GET /api/admin/sellers/:id refreshes it). */
export async function expectReady(c: RunCtx, sellerId: string, provider: ProviderName): Promise<void> {
  const view = await adminCall<{ providers: { provider: string; ready: boolean }[] }>(
    c,
    'GET',
    `/api/admin/sellers/${sellerId}`,
  );
  const p = view.providers.find((x) => x.provider === provider);
  if (p?.ready !== true) throw new Error(`${provider} not ready for ${sellerId}: ${JSON.stringify(view)}`);
}
