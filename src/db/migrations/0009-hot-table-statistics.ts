import { sql, type Kysely } from 'kysely';

/**
 * Performance (issue 14): fresh planner statistics for the two tables whose hot rows are a tiny, moving fraction of a
 * big table. With 10⁶ released holds and a few hundred active ones, autovacuum's default (re-analyze after 10 % of
 * the rows changed) left the statistics of a quiet moment in place: the planner believed no hold was active, so the
 * confirmation's hold release scanned the whole partial index of active holds (holds_active_slot_idx) for one order
 * instead of using the order's unique index (bench/scale.ts, EXPLAIN on the seeded database). The queue's `jobs` has
 * the same shape (done jobs by the million, a moving backlog of queued and running ones). Re-analyzing after a fixed
 * number of changed rows keeps the estimates near what the hot paths see.
 */
const STATEMENTS = [
  `ALTER TABLE holds SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000)`,
  `ALTER TABLE jobs SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw('ALTER TABLE holds RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)')
    .execute(db);
  await sql
    .raw('ALTER TABLE jobs RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)')
    .execute(db);
}
