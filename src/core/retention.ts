import { sql } from 'kysely';
import type { AppContext } from './context.js';
import type { OrderStatus } from '../db/schema.js';
import { purgeIdempotencyKeys } from '../http/idempotency.js';

/**
 * Retention of operational rows (docs/schema.md#retention). Orders, payments, refunds, disputes and order history
 * are the financial record and are never purged; what is purged is what only served to run the machinery:
 *
 * - `jobs`: done jobs finished more than `jobsDays` ago. Queued, running and dead jobs stay (a dead job waits
 *   for a person or for reconciliation), and so does a done job whose refund is still pending.
 * - `webhook_events`: processed or ignored events received (and processed) more than `webhookEventsDays` ago.
 *   Received and failed events stay until they are resolved. Events that name an open dispute or its disputed
 *   payment stay while the dispute is open: they are the evidence of what the provider told us.
 * - `holds`: released more than `holdsDays` ago, of orders that no longer wait for a decision (not pending,
 *   processing or in review).
 * - `notifications`: recorded more than `notificationsDays` ago.
 * - `idempotency_keys`: past their 24 h lifetime (`purgeIdempotencyKeys`).
 * - `oauth_states`: a day after they expired (used or not; an expired state is refused anyway).
 *
 * Deletes run in batches, so a first sweep over a large backlog never holds long locks.
 */

export interface RetentionSummary {
  jobs: number;
  webhookEvents: number;
  holds: number;
  notifications: number;
  idempotencyKeys: number;
  oauthStates: number;
}

export type RetentionContext = Pick<AppContext, 'db' | 'logger' | 'now'> & {
  config: Pick<AppContext['config'], 'retention'>;
};

export interface RetentionOptions {
  /** Rows deleted per statement. */
  batchSize?: number;
}

const DAY_MS = 86_400_000;
const DEFAULT_BATCH = 1000;

/** Orders whose hold can still matter: a confirmation or an operator decision may yet take the place. */
const UNDECIDED: readonly OrderStatus[] = ['pending', 'processing', 'needs_review'];

/** Runs `deleteBatch` until a batch deletes fewer rows than the batch size. */
async function inBatches(batchSize: number, deleteBatch: () => Promise<bigint>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = Number(await deleteBatch());
    total += n;
    if (n < batchSize) return total;
  }
}

/** One retention sweep over every purgeable table; returns how many rows each lost. */
export async function runRetentionSweep(
  ctx: RetentionContext,
  opts: RetentionOptions = {},
): Promise<RetentionSummary> {
  const batch = opts.batchSize ?? DEFAULT_BATCH;
  const now = ctx.now();
  const r = ctx.config.retention;
  const before = (days: number): Date => new Date(now.getTime() - days * DAY_MS);
  const { db } = ctx;
  const started = Date.now();

  const jobsCutoff = before(r.jobsDays);
  const jobs = await inBatches(batch, async () => {
    const res = await db
      .deleteFrom('jobs')
      .where(
        'id',
        'in',
        db
          .selectFrom('jobs')
          .select('id')
          .where('status', '=', 'done')
          .where('finished_at', '<', jobsCutoff)
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('refunds')
                  .select('refunds.id')
                  .where('refunds.status', '=', 'pending')
                  .where(sql<boolean>`refunds.id = jobs.payload->>'refundId'`),
              ),
            ),
          )
          .limit(batch),
      )
      .executeTakeFirst();
    return res.numDeletedRows;
  });

  const eventsCutoff = before(r.webhookEventsDays);
  const webhookEvents = await inBatches(batch, async () => {
    const res = await db
      .deleteFrom('webhook_events')
      .where(
        'id',
        'in',
        db
          .selectFrom('webhook_events')
          .select('id')
          .where('status', 'in', ['processed', 'ignored'])
          .where('received_at', '<', eventsCutoff)
          .where((eb) => eb.or([eb('processed_at', 'is', null), eb('processed_at', '<', eventsCutoff)]))
          // Evidence of an open dispute: any event naming the dispute or the disputed payment (provider-agnostic:
          // the ids appear in the stored payload whatever its shape).
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('disputes')
                  .select('disputes.id')
                  .where('disputes.outcome', 'is', null)
                  .where(sql<boolean>`disputes.provider = webhook_events.provider`)
                  .where(
                    sql<boolean>`(strpos(webhook_events.payload::text, disputes.provider_dispute_id) > 0
                      or (disputes.provider_payment_id is not null
                        and strpos(webhook_events.payload::text, disputes.provider_payment_id) > 0))`,
                  ),
              ),
            ),
          )
          .limit(batch),
      )
      .executeTakeFirst();
    return res.numDeletedRows;
  });

  const holdsCutoff = before(r.holdsDays);
  const holds = await inBatches(batch, async () => {
    const res = await db
      .deleteFrom('holds')
      .where(
        'id',
        'in',
        db
          .selectFrom('holds')
          .innerJoin('orders', 'orders.id', 'holds.order_id')
          .select('holds.id')
          .where('holds.released_at', 'is not', null)
          .where('holds.released_at', '<', holdsCutoff)
          .where('orders.status', 'not in', UNDECIDED)
          .limit(batch),
      )
      .executeTakeFirst();
    return res.numDeletedRows;
  });

  const notificationsCutoff = before(r.notificationsDays);
  const notifications = await inBatches(batch, async () => {
    const res = await db
      .deleteFrom('notifications')
      .where(
        'id',
        'in',
        db
          .selectFrom('notifications')
          .select('id')
          .where('created_at', '<', notificationsCutoff)
          .limit(batch),
      )
      .executeTakeFirst();
    return res.numDeletedRows;
  });

  const idempotencyKeys = await purgeIdempotencyKeys(db, now);

  const statesCutoff = before(1);
  const oauthStates = await inBatches(batch, async () => {
    const res = await db
      .deleteFrom('oauth_states')
      .where(
        'state_hash',
        'in',
        db
          .selectFrom('oauth_states')
          .select('state_hash')
          .where('expires_at', '<', statesCutoff)
          .limit(batch),
      )
      .executeTakeFirst();
    return res.numDeletedRows;
  });

  const summary: RetentionSummary = {
    jobs,
    webhookEvents,
    holds,
    notifications,
    idempotencyKeys,
    oauthStates,
  };
  ctx.logger.info({ purged: summary, durationMs: Date.now() - started }, 'retention sweep');
  return summary;
}
