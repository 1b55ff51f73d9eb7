import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type OpenedDb } from '../../src/db/connect.js';
import { StatementNames } from '../../src/db/prepared.js';
import { emptyServerDatabase } from '../helpers/db.js';

describe('StatementNames', () => {
  it('names a data statement from its third execution on, the same name for the same text', () => {
    const names = new StatementNames(10, 3);
    const text = 'select * from "orders" where "id" = $1';
    expect(names.nameFor(text)).toBeUndefined();
    expect(names.nameFor(text)).toBeUndefined();
    const name = names.nameFor(text);
    expect(name).toMatch(/^settle_[A-Za-z0-9_-]{24}$/);
    expect(names.nameFor(text)).toBe(name);
    expect(new StatementNames(10, 1).nameFor(text)).toBe(name);
    expect(new StatementNames(10, 1).nameFor(`${text} `)).not.toBe(name);
  });

  it('never names transaction control or DDL, and stops at its maximum of distinct texts', () => {
    const names = new StatementNames(2, 1);
    for (const t of ['begin', 'commit', 'rollback', 'create table x (id int)', 'set local x = 1'])
      expect(names.nameFor(t)).toBeUndefined();
    expect(names.nameFor('select 1')).toBeDefined();
    expect(names.nameFor('with a as (select 1) select * from a')).toBeDefined();
    expect(names.nameFor('update "jobs" set "status" = $1')).toBeUndefined();
    expect(names.size).toBe(2);
    // Texts already named keep their names.
    expect(names.nameFor('select 1')).toBeDefined();
  });
});

describe.skipIf(!process.env['DATABASE_URL'])('named statements on the PostgreSQL server', () => {
  let opened: OpenedDb | null = null;
  let drop: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await opened?.close();
    await drop?.();
    opened = null;
    drop = null;
  });

  const open = async (preparedStatements?: boolean): Promise<OpenedDb> => {
    const created = await emptyServerDatabase();
    drop = created.drop;
    opened = await openDatabase({
      kind: 'server',
      url: created.url,
      poolMax: 1,
      ...(preparedStatements !== undefined ? { preparedStatements } : {}),
    });
    return opened;
  };

  /** The connection's prepared statements, as PostgreSQL holds them (pool of 1: always the same connection). */
  const prepared = async (o: OpenedDb): Promise<string[]> =>
    (
      await sql<{ name: string }>`select name from pg_prepared_statements order by name`.execute(o.db)
    ).rows.map((r) => r.name);

  it('a repeated statement is prepared once on the connection and gives the same results', async () => {
    const o = await open();
    await sql`create table t (id int primary key, v text)`.execute(o.db);
    const results: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      await sql`insert into t (id, v) values (${i}, ${`v${i}`})`.execute(o.db);
      results.push((await sql<{ v: string }>`select v from t where id = ${i}`.execute(o.db)).rows);
    }
    expect(results).toEqual([0, 1, 2, 3, 4, 5].map((i) => [{ v: `v${i}` }]));
    const names = await prepared(o);
    // The insert and the select (the catalogue query above is itself only on its first run).
    expect(names).toHaveLength(2);
    expect(names.every((n) => n.startsWith('settle_'))).toBe(true);
  });

  it('DATABASE_PREPARED_STATEMENTS=false: nothing is prepared', async () => {
    const o = await open(false);
    for (let i = 0; i < 5; i++) await sql`select ${i}::int as n`.execute(o.db);
    expect(await prepared(o)).toEqual([]);
  });

  it('a prepared statement inside a transaction that fails and rolls back is used again afterwards', async () => {
    const o = await open();
    await sql`create table u (id int primary key)`.execute(o.db);
    for (let i = 0; i < 4; i++) await sql`insert into u (id) values (${i})`.execute(o.db);
    await expect(
      o.db.transaction().execute(async (trx) => {
        await sql`insert into u (id) values (${10})`.execute(trx);
        await sql`insert into u (id) values (${1})`.execute(trx); // duplicate key
      }),
    ).rejects.toThrow(/duplicate key/);
    await sql`insert into u (id) values (${11})`.execute(o.db);
    const ids = (await sql<{ id: number }>`select id from u order by id`.execute(o.db)).rows.map((r) => r.id);
    expect(ids).toEqual([0, 1, 2, 3, 11]);
  });
});
