import { sql, type Kysely } from 'kysely';

/**
 * Sellers on more than one provider (issue 11): one `seller_accounts` row per seller and provider holds what was
 * the seller's single provider account (account id, charge type, onboarding state, capabilities, the `created` of
 * the newest account event applied). Today's Stripe sellers are carried over unchanged, then the columns leave
 * `sellers`. Orders already record their provider and account.
 */
const DDL = `
    CREATE TABLE seller_accounts (
      seller_id text NOT NULL REFERENCES sellers(id),
      provider text NOT NULL CHECK (provider IN ('stripe','paypal','square')),
      provider_account_id text,
      charge_type text NOT NULL CHECK (charge_type IN ('direct','destination')),
      details_submitted boolean NOT NULL DEFAULT false,
      charges_enabled boolean NOT NULL DEFAULT false,
      payouts_enabled boolean NOT NULL DEFAULT false,
      capabilities jsonb NOT NULL DEFAULT '{}'::jsonb,
      account_synced_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (seller_id, provider)
    );
    CREATE UNIQUE INDEX seller_accounts_provider_account_uq ON seller_accounts (provider, provider_account_id)
      WHERE provider_account_id IS NOT NULL;
    INSERT INTO seller_accounts (seller_id, provider, provider_account_id, charge_type, details_submitted,
                                 charges_enabled, payouts_enabled, account_synced_at, created_at)
      SELECT id, provider, provider_account_id, charge_type, details_submitted, charges_enabled, payouts_enabled,
             account_synced_at, created_at
      FROM sellers;
    DROP INDEX sellers_provider_account_uq;
    ALTER TABLE sellers
      DROP COLUMN provider,
      DROP COLUMN provider_account_id,
      DROP COLUMN charge_type,
      DROP COLUMN details_submitted,
      DROP COLUMN charges_enabled,
      DROP COLUMN payouts_enabled,
      DROP COLUMN account_synced_at
`;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of DDL.split(/;\s*\n/)) {
    if (statement.trim() !== '') await sql.raw(statement).execute(db);
  }
}
