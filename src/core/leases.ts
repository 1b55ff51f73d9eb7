import { randomBytes } from 'node:crypto';
import type { Db } from '../db/connect.js';
import type { Logger } from '../log/logger.js';

/**
 * Named, expiring leases in the database (table `leases`), so that periodic work runs on one instance at a time
 * when several Settle processes share one PostgreSQL server. Works the same on PGlite.
 *
 * A lease is taken with one conditional upsert: it is free (no row), expired, or already held by the caller. The
 * holder renews it while it works and releases it when it stops; if it dies, the lease lapses after its TTL and
 * another instance takes over. Expiry is judged by the callers' clocks (`now`), so instances' clocks must agree to
 * well under the TTL (NTP does).
 */

/** A random id naming this process as a lease holder. */
export function newHolderId(): string {
  return `ins_${randomBytes(9).toString('base64url')}`;
}

/**
 * Takes or renews the lease `name` for `holder` until `now + ttlMs`. True when the caller holds it afterwards;
 * false when another holder has it and it has not expired.
 */
export async function tryLease(
  db: Db,
  name: string,
  holder: string,
  ttlMs: number,
  now: Date,
): Promise<boolean> {
  const expiresAt = new Date(now.getTime() + ttlMs);
  const row = await db
    .insertInto('leases')
    .values({ name, holder, expires_at: expiresAt })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ holder, expires_at: expiresAt })
        .where((eb) => eb.or([eb('leases.expires_at', '<=', now), eb('leases.holder', '=', holder)])),
    )
    .returning('holder')
    .executeTakeFirst();
  return row?.holder === holder;
}

/** Gives the lease up if `holder` still has it (another instance can take it at once). True when released. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<boolean> {
  const res = await db
    .deleteFrom('leases')
    .where('name', '=', name)
    .where('holder', '=', holder)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export interface LeasedTaskOptions {
  db: Db;
  /** The lease's name, e.g. `reconcile`. */
  name: string;
  holder: string;
  /** How often each instance tries to run the work. */
  intervalMs: number;
  /**
   * The lease's lifetime while the work runs; it is renewed every third of it. After a run the lease is kept for
   * one interval, so the holder runs it again at its next tick and the others wait; if the holder stops renewing
   * (it crashed), another instance takes over at its first tick after expiry.
   */
  leaseMs: number;
  now: () => Date;
  logger: Logger;
  work: () => Promise<void>;
}

export interface LeasedTask {
  /** Runs one tick now (tests): the work runs if the lease is taken. True when it ran. */
  tick(): Promise<boolean>;
  /** Stops the timer, waits for a running work (at most `waitMs`), then releases the lease. */
  stop(waitMs?: number): Promise<void>;
}

const errMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Runs `work` every `intervalMs`, but only under the lease `name`: with several instances, one holds it and runs
 * the work; the others skip their ticks until it lapses or is released.
 */
export function startLeasedTask(opts: LeasedTaskOptions, autoStart = true): LeasedTask {
  const log = opts.logger.child({ lease: opts.name });
  let running: Promise<boolean> | null = null;
  let stopped = false;

  const runUnderLease = async (): Promise<boolean> => {
    if (!(await tryLease(opts.db, opts.name, opts.holder, opts.leaseMs, opts.now()))) return false;
    let renewing: Promise<void> = Promise.resolve();
    const renewer = setInterval(
      () => {
        renewing = tryLease(opts.db, opts.name, opts.holder, opts.leaseMs, opts.now()).then(
          (held) => {
            if (!held) log.warn('lease lost while the work runs (renewal came after expiry)');
          },
          (err: unknown) => log.warn({ err: errMessage(err) }, 'lease renewal failed'),
        );
      },
      Math.max(1, Math.floor(opts.leaseMs / 3)),
    );
    renewer.unref();
    try {
      await opts.work();
    } finally {
      clearInterval(renewer);
      await renewing;
    }
    // Keep it for one interval from now: this holder's next tick renews it, the others keep waiting.
    if (!stopped) await tryLease(opts.db, opts.name, opts.holder, opts.intervalMs, opts.now());
    return true;
  };

  const tick = async (): Promise<boolean> => {
    if (stopped || running !== null) return false;
    running = runUnderLease().catch((err: unknown) => {
      log.error({ err: errMessage(err) }, 'periodic work failed');
      return true;
    });
    try {
      return await running;
    } finally {
      running = null;
    }
  };

  const timer = autoStart ? setInterval(() => void tick(), opts.intervalMs) : null;
  timer?.unref();

  return {
    tick,
    stop: async (waitMs = 10_000) => {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      const current = running;
      if (current !== null) {
        let timeout: NodeJS.Timeout | undefined;
        const done = await Promise.race([
          current.then(() => true),
          new Promise<false>((resolve) => {
            timeout = setTimeout(() => resolve(false), waitMs);
          }),
        ]);
        clearTimeout(timeout);
        if (!done) log.warn({ waitMs }, 'periodic work still running at shutdown; releasing its lease');
      }
      try {
        await releaseLease(opts.db, opts.name, opts.holder);
      } catch (err) {
        log.warn({ err: errMessage(err) }, 'lease release failed');
      }
    },
  };
}
