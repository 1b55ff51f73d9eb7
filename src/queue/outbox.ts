import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Database, Job } from '../db/schema.js';
import { crashPoint } from '../core/crash-points.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';

/**
 * Durable side-effect queue (transactional outbox) in the system-of-record database.
 *
 * Why not pg-boss (the library the foundation issue prefers): a spike on 2026-11-27 showed pg-boss 12 *does* run
 * on PGlite through its `db: { executeSql }` adapter (start 111 ms, a job round trip works), and `send(…, { db })`
 * can insert inside our transaction. What it does not give us: (1) exactly-once per (order, effect) for the
 * life of the order — `singletonKey` only dedupes while a job is active; (2) a handler's database effect and the
 * job's completion in one transaction — pg-boss completes a job after the handler returns, so effects are
 * at-least-once; (3) a queue table inside our own schema, migrated with ours and visible to the operator.
 * This queue is small and tested for those properties: claim with FOR UPDATE SKIP LOCKED and a lease,
 * exponential backoff with jitter, dead-lettering after max_attempts. Moving to pg-boss remains possible
 * behind `enqueue()` / `QueueWorker` if those guarantees are rebuilt on top (deterministic job ids, idempotent
 * handlers).
 */

export type Executor = Db | Transaction<Database>;

export interface EnqueueInput {
  kind: string;
  /** Unique per (order, effect), e.g. `receipt:ord_123`. A second enqueue with the same key is a no-op. */
  dedupeKey: string;
  payload: Record<string, unknown>;
  runAt?: Date;
  maxAttempts?: number;
}

/** Queues a job inside the caller's transaction. Returns false when the job already existed. */
export async function enqueue(trx: Executor, job: EnqueueInput): Promise<boolean> {
  const res = await trx
    .insertInto('jobs')
    .values({
      kind: job.kind,
      dedupe_key: job.dedupeKey,
      payload: JSON.stringify(job.payload),
      run_at: job.runAt ?? new Date(),
      ...(job.maxAttempts !== undefined ? { max_attempts: job.maxAttempts } : {}),
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/**
 * Queues several jobs inside the caller's transaction in one statement (one multi-row INSERT … ON CONFLICT
 * (dedupe_key) DO NOTHING): the same rows as one enqueue() per job, in one round trip. A job whose key already exists
 * is left as it is (a key repeated within the batch is inserted once, the first time). Returns how many were inserted.
 */
export async function enqueueMany(trx: Executor, jobs: readonly EnqueueInput[]): Promise<number> {
  if (jobs.length === 0) return 0;
  const res = await enqueueManyQuery(trx, jobs).executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n);
}

/**
 * The statement enqueueMany() runs (non-empty `jobs`), for a caller that writes it together with others. With `when`,
 * an INSERT … SELECT that inserts the rows only if `when` holds (confirmPayment's one-statement path); every job then
 * takes the column's default max_attempts or every job sets it (a mix is refused: a SELECT cannot write DEFAULT).
 */
export function enqueueManyQuery(db: Executor, jobs: readonly EnqueueInput[], when?: RawBuilder<boolean>) {
  const now = new Date();
  if (when === undefined)
    return db
      .insertInto('jobs')
      .values(
        jobs.map((job) => ({
          kind: job.kind,
          dedupe_key: job.dedupeKey,
          payload: JSON.stringify(job.payload),
          run_at: job.runAt ?? now,
          // The column's default where a job does not set it (a multi-row VALUES writes DEFAULT there).
          max_attempts: job.maxAttempts ?? sql<number>`default`,
        })),
      )
      .onConflict((oc) => oc.column('dedupe_key').doNothing());
  const withMax = jobs.filter((j) => j.maxAttempts !== undefined).length;
  if (withMax !== 0 && withMax !== jobs.length)
    throw new Error('enqueueManyQuery with a condition: either every job sets maxAttempts or none does');
  const rows = jobs.map(
    (job) =>
      sql`(${job.kind}::text, ${job.dedupeKey}::text, ${JSON.stringify(job.payload)}::jsonb, ${job.runAt ?? now}::timestamptz${
        withMax > 0 ? sql`, ${job.maxAttempts}::int` : sql``
      })`,
  );
  return db
    .insertInto('jobs')
    .columns(
      withMax > 0
        ? ['kind', 'dedupe_key', 'payload', 'run_at', 'max_attempts']
        : ['kind', 'dedupe_key', 'payload', 'run_at'],
    )
    .expression(sql`select * from (values ${sql.join(rows)}) as j where ${when}`)
    .onConflict((oc) => oc.column('dedupe_key').doNothing());
}

export interface JobContext {
  /**
   * For transactional handlers: the transaction that also marks the job done, so database-only effects commit
   * exactly once. For external handlers (provider calls): the plain database handle; they rely on provider
   * idempotency keys instead, and must not hold a transaction open across a network call.
   */
  trx: Executor;
  job: Job;
  payload: Record<string, unknown>;
  logger: Logger;
}

export type JobHandler = (ctx: JobContext) => Promise<void>;

/** What a batch handler gets: the transaction that marked all of `jobs` done, and the jobs (of one or more kinds). */
export interface BatchContext {
  trx: Executor;
  jobs: readonly Job[];
  logger: Logger;
}

/**
 * The batch form of transactional handlers: one call for several jobs, in the transaction that marks them done. It must
 * have exactly the effect of the single handler of each job's kind called once per job (an optimisation only: when
 * anything in the batch fails, each job runs again alone with its single handler). Several kinds may share one batch
 * function: the worker groups a batch's jobs by the function, not by kind.
 */
export type BatchHandler = (ctx: BatchContext) => Promise<void>;

export interface RegisterOptions {
  /** `false` for handlers that call a provider: they run outside the job's transaction. */
  transactional?: boolean;
  /** Runs several jobs in one call when they run together (transactional handlers only). */
  batch?: BatchHandler;
}

interface Registered {
  handler: JobHandler;
  transactional: boolean;
  batch: BatchHandler | undefined;
}

export interface WorkerOptions {
  pollMs?: number;
  batchSize?: number;
  /** How long a claimed job is leased before another worker may take it over (crash recovery). */
  leaseMs?: number;
  /** Backoff base; attempt n waits base × 2^(n-1) (capped), ± 20 % jitter. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  logger?: Logger;
  now?: () => Date;
}

export interface RunStats {
  claimed: number;
  succeeded: number;
  failed: number;
  dead: number;
}

export class QueueWorker {
  private readonly handlers = new Map<string, Registered>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RunStats> | null = null;
  private stopped = true;
  /** Set by stop(): the batch in hand ends after the job that is running; its other jobs are released. */
  private stopping = false;
  private readonly opts: Required<Omit<WorkerOptions, 'logger' | 'now'>>;
  private readonly logger: Logger;
  private readonly now: () => Date;

  constructor(
    private readonly db: Db,
    options: WorkerOptions = {},
  ) {
    this.opts = {
      pollMs: options.pollMs ?? 500,
      // 32 (was 10): a batch's database-only jobs run in one transaction with their batch handlers, so a larger batch
      // is fewer statements and commits per job. It does not lengthen what a lease must cover for any job more than a
      // batch of 10 already could: the transactional part is a few statements; the jobs that call a provider run one
      // at a time after it, each bounded by its provider's own timeouts (Stripe and PayPal 20 s, Square 30 s per
      // request, and their retries), and a few slow ones can outlast the 60 s lease at 10 as at 32. A job run after its lease lapsed may
      // be run by another worker too: provider jobs are idempotent (their idempotency keys), and this worker's
      // mark-done and failure updates apply only under the claim it ran the job with (attempts), so neither
      // overwrites the other worker's claim.
      batchSize: options.batchSize ?? 32,
      leaseMs: options.leaseMs ?? 60_000,
      backoffBaseMs: options.backoffBaseMs ?? 1_000,
      backoffMaxMs: options.backoffMaxMs ?? 15 * 60_000,
    };
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * `transactional: false` for handlers that call a provider: they run outside the job's transaction. `batch`: the
   * kind's batch form (see BatchHandler), used when several of a claimed batch's jobs run together.
   */
  register(kind: string, handler: JobHandler, opts: RegisterOptions = {}): this {
    const transactional = opts.transactional ?? true;
    if (!transactional && opts.batch !== undefined)
      throw new Error(
        `job kind '${kind}': a batch handler is only allowed for a transactional handler (transactional: false given)`,
      );
    this.handlers.set(kind, { handler, transactional, batch: opts.batch });
    return this;
  }

  /** Delay before attempt `attempts + 1`, with jitter so a burst of failures does not retry in lockstep. */
  backoffMs(attempts: number): number {
    const base = Math.min(this.opts.backoffBaseMs * 2 ** Math.max(0, attempts - 1), this.opts.backoffMaxMs);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** Claims due jobs (and jobs whose lease expired) without blocking other workers. */
  private async claim(): Promise<Job[]> {
    const now = this.now();
    const leaseUntil = new Date(now.getTime() + this.opts.leaseMs);
    return this.db
      .updateTable('jobs')
      .set((eb) => ({ status: 'running', locked_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
      .where(
        'id',
        'in',
        this.db
          .selectFrom('jobs')
          .select('id')
          // jobs_due_idx's own predicate and a range on its key: the scan walks the index in run_at order and stops at
          // the batch size, however long the queue is (a claimed job's run_at is never in the future, so a running job
          // whose lease lapsed is in the range too).
          .where('status', 'in', ['queued', 'running'])
          .where('run_at', '<=', now)
          .where((eb) =>
            eb.or([
              eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', now)]),
              eb.and([eb('status', '=', 'running'), eb('locked_until', '<', now)]),
            ]),
          )
          .orderBy('run_at')
          .limit(this.opts.batchSize)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute();
  }

  private async runJob(job: Job): Promise<'succeeded' | 'failed' | 'dead'> {
    const entry = this.handlers.get(job.kind);
    const logger = this.logger.child({ job: job.id, kind: job.kind });
    // Marks the job done only if this worker still owns it (a job whose lease was taken over is skipped).
    const markDone = async (ex: Executor): Promise<boolean> => {
      const owned = await ex
        .updateTable('jobs')
        .set({ status: 'done', finished_at: this.now(), locked_until: null, last_error: null })
        .where('id', '=', job.id)
        .where('status', '=', 'running')
        .where('attempts', '=', job.attempts)
        .executeTakeFirst();
      return Number(owned.numUpdatedRows) > 0;
    };
    try {
      if (entry === undefined) throw new Error(`no handler registered for job kind '${job.kind}'`);
      if (entry.transactional) {
        await this.db.transaction().execute(async (trx) => {
          if (await markDone(trx)) await entry.handler({ trx, job, payload: job.payload, logger });
        });
      } else {
        await entry.handler({ trx: this.db, job, payload: job.payload, logger });
        crashPoint('outbox.handler_ran');
        await markDone(this.db);
      }
      return 'succeeded';
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const dead = job.attempts >= job.max_attempts;
      const runAt = new Date(this.now().getTime() + this.backoffMs(job.attempts));
      await this.db
        .updateTable('jobs')
        .set({
          status: dead ? 'dead' : 'queued',
          run_at: runAt,
          locked_until: null,
          last_error: message.slice(0, 2000),
          ...(dead ? { finished_at: this.now() } : {}),
        })
        .where('id', '=', job.id)
        .where('status', '=', 'running')
        // Only under this worker's claim: a job whose lease lapsed and was claimed again is the new claim's to settle.
        .where('attempts', '=', job.attempts)
        .execute();
      this.logger[dead ? 'error' : 'warn'](
        { job: job.id, kind: job.kind, attempts: job.attempts, err: message },
        dead ? 'job dead-lettered' : 'job failed; will retry',
      );
      return dead ? 'dead' : 'failed';
    }
  }

  /**
   * Gives back jobs this worker claimed but never started (a shutdown in the middle of a batch): back to `queued`,
   * due at once, with the attempt the claim counted undone, so another instance runs them without waiting for the
   * claim's lease to lapse. A job is only released while this worker still owns its claim.
   */
  private async release(jobs: readonly Job[]): Promise<number> {
    let released = 0;
    for (const job of jobs) {
      const res = await this.db
        .updateTable('jobs')
        .set((eb) => ({ status: 'queued', locked_until: null, attempts: eb('attempts', '-', 1) }))
        .where('id', '=', job.id)
        .where('status', '=', 'running')
        .where('attempts', '=', job.attempts)
        .executeTakeFirst();
      released += Number(res.numUpdatedRows);
    }
    if (released > 0) this.logger.info({ released }, 'released claimed jobs at shutdown');
    return released;
  }

  /**
   * Claims and runs one batch; after stop() it runs no further job of the batch and releases the rest.
   * The batch's database-only (transactional) jobs run together in one transaction, one commit for all of them;
   * if any of them fails, that transaction is rolled back and each runs again in its own, so only the failing one
   * is retried. Jobs that call a provider then run one at a time, outside any transaction.
   */
  async runOnce(): Promise<RunStats> {
    const jobs = await this.claim();
    const stats: RunStats = { claimed: jobs.length, succeeded: 0, failed: 0, dead: 0 };
    const together = jobs.filter((j) => this.handlers.get(j.kind)?.transactional === true);
    const alone = jobs.filter((j) => !together.includes(j));
    if (this.stopping) {
      await this.release(jobs);
      return stats;
    }
    if (together.length > 1 && (await this.runTogether(together))) stats.succeeded += together.length;
    else alone.unshift(...together);
    for (const [i, job] of alone.entries()) {
      if (this.stopping) {
        await this.release(alone.slice(i));
        break;
      }
      stats[await this.runJob(job)] += 1;
    }
    return stats;
  }

  /**
   * Runs transactional jobs in one transaction: each is marked done (if this worker still owns it) and its handler
   * runs, as runJob() does for one job. Jobs whose kind has a batch handler run through it, one call per batch function
   * with all its jobs (kinds sharing the function together); the others run one by one with their single handler.
   * Returns false, with nothing committed, when any of them failed (runOnce() then runs each alone).
   */
  private async runTogether(jobs: readonly Job[]): Promise<boolean> {
    try {
      await this.db.transaction().execute(async (trx) => {
        const owned = await trx
          .updateTable('jobs')
          .set({ status: 'done', finished_at: this.now(), locked_until: null, last_error: null })
          // By primary key (id in …), then the claim each job was run under (attempts) on those rows only.
          .where(
            'id',
            'in',
            jobs.map((j) => j.id),
          )
          .where('status', '=', 'running')
          .where((eb) =>
            eb.or(jobs.map((j) => eb.and([eb('id', '=', j.id), eb('attempts', '=', j.attempts)]))),
          )
          .returning('id')
          .execute();
        const mine = new Set(owned.map((r) => r.id));
        // In claim order; a batch function's call takes the place of its first job.
        const steps: ({ batch: BatchHandler; jobs: Job[] } | { job: Job; handler: JobHandler })[] = [];
        const byBatch = new Map<BatchHandler, Job[]>();
        for (const job of jobs) {
          if (!mine.has(job.id)) continue;
          const entry = this.handlers.get(job.kind);
          if (entry === undefined) throw new Error(`no handler registered for job kind '${job.kind}'`);
          if (entry.batch === undefined) {
            steps.push({ job, handler: entry.handler });
            continue;
          }
          const group = byBatch.get(entry.batch);
          if (group !== undefined) group.push(job);
          else {
            const first = [job];
            byBatch.set(entry.batch, first);
            steps.push({ batch: entry.batch, jobs: first });
          }
        }
        for (const step of steps) {
          if ('batch' in step) {
            const logger = this.logger.child({ jobs: step.jobs.map((j) => j.id) });
            await step.batch({ trx, jobs: step.jobs, logger });
          } else {
            const { job } = step;
            const logger = this.logger.child({ job: job.id, kind: job.kind });
            await step.handler({ trx, job, payload: job.payload, logger });
          }
        }
      });
      return true;
    } catch (err) {
      this.logger.debug(
        { jobs: jobs.length, err: err instanceof Error ? err.message : String(err) },
        'a job of the batch failed; running each on its own',
      );
      return false;
    }
  }

  /** Runs batches until nothing is due (tests and the reconcile CLI use this). */
  async drain(maxRounds = 1000): Promise<RunStats> {
    const total: RunStats = { claimed: 0, succeeded: 0, failed: 0, dead: 0 };
    for (let i = 0; i < maxRounds; i++) {
      const s = await this.runOnce();
      total.claimed += s.claimed;
      total.succeeded += s.succeeded;
      total.failed += s.failed;
      total.dead += s.dead;
      if (s.claimed === 0 || this.stopping) break;
    }
    return total;
  }

  /** Wakes the poll loop now (called after a commit that queued work). */
  nudge(): void {
    if (this.stopped || this.running !== null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    this.running = this.drain(50).catch((err: unknown) => {
      this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'queue poll failed');
      return { claimed: 0, succeeded: 0, failed: 0, dead: 0 };
    });
    await this.running;
    this.running = null;
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.opts.pollMs);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopping = false;
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  /**
   * Stops polling, lets the job that is running finish, and releases the jobs of its batch that had not started
   * (graceful shutdown). A claim cannot be interrupted half-way: a batch claimed while stopping is released whole.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    try {
      if (this.running !== null) await this.running;
    } finally {
      // A later drain() by hand (CLI, tests) runs normally.
      this.stopping = false;
    }
  }
}

/** Counts jobs by status (operator console, doctor and tests). */
export async function queueCounts(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('jobs')
    .select(['status', sql<number>`count(*)::int`.as('n')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
