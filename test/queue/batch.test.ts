import { afterEach, describe, expect, it } from 'vitest';
import { recordNotification } from '../../src/queue/effects.js';
import { enqueue, QueueWorker } from '../../src/queue/outbox.js';
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
});
