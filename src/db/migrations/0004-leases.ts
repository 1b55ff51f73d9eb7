import { sql, type Kysely } from 'kysely';

/**
 * Several instances on one database (issue 9):
 * - `leases`: named, expiring leases. Periodic work (the reconciler, the retention sweep) runs only in the instance
 *   holding its lease (`tryLease()` in src/core/leases.ts), so it runs on one instance at a time.
 * - `rate_limits`: the shared per-client request counters of the rate limiter (src/http/rate-limit-store.ts), one
 *   row per (route, client) with the start of its current window. Expired windows are reset on the next hit and
 *   deleted lazily.
 */
const DDL = `
    CREATE TABLE leases (
      name text PRIMARY KEY,
      holder text NOT NULL,
      expires_at timestamptz NOT NULL
    );
    CREATE TABLE rate_limits (
      key text PRIMARY KEY,
      window_start timestamptz NOT NULL,
      count integer NOT NULL CHECK (count >= 0)
    );
    CREATE INDEX rate_limits_window_idx ON rate_limits (window_start)
`;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of DDL.split(/;\s*\n/)) {
    if (statement.trim() !== '') await sql.raw(statement).execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of ['DROP TABLE IF EXISTS rate_limits', 'DROP TABLE IF EXISTS leases']) {
    await sql.raw(statement).execute(db);
  }
}
