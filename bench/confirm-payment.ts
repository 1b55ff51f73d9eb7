/**
 * Benchmark: confirmPayment throughput and latency, and the full checkout → pay → webhook → paid loop over HTTP.
 * Prints figures; asserts nothing. Run: `npm run bench` (add DATABASE_URL to include the PostgreSQL server).
 *
 *   npm run bench -- --orders 500 --concurrency 20
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startSettle } from '../src/app/create.js';
import { createListing, createSeller, createSlot } from '../src/core/catalog.js';
import { confirmPayment } from '../src/core/confirm-payment.js';
import { createPendingOrder } from '../src/core/orders.js';
import { openDatabase, type DatabaseTarget, type OpenedDb } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { Order } from '../src/db/schema.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const ORDERS = arg('orders', 300);
const CONCURRENCY = arg('concurrency', 16);
const E2E = arg('e2e', 40);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
function summary(label: string, ms: number[], wallMs: number): void {
  const s = [...ms].sort((a, b) => a - b);
  console.log(
    `${label.padEnd(44)} n=${String(s.length).padStart(4)}  ${((s.length / wallMs) * 1000).toFixed(0).padStart(6)}/s  p50 ${pct(s, 50).toFixed(1)} ms  p95 ${pct(s, 95).toFixed(1)} ms  p99 ${pct(s, 99).toFixed(1)} ms`,
  );
}

async function serverTarget(): Promise<{ target: DatabaseTarget; drop: () => Promise<void> } | null> {
  const url = process.env['DATABASE_URL'];
  if (!url) return null;
  const name = `settle_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    target: { kind: 'server', url: u.toString(), poolMax: Math.max(CONCURRENCY, 10) },
    drop: async () => {
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

async function benchConfirm(label: string, opened: OpenedDb): Promise<void> {
  const db = opened.db;
  await migrateToLatest(db);
  const seller = await createSeller(db, {
    name: 'Bench',
    email: 'bench@example.test',
    fee: { bps: 1000, fixed: 0 },
  });
  await db
    .insertInto('seller_accounts')
    .values({
      seller_id: seller.id,
      provider: 'stripe',
      provider_account_id: 'acct_bench',
      charge_type: 'direct',
      charges_enabled: true,
      account_synced_at: null,
    })
    .execute();
  const listing = await createListing(db, {
    sellerId: seller.id,
    title: 'Bench',
    currency: 'usd',
    unitAmount: 1000,
  });
  const slot = await createSlot(db, {
    listingId: listing.id,
    startsAt: new Date(Date.now() + 86_400_000),
    capacity: ORDERS * 2,
  });
  const orders: Order[] = [];
  for (let i = 0; i < ORDERS; i++)
    orders.push(
      await createPendingOrder(db, { slotId: slot.id, quantity: 1, provider: 'stripe', holdMinutes: 35 }),
    );
  const evidence = (o: Order) => ({
    via: 'webhook' as const,
    provider: 'stripe' as const,
    sessionId: `cs_${o.id}`,
    paymentId: `pi_${o.id}`,
    amount: o.total,
    currency: o.currency,
    promotionCode: null,
    applicationFee: o.platform_fee,
  });

  // Distinct orders, CONCURRENCY in flight.
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < orders.length) {
        const o = orders[next++]!;
        const s = performance.now();
        await confirmPayment(db, o.id, evidence(o));
        lat.push(performance.now() - s);
      }
    }),
  );
  summary(`${label}: confirm distinct orders (c=${CONCURRENCY})`, lat, performance.now() - t0);

  // Duplicates: the already-handled path (what every webhook retry and verify poll costs).
  const dup: number[] = [];
  const t1 = performance.now();
  await Promise.all(
    orders.slice(0, Math.min(200, orders.length)).map(async (o) => {
      const s = performance.now();
      await confirmPayment(db, o.id, evidence(o));
      dup.push(performance.now() - s);
    }),
  );
  summary(`${label}: duplicate confirmations (already paid)`, dup, performance.now() - t1);
  const mem = process.memoryUsage();
  console.log(
    `${label}: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap used ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`,
  );
}

async function benchEndToEnd(label: string, database: DatabaseTarget): Promise<void> {
  const settle = await startSettle({
    env: {
      LOG_LEVEL: 'silent',
      SETTLE_ADMIN_TOKEN: 'bench-admin-token-0123456789',
      SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
      SETTLE_QUEUE_POLL_MS: '20',
      SETTLE_RATE_LIMIT_PER_MINUTE: '0',
    },
    port: 0,
    database,
    emulator: { port: 0, timeScale: 0.01 },
    seed: true,
  });
  try {
    const listings = (await (await fetch(`${settle.url}/api/listings`)).json()) as {
      listings: { slots: { id: string; available: number }[] }[];
    };
    const slot = listings.listings.flatMap((l) => l.slots).sort((a, b) => b.available - a.available)[0]!;
    await settle.ctx.db.updateTable('slots').set({ capacity: 100_000 }).where('id', '=', slot.id).execute();
    const lat: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < E2E; i++) {
      const s = performance.now();
      const res = (await (
        await fetch(`${settle.url}/api/checkout`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ slotId: slot.id, quantity: 1 }),
        })
      ).json()) as { orderId: string; checkoutUrl: string };
      await fetch(res.checkoutUrl, {
        method: 'POST',
        body: new URLSearchParams({ card_number: '4242424242424242' }),
        redirect: 'manual',
      });
      for (;;) {
        const o = (await (await fetch(`${settle.url}/api/orders/${res.orderId}`)).json()) as {
          status: string;
        };
        if (o.status === 'paid') break;
        await new Promise((r) => setTimeout(r, 2));
      }
      lat.push(performance.now() - s);
    }
    summary(`${label}: checkout → pay → webhook → paid (HTTP)`, lat, performance.now() - t0);
  } finally {
    await settle.close();
  }
}

console.log(`Settle benchmark — node ${process.version}, ${ORDERS} orders, concurrency ${CONCURRENCY}\n`);
const embedded = await openDatabase({ kind: 'memory' });
await benchConfirm('embedded', embedded);
await embedded.close();
await benchEndToEnd('embedded', { kind: 'memory' });
const server = await serverTarget();
if (server) {
  const opened = await openDatabase(server.target);
  await benchConfirm('server', opened);
  await opened.close();
  await server.drop();
  const server2 = await serverTarget();
  if (server2) {
    await benchEndToEnd('server', server2.target);
    await server2.drop();
  }
} else {
  console.log('\n(set DATABASE_URL to include the PostgreSQL server)');
}
