/**
 * Copies of Settle's state for permutation tests: every row of every table of a running Settle is copied into a
 * fresh, migrated in-memory database, and a context is built on it with the same configuration and provider (so
 * events applied to the copy re-read the same emulator). Each copy is independent of the original and the others.
 */
import { sql } from 'kysely';
import type { AppContext } from '../../src/app/context.js';
import { createContext } from '../../src/app/context.js';
import { openDatabase, type Db, type OpenedDb } from '../../src/db/connect.js';
import { silentLogger } from '../../src/log/logger.js';
import { embeddedTemplate } from '../helpers/db.js';
import { tableNames } from './hostile-http.js';

/** Every table's rows as JSON text. */
export type Snapshot = Map<string, string>;

export async function snapshot(db: Db): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const t of await tableNames(db)) {
    const r = await sql<{
      j: string;
    }>`select coalesce(json_agg(x), '[]'::json)::text as j from ${sql.table(t)} as x`.execute(db);
    out.set(t, r.rows[0]?.j ?? '[]');
  }
  return out;
}

export interface Copy {
  ctx: AppContext;
  close(): Promise<void>;
}

/** A fresh in-memory database holding the snapshot, and a context on it (queue not started). */
export async function restore(snap: Snapshot, like: AppContext): Promise<Copy> {
  const opened: OpenedDb = await openDatabase({ kind: 'memory', from: await embeddedTemplate() });
  const db = opened.db;
  await sql`set session_replication_role = replica`.execute(db); // no FK order needed while loading
  for (const [t, rows] of snap) {
    await sql`insert into ${sql.table(t)} select * from json_populate_recordset(null::${sql.table(t)}, ${rows}::json)`.execute(
      db,
    );
  }
  await sql`set session_replication_role = origin`.execute(db);
  const serials = await sql<{ table_name: string; column_name: string }>`
    select table_name, column_name from information_schema.columns
    where table_schema = 'public' and column_default like 'nextval(%'`.execute(db);
  for (const s of serials.rows) {
    await sql`select setval(pg_get_serial_sequence(${s.table_name}, ${s.column_name}),
      coalesce((select max(${sql.ref(s.column_name)}) from ${sql.table(s.table_name)}), 0) + 1, false)`.execute(
      db,
    );
  }
  const ctx = createContext({
    config: like.config,
    opened,
    providers: like.providers.all(),
    logger: silentLogger,
  });
  return { ctx, close: () => opened.close() };
}
