import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { recordNotification } from '../../src/queue/effects.js';
import { enqueue, QueueWorker } from '../../src/queue/outbox.js';
import { freshDb, type TestDb } from '../helpers/db.js';

const TSX = join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs');
const server = process.env['DATABASE_URL'] !== undefined;

/**
 * Several workers on one PostgreSQL server, as several Settle instances run them: each on its own pool, claiming
 * with FOR UPDATE SKIP LOCKED. Needs the server (the embedded database is one process); without DATABASE_URL these
 * tests are reported as skipped and the run ends with a loud warning (test/global-setup.ts).
 */
describe.skipIf(!server)('queue workers sharing one PostgreSQL server', () => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  it('two workers on separate connections share 200 jobs and run each handler exactly once', async () => {
    t = await freshDb('server');
    for (let i = 0; i < 200; i++) {
      await enqueue(t.db, { kind: 'notify.test', dedupeKey: `notify.test:${i}`, payload: { n: i } });
    }
    const second = await openDatabase({ kind: 'server', url: t.url ?? '', poolMax: 4 });
    const runs: { worker: string; n: number }[] = [];
    const make = (name: string, db: typeof t.db) =>
      new QueueWorker(db, { batchSize: 5 }).register('notify.test', async ({ trx, payload }) => {
        runs.push({ worker: name, n: Number(payload['n']) });
        await new Promise((r) => setTimeout(r, 2));
        await recordNotification(trx, {
          orderId: null,
          kind: 'test',
          recipient: name,
          subject: 's',
          body: 'b',
          dedupeKey: `test:${String(payload['n'])}`,
        });
      });
    try {
      const a = make('a', t.db);
      const b = make('b', second.db);
      await Promise.all([a.drain(), b.drain(), a.drain(), b.drain()]);
      // Counted where the handler ran, not through the notifications' unique index.
      expect(runs).toHaveLength(200);
      expect(new Set(runs.map((r) => r.n)).size).toBe(200);
      expect(runs.some((r) => r.worker === 'a')).toBe(true);
      expect(runs.some((r) => r.worker === 'b')).toBe(true);
      const done = await t.db.selectFrom('jobs').select('id').where('status', '=', 'done').execute();
      expect(done).toHaveLength(200);
    } finally {
      await second.close();
    }
  });

  it('a worker killed with SIGKILL mid-job: its lease lapses and another worker finishes the job once', async () => {
    t = await freshDb('server');
    await enqueue(t.db, { kind: 'crash.me', dedupeKey: 'crash.me:1', payload: {} });
    const child = spawn(
      process.execPath,
      [TSX, join('test', 'helpers', 'queue-worker-child.ts'), t.url ?? ''],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child never started the job: ${err}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('started')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const running = await t.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(running.status).toBe('running');

    let finished = 0;
    const survivor = new QueueWorker(t.db, { leaseMs: 1_000 }).register(
      'crash.me',
      async () => {
        finished += 1;
      },
      { transactional: false },
    );
    // Before the lease lapses the job belongs to the dead worker; after it, the survivor takes it over.
    const deadline = Date.now() + 10_000;
    while (finished === 0 && Date.now() < deadline) {
      await survivor.drain();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(finished).toBe(1);
    await survivor.drain();
    expect(finished).toBe(1);
    const job = await t.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'done', attempts: 2 });
    const started = await t.db
      .selectFrom('notifications')
      .select('id')
      .where('kind', '=', 'started')
      .execute();
    expect(started).toHaveLength(1);
  });
});
