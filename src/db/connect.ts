import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config/config.js';
import { PGliteDialect } from './pglite-dialect.js';
import { preparingPool, StatementNames } from './prepared.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

const INT8_OID = 20;

/**
 * The embedded database's buffer cache. PostgreSQL's default, 128 MB, makes PGlite's WebAssembly memory grow past
 * its initial 128 MiB and stay resident: about 120 MB more RSS per instance, measured (bench/startup-memory.ts).
 * 32 MB keeps it within the initial memory; pages beyond it are read from the data directory through the
 * operating system's page cache. The other settings stay PGlite's own (`PGlite.defaultStartParams`).
 */
export const EMBEDDED_SHARED_BUFFERS = '32MB';

/** int8 → number, refusing values that a JS number cannot hold exactly (money must never drift). */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} exceeds Number.MAX_SAFE_INTEGER`);
  return n;
}

export interface OpenedDb {
  db: Db;
  kind: 'server' | 'embedded';
  /** The embedded instance, when embedded. */
  pglite?: PGlite;
  /** Human description without credentials, for logs and the doctor. */
  describe: string;
  close(): Promise<void>;
}

export type DatabaseTarget = Config['database'] | { kind: 'memory'; from?: PGlite };

/**
 * Opens the system of record: a PostgreSQL server when DATABASE_URL is set, otherwise the embedded
 * PostgreSQL (PGlite) under SETTLE_DATA_DIR. `{kind:'memory'}` is an in-memory embedded database (tests).
 */
export async function openDatabase(
  target: DatabaseTarget,
  onIdleError?: (err: Error) => void,
): Promise<OpenedDb> {
  if (target.kind === 'server') {
    const types = {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? parseInt8
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    };
    const pool = new pg.Pool({ connectionString: target.url, max: target.poolMax, types });
    // An idle pooled connection can be terminated by the server (restart, failover, admin). pg removes it from
    // the pool; without a listener the 'error' event would crash the process. Queries in flight still fail loudly.
    pool.on('error', (err) => onIdleError?.(err));
    // A connection checked out by a transaction can lose its backend too (pg_terminate_backend, restart, failover):
    // the client then emits 'error' while no pool listener is attached, which would kill the process. The query in
    // flight still fails (its transaction rolls back), and the pool discards the broken client when it is released.
    pool.on('connect', (client) => client.on('error', (err) => onIdleError?.(err)));
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: target.preparedStatements === false ? pool : preparingPool(pool, new StatementNames()),
      }),
    });
    const u = new URL(target.url);
    return {
      db,
      kind: 'server',
      describe: `postgresql://${u.hostname}:${u.port || '5432'}${u.pathname}`,
      close: () => db.destroy(),
    };
  }
  const dataDir = target.kind === 'embedded' ? target.dataDir : undefined;
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  // `from`: clone an existing in-memory database (tests clone one migrated template instead of migrating each time).
  const pglite =
    target.kind === 'memory' && target.from !== undefined
      ? ((await target.from.clone()) as PGlite)
      : await PGlite.create({
          ...(dataDir !== undefined ? { dataDir } : {}),
          parsers: { [INT8_OID]: parseInt8 },
          startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`],
        });
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    pglite,
    kind: 'embedded',
    describe:
      dataDir !== undefined
        ? `embedded PostgreSQL (PGlite) at ${dataDir}`
        : 'embedded PostgreSQL (PGlite) in memory',
    close: () => db.destroy(),
  };
}
