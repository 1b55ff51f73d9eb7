import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { confirmPayment } from '../../src/core/confirm-payment.js';
import { createPendingOrder } from '../../src/core/orders.js';
import type { Db } from '../../src/db/connect.js';
import { registerCoreEffects } from '../../src/queue/effects.js';
import {
  enqueue,
  QueueWorker,
  type BatchHandler,
  type JobHandler,
  type RegisterOptions,
  type WorkerOptions,
} from '../../src/queue/outbox.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';
import { evidenceFor, marketplace } from '../helpers/fixtures.js';

/**
 * The mailers' batch form (src/queue/effects.ts): every mailer kind shares one batch function, which loads a batch's
 * orders in one query and records its notices in one insert. It must record exactly what the single handlers record,
 * and a failure anywhere in the batch must leave nothing of the batch path behind (each job then runs alone).
 */

/** What registerCoreEffects registers, captured so a test worker can wrap it. */
function coreRegistrations(): { kind: string; handler: JobHandler; opts: RegisterOptions }[] {
  const regs: { kind: string; handler: JobHandler; opts: RegisterOptions }[] = [];
  const recorder = {
    register(kind: string, handler: JobHandler, opts: RegisterOptions = {}) {
      regs.push({ kind, handler, opts });
      return recorder;
    },
  };
  registerCoreEffects(recorder as unknown as QueueWorker);
  return regs;
}

/**
 * A worker with the core effects, each single handler and batch function wrapped to count its calls (one wrapper per
 * batch function, so kinds that share one still share it). `batch: false` registers the single handlers only.
 */
function coreWorker(db: Db, opts: WorkerOptions & { batch?: boolean } = {}) {
  const calls = { batch: [] as string[][], single: [] as string[] };
  const worker = new QueueWorker(db, opts);
  const wrapped = new Map<BatchHandler, BatchHandler>();
  for (const { kind, handler, opts: o } of coreRegistrations()) {
    let batch: BatchHandler | undefined;
    if (o.batch !== undefined && opts.batch !== false) {
      const inner = o.batch;
      batch =
        wrapped.get(inner) ??
        (async (ctx) => {
          calls.batch.push(ctx.jobs.map((j) => j.dedupe_key));
          await inner(ctx);
        });
      wrapped.set(inner, batch);
    }
    worker.register(
      kind,
      async (ctx) => {
        calls.single.push(ctx.job.dedupe_key);
        await handler(ctx);
      },
      {
        ...(o.transactional !== undefined ? { transactional: o.transactional } : {}),
        ...(batch ? { batch } : {}),
      },
    );
  }
  return { worker, calls };
}

/**
 * Counts the statements a Kysely instance executes, by root node kind (BEGIN and COMMIT are not queries, so are not
 * counted). Counted when a result comes back: a subquery is transformed too, but never executed on its own.
 */
class StatementCounter implements KyselyPlugin {
  readonly kinds: string[] = [];
  private readonly pending = new WeakMap<object, string>();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.pending.set(args.queryId, args.node.kind);
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.kinds.push(this.pending.get(args.queryId) ?? 'unknown');
    return args.result;
  }
}

/** `n` confirmed orders of one listing (their fulfilment jobs queued by confirmPayment), of different shapes. */
async function confirmedOrders(db: Db, n: number): Promise<string[]> {
  const { slot } = await marketplace(db, { capacity: 50 });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const order = await createPendingOrder(db, {
      slotId: slot.id,
      quantity: 1 + i,
      provider: 'stripe',
      holdMinutes: 30,
      buyerEmail: i === 2 ? null : `buyer${i}@example.test`,
      promotionCode: i === 1 ? 'TENOFF' : null,
    });
    const res = await confirmPayment(db, order.id, evidenceFor(order));
    expect(res.outcome).toBe('confirmed');
    ids.push(order.id);
  }
  return ids;
}

const notices = (db: Db) =>
  db
    .selectFrom('notifications')
    .select(['recipient', 'subject', 'body', 'kind', 'dedupe_key', 'order_id'])
    .orderBy('dedupe_key')
    .execute();

describe.each(BACKENDS)('mailer batch handlers on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  it('every mailer kind registers one shared batch function', () => {
    const regs = coreRegistrations();
    expect(regs.map((r) => r.kind).sort()).toEqual(
      [
        'fulfil.booking',
        'notify.buyer_oversold',
        'notify.buyer_receipt',
        'notify.dispute',
        'notify.operator_review',
        'notify.seller_notice',
      ].sort(),
    );
    expect(regs.every((r) => r.opts.batch !== undefined && r.opts.transactional !== false)).toBe(true);
    expect(new Set(regs.map((r) => r.opts.batch)).size).toBe(1);
  });

  it('a batch of mixed mailer jobs records exactly the notifications the single handlers record, in one call and 4 statements', async () => {
    t = await freshDb(backend);
    const orders = await confirmedOrders(t.db, 3);
    // Two more mailer kinds on the same orders: a review (reason in the payload) and a dispute (amount in the payload).
    await enqueue(t.db, {
      kind: 'notify.operator_review',
      dedupeKey: `notify.operator_review:${orders[0]}`,
      payload: { orderId: orders[0], reason: 'amount differs' },
    });
    await enqueue(t.db, {
      kind: 'notify.dispute',
      dedupeKey: `notify.dispute:dp_1:open`,
      payload: { orderId: orders[1], disputeId: 'dp_1', event: 'opened', amount: 1500, currency: 'usd' },
    });
    const jobCount = 3 * 3 + 2;

    const counter = new StatementCounter();
    const batched = coreWorker(t.db.withPlugin(counter));
    const stats = await batched.worker.runOnce();
    expect(stats).toEqual({ claimed: jobCount, succeeded: jobCount, failed: 0, dead: 0 });
    // One batch call with every job, of every kind; no single handler ran.
    expect(batched.calls.batch).toHaveLength(1);
    expect(batched.calls.batch[0]).toHaveLength(jobCount);
    expect(batched.calls.single).toEqual([]);
    // Claim, mark done, one select of the orders, one insert of the notices.
    expect(counter.kinds).toEqual([
      'UpdateQueryNode',
      'UpdateQueryNode',
      'SelectQueryNode',
      'InsertQueryNode',
    ]);
    const viaBatch = await notices(t.db);
    expect(viaBatch).toHaveLength(jobCount);
    expect(new Set(viaBatch.map((n) => n.kind))).toEqual(
      new Set(['buyer_receipt', 'seller_notice', 'booking_confirmed', 'operator_review', 'seller_dispute']),
    );

    // The same jobs again, one by one with the single handlers (a batch of one runs its job alone).
    await t.db.deleteFrom('notifications').execute();
    await t.db
      .updateTable('jobs')
      .set({
        status: 'queued',
        attempts: 0,
        run_at: new Date(Date.now() - 1000),
        locked_until: null,
        finished_at: null,
      })
      .execute();
    const single = coreWorker(t.db, { batchSize: 1 });
    expect(await single.worker.drain()).toMatchObject({ claimed: jobCount, succeeded: jobCount });
    expect(single.calls.batch).toEqual([]);
    expect(single.calls.single).toHaveLength(jobCount);
    expect(await notices(t.db)).toEqual(viaBatch);
  });

  it('without batch handlers the same batch takes two statements per job', async () => {
    t = await freshDb(backend);
    await confirmedOrders(t.db, 3);
    const counter = new StatementCounter();
    const unbatched = coreWorker(t.db.withPlugin(counter), { batch: false });
    expect(await unbatched.worker.runOnce()).toMatchObject({ claimed: 9, succeeded: 9 });
    expect(unbatched.calls.single).toHaveLength(9);
    // Claim, mark done, then a select and an insert per job: 20 statements where the batch form takes 4.
    expect(counter.kinds).toHaveLength(2 + 2 * 9);
    expect(await notices(t.db)).toHaveLength(9);
  });

  it("a job whose order is missing fails the batch: nothing of it commits, the others run alone, it retries with 'order … not found'", async () => {
    t = await freshDb(backend);
    await confirmedOrders(t.db, 3);
    await enqueue(t.db, {
      kind: 'notify.buyer_receipt',
      dedupeKey: 'notify.buyer_receipt:ord_missing',
      payload: { orderId: 'ord_missing' },
      maxAttempts: 2,
    });
    const { worker, calls } = coreWorker(t.db, { backoffBaseMs: 1, backoffMaxMs: 2 });
    const first = await worker.runOnce();
    expect(first).toEqual({ claimed: 10, succeeded: 9, failed: 1, dead: 0 });
    // The batch function was called once, with all ten jobs, and failed; its transaction (which had marked all ten
    // done) rolled back, so every job then ran alone with its single handler.
    expect(calls.batch).toHaveLength(1);
    expect(calls.batch[0]).toHaveLength(10);
    expect([...calls.single].sort()).toEqual(
      (await t.db.selectFrom('jobs').select('dedupe_key').execute()).map((j) => j.dedupe_key).sort(),
    );
    const mails = await notices(t.db);
    expect(mails).toHaveLength(9);
    expect(new Set(mails.map((m) => m.dedupe_key)).size).toBe(9);
    expect(mails.some((m) => m.dedupe_key.endsWith(':ord_missing'))).toBe(false);
    const missing = () =>
      t.db
        .selectFrom('jobs')
        .selectAll()
        .where('dedupe_key', '=', 'notify.buyer_receipt:ord_missing')
        .executeTakeFirstOrThrow();
    expect(await missing()).toMatchObject({
      status: 'queued',
      attempts: 1,
      last_error: 'order ord_missing not found',
    });
    const others = await t.db
      .selectFrom('jobs')
      .select(['status', 'attempts'])
      .where('dedupe_key', '!=', 'notify.buyer_receipt:ord_missing')
      .execute();
    expect(others.every((j) => j.status === 'done' && j.attempts === 1)).toBe(true);
    // Its retry (alone, single handler) fails the same way and dead-letters it at max_attempts.
    for (let i = 0; i < 50 && (await missing()).status !== 'dead'; i++) {
      await new Promise((r) => setTimeout(r, 5));
      await worker.runOnce();
    }
    expect(await missing()).toMatchObject({
      status: 'dead',
      attempts: 2,
      last_error: 'order ord_missing not found',
    });
    expect(await notices(t.db)).toHaveLength(9);
  });

  it('a failure after the batch wrote its notices rolls them back; the fallback writes each once', async () => {
    t = await freshDb(backend);
    await confirmedOrders(t.db, 2);
    // The shared batch function, wrapped to fail after it has inserted (once), noting the ids it inserted.
    const batchIds: number[] = [];
    let batchCalls = 0;
    const wrapped = new Map<BatchHandler, BatchHandler>();
    const worker = new QueueWorker(t.db);
    for (const { kind, handler, opts } of coreRegistrations()) {
      const inner = opts.batch;
      if (inner === undefined) throw new Error(`mailer ${kind} has no batch form`);
      const batch =
        wrapped.get(inner) ??
        (async (ctx) => {
          batchCalls += 1;
          await inner(ctx);
          const rows = await ctx.trx.selectFrom('notifications').select('id').execute();
          batchIds.push(...rows.map((r) => r.id));
          throw new Error('fails after the batch wrote');
        });
      wrapped.set(inner, batch);
      worker.register(kind, handler, { batch });
    }
    expect(await worker.runOnce()).toEqual({ claimed: 6, succeeded: 6, failed: 0, dead: 0 });
    expect(batchCalls).toBe(1);
    expect(batchIds).toHaveLength(6);
    const mails = await t.db.selectFrom('notifications').select(['id', 'dedupe_key']).execute();
    expect(mails).toHaveLength(6);
    expect(new Set(mails.map((m) => m.dedupe_key)).size).toBe(6);
    // None of the batch's rows survived: the fallback's rows are new ones (a sequence never hands out an id twice).
    expect(mails.filter((m) => batchIds.includes(m.id))).toEqual([]);
    const jobs = await t.db.selectFrom('jobs').select(['status', 'attempts', 'last_error']).execute();
    expect(jobs.every((j) => j.status === 'done' && j.attempts === 1 && j.last_error === null)).toBe(true);
  });
});
