import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './connect.js';
import * as m0001 from './migrations/0001-initial.js';
import * as m0002 from './migrations/0002-slot-start-index.js';
import * as m0003 from './migrations/0003-hardening.js';
import * as m0004 from './migrations/0004-leases.js';
import * as m0005 from './migrations/0005-seller-accounts.js';
import * as m0006 from './migrations/0006-seller-credentials.js';
import * as m0007 from './migrations/0007-subscriptions.js';
import * as m0008 from './migrations/0008-slot-held.js';
import * as m0009 from './migrations/0009-hot-table-statistics.js';

/** Versioned migrations, applied in name order. Add new files here; never edit an applied one. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-slot-start-index': m0002,
  '0003-hardening': m0003,
  '0004-leases': m0004,
  '0005-seller-accounts': m0005,
  '0006-seller-credentials': m0006,
  '0007-subscriptions': m0007,
  '0008-slot-held': m0008,
  '0009-hot-table-statistics': m0009,
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

/** Applies pending migrations. Throws with the failing migration's name if one fails. */
export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  return migrateUpTo(db, null);
}

/** Applies pending migrations up to and including `name` (null: all). Tests of a migration start from before it. */
export async function migrateUpTo(db: Db, name: string | null): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(),
    migrationTableName: 'settle_migrations',
  });
  const result = name === null ? await migrator.migrateToLatest() : await migrator.migrateTo(name);
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return result;
}

/** Names of migrations not yet applied (the doctor uses this). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(),
    migrationTableName: 'settle_migrations',
  });
  const all = await migrator.getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
