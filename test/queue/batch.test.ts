import { afterEach, describe, expect, it } from 'vitest';
import { recordNotification } from '../../src/queue/effects.js';
import type { Db } from '../../src/db/connect.js';
import { enqueue, QueueWorker, type BatchHandler } from '../../src/queue/outbox.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';

/**
 * The worker runs a claimed batch's database-only jobs in one transaction (one commit for the batch). These tests pin
 * what that must not change: each job's effect commits exactly once with its job, and one failing job neither loses nor
 * repeats the others' effects.
 */
describe.each(BACKENDS)('queue worker batches on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  const mail = (n: string) => ({
    orderId: null,
    kind: 'test',
    recipient: 'buyer@example.test',
    subject: `job ${n}`,
    body: n,
    dedupeKey: `batch-test:${n}`,
  });

  it('a batch of jobs commits each effect once, together with its job', async () => {
    t = await freshDb(backend);
    const ran: string[] = [];
    const worker = new QueueWorker(t.db, { batchSize: 10 }).register(
      'notify.batch',
      async ({ trx, payload }) => {
        ran.push(String(payload['n']));
        await recordNotification(trx, mail(String(payload['n'])));
      },
    );
    for (let n = 0; n < 7; n++)
      await enqueue(t.db, { kind: 'notify.batch', dedupeKey: `notify.batch:${n}`, payload: { n } });
    const stats = await worker.runOnce();
    expect(stats).toEqual({ claimed: 7, succeeded: 7, failed: 0, dead: 0 });
    expect(ran.sort()).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    const jobs = await t.db.selectFrom('jobs').selectAll().execute();
    expect(jobs.every((j) => j.status === 'done' && j.attempts === 1 && j.locked_until === null)).toBe(true);
    expect(await t.db.selectFrom('notifications').selectAll().execute()).toHaveLength(7);
    // Nothing is left to run: a second round claims nothing and writes nothing.
    expect((await worker.runOnce()).claimed).toBe(0);
    expect(await t.db.selectFrom('notifications').selectAll().execute()).toHaveLength(7);
  });

  it('one failing job rolls back only itself: the others commit once, it is retried with its error', async () => {
    t = await freshDb(backend);
    const calls = new Map<string, number>();
    const worker = new QueueWorker(t.db, { batchSize: 10, backoffBaseMs: 1, backoffMaxMs: 2 }).register(
      'notify.batch',
      async ({ trx, payload }) => {
        const n = String(payload['n']);
        calls.set(n, (calls.get(n) ?? 0) + 1);
        // The effect is written before the failure: the failure must undo it.
        await recordNotification(trx, mail(n));
        if (n === '2' && (calls.get(n) ?? 0) <= 2) throw new Error(`job 2 fails (call ${calls.get(n)})`);
      },
    );
    for (let n = 0; n < 5; n++)
      await enqueue(t.db, { kind: 'notify.batch', dedupeKey: `notify.batch:${n}`, payload: { n } });
    const first = await worker.runOnce();
    expect(first).toEqual({ claimed: 5, succeeded: 4, failed: 1, dead: 0 });
    const failed = await t.db
      .selectFrom('jobs')
      .selectAll()
      .where('dedupe_key', '=', 'notify.batch:2')
      .executeTakeFirstOrThrow();
    expect(failed).toMatchObject({ status: 'queued', attempts: 1 });
    expect(failed.last_error).toContain('job 2 fails');
    const mails = await t.db.selectFrom('notifications').select('body').execute();
    expect(mails.map((m) => m.body).sort()).toEqual(['0', '1', '3', '4']);
    // The retry succeeds; every effect exists exactly once.
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 5));
      const s = await worker.runOnce();
      if (s.succeeded > 0) break;
    }
    const all = await t.db.selectFrom('notifications').select('body').execute();
    expect(all.map((m) => m.body).sort()).toEqual(['0', '1', '2', '3', '4']);
    const jobs = await t.db.selectFrom('jobs').selectAll().execute();
    expect(jobs.every((j) => j.status === 'done')).toBe(true);
  });

  it('a batch handler runs the owned jobs in one call; a job re-claimed by another worker is left out', async () => {
    t = await freshDb(backend);
    const single: string[] = [];
    const batches: string[][] = [];
    // Another worker takes job 1 over (its lease lapsed) after this worker's claim, before its batch transaction.
    let stolen = false;
    const steal = async () => {
      if (stolen) return;
      stolen = true;
      await t.db
        .updateTable('jobs')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), locked_until: new Date(Date.now() + 60_000) }))
        .where('dedupe_key', '=', 'notify.batch:1')
        .execute();
    };
    const db = new Proxy(t.db, {
      get(target, prop) {
        if (prop === 'transaction')
          return () => {
            const builder = target.transaction();
            return {
              execute: async <T>(fn: Parameters<typeof builder.execute<T>>[0]) => {
                await steal();
                return builder.execute(fn);
              },
            };
          };
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Db;
    const batch: BatchHandler = async ({ trx, jobs }) => {
      batches.push(jobs.map((j) => String(j.payload['n'])));
      for (const job of jobs) await recordNotification(trx, mail(String(job.payload['n'])));
    };
    const worker = new QueueWorker(db, { batchSize: 10 })
      .register(
        'notify.batch',
        async ({ trx, payload }) => {
          single.push(String(payload['n']));
          await recordNotification(trx, mail(String(payload['n'])));
        },
        { batch },
      )
      // A second kind sharing the batch function: one call for both kinds.
      .register('notify.batch2', async () => undefined, { batch });
    for (let n = 0; n < 4; n++)
      await enqueue(t.db, { kind: 'notify.batch', dedupeKey: `notify.batch:${n}`, payload: { n } });
    await enqueue(t.db, { kind: 'notify.batch2', dedupeKey: 'notify.batch2:4', payload: { n: 4 } });
    expect((await worker.runOnce()).claimed).toBe(5);
    expect(stolen).toBe(true);
    expect(single).toEqual([]);
    expect(batches).toHaveLength(1);
    expect([...(batches[0] ?? [])].sort()).toEqual(['0', '2', '3', '4']);
    const mails = await t.db.selectFrom('notifications').select('body').execute();
    expect(mails.map((m) => m.body).sort()).toEqual(['0', '2', '3', '4']);
    // The re-claimed job is the other worker's: still running under its claim, untouched by this one.
    const taken = await t.db
      .selectFrom('jobs')
      .selectAll()
      .where('dedupe_key', '=', 'notify.batch:1')
      .executeTakeFirstOrThrow();
    expect(taken).toMatchObject({ status: 'running', attempts: 2, finished_at: null });
  });

  it('a batch handler is refused for a handler that is not transactional', () => {
    const worker = new QueueWorker(null as never);
    expect(() =>
      worker.register('provider.call', async () => undefined, {
        transactional: false,
        batch: async () => undefined,
      }),
    ).toThrow(/batch handler is only allowed for a transactional handler/);
    // Transactional (the default) is accepted.
    expect(() =>
      worker.register('db.only', async () => undefined, { batch: async () => undefined }),
    ).not.toThrow();
  });
});
