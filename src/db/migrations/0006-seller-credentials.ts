import { sql, type Kysely } from 'kysely';

/**
 * Sellers who connect through the provider's OAuth (Square, issue 12): their grant (access and refresh tokens,
 * sealed with AES-256-GCM by src/core/credentials.ts; expiry, scopes, checkout location), the single-use `state`
 * values of connections in progress (stored as SHA-256 hashes: the state itself only travels with the seller's
 * browser), and when a seller withdrew the platform's access.
 */
const DDL = `
    CREATE TABLE seller_credentials (
      provider text NOT NULL CHECK (provider IN ('stripe','paypal','square')),
      provider_account_id text NOT NULL,
      seller_id text NOT NULL REFERENCES sellers(id),
      access_token_sealed text NOT NULL,
      refresh_token_sealed text,
      expires_at timestamptz,
      scopes jsonb NOT NULL DEFAULT '[]'::jsonb,
      location_id text,
      refreshed_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (provider, provider_account_id)
    );
    CREATE INDEX seller_credentials_expiry_idx ON seller_credentials (provider, expires_at);
    CREATE TABLE oauth_states (
      state_hash text PRIMARY KEY,
      seller_id text NOT NULL REFERENCES sellers(id),
      provider text NOT NULL CHECK (provider IN ('stripe','paypal','square')),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE seller_accounts ADD COLUMN revoked_at timestamptz
`;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of DDL.split(/;\s*\n/)) {
    if (statement.trim() !== '') await sql.raw(statement).execute(db);
  }
}
