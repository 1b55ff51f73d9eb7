import { sql } from 'kysely';
import type { Order } from '../db/schema.js';
import type { Executor } from '../queue/outbox.js';
import type { AlsoWrite } from './confirm-payment.js';
import type { AppContext } from './context.js';
import { SettleError } from './errors.js';
import { applyEvent } from './payment-events.js';
import type { VerifiedEvent } from './provider.js';

export type IngestOutcome = 'processed' | 'ignored' | 'duplicate';

/**
 * JSON for a jsonb column. PostgreSQL's jsonb refuses the \u0000 escape, so a verified event carrying a NUL in a
 * string (a buyer's name, say) would fail to be recorded and be retried for days; the stored copy gets U+FFFD there.
 */
export function storableJson(value: unknown): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
}

/** How long one request may process an inbox row before a duplicate delivery may take it over (crash). */
const LEASE_MS = 60_000;
/** How long a concurrent duplicate waits for the first delivery's outcome before answering 503 (the provider retries). */
const DUPLICATE_WAIT_MS = 5_000;
const POLL_MS = 50;

/**
 * The webhook inbox. A verified event is recorded (unique per provider and event id) before it is processed;
 * a duplicate of a processed event is acknowledged without reprocessing; a processing failure is recorded
 * (status failed, attempts, last error) and rethrown so the caller answers 5xx and the provider retries.
 * Reconciliation feeds missed events through the same function.
 *
 * Only the holder of the row's lease processes it. A duplicate delivery that arrives while another request
 * holds the lease waits for that outcome; it never acknowledges an event that is not processed: when the
 * holder is still at work after DUPLICATE_WAIT_MS it answers webhook_in_progress (503), and a lease left by a
 * crashed process lapses after LEASE_MS, so the next delivery (or replay, or reconciliation) processes it.
 */
export async function ingestEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  via: 'webhook' | 'reconcile' = 'webhook',
): Promise<IngestOutcome> {
  const insert = ctx.db
    .insertInto('webhook_events')
    .values({
      provider: ev.provider,
      endpoint: ev.endpoint,
      account: ev.accountId ?? '',
      event_id: ev.eventId,
      type: ev.type,
      livemode: ev.livemode,
      event_created: ev.createdAt,
      payload: storableJson(ev.raw),
      claimed_until: new Date(ctx.now().getTime() + LEASE_MS),
    })
    .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
    .returning('id');
  // A checkout event is applied to the order it names, which its processing reads first: read in the statement that
  // records the event (one round trip instead of two), and passed on. Any other event records itself alone.
  const orderId = checkoutOrderId(ev);
  let inserted: { id: number } | undefined;
  let order: Order | null | undefined;
  if (orderId === null) inserted = await insert.executeTakeFirst();
  else {
    const { rows } = await sql<Order & { settle_inbox_id: number | null }>`with ins as (${insert})
      select (select id from ins) as settle_inbox_id, o.*
      from (select 1) as one left join orders o on o.id = ${orderId}`.execute(ctx.db);
    const row = rows[0];
    if (row?.settle_inbox_id != null) inserted = { id: row.settle_inbox_id };
    if (row !== undefined) {
      const { settle_inbox_id: _inbox, ...rest } = row;
      order = rest.id === null ? null : rest;
    }
  }
  if (inserted !== undefined) return processInboxRow(ctx, inserted.id, ev, via, order);

  const deadline = Date.now() + DUPLICATE_WAIT_MS;
  for (;;) {
    const now = ctx.now();
    const claimed = await ctx.db
      .updateTable('webhook_events')
      .set({ claimed_until: new Date(now.getTime() + LEASE_MS) })
      .where('provider', '=', ev.provider)
      .where('event_id', '=', ev.eventId)
      .where('status', 'in', ['received', 'failed'])
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .returning('id')
      .executeTakeFirst();
    if (claimed !== undefined) return processInboxRow(ctx, claimed.id, ev, via);
    const row = await ctx.db
      .selectFrom('webhook_events')
      .select('status')
      .where('provider', '=', ev.provider)
      .where('event_id', '=', ev.eventId)
      .executeTakeFirstOrThrow();
    if (row.status === 'processed' || row.status === 'ignored') return 'duplicate';
    if (Date.now() > deadline) {
      throw new SettleError(
        'webhook_in_progress',
        `Event ${ev.eventId} is being processed by another request; retry later.`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Processes (or re-processes) an inbox row and records the result. The caller holds the row's lease. */
export async function processInboxRow(
  ctx: AppContext,
  id: number,
  ev: VerifiedEvent,
  via: 'webhook' | 'reconcile',
  /** The order a checkout event names, read in the statement that recorded the event (null: no such order). */
  order?: Order | null,
): Promise<'processed' | 'ignored'> {
  let result: 'processed' | 'ignored';
  // A payment's confirmation records 'processed' in its own transaction (one commit per event instead of two);
  // when it did, the transaction committed, since applyEvent returned.
  let recordedWithEvent = false;
  const recordInbox: AlsoWrite = (trx, when) => {
    recordedWithEvent = true;
    const q = outcomeQuery(trx, id, 'processed', null, ctx.now());
    return when === undefined ? q : q.where(when);
  };
  try {
    result = await applyEvent(ctx, ev, via, recordInbox, order);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    ctx.logger.error(
      { inboxId: id, eventId: ev.eventId, type: ev.type, err: message },
      'webhook processing failed',
    );
    await recordOutcome(ctx, id, 'failed', message).catch((recordErr: unknown) =>
      ctx.logger.error(
        { inboxId: id, err: recordErr instanceof Error ? recordErr.message : String(recordErr) },
        'could not record the failure; the lease lapses and the next delivery processes the event',
      ),
    );
    throw err;
  }
  if (!(recordedWithEvent && result === 'processed')) await recordOutcome(ctx, id, result, null);
  return result;
}

/** The order id a checkout event names (the order its processing reads), or null for any other event. */
function checkoutOrderId(ev: VerifiedEvent): string | null {
  const e = ev.event;
  switch (e.kind) {
    case 'checkout.completed':
    case 'checkout.async_succeeded':
    case 'checkout.async_failed':
    case 'checkout.expired':
      return e.checkout.orderId;
    default:
      return null;
  }
}

/** The update that records an inbox row's outcome and releases its lease. */
function outcomeQuery(
  db: Executor,
  id: number,
  status: 'processed' | 'ignored' | 'failed',
  error: string | null,
  now: Date,
) {
  return db
    .updateTable('webhook_events')
    .set((eb) => ({
      status,
      ...(status === 'failed' ? {} : { processed_at: now }),
      attempts: eb('attempts', '+', 1),
      last_error: error === null ? null : error.slice(0, 2000),
      claimed_until: null,
    }))
    .where('id', '=', id);
}

const RECORD_RETRY_MS = [100, 300, 1000];

/**
 * Records an inbox row's outcome and releases its lease. The database may blip right when processing failed
 * because of it (a terminated backend, a statement timeout), so the write is retried briefly: otherwise the row would
 * stay leased and every duplicate delivery would wait out the lease.
 */
async function recordOutcome(
  ctx: AppContext,
  id: number,
  status: 'processed' | 'ignored' | 'failed',
  error: string | null,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await outcomeQuery(ctx.db, id, status, error, ctx.now()).execute();
      return;
    } catch (err) {
      const wait = RECORD_RETRY_MS[attempt];
      if (wait === undefined) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Operator replay of a stored (already verified) event; it takes the row's lease like a delivery would. */
export async function replayInboxEvent(ctx: AppContext, id: number): Promise<'processed' | 'ignored'> {
  const row = await ctx.db.selectFrom('webhook_events').selectAll().where('id', '=', id).executeTakeFirst();
  if (row === undefined) throw new SettleError('not_found', `Inbox event ${id} does not exist.`);
  const now = ctx.now();
  const claimed = await ctx.db
    .updateTable('webhook_events')
    .set({ claimed_until: new Date(now.getTime() + LEASE_MS) })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .returning('id')
    .executeTakeFirst();
  if (claimed === undefined)
    throw new SettleError(
      'webhook_in_progress',
      `Event ${row.event_id} is being processed right now; retry later.`,
    );
  const ev = await ctx.providers
    .get(row.provider)
    .normalizeEvent(row.endpoint === 'connect' ? 'connect' : 'platform', row.payload);
  return processInboxRow(ctx, row.id, ev, 'webhook');
}
