/**
 * The benchmark's market, made through Settle's own API and the emulator's test helpers: sellers (destination
 * charges), listings, slots, and batches of paid orders whose `checkout.session.completed` events were recorded by
 * the emulator but never delivered (no webhook endpoint is registered there).
 */
import type pg from 'pg';
import Stripe from 'stripe';

export interface Endpoints {
  settle: string;
  emulator: string;
  adminToken: string;
  stripeKey: string;
}

export interface PaidOrder {
  orderId: string;
  sessionId: string;
  slotId: string;
}

export interface Delivery {
  body: string;
  signature: string;
}

async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

export function admin<T>(e: Endpoints, method: string, path: string, body?: unknown): Promise<T> {
  return fetch(`${e.settle}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${e.adminToken}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  }).then((r) => json<T>(r, `${method} ${path}`));
}

/** Runs `fn` over `items` with `concurrency` in flight. */
export async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (x: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Sellers with destination charges, onboarded at the emulator and refreshed in Settle; one listing each. */
export async function createListings(e: Endpoints, sellers: number): Promise<string[]> {
  const listings: string[] = [];
  for (let i = 0; i < sellers; i++) {
    const s = await admin<{ id: string; accountId: string }>(e, 'POST', '/api/sellers', {
      name: `Bench seller ${i + 1}`,
      email: `seller${i + 1}@example.test`,
      chargeType: 'destination',
      feeBps: 1000,
    });
    await json(
      await fetch(`${e.emulator}/_emulator/accounts/${s.accountId}/onboard`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }),
      'onboard',
    );
    await admin(e, 'GET', `/api/admin/sellers/${s.id}`);
    const l = await admin<{ id: string }>(e, 'POST', '/api/listings', {
      sellerId: s.id,
      title: `Bench class ${i + 1}`,
      currency: 'usd',
      unitAmount: 5000,
    });
    listings.push(l.id);
  }
  return listings;
}

export async function createSlots(
  e: Endpoints,
  listings: readonly string[],
  count: number,
  capacity: number,
): Promise<string[]> {
  const slots: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = await admin<{ id: string }>(e, 'POST', `/api/listings/${listings[i % listings.length]}/slots`, {
      startsAt: new Date(Date.now() + (3 + i) * 86_400_000).toISOString(),
      capacity: Math.min(100_000, capacity),
    });
    slots.push(s.id);
  }
  return slots;
}

/** `n` orders round-robin over `slots` through POST /api/checkout, each paid at the emulator (no delivery). */
export async function paidOrders(e: Endpoints, slots: readonly string[], n: number): Promise<PaidOrder[]> {
  const idx = Array.from({ length: n }, (_, i) => i);
  return pool(idx, 8, async (i) => {
    const slotId = slots[i % slots.length]!;
    const r = await json<{ orderId: string; checkoutUrl: string }>(
      await fetch(`${e.settle}/api/checkout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ slotId, quantity: 1, email: `buyer${i}@example.test` }),
      }),
      'checkout',
    );
    const sessionId = new URL(r.checkoutUrl).pathname.split('/').pop() ?? '';
    await json(
      await fetch(`${e.emulator}/_emulator/checkout/sessions/${sessionId}/pay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ card_number: '4242424242424242' }),
      }),
      'pay',
    );
    return { orderId: r.orderId, sessionId, slotId };
  });
}

/**
 * The `checkout.session.completed` events of these sessions, as the emulator would deliver them (the event object
 * serialized whole), read from its Events API.
 */
export async function completedEvents(e: Endpoints, orders: readonly PaidOrder[]): Promise<string[]> {
  const want = new Map(orders.map((o, i) => [o.sessionId, i]));
  const bodies: (string | undefined)[] = new Array<string | undefined>(orders.length);
  let found = 0;
  let after: string | null = null;
  for (let page = 0; found < orders.length && page < 10_000; page++) {
    const q = new URLSearchParams({ type: 'checkout.session.completed', limit: '100' });
    if (after !== null) q.set('starting_after', after);
    const list: { data: { id: string; data: { object: { id: string } } }[]; has_more: boolean } = await json(
      await fetch(`${e.emulator}/v1/events?${q}`, { headers: { authorization: `Bearer ${e.stripeKey}` } }),
      'events',
    );
    for (const ev of list.data) {
      const i = want.get(ev.data.object.id);
      if (i !== undefined && bodies[i] === undefined) {
        bodies[i] = JSON.stringify(ev);
        found++;
      }
    }
    if (!list.has_more || list.data.length === 0) break;
    after = list.data[list.data.length - 1]!.id;
  }
  if (found < orders.length) throw new Error(`only ${found} of ${orders.length} completed events found`);
  return bodies as string[];
}

const signer = new Stripe('sk_test_signer_only');

/** Stripe-Signature headers made now, exactly as the SDK's test helper makes them (valid for 300 s). */
export function sign(bodies: readonly string[], secret: string): Delivery[] {
  return bodies.map((body) => ({
    body,
    signature: signer.webhooks.generateTestHeaderString({ payload: body, secret }),
  }));
}

/** How many of these orders are `paid` in the benchmark's database (every benchmark checks its runs with it). */
export async function paidCount(db: pg.Client | pg.Pool, orderIds: readonly string[]): Promise<number> {
  const r = await db.query<{ n: number }>(
    `select count(*)::int as n from orders where id = any($1) and status = 'paid'`,
    [orderIds],
  );
  return r.rows[0]?.n ?? 0;
}
