import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type OpenedDb } from '../../src/db/connect.js';
import { migrateToLatest, migrateUpTo } from '../../src/db/migrate.js';
import { BACKENDS, emptyServerDatabase, type Backend } from '../helpers/db.js';
import { checkout, setupMarket, startHarness, type Harness } from '../helpers/settle.js';

/**
 * The multi-provider seams (issue 11): one account row per seller and provider, the buyer's provider choice at
 * checkout, and the migration that carried the single-provider sellers over.
 */

/** An empty database on the backend (no migration applied); `drop()` removes it. */
async function emptyDb(backend: Backend): Promise<{ opened: OpenedDb; drop(): Promise<void> }> {
  if (backend === 'embedded') {
    const opened = await openDatabase({ kind: 'memory' });
    return { opened, drop: () => opened.close() };
  }
  const created = await emptyServerDatabase();
  const opened = await openDatabase({ kind: 'server', url: created.url, poolMax: 2 });
  return {
    opened,
    drop: async () => {
      await opened.close();
      await created.drop();
    },
  };
}

describe.each(BACKENDS)('sellers on several providers (%s PostgreSQL)', (backend) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('migration 0005 carries single-provider sellers over unchanged', async () => {
    const { opened, drop } = await emptyDb(backend);
    try {
      await migrateUpTo(opened.db, '0004-leases');
      const synced = new Date('2026-11-01T10:00:00Z');
      await sql`
        INSERT INTO sellers (id, name, email, provider, provider_account_id, charge_type, details_submitted,
                             charges_enabled, payouts_enabled, account_synced_at, fee_bps, fee_fixed)
        VALUES ('sel_ready', 'Ready', 'r@example.test', 'stripe', 'acct_ready', 'destination', true, true, false,
                ${synced}, 1000, 30),
               ('sel_new', 'New', 'n@example.test', 'stripe', NULL, 'direct', false, false, false, NULL, 500, 0)
      `.execute(opened.db);
      await migrateToLatest(opened.db);
      const rows = await opened.db.selectFrom('seller_accounts').selectAll().orderBy('seller_id').execute();
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatchObject({
        seller_id: 'sel_new',
        provider: 'stripe',
        provider_account_id: null,
        charge_type: 'direct',
        charges_enabled: false,
        account_synced_at: null,
      });
      expect(rows[1]).toMatchObject({
        seller_id: 'sel_ready',
        provider: 'stripe',
        provider_account_id: 'acct_ready',
        charge_type: 'destination',
        details_submitted: true,
        charges_enabled: true,
        payouts_enabled: false,
        capabilities: {},
      });
      expect(rows[1]?.account_synced_at?.toISOString()).toBe(synced.toISOString());
      const sellers = await opened.db.selectFrom('sellers').selectAll().orderBy('id').execute();
      expect(sellers.map((s) => ({ id: s.id, fee_bps: s.fee_bps, fee_fixed: s.fee_fixed }))).toEqual([
        { id: 'sel_new', fee_bps: 500, fee_fixed: 0 },
        { id: 'sel_ready', fee_bps: 1000, fee_fixed: 30 },
      ]);
      // One account per seller and provider; one seller per provider account.
      await expect(
        sql`INSERT INTO seller_accounts (seller_id, provider, charge_type) VALUES ('sel_ready', 'stripe', 'direct')`.execute(
          opened.db,
        ),
      ).rejects.toThrow(/duplicate key/);
      await expect(
        sql`INSERT INTO seller_accounts (seller_id, provider, provider_account_id, charge_type)
            VALUES ('sel_new', 'paypal', 'acct_ready', 'direct'),
                   ('sel_ready', 'paypal', 'acct_ready', 'direct')`.execute(opened.db),
      ).rejects.toThrow(/duplicate key/);
    } finally {
      await drop();
    }
  });

  it('the seller view lists each provider; the operator connects a provider and reads its state', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'destination' });
    const pub = await h.api<{ providers: Record<string, unknown>[] }>('GET', `/api/sellers/${m.sellerId}`);
    expect(pub.status).toBe(200);
    expect(pub.body.providers).toEqual([
      {
        provider: 'stripe',
        chargeType: 'destination',
        detailsSubmitted: true,
        chargesEnabled: true,
        payoutsEnabled: true,
        revoked: false,
        ready: true,
      },
    ]);
    const link = await h.admin<{ url: string }>('POST', `/api/sellers/${m.sellerId}/providers/stripe`, {});
    expect(link.status).toBe(200);
    expect(link.body.url).toMatch(/^http/);
    const view = await h.admin<{ providers: { provider: string; accountId: string; ready: boolean }[] }>(
      'GET',
      `/api/admin/sellers/${m.sellerId}`,
    );
    expect(view.status).toBe(200);
    expect(view.body.providers).toMatchObject([{ provider: 'stripe', accountId: m.accountId, ready: true }]);

    // A provider this platform has not configured: a clear 409, nothing created.
    const paypal = await h.admin<{ error: { code: string; message: string } }>(
      'POST',
      `/api/sellers/${m.sellerId}/providers/paypal`,
      {},
    );
    expect(paypal.status).toBe(409);
    expect(paypal.body.error.code).toBe('provider_not_configured');
    const unknown = await h.admin('POST', `/api/sellers/${m.sellerId}/providers/venmo`, {});
    expect(unknown.status).toBe(400);
    const rows = await h.settle.ctx.db
      .selectFrom('seller_accounts')
      .select('provider')
      .where('seller_id', '=', m.sellerId)
      .execute();
    expect(rows.map((r) => r.provider)).toEqual(['stripe']);
  });

  it('checkout goes through the default provider, records it, and refuses a provider the seller is not on', async () => {
    h = await startHarness(backend);
    const m = await setupMarket(h, { chargeType: 'direct' });
    const listings = await h.api<{ listings: { id: string; seller: { providers: string[] } }[] }>(
      'GET',
      '/api/listings',
    );
    expect(listings.body.listings.find((l) => l.id === m.listingId)?.seller.providers).toEqual(['stripe']);

    const c = await checkout(h, m.slotId);
    const order = await h.settle.ctx.db
      .selectFrom('orders')
      .select(['provider', 'provider_account_id', 'charge_type'])
      .where('id', '=', c.orderId)
      .executeTakeFirstOrThrow();
    expect(order).toEqual({ provider: 'stripe', provider_account_id: m.accountId, charge_type: 'direct' });

    const explicit = await h.api<{ orderId: string }>('POST', '/api/checkout', {
      slotId: m.slotId,
      quantity: 1,
      provider: 'stripe',
    });
    expect(explicit.status).toBe(201);

    const paypal = await h.api<{ error: { code: string } }>('POST', '/api/checkout', {
      slotId: m.slotId,
      quantity: 1,
      provider: 'paypal',
    });
    expect(paypal.status).toBe(409);
    expect(paypal.body.error.code).toBe('provider_not_configured');
    const bad = await h.api('POST', '/api/checkout', { slotId: m.slotId, quantity: 1, provider: 'cash' });
    expect(bad.status).toBe(400);
    const orders = await h.settle.ctx.db
      .selectFrom('orders')
      .select('id')
      .where('slot_id', '=', m.slotId)
      .execute();
    expect(orders).toHaveLength(2);
  });
});
