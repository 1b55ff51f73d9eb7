/**
 * Sellers' OAuth grants at rest (src/core/credentials.ts), on both databases: the stored row never holds a token in
 * clear, a sealed token copied to another seller's row does not open, key rotation re-seals every grant under the
 * new key (after which the old key can go), and a missing key is a clear configuration error.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSeller } from '../../src/core/catalog.js';
import { dropGrant, grantStore, resealGrants, saveGrant } from '../../src/core/credentials.js';
import { SettleError } from '../../src/core/errors.js';
import type { SellerGrant } from '../../src/core/provider.js';
import type { SealingKeys } from '../../src/core/sealed.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';

const key = (): Buffer => randomBytes(32);

function grant(accountId: string, over: Partial<SellerGrant> = {}): SellerGrant {
  return {
    accountId,
    accessToken: `EAAA${randomBytes(24).toString('base64url')}`,
    refreshToken: `EQAA${randomBytes(24).toString('base64url')}`,
    expiresAt: new Date('2026-12-28T00:00:00Z'),
    scopes: ['PAYMENTS_WRITE', 'PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS'],
    locationId: 'LMAIN0000001',
    ...over,
  };
}

describe.each(BACKENDS)('seller grants at rest (%s)', (backend) => {
  let t: TestDb;
  afterEach(async () => t?.destroy());

  async function seller(name: string): Promise<string> {
    const s = await createSeller(t.db, { name, email: `${name}@example.test`, fee: { bps: 1000, fixed: 0 } });
    return s.id;
  }

  it('stores tokens sealed, reads them back, refreshes and lists expiring grants', async () => {
    t = await freshDb(backend);
    const keys: SealingKeys = { current: key(), previous: [] };
    const sellerId = await seller('alpha');
    const g = grant('MLALPHA000001');
    await saveGrant(t.db, keys, 'square', sellerId, g, new Date());

    const row = await t.db.selectFrom('seller_credentials').selectAll().executeTakeFirstOrThrow();
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(g.accessToken);
    expect(stored).not.toContain(g.refreshToken ?? 'x');
    expect(row.access_token_sealed).toMatch(/^v1\./);

    const store = grantStore(t.db, keys, 'square');
    expect(await store.load('MLALPHA000001')).toEqual(g);
    expect(await store.load('MLUNKNOWN0001')).toBeNull();
    // Bound to its provider: the same account id under another provider has nothing.
    expect(await grantStore(t.db, keys, 'paypal').load('MLALPHA000001')).toBeNull();

    await store.update('MLALPHA000001', {
      accessToken: 'EAAAnewtoken0000000000000000',
      refreshToken: null,
      expiresAt: new Date('2027-01-27T00:00:00Z'),
    });
    const after = await store.load('MLALPHA000001');
    expect(after?.accessToken).toBe('EAAAnewtoken0000000000000000');
    expect(after?.refreshToken).toBe(g.refreshToken); // a refresh without a new refresh token keeps the old one
    expect(await store.expiring(new Date('2027-01-01T00:00:00Z'))).toEqual([]);
    expect(await store.expiring(new Date('2027-02-01T00:00:00Z'))).toEqual(['MLALPHA000001']);

    await dropGrant(t.db, 'square', 'MLALPHA000001');
    expect(await store.load('MLALPHA000001')).toBeNull();
  });

  it("refuses a sealed token moved to another seller's row, and a wrong key", async () => {
    t = await freshDb(backend);
    const keys: SealingKeys = { current: key(), previous: [] };
    await saveGrant(t.db, keys, 'square', await seller('alpha'), grant('MLALPHA000001'), new Date());
    await saveGrant(t.db, keys, 'square', await seller('beta'), grant('MLBETA0000001'), new Date());
    const alpha = await t.db
      .selectFrom('seller_credentials')
      .select('access_token_sealed')
      .where('provider_account_id', '=', 'MLALPHA000001')
      .executeTakeFirstOrThrow();
    await t.db
      .updateTable('seller_credentials')
      .set({ access_token_sealed: alpha.access_token_sealed })
      .where('provider_account_id', '=', 'MLBETA0000001')
      .execute();
    const store = grantStore(t.db, keys, 'square');
    await expect(store.load('MLBETA0000001')).rejects.toThrow(/failed authentication/);
    await expect(
      grantStore(t.db, { current: key(), previous: [] }, 'square').load('MLALPHA000001'),
    ).rejects.toThrow(/no configured key/);
  });

  it('rotation: the previous key still opens, resealGrants moves every grant to the new key', async () => {
    t = await freshDb(backend);
    const oldKey = key();
    const newKey = key();
    const grants = [grant('MLALPHA000001'), grant('MLBETA0000001', { refreshToken: null })];
    await saveGrant(
      t.db,
      { current: oldKey, previous: [] },
      'square',
      await seller('alpha'),
      grants[0]!,
      new Date(),
    );
    await saveGrant(
      t.db,
      { current: oldKey, previous: [] },
      'square',
      await seller('beta'),
      grants[1]!,
      new Date(),
    );

    const rotating: SealingKeys = { current: newKey, previous: [oldKey] };
    expect(await grantStore(t.db, rotating, 'square').load('MLALPHA000001')).toEqual(grants[0]);
    expect(await resealGrants(t.db, rotating)).toEqual({ resealed: 2 });
    expect(await resealGrants(t.db, rotating)).toEqual({ resealed: 0 });

    // The old key is gone now: every grant still opens.
    const onlyNew: SealingKeys = { current: newKey, previous: [] };
    expect(await grantStore(t.db, onlyNew, 'square').load('MLALPHA000001')).toEqual(grants[0]);
    expect(await grantStore(t.db, onlyNew, 'square').load('MLBETA0000001')).toEqual(grants[1]);
  });

  it('without SETTLE_ENCRYPTION_KEY nothing is stored and the error says what to set', async () => {
    t = await freshDb(backend);
    const err = await saveGrant(
      t.db,
      null,
      'square',
      await seller('alpha'),
      grant('MLALPHA000001'),
      new Date(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettleError);
    expect((err as SettleError).message).toContain('SETTLE_ENCRYPTION_KEY');
    expect(await t.db.selectFrom('seller_credentials').selectAll().execute()).toEqual([]);
  });
});
