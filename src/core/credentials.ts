import type { Db } from '../db/connect.js';
import type { ProviderId } from '../db/schema.js';
import { SettleError } from './errors.js';
import type { GrantStore, SellerGrant } from './provider.js';
import { needsReseal, open, seal, type SealingKeys } from './sealed.js';

/**
 * Sellers' OAuth grants at rest (table `seller_credentials`): access and refresh tokens sealed with AES-256-GCM
 * under SETTLE_ENCRYPTION_KEY (src/core/sealed.ts), each bound to its provider, account and kind so a sealed token
 * copied elsewhere does not open. Plaintext tokens exist only in memory, never in logs or errors.
 */

const purpose = (provider: ProviderId, accountId: string, kind: 'access' | 'refresh'): string =>
  `${provider}:${accountId}:${kind}_token`;

function requireKeys(keys: SealingKeys | null): SealingKeys {
  if (keys === null)
    throw new SettleError(
      'config_invalid',
      "SETTLE_ENCRYPTION_KEY is not set: sellers' OAuth tokens cannot be stored or read (see docs/configuration.md).",
    );
  return keys;
}

/** Stores (or replaces, on reconnection) the grant a seller gave, sealed. */
export async function saveGrant(
  db: Db,
  keys: SealingKeys | null,
  provider: ProviderId,
  sellerId: string,
  grant: SellerGrant,
  now: Date,
): Promise<void> {
  const k = requireKeys(keys);
  const row = {
    seller_id: sellerId,
    access_token_sealed: seal(k, grant.accessToken, purpose(provider, grant.accountId, 'access')),
    refresh_token_sealed:
      grant.refreshToken === null
        ? null
        : seal(k, grant.refreshToken, purpose(provider, grant.accountId, 'refresh')),
    expires_at: grant.expiresAt,
    scopes: JSON.stringify(grant.scopes),
    location_id: grant.locationId,
    refreshed_at: now,
  };
  await db
    .insertInto('seller_credentials')
    .values({ provider, provider_account_id: grant.accountId, ...row })
    .onConflict((oc) => oc.columns(['provider', 'provider_account_id']).doUpdateSet(row))
    .execute();
}

/** Forgets a seller's grant (revoked at the provider, or by the operator). */
export async function dropGrant(db: Db, provider: ProviderId, accountId: string): Promise<void> {
  await db
    .deleteFrom('seller_credentials')
    .where('provider', '=', provider)
    .where('provider_account_id', '=', accountId)
    .execute();
}

/** The grant store a provider uses (bound to it), over `seller_credentials`. */
export function grantStore(
  db: Db,
  keys: SealingKeys | null,
  provider: ProviderId,
  now: () => Date = () => new Date(),
): GrantStore {
  return {
    async load(accountId) {
      const row = await db
        .selectFrom('seller_credentials')
        .selectAll()
        .where('provider', '=', provider)
        .where('provider_account_id', '=', accountId)
        .executeTakeFirst();
      if (row === undefined) return null;
      const k = requireKeys(keys);
      const opened = (sealed: string, kind: 'access' | 'refresh'): string => {
        try {
          return open(k, sealed, purpose(provider, accountId, kind));
        } catch (err) {
          // A key that was removed too early (or a wrong key): say which, never the value.
          throw new SettleError(
            'config_invalid',
            `The ${provider} ${kind} token of account ${accountId} cannot be opened with the configured keys (${err instanceof Error ? err.message : String(err)}): put the key that sealed it back into SETTLE_ENCRYPTION_KEY_PREVIOUS, or have the seller reconnect.`,
            { cause: err },
          );
        }
      };
      const scopes: unknown = typeof row.scopes === 'string' ? JSON.parse(row.scopes) : row.scopes;
      return {
        accountId,
        accessToken: opened(row.access_token_sealed, 'access'),
        refreshToken: row.refresh_token_sealed === null ? null : opened(row.refresh_token_sealed, 'refresh'),
        expiresAt: row.expires_at,
        scopes: Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [],
        locationId: row.location_id,
      };
    },
    async update(accountId, tokens) {
      const k = requireKeys(keys);
      await db
        .updateTable('seller_credentials')
        .set({
          access_token_sealed: seal(k, tokens.accessToken, purpose(provider, accountId, 'access')),
          ...(tokens.refreshToken !== null
            ? { refresh_token_sealed: seal(k, tokens.refreshToken, purpose(provider, accountId, 'refresh')) }
            : {}),
          expires_at: tokens.expiresAt,
          refreshed_at: now(),
        })
        .where('provider', '=', provider)
        .where('provider_account_id', '=', accountId)
        .execute();
    },
    async expiring(before) {
      const rows = await db
        .selectFrom('seller_credentials')
        .select('provider_account_id')
        .where('provider', '=', provider)
        .where('expires_at', '<', before)
        .orderBy('expires_at')
        .execute();
      return rows.map((r) => r.provider_account_id);
    },
  };
}

/**
 * Key rotation: re-seals every stored token still sealed with a previous key under the current one. Run after
 * making the new key SETTLE_ENCRYPTION_KEY and the old one SETTLE_ENCRYPTION_KEY_PREVIOUS; once it reports 0
 * left, the previous key can be removed (docs/security.md).
 */
export async function resealGrants(db: Db, keys: SealingKeys | null): Promise<{ resealed: number }> {
  const k = requireKeys(keys);
  const rows = await db.selectFrom('seller_credentials').selectAll().execute();
  let resealed = 0;
  for (const row of rows) {
    const stale =
      needsReseal(k, row.access_token_sealed) ||
      (row.refresh_token_sealed !== null && needsReseal(k, row.refresh_token_sealed));
    if (!stale) continue;
    const p = (kind: 'access' | 'refresh') => purpose(row.provider, row.provider_account_id, kind);
    const access = seal(k, open(k, row.access_token_sealed, p('access')), p('access'));
    const refresh =
      row.refresh_token_sealed === null
        ? null
        : seal(k, open(k, row.refresh_token_sealed, p('refresh')), p('refresh'));
    const r = await db
      .updateTable('seller_credentials')
      .set({ access_token_sealed: access, refresh_token_sealed: refresh })
      .where('provider', '=', row.provider)
      .where('provider_account_id', '=', row.provider_account_id)
      // Only if nobody refreshed the tokens meanwhile (their new values are sealed under the current key).
      .where('access_token_sealed', '=', row.access_token_sealed)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) resealed += 1;
  }
  return { resealed };
}
