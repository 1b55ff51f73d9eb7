/**
 * Reproduction (run as a child process by faults.test.ts): Settle's PostgreSQL pool (src/db/connect.ts) loses the
 * backend of a connection that a transaction has checked out, as `pg_terminate_backend`, a server restart or a
 * failover does. The transaction must fail (and be handled by its caller); the process must survive. Prints
 * `survived` and exits 0 when it does. Usage: node --import tsx this-file <database url>
 */
import pg from 'pg';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/connect.js';

const url = process.argv[2] ?? '';
const opened = await openDatabase({ kind: 'server', url, poolMax: 2 }, () => undefined);
const admin = new pg.Client({ connectionString: url });
await admin.connect();
let failed = '';
await opened.db
  .transaction()
  .execute(async (trx) => {
    const r = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
    await admin.query('select pg_terminate_backend($1)', [r.rows[0]?.pid ?? 0]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sql`select 1`.execute(trx);
  })
  .catch((err: unknown) => {
    failed = err instanceof Error ? err.message : String(err);
  });
process.stdout.write(`transaction failed as expected: ${failed !== ''}\nsurvived\n`);
await admin.end();
await opened.close();
