import { sql, type Kysely } from 'kysely';

/** Serves GET /api/listings, which reads upcoming slots across all listings (`starts_at > now()`). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX slots_starts_at_idx ON slots (starts_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS slots_starts_at_idx`.execute(db);
}
