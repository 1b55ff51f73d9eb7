/**
 * History for the scale benchmark, bulk-inserted with SQL (generate_series, one big statement per table) into a
 * database Settle has migrated: `orders` orders that look like four weeks of a busy platform, and `events` inbox rows.
 *
 * - Its own sellers (with their Stripe accounts), listings and slots: the measured orders' slots are never touched,
 *   and every history slot has room for all its orders (sold ≤ capacity holds, `sold` is set from the paid orders).
 * - Orders over the last 28 days (created_at rising with the row number, like real history): 85 % paid, 10 % expired
 *   (the checkout session expired), 5 % canceled; quantity 1 (one in seven: 2); amounts from the listing's price and a
 *   10 % platform fee. Each has its hold (released: consumed at payment, or expired/canceled), its history
 *   (null → pending, then → paid/expired/canceled), and a paid order its payment and its three done jobs
 *   (notify.buyer_receipt, notify.seller_notice, fulfil.booking).
 * - Inbox rows: event i is the event of order i — `checkout.session.completed` (processed) for a paid order,
 *   `checkout.session.expired` for the others (processed for an expired order, ignored for a canceled one); rows
 *   beyond the orders are `payment_intent.succeeded` of paid orders (ignored). Payloads are a real
 *   `checkout.session.completed` from the emulator with a row's ids and times put in (same size and shape as real
 *   ones); to keep the load fast, 1000 such payloads are built and row g stores payload ((g − 1) % 1000) + 1 with its
 *   own event id (and type) set in it, so the session inside is that of another order with the same status.
 * Everything is inside the 30-day retention windows, so Settle's retention sweep keeps it. Ids are random-looking
 * (hex from md5, within Settle's id alphabet) and spread over the indexes as Settle's random ids do; one hex names all
 * of an order's rows (ord_<h>, hld_<h>, pay_<h>, pi_<h>, …) and each table is loaded sorted by it, so its primary and
 * unique indexes are built by appending.
 *
 * Referential integrity is guaranteed by construction, so the load runs with `session_replication_role = replica`
 * (no foreign-key triggers) and `synchronous_commit = off`, as tasks on two connections (two cores). The big tables'
 * secondary indexes (not those behind a constraint) are dropped for the load and built again from their own
 * definitions. Then VACUUM (ANALYZE): statistics, visibility map and hint bits as in an old database, and no
 * autovacuum of the fresh rows during the measured runs.
 */
import pg from 'pg';

export interface SeedOptions {
  dbUrl: string;
  orders: number;
  events: number;
  /** A real `checkout.session.completed` event body (JSON) from the emulator, used as the payload template. */
  templateEvent: string;
  /** Drop the big tables' secondary indexes for the load and build them afterwards (default true). */
  rebuildIndexes?: boolean;
  log?: (line: string) => void;
}

export interface SeedFigures {
  seconds: number;
  /** Rows per table after the load (history and anything already there). */
  rows: Record<string, number>;
  /** Total size of the database after the load, in bytes. */
  bytes: number;
}

const DAY_S = 86_400;
const HISTORY_DAYS = 28;

/** Parameters of the history's shape, shared by the statements. */
function shape(orders: number) {
  const sellers = Math.max(5, Math.min(500, Math.round(orders / 5000)));
  const listings = sellers * 5;
  // About 40 orders per slot, each slot with room for all of them.
  const slots = Math.max(listings, Math.ceil(orders / 40));
  return { sellers, listings, slots };
}

/**
 * SQL expressions over `g` (the order number, 1…orders) shared by the statements, so every table derives the same
 * ids, times and amounts for order g without joins.
 */
function orderExprs(o: { orders: number; listings: number; slots: number; sellers: number }) {
  const id = (prefix: string, salt: string, g = 'g') =>
    `'${prefix}_' || substr(md5('${salt}' || ${g}), 1, 24)`;
  const slotNo = `((g - 1) % ${o.slots} + 1)`;
  const listingNo = `((${slotNo} - 1) % ${o.listings} + 1)`;
  const sellerNo = `((${listingNo} - 1) % ${o.sellers} + 1)`;
  const unit = `(1000 + ((${listingNo}) % 20) * 500)`;
  const qty = `(CASE WHEN g % 7 = 0 THEN 2 ELSE 1 END)`;
  const total = `(${unit} * ${qty})`;
  // created_at rises with g over the last HISTORY_DAYS days (ending an hour ago).
  const created = `(now() - interval '1 hour' - make_interval(secs => ${(HISTORY_DAYS * DAY_S).toFixed(0)}::float8 * (1 - g::float8 / ${o.orders})))`;
  const status = `(CASE WHEN g % 20 < 17 THEN 'paid' WHEN g % 20 < 19 THEN 'expired' ELSE 'canceled' END)`;
  const paidAt = `(${created} + make_interval(secs => 40 + (g % 150)))`;
  const expiresAt = `(${created} + interval '35 minutes')`;
  const canceledAt = `(${created} + make_interval(secs => 120 + (g % 600)))`;
  const endedAt = `(CASE WHEN g % 20 < 17 THEN ${paidAt} WHEN g % 20 < 19 THEN ${expiresAt} ELSE ${canceledAt} END)`;
  // One random-looking hex per order names all its rows (ord_<h>, hld_<h>, pay_<h>, pi_<h>, cs_test_<h>…): each
  // table is then loaded sorted by <h>, so its primary and unique indexes are built by appending.
  const h = `substr(md5('o' || g), 1, 24)`;
  return {
    id,
    h,
    orderId: `'ord_' || ${h}`,
    holdId: `'hld_' || ${h}`,
    payId: `'pay_' || ${h}`,
    piId: `'pi_' || ${h}`,
    csId: `'cs_test_' || ${h} || md5('cs' || g) || substr(md5('cs2' || g), 1, 4)`,
    eventId: (g: string) => `'evt_' || substr(md5('e' || ${g}), 1, 24)`,
    slotId: `'slt_' || substr(md5('s' || ${slotNo}), 1, 24)`,
    listingId: `'lst_' || substr(md5('l' || ${listingNo}), 1, 24)`,
    sellerId: `'sel_' || substr(md5('c' || ${sellerNo}), 1, 24)`,
    accountId: `'acct_' || substr(md5('a' || ${sellerNo}), 1, 16)`,
    unit,
    qty,
    total,
    created,
    status,
    paidAt,
    expiresAt,
    canceledAt,
    endedAt,
  };
}

export async function seedHistory(o: SeedOptions): Promise<SeedFigures> {
  const t0 = Date.now();
  const log = o.log ?? (() => undefined);
  const s = shape(o.orders);
  const x = orderExprs({ orders: o.orders, ...s });
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: o.dbUrl });
    await c.connect();
    await c.query(`SET session_replication_role = replica`);
    await c.query(`SET synchronous_commit = off`);
    await c.query(`SET maintenance_work_mem = '256MB'`);
    await c.query(`SET work_mem = '512MB'`);
    return c;
  };
  const a = await connect();
  const b = await connect();
  const timed = async (c: pg.Client, label: string, text: string, values: unknown[] = []): Promise<void> => {
    const t = Date.now();
    const r = await c.query(text, values);
    log(`  ${label}: ${r.rowCount ?? 0} rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
  try {
    // Secondary indexes of the big tables (not those behind a primary key or unique constraint) are dropped for the
    // load and built again afterwards from their own definitions, on both connections: a sort instead of a million
    // random index insertions each.
    const big = ['orders', 'holds', 'payments', 'order_events', 'jobs', 'webhook_events'];
    const idx = await a.query<{ name: string; def: string }>(
      `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
       WHERE i.schemaname = 'public' AND i.tablename = ANY($1)
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('public.%I', i.indexname)::regclass)
       ORDER BY i.tablename, i.indexname`,
      [big],
    );
    if (o.rebuildIndexes !== false) for (const i of idx.rows) await a.query(`DROP INDEX public.${i.name}`);

    // The catalogue: sellers, their accounts, listings, slots (starting from 28 days ago to 28 days ahead).
    const sel = `substr(md5('c' || g), 1, 24)`;
    await timed(
      a,
      'sellers',
      `INSERT INTO sellers (id, name, email, fee_bps, fee_fixed, created_at)
       SELECT 'sel_' || ${sel}, 'History seller ' || g, 'seller-h' || g || '@example.test', 1000, 0,
              now() - interval '60 days' + make_interval(secs => g)
       FROM generate_series(1, ${s.sellers}) g`,
    );
    await timed(
      a,
      'seller_accounts',
      `INSERT INTO seller_accounts (seller_id, provider, provider_account_id, charge_type, details_submitted,
                                    charges_enabled, payouts_enabled, capabilities, account_synced_at, created_at)
       SELECT 'sel_' || ${sel}, 'stripe', 'acct_' || substr(md5('a' || g), 1, 16), 'destination', true, true, true,
              '{}'::jsonb, now() - interval '59 days', now() - interval '60 days' + make_interval(secs => g)
       FROM generate_series(1, ${s.sellers}) g`,
    );
    await timed(
      a,
      'listings',
      `INSERT INTO listings (id, seller_id, title, description, currency, unit_amount, created_at)
       SELECT 'lst_' || substr(md5('l' || g), 1, 24), 'sel_' || substr(md5('c' || ((g - 1) % ${s.sellers} + 1)), 1, 24),
              'History class ' || g, 'A class of the seeded history.', 'usd', 1000 + (g % 20) * 500,
              now() - interval '59 days' + make_interval(secs => g)
       FROM generate_series(1, ${s.listings}) g`,
    );
    await timed(
      a,
      'slots',
      `INSERT INTO slots (id, listing_id, starts_at, capacity, sold, created_at)
       SELECT 'slt_' || substr(md5('s' || g), 1, 24), 'lst_' || substr(md5('l' || ((g - 1) % ${s.listings} + 1)), 1, 24),
              now() - interval '${HISTORY_DAYS} days' + make_interval(secs => ${2 * HISTORY_DAYS * DAY_S}::float8 * g / ${s.slots}),
              200, 0, now() - interval '45 days'
       FROM generate_series(1, ${s.slots}) g`,
    );

    // The inbox payload: the template cut at this row's values (event id, session id, order id, payment intent,
    // created, type), put together again by concatenation for each row.
    const tpl = JSON.parse(o.templateEvent) as {
      id: string;
      created: number;
      type: string;
      data: { object: { id: string; payment_intent?: string; metadata?: { orderId?: string } } };
    };
    const tokens: [string, string][] = [
      [tpl.id, 'evt'],
      [tpl.data.object.id, 'cs'],
      [tpl.data.object.metadata?.orderId ?? '\u0000', 'ord'],
      [tpl.data.object.payment_intent ?? '\u0000', 'pi'],
      [`"created":${tpl.created}`, `'"created":' || extract(epoch FROM date_trunc('second', at))::bigint`],
      [`"type":"${tpl.type}"`, `'"type":"' || typ || '"'`],
    ];
    const params: string[] = [];
    const pieces: string[] = [];
    let rest = o.templateEvent;
    for (;;) {
      let best: { at: number; tok: [string, string] } | null = null;
      for (const t of tokens) {
        const at = rest.indexOf(t[0]);
        if (at >= 0 && (best === null || at < best.at)) best = { at, tok: t };
      }
      if (best === null) break;
      params.push(rest.slice(0, best.at));
      pieces.push(`$${params.length}::text`, best.tok[1]);
      rest = rest.slice(best.at + best.tok[0].length);
    }
    params.push(rest);
    pieces.push(`$${params.length}::text`);
    const payload = `(${pieces.join(' || ')})::jsonb`;
    const evType = `(CASE WHEN g > ${o.orders} THEN 'payment_intent.succeeded' WHEN g % 20 < 17 THEN 'checkout.session.completed' ELSE 'checkout.session.expired' END)`;
    const evStatus = `(CASE WHEN g > ${o.orders} OR g % 20 = 19 THEN 'ignored' ELSE 'processed' END)`;
    const ofK = (e: string) => e.replace(/\bg\b/g, 'k');
    // Parsing a 2.4 kB JSON text per row would be most of the load's time: a pool of `pool` payloads (those of the
    // first inbox rows, each with its own ids and times) is parsed once, and row g stores payload ((g − 1) % pool) + 1
    // with its own event id (and type) set in it; the session inside is then that of an order with the same status.
    const pool = o.events >= 1000 ? 1000 : o.events;
    const rowsOf = (from: number, to: number) =>
      `SELECT g, ${x.eventId('g')} AS evt, ${evType} AS typ, ${evStatus} AS st,
              ${ofK(x.csId)} AS cs, ${ofK(x.orderId)} AS ord, ${ofK(x.piId)} AS pi, ${ofK(x.endedAt)} AS at
       FROM generate_series(${from}, ${to}) g, LATERAL (SELECT ((g - 1) % ${o.orders}) + 1 AS k) kk`;
    await a.query(`DROP TABLE IF EXISTS scale_payload_pool`);
    await timed(
      a,
      'payload pool',
      `CREATE UNLOGGED TABLE scale_payload_pool AS SELECT g AS p, ${payload} AS payload FROM (${rowsOf(1, pool)}) e`,
      params,
    );
    const eventsChunk = (from: number, to: number) =>
      `INSERT INTO webhook_events (provider, endpoint, account, event_id, type, livemode, event_created, payload,
                                   status, attempts, last_error, received_at, processed_at, claimed_until)
       SELECT 'stripe', 'platform', '', evt, typ, false, date_trunc('second', at),
              CASE WHEN g > ${o.orders} THEN jsonb_set(jsonb_set(pp.payload, '{id}', to_jsonb(evt)), '{type}', to_jsonb(typ))
                   ELSE jsonb_set(pp.payload, '{id}', to_jsonb(evt)) END,
              st, 1, NULL, at + interval '1 second', at + interval '1 second 40 milliseconds', NULL
       FROM (${rowsOf(from, to)}) e JOIN scale_payload_pool pp ON pp.p = (e.g - 1) % ${pool} + 1
       ORDER BY evt`;

    // The loads, as tasks for the two connections (no foreign-key triggers: any order will do).
    const tasks: { label: string; sql: string; weight: number }[] = [];
    const chunks = Math.max(1, Math.min(4, Math.ceil(o.events / 100_000)));
    for (let i = 0; i < chunks; i++) {
      const from = Math.floor((o.events * i) / chunks) + 1;
      const to = Math.floor((o.events * (i + 1)) / chunks);
      if (to >= from)
        tasks.push({
          label: `webhook_events ${from}…${to}`,
          sql: eventsChunk(from, to),
          weight: (to - from + 1) * 0.8,
        });
    }
    const gs = `generate_series(1, ${o.orders}) g`;
    tasks.splice(
      1,
      0,
      {
        label: 'orders',
        weight: o.orders * 0.38,
        sql: `INSERT INTO orders (id, seller_id, listing_id, slot_id, quantity, currency, unit_amount, subtotal, discount,
                             total, platform_fee, promotion_code, status, review_reason, buyer_email, provider,
                             charge_type, provider_account_id, provider_session_id, provider_payment_id,
                             confirmed_via, refunded_amount, dispute_status, expires_at, paid_at, created_at,
                             updated_at, charged_amount, checkout_key)
         SELECT ${x.orderId}, ${x.sellerId}, ${x.listingId}, ${x.slotId}, ${x.qty}, 'usd', ${x.unit}, ${x.total}, 0,
                ${x.total}, ${x.total} / 10, NULL, ${x.status}, NULL, 'buyer-h' || g || '@example.test', 'stripe',
                'destination', ${x.accountId}, ${x.csId},
                CASE WHEN g % 20 < 17 THEN ${x.piId} END,
                CASE WHEN g % 20 < 17 THEN 'webhook' END, 0, NULL, ${x.expiresAt},
                CASE WHEN g % 20 < 17 THEN ${x.paidAt} END, ${x.created}, ${x.endedAt},
                CASE WHEN g % 20 < 17 THEN ${x.total} END, NULL
         FROM ${gs} ORDER BY ${x.h}`,
      },
      {
        label: 'holds',
        weight: o.orders * 0.19,
        sql: `INSERT INTO holds (id, slot_id, order_id, quantity, expires_at, released_at, release_reason, created_at)
         SELECT ${x.holdId}, ${x.slotId}, ${x.orderId}, ${x.qty}, ${x.expiresAt}, ${x.endedAt},
                CASE WHEN g % 20 < 17 THEN 'consumed' WHEN g % 20 < 19 THEN 'expired' ELSE 'canceled' END,
                ${x.created}
         FROM ${gs} ORDER BY ${x.h}`,
      },
      {
        label: 'payments',
        weight: o.orders * 0.14,
        sql: `INSERT INTO payments (id, order_id, provider, provider_payment_id, amount, currency, application_fee, status,
                               created_at)
         SELECT ${x.payId}, ${x.orderId}, 'stripe', ${x.piId}, ${x.total}, 'usd', ${x.total} / 10, 'succeeded',
                ${x.paidAt}
         FROM ${gs} WHERE g % 20 < 17 ORDER BY ${x.h}`,
      },
      {
        label: 'order_events',
        weight: o.orders * 0.12,
        sql: `INSERT INTO order_events (order_id, from_status, to_status, note, via, created_at)
         SELECT ${x.orderId},
                CASE WHEN k = 1 THEN NULL ELSE 'pending' END,
                CASE WHEN k = 1 THEN 'pending' ELSE ${x.status} END,
                CASE WHEN k = 2 AND g % 20 BETWEEN 17 AND 18 THEN 'checkout expired' END,
                CASE WHEN k = 1 THEN 'checkout' WHEN g % 20 < 19 THEN 'webhook' ELSE 'api' END,
                CASE WHEN k = 1 THEN ${x.created} ELSE ${x.endedAt} END
         FROM ${gs}, LATERAL generate_series(1, 2 + 0 * g) k`,
      },
      ...(['notify.buyer_receipt', 'notify.seller_notice', 'fulfil.booking'] as const).map((kind, i) => ({
        // One task per kind: each is a run of its own in dedupe_key order, and the two connections share them.
        label: `jobs ${kind}`,
        weight: o.orders * 0.18,
        sql: `INSERT INTO jobs (kind, dedupe_key, payload, status, attempts, max_attempts, run_at, locked_until,
                           last_error, created_at, finished_at)
         SELECT '${kind}', '${kind}:' || ${x.orderId}, jsonb_build_object('orderId', ${x.orderId}), 'done', 1, 8,
                ${x.paidAt} + interval '6 milliseconds', NULL, NULL, ${x.paidAt},
                ${x.paidAt} + make_interval(secs => ${(0.015 + (i + 1) * 0.006).toFixed(3)})
         FROM ${gs}
         WHERE g % 20 < 17
         ORDER BY ${x.h}`,
      })),
    );
    // Longest first, each to whichever connection is free.
    tasks.sort((p, q) => q.weight - p.weight);
    const drain = async (c: pg.Client): Promise<void> => {
      for (let t = tasks.shift(); t !== undefined; t = tasks.shift()) await timed(c, t.label, t.sql);
    };
    await Promise.all([drain(a), drain(b)]);
    await a.query(`DROP TABLE scale_payload_pool`);
    await timed(
      a,
      'slots.sold',
      `UPDATE slots s SET sold = p.n
       FROM (SELECT slot_id, sum(quantity)::int AS n FROM orders WHERE status = 'paid' AND buyer_email LIKE 'buyer-h%'
             GROUP BY slot_id) p
       WHERE s.id = p.slot_id`,
    );
    if (o.rebuildIndexes !== false) {
      const t = Date.now();
      const queue = [...idx.rows];
      await Promise.all(
        [a, b].map(async (c) => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift()) await c.query(i.def);
        }),
      );
      log(`  ${idx.rows.length} secondary indexes built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    // VACUUM ANALYZE, as an old database is: statistics, visibility map and hint bits set, so autovacuum does not
    // start on the fresh rows during the measured run. Split over both connections.
    const half = ['webhook_events', 'slots', 'sellers', 'seller_accounts', 'listings'];
    const other = ['orders', 'holds', 'payments', 'order_events', 'jobs'];
    await Promise.all([
      timed(a, 'vacuum analyze', `VACUUM (ANALYZE) ${half.join(', ')}`),
      timed(b, 'vacuum analyze', `VACUUM (ANALYZE) ${other.join(', ')}`),
    ]);
    // Row counts from the statistics ANALYZE just gathered (exact enough, and free).
    const counts = await a.query<{ t: string; n: string }>(
      `SELECT relname AS t, reltuples::bigint AS n FROM pg_class
       WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname = ANY($1)`,
      [[...half, ...other]],
    );
    const rows: Record<string, number> = {};
    for (const r of counts.rows) rows[r.t] = Math.max(0, Number(r.n));
    const size = await a.query<{ b: string }>(`SELECT pg_database_size(current_database()) AS b`);
    return { seconds: (Date.now() - t0) / 1000, rows, bytes: Number(size.rows[0]?.b ?? 0) };
  } finally {
    await a.end();
    await b.end();
  }
}
