import { randomBytes } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { openDatabase, type OpenedDb } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/**
 * Database backends every database test runs on: the embedded PGlite always, and the PostgreSQL server when
 * DATABASE_URL is set (CI sets it). Each test gets its own fresh, migrated database.
 */
export type Backend = 'embedded' | 'server';

export const BACKENDS: Backend[] = process.env['DATABASE_URL'] ? ['embedded', 'server'] : ['embedded'];

export interface TestDb extends OpenedDb {
  /** A connection string for the server backend (for tests that open extra pools); null when embedded. */
  url: string | null;
  destroy(): Promise<void>;
}

/** One migrated in-memory database per test worker; each test gets a clone of it. */
let template: Promise<PGlite> | undefined;

/** The migrated in-memory template; open `{kind:'memory', from: template}` to get a private clone. */
export function embeddedTemplate(): Promise<PGlite> {
  template ??= (async () => {
    const t = await openDatabase({ kind: 'memory' });
    await migrateToLatest(t.db);
    if (t.pglite === undefined) throw new Error('embedded template has no PGlite instance');
    return t.pglite;
  })();
  return template;
}

export async function freshDb(backend: Backend, opts: { poolMax?: number } = {}): Promise<TestDb> {
  if (backend === 'embedded') {
    const opened = await openDatabase({ kind: 'memory', from: await embeddedTemplate() });
    return { ...opened, url: null, destroy: () => opened.close() };
  }
  const created = await emptyServerDatabase();
  const opened = await openDatabase({ kind: 'server', url: created.url, poolMax: opts.poolMax ?? 10 });
  await migrateToLatest(opened.db);
  return {
    ...opened,
    url: created.url,
    destroy: async () => {
      await opened.close();
      await created.drop();
    },
  };
}

/** A new, empty database on the PostgreSQL server (no migration applied); `drop()` removes it. */
export async function emptyServerDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env['DATABASE_URL'];
  if (!adminUrl) throw new Error('DATABASE_URL is not set');
  const name = `settle_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
