import { createHash } from 'node:crypto';
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

/**
 * Named (prepared) statements for the PostgreSQL server. node-pg sends an unnamed statement by default, which
 * PostgreSQL parses and plans on every execution; a named one is parsed once per connection and its plan cached. For
 * the confirmation's one statement (nine parts) parse and plan are most of PostgreSQL's work: pgbench on Settle's
 * ingest SQL measured 0.86 against 1.86 ms of CPU per confirmation at the same rate, and 4 836 against 1 394 tx/s
 * at saturation (`-M prepared` against `-M extended`, docs/performance.md).
 *
 * Which statements: data statements (SELECT, INSERT, UPDATE, DELETE, WITH) whose exact text has been executed
 * `after` times, so one-off texts are never prepared, and at most `max` distinct texts in the process, so the
 * prepared statements a connection holds (in PostgreSQL's memory and node-pg's) are bounded. A statement's name is a
 * hash of its text: the same text has the same name on every connection, and different texts never share one.
 * Transaction control and DDL always go unnamed.
 *
 * Off (DATABASE_PREPARED_STATEMENTS=false) for a pooler that does not keep a server connection per client
 * connection (PgBouncer in transaction mode before 1.21, or without max_prepared_statements).
 */
export class StatementNames {
  private readonly counts = new Map<string, number>();
  private readonly names = new Map<string, string>();

  constructor(
    private readonly max = 500,
    private readonly after = 3,
  ) {}

  /** The name to execute `text` under, or undefined to execute it unnamed. */
  nameFor(text: string): string | undefined {
    const known = this.names.get(text);
    if (known !== undefined) return known;
    if (this.names.size >= this.max || !DATA_STATEMENT.test(text)) return undefined;
    const seen = (this.counts.get(text) ?? 0) + 1;
    if (seen < this.after) {
      // Texts seen fewer than `after` times are forgotten wholesale when too many pile up (dynamic one-offs).
      if (this.counts.size >= 10 * this.max) this.counts.clear();
      this.counts.set(text, seen);
      return undefined;
    }
    this.counts.delete(text);
    const name = `settle_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
    this.names.set(text, name);
    return name;
  }

  /** How many distinct texts are named (the doctor and tests read it). */
  get size(): number {
    return this.names.size;
  }
}

const DATA_STATEMENT = /^\s*\(?\s*(select|insert|update|delete|with)\b/i;

/** A pg pool whose clients execute repeated statements named (Kysely's PostgresDialect takes it as its pool). */
export function preparingPool(pool: pg.Pool, names: StatementNames): PostgresPool {
  return {
    connect: async () => new PreparingClient(await pool.connect(), names),
    end: () => pool.end(),
  };
}

class PreparingClient implements PostgresPoolClient {
  constructor(
    private readonly client: pg.PoolClient,
    private readonly names: StatementNames,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    const q = this.client as unknown as PostgresPoolClient;
    if (typeof sqlOrCursor !== 'string') return q.query(sqlOrCursor);
    const values = [...(parameters ?? [])];
    const name = this.names.nameFor(sqlOrCursor);
    if (name === undefined) return q.query<R>(sqlOrCursor, values);
    return this.client.query({ name, text: sqlOrCursor, values }) as unknown as Promise<
      PostgresQueryResult<R>
    >;
  }

  release(destroy?: boolean): void {
    this.client.release(destroy);
  }
}
