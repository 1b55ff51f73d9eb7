import { print, printError } from './output.js';
import { loadConfig } from '../config/config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';

/** `npm run migrate`: applies pending migrations to the configured database and prints what it did. */
try {
  const config = loadConfig();
  const opened = await openDatabase(config.database);
  print(`Migrating ${opened.describe}`);
  const result = await migrateToLatest(opened.db);
  const applied = result.results?.filter((r) => r.status === 'Success') ?? [];
  print(
    applied.length === 0
      ? 'Already up to date.'
      : applied.map((r) => `applied ${r.migrationName}`).join('\n'),
  );
  await opened.close();
} catch (err) {
  printError(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
