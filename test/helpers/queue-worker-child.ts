/**
 * A queue worker in its own process, for the crash test (test/queue/workers.test.ts): it claims jobs from the
 * PostgreSQL server given in argv[2] and, for kind `crash.me`, records that it started and then hangs, so the
 * test can kill -9 it in the middle of the handler.
 */
import { openDatabase } from '../../src/db/connect.js';
import { QueueWorker } from '../../src/queue/outbox.js';

const url = process.argv[2];
if (url === undefined) throw new Error('usage: queue-worker-child <database url>');
const opened = await openDatabase({ kind: 'server', url, poolMax: 2 });
const worker = new QueueWorker(opened.db, { pollMs: 10, leaseMs: 1_000 }).register(
  'crash.me',
  async ({ trx, job }) => {
    await trx
      .insertInto('notifications')
      .values({
        order_id: null,
        kind: 'started',
        recipient: 'child',
        subject: String(process.pid),
        body: String(job.id),
        dedupe_key: `started:${job.id}:${process.pid}`,
      })
      .execute();
    process.stdout.write(`started ${job.id}\n`);
    await new Promise(() => undefined); // hangs inside the job's transaction until killed
  },
  { transactional: false },
);
worker.start();
