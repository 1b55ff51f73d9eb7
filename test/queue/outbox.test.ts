import { afterEach, describe, expect, it } from 'vitest';
import { recordNotification } from '../../src/queue/effects.js';
import { enqueue, QueueWorker, queueCounts } from '../../src/queue/outbox.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';

describe.each(BACKENDS)('durable side-effect queue on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  it('a handler that fails twice then succeeds runs its effect exactly once', async () => {
    t = await freshDb(backend);
    let calls = 0;
    const worker = new QueueWorker(t.db, { backoffBaseMs: 1, backoffMaxMs: 5 }).register(
      'notify.test',
      async ({ trx, payload }) => {
        calls += 1;
        // The effect is written before the failure, inside the job's transaction: the failure must undo it.
        await recordNotification(trx, {
          orderId: String(payload['orderId']),
          kind: 'test',
          recipient: 'buyer@example.test',
          subject: 'hello',
          body: `attempt ${calls}`,
          dedupeKey: `test:${String(payload['orderId'])}`,
        });
        if (calls <= 2) throw new Error(`transient failure ${calls}`);
      },
    );
    await enqueue(t.db, {
      kind: 'notify.test',
      dedupeKey: 'notify.test:ord_1',
      payload: { orderId: 'ord_1' },
    });
    // A duplicate enqueue of the same (order, effect) is a no-op.
    expect(
      await enqueue(t.db, {
        kind: 'notify.test',
        dedupeKey: 'notify.test:ord_1',
        payload: { orderId: 'ord_1' },
      }),
    ).toBe(false);

    for (let i = 0; i < 50 && calls < 3; i++) {
      await worker.runOnce();
      await new Promise((r) => setTimeout(r, 10));
    }
    await worker.drain();
    expect(calls).toBe(3);
    const mails = await t.db.selectFrom('notifications').selectAll().execute();
    expect(mails).toHaveLength(1);
    expect(mails[0]?.body).toBe('attempt 3');
    const job = await t.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'done', attempts: 3, last_error: null });
  });

  it('a job that keeps failing is dead-lettered after max_attempts with its last error', async () => {
    t = await freshDb(backend);
    const worker = new QueueWorker(t.db, { backoffBaseMs: 1, backoffMaxMs: 2 }).register(
      'always.fails',
      async () => {
        throw new Error('provider down');
      },
    );
    await enqueue(t.db, { kind: 'always.fails', dedupeKey: 'always.fails:1', payload: {}, maxAttempts: 3 });
    for (let i = 0; i < 50; i++) {
      await worker.runOnce();
      const j = await t.db.selectFrom('jobs').select('status').executeTakeFirstOrThrow();
      if (j.status === 'dead') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const job = await t.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'dead', attempts: 3, last_error: 'provider down' });
    expect(await queueCounts(t.db)).toEqual({ dead: 1 });
  });

  it('a job whose worker crashed (lease expired) is taken over and completed once', async () => {
    t = await freshDb(backend);
    let runs = 0;
    const worker = new QueueWorker(t.db, { leaseMs: 1 }).register('effect', async () => {
      runs += 1;
    });
    await enqueue(t.db, { kind: 'effect', dedupeKey: 'effect:1', payload: {} });
    // Simulate a crash after claiming: status running with a lease that has already expired.
    await t.db
      .updateTable('jobs')
      .set({ status: 'running', attempts: 1, locked_until: new Date(Date.now() - 1000) })
      .execute();
    await worker.drain();
    expect(runs).toBe(1);
    expect((await t.db.selectFrom('jobs').select('status').executeTakeFirstOrThrow()).status).toBe('done');
  });

  it('backoff grows exponentially and is capped', () => {
    const w = new QueueWorker(null as never, { backoffBaseMs: 100, backoffMaxMs: 1000 });
    const d1 = w.backoffMs(1);
    const d3 = w.backoffMs(3);
    const d10 = w.backoffMs(10);
    expect(d1).toBeGreaterThanOrEqual(80);
    expect(d1).toBeLessThanOrEqual(120);
    expect(d3).toBeGreaterThanOrEqual(320);
    expect(d3).toBeLessThanOrEqual(480);
    expect(d10).toBeLessThanOrEqual(1200);
  });
});
