import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { enqueue, enqueueMany, enqueueManyQuery } from '../../src/queue/outbox.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';

describe.each(BACKENDS)('enqueueMany on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  const rows = async () =>
    t.db
      .selectFrom('jobs')
      .select(['kind', 'dedupe_key', 'payload', 'status', 'attempts', 'max_attempts', 'run_at'])
      .orderBy('id')
      .execute();

  it('writes the same rows as one enqueue() per job, in one statement', async () => {
    t = await freshDb(backend);
    const runAt = new Date('2030-01-02T03:04:05.678Z');
    const jobs = [
      { kind: 'notify.a', dedupeKey: 'notify.a:ord_1', payload: { orderId: 'ord_1' } },
      { kind: 'refund.b', dedupeKey: 'refund.b:ord_1', payload: { orderId: 'ord_1' }, maxAttempts: 1000 },
      {
        kind: 'notify.c',
        dedupeKey: 'notify.c:ord_1',
        payload: { orderId: 'ord_1', reason: 'x' },
        runAt,
      },
    ];
    expect(await enqueueMany(t.db, jobs)).toBe(3);
    const many = await rows();
    await t.db.deleteFrom('jobs').execute();
    for (const job of jobs) expect(await enqueue(t.db, job)).toBe(true);
    const one = await rows();

    const strip = (r: (typeof many)[number]) => ({ ...r, run_at: undefined });
    expect(many.map(strip)).toEqual(one.map(strip));
    expect(many.map((r) => r.max_attempts)).toEqual([8, 1000, 8]);
    expect(many[2]?.run_at.getTime()).toBe(runAt.getTime());
    expect(many.map((r) => r.status)).toEqual(['queued', 'queued', 'queued']);
  });

  it('a key that already exists is left as it is; the others are inserted', async () => {
    t = await freshDb(backend);
    await enqueue(t.db, { kind: 'notify.a', dedupeKey: 'notify.a:ord_1', payload: { first: true } });
    const n = await enqueueMany(t.db, [
      { kind: 'notify.a', dedupeKey: 'notify.a:ord_1', payload: { first: false } },
      { kind: 'notify.b', dedupeKey: 'notify.b:ord_1', payload: {} },
    ]);
    expect(n).toBe(1);
    const all = await rows();
    expect(all.map((r) => [r.dedupe_key, r.payload])).toEqual([
      ['notify.a:ord_1', { first: true }],
      ['notify.b:ord_1', {}],
    ]);
    // The whole batch again: nothing new.
    expect(
      await enqueueMany(t.db, [
        { kind: 'notify.a', dedupeKey: 'notify.a:ord_1', payload: {} },
        { kind: 'notify.b', dedupeKey: 'notify.b:ord_1', payload: {} },
      ]),
    ).toBe(0);
    expect(await rows()).toHaveLength(2);
  });

  it('a key repeated within one batch is inserted once; an empty batch is a no-op', async () => {
    t = await freshDb(backend);
    expect(await enqueueMany(t.db, [])).toBe(0);
    expect(
      await enqueueMany(t.db, [
        { kind: 'notify.a', dedupeKey: 'k', payload: { n: 1 } },
        { kind: 'notify.a', dedupeKey: 'k', payload: { n: 2 } },
      ]),
    ).toBe(1);
    expect((await rows()).map((r) => r.payload)).toEqual([{ n: 1 }]);
  });

  it('inside a transaction that rolls back, nothing is queued', async () => {
    t = await freshDb(backend);
    await expect(
      t.db.transaction().execute(async (trx) => {
        await enqueueMany(trx, [{ kind: 'notify.a', dedupeKey: 'notify.a:ord_9', payload: {} }]);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect(await rows()).toHaveLength(0);
  });

  it('with a condition: the same rows when it holds, none when it does not; a mix of maxAttempts is refused', async () => {
    t = await freshDb(backend);
    const runAt = new Date('2030-01-02T03:04:05.678Z');
    const jobs = [
      { kind: 'notify.a', dedupeKey: 'notify.a:ord_1', payload: { orderId: 'ord_1', n: 1 } },
      { kind: 'notify.c', dedupeKey: 'notify.c:ord_1', payload: { orderId: 'ord_1', reason: "it's" }, runAt },
    ];
    await enqueueManyQuery(t.db, jobs, sql<boolean>`1 = 2`).execute();
    expect(await rows()).toEqual([]);
    await enqueueManyQuery(t.db, jobs, sql<boolean>`1 = 1`).execute();
    const conditional = await rows();
    await t.db.deleteFrom('jobs').execute();
    await enqueueMany(t.db, jobs);
    const plain = await rows();
    const strip = (r: (typeof plain)[number]) => ({ ...r, run_at: undefined });
    expect(conditional.map(strip)).toEqual(plain.map(strip));
    expect(conditional.map((r) => r.max_attempts)).toEqual([8, 8]);
    expect(conditional[1]?.run_at.getTime()).toBe(runAt.getTime());
    // Every job setting maxAttempts is written as given.
    await t.db.deleteFrom('jobs').execute();
    await enqueueManyQuery(
      t.db,
      jobs.map((j) => ({ ...j, maxAttempts: 1000 })),
      sql<boolean>`true`,
    ).execute();
    expect((await rows()).map((r) => r.max_attempts)).toEqual([1000, 1000]);
    expect(() =>
      enqueueManyQuery(t.db, [jobs[0]!, { ...jobs[1]!, maxAttempts: 3 }], sql<boolean>`true`),
    ).toThrow('either every job sets maxAttempts or none does');
  });
});
